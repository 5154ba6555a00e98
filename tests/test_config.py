"""Settings resolve as flags > MULTIMODAL_* environment > defaults, and refuse values that cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest

from multimodal.config import Settings
from multimodal.errors import ConfigError


def test_defaults_use_the_per_user_data_dir(tmp_path: Path) -> None:
    s = Settings.resolve()
    assert s.index_dir == tmp_path / "xdg" / "multimodal" / "index"  # XDG_DATA_HOME set by conftest
    assert (s.model, s.pretrained, s.chroma_url, s.collection) == (None, None, None, "multimodal")


def test_environment_overrides_defaults_and_flags_override_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTIMODAL_INDEX_DIR", "/tmp/from-env")
    monkeypatch.setenv("MULTIMODAL_BATCH_SIZE", "7")
    monkeypatch.setenv("MULTIMODAL_CHROMA_URL", "http://localhost:9")
    monkeypatch.setenv("MULTIMODAL_PRECISION", "bf16")
    s = Settings.resolve()
    assert (s.index_dir, s.batch_size, s.chroma_url) == (Path("/tmp/from-env"), 7, "http://localhost:9")
    assert s.precision == "bf16"
    s = Settings.resolve(index_dir="/tmp/from-flag", batch_size=3, precision="fp32")
    assert (s.index_dir, s.batch_size, s.precision) == (Path("/tmp/from-flag"), 3, "fp32")


@pytest.mark.parametrize(("flags", "message"), [
    ({"batch_size": 0}, "batch-size"),
    ({"batch_size": "many"}, "whole number"),
    ({"workers": -1}, "workers"),
    ({"chroma_url": "localhost:8000"}, "http://host:port"),
    ({"colour": "red"}, "unknown setting"),
    ({"collection": "sh"}, "3-512 characters"),
    ({"collection": "my photos"}, "3-512 characters"),
    ({"precision": "fp8"}, "--precision must be one of auto, fp32, bf16, fp16"),
])
def test_bad_values_are_config_errors(flags: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.resolve(**flags)


def test_train_takes_device_and_workers_from_the_environment_unless_flags_say(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from multimodal.cli.train import config_from_args, parser

    monkeypatch.setenv("MULTIMODAL_DEVICE", "cpu")
    monkeypatch.setenv("MULTIMODAL_WORKERS", "3")
    from_env = config_from_args(parser().parse_args(["data", "--out", "model"]))
    assert (from_env.device, from_env.workers) == ("cpu", 3)
    flagged = config_from_args(parser().parse_args(["data", "--out", "model", "--device", "auto", "--workers", "1"]))
    assert (flagged.device, flagged.workers) == ("auto", 1)
    monkeypatch.delenv("MULTIMODAL_DEVICE")
    monkeypatch.delenv("MULTIMODAL_WORKERS")
    default = config_from_args(parser().parse_args(["data", "--out", "model"]))
    assert (default.device, default.workers) == ("auto", 0)


def test_every_option_that_sets_a_setting_names_its_variable_and_reaches_settings(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """One table: an option whose destination is a Settings field says which MULTIMODAL_* variable backs it, and
    settings_from passes it on without a hand-written list."""
    import argparse
    from dataclasses import fields

    from multimodal.cli.common import OPTION_DEST, env, settings_from
    from multimodal.cli.main import COMMANDS, build_parser
    from multimodal.config import HNSW_FLAGS, Settings

    names = {OPTION_DEST.get(f.name, f.name): f.name for f in fields(Settings) if f.name != "hnsw"}
    # train's (and the demo's) other options configure the training run (TrainConfig), not Settings
    TRAINING_SETTINGS = {"train": {"device", "workers"}, "demo": {"device"}}
    names.update({flag: flag for flag in HNSW_FLAGS})
    checked = 0
    for command in COMMANDS:
        sub = next(a for a in build_parser(command)._actions if isinstance(a, argparse._SubParsersAction))
        for action in sub.choices[command]._actions:
            if action.dest in names and action.dest in TRAINING_SETTINGS.get(command, names):
                assert env(names[action.dest]) in (action.help or ""), (command, action.dest)
                checked += 1
    assert checked > 20
    ingest = build_parser("ingest").parse_args(["ingest", "folder", "--workers", "3", "--batch-size", "5",
                                                "--compress", "float16", "--hnsw-ef-search", "50"])
    settings = settings_from(ingest)
    assert (settings.workers, settings.batch_size, settings.compress, settings.hnsw.ef_search) == (3, 5, "float16", 50)
