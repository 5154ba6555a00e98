"""The `--ray` flags of `multimodal ingest` (multimodal/ray_options.py): parsing only, no Ray needed."""

from __future__ import annotations

import pytest

from multimodal.cli.main import build_parser
from multimodal.errors import ConfigError
from multimodal.ray_options import RayOptions, ray_options


def parse(monkeypatch: pytest.MonkeyPatch, *flags: str, env: str | None = None) -> RayOptions | None:
    monkeypatch.delenv("MULTIMODAL_RAY_ADDRESS", raising=False)
    if env is not None:
        monkeypatch.setenv("MULTIMODAL_RAY_ADDRESS", env)
    return ray_options(build_parser("ingest").parse_args(["ingest", "photos", *flags]))


def test_without_an_address_the_ingest_is_plain(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse(monkeypatch) is None
    assert parse(monkeypatch, "--ray-workers", "3") is None  # sizing flags alone do not turn Ray on


@pytest.mark.parametrize("address", ["auto", "local", "head:6379", "ray://head:10001"])
def test_the_address_comes_from_the_flag_or_the_environment(monkeypatch: pytest.MonkeyPatch, address: str) -> None:
    assert parse(monkeypatch, "--ray", address) == RayOptions(address)
    assert parse(monkeypatch, env=address) == RayOptions(address)
    assert parse(monkeypatch, "--ray", "local", env=address) == RayOptions("local")  # the flag wins


def test_sizing_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    got = parse(monkeypatch, "--ray", "auto", "--ray-workers", "4", "--ray-cpus-per-worker", "2",
                "--ray-gpus-per-worker", "1", "--batch-size", "32")
    assert got == RayOptions("auto", workers=4, cpus_per_worker=2.0, gpus_per_worker=1.0)
    args = build_parser("ingest").parse_args(["ingest", "photos", "--batch-size", "32"])
    assert args.batch_size == 32  # paths per Ray task, as per forward pass


def test_defaults_are_the_measured_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    got = parse(monkeypatch, "--ray", "auto")
    assert got is not None and (got.engine, got.writes) == ("actors", "driver")
    alt = parse(monkeypatch, "--ray", "auto", "--ray-engine", "data", "--ray-writes", "workers")
    assert alt is not None and (alt.engine, alt.writes) == ("data", "workers")


def test_the_benchmark_only_flags_stay_out_of_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser("ingest").parse_args(["ingest", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "--ray-workers" in text and "--ray-gpus-per-worker" in text and "MULTIMODAL_RAY_ADDRESS" in text
    assert "--ray-engine" not in text and "--ray-writes" not in text


@pytest.mark.parametrize("flags", [["--ray-workers", "-1"], ["--ray-cpus-per-worker", "-1"],
                                   ["--ray-cpus-per-worker", "0"]])
def test_impossible_sizes_are_one_config_error(monkeypatch: pytest.MonkeyPatch, flags: list[str]) -> None:
    with pytest.raises(ConfigError):
        parse(monkeypatch, "--ray", "auto", *flags)
