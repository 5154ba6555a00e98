"""The development helpers' child-process environments (multimodal/devtools/processes.py)."""

from __future__ import annotations

import pytest

from multimodal.devtools.processes import child_env, cli_env


def test_benchmark_children_keep_the_users_settings_and_hub_choice_but_never_phone_home(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTIMODAL_DEVICE", "cpu")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # a user whose machine reaches a model hub
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "True")
    env = child_env(EXTRA="1")
    assert env["MULTIMODAL_DEVICE"] == "cpu" and env["HF_HUB_OFFLINE"] == "0" and env["EXTRA"] == "1"
    assert env["ANONYMIZED_TELEMETRY"] == "False" and env["GRADIO_ANALYTICS_ENABLED"] == "False"
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert child_env()["HF_HUB_OFFLINE"] == "1"  # offline unless the user said otherwise


def test_test_children_are_offline_and_see_only_the_settings_they_are_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTIMODAL_DEVICE", "cuda")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    env = cli_env(MULTIMODAL_WORKERS="1")
    assert "MULTIMODAL_DEVICE" not in env and env["MULTIMODAL_WORKERS"] == "1"
    assert env["HF_HUB_OFFLINE"] == "1" and env["ANONYMIZED_TELEMETRY"] == "False"
