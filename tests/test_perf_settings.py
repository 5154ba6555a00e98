"""Speed-related settings: HNSW parameters from flags and environment, the CLI flags that set them, the
ingest command's hint towards the faster bf16 mode, and the CLI's progress bar."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from multimodal.cli import ingest as ingest_cli
from multimodal.cli.main import build_parser
from multimodal.config import HnswConfig, Settings
from multimodal.errors import ConfigError
from multimodal.index import Index
from tests.fixtures.images import write_image


def test_hnsw_defaults_are_used_when_nothing_is_given() -> None:
    assert Settings.resolve().hnsw == HnswConfig()


def test_hnsw_flags_override_environment_which_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTIMODAL_HNSW_EF_SEARCH", "77")
    monkeypatch.setenv("MULTIMODAL_HNSW_MAX_NEIGHBORS", "24")
    hnsw = Settings.resolve(hnsw_ef_search=150).hnsw
    assert hnsw.ef_search == 150
    assert hnsw.max_neighbors == 24
    assert hnsw.ef_construction == HnswConfig().ef_construction


def test_an_explicit_hnsw_config_wins_over_flat_flags() -> None:
    cfg = HnswConfig(ef_search=11, ef_construction=22, max_neighbors=8)
    assert Settings.resolve(hnsw=cfg, hnsw_ef_search=999).hnsw == cfg


@pytest.mark.parametrize(("flag", "value"), [("hnsw_ef_search", "many"), ("hnsw_ef_search", 0),
                                              ("hnsw_max_neighbors", 1), ("hnsw_ef_construction", -5)])
def test_bad_hnsw_values_are_config_errors_naming_the_setting(flag: str, value: object) -> None:
    with pytest.raises(ConfigError, match=flag.replace("_", ".")):
        Settings.resolve(**{flag: value})


def test_ingest_cli_flags_reach_the_settings() -> None:
    from multimodal.cli.common import settings_from

    args = build_parser().parse_args(["ingest", "x", "--hnsw-ef-search", "64", "--hnsw-max-neighbors", "32",
                                      "--hnsw-ef-construction", "300"])
    assert settings_from(args).hnsw == HnswConfig(ef_search=64, ef_construction=300, max_neighbors=32)


def test_a_new_index_is_created_with_the_configured_hnsw_parameters(tmp_path: Path, fake_encoder) -> None:
    write_image(tmp_path / "photos" / "a.jpg", seed=1)
    settings = Settings.resolve(index_dir=tmp_path / "index", hnsw_ef_search=42, hnsw_max_neighbors=12)
    index = Index.open(settings, encoder=fake_encoder)
    index.ingest(tmp_path / "photos")
    hnsw = index.store.collection.configuration_json["hnsw"]
    assert (hnsw["ef_search"], hnsw["max_neighbors"]) == (42, 12)


def test_the_readme_hnsw_command_names_the_real_flags_and_defaults() -> None:
    import re

    from multimodal.cli.common import settings_from

    readme = (Path(__file__).resolve().parents[1] / "docs" / "performance.md").read_text()
    found = re.search(r"`multimodal ingest (--hnsw[^`]*)` \(the defaults", readme)
    assert found is not None
    args = build_parser().parse_args(["ingest", "x", *found.group(1).split()])
    assert settings_from(args).hnsw == HnswConfig()


def test_a_long_float32_cpu_ingest_suggests_bf16_only_where_it_helps(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = SimpleNamespace(precision="fp32", device=torch.device("cpu"))
    monkeypatch.setattr(ingest_cli, "cpu_has_bf16", lambda: True)
    assert "--precision bf16" in ingest_cli.bf16_tip("auto", cpu, 500)
    assert ingest_cli.bf16_tip("fp32", cpu, 500) is None  # the user chose float32
    assert ingest_cli.bf16_tip("auto", cpu, 10) is None  # a short run: not worth a line
    assert ingest_cli.bf16_tip("auto", SimpleNamespace(precision="bf16", device=torch.device("cpu")), 500) is None
    assert ingest_cli.bf16_tip("auto", SimpleNamespace(precision="fp16", device=torch.device("cuda")), 500) is None
    assert ingest_cli.bf16_tip("auto", object(), 500) is None  # an encoder without a precision (tests' fake)
    monkeypatch.setattr(ingest_cli, "cpu_has_bf16", lambda: False)
    assert ingest_cli.bf16_tip("auto", cpu, 500) is None


def test_the_cli_progress_bar_follows_the_library_callbacks(capsys: pytest.CaptureFixture[str]) -> None:
    from multimodal.cli.progress import ProgressBar

    bar = ProgressBar("ingest", disabled=False)
    for done in (1, 2, 3):
        bar.update(done, 3)
    bar.close()
    err = capsys.readouterr().err
    assert "ingest" in err and "3/3" in err
    quiet = ProgressBar("ingest", disabled=True)
    quiet.update(1, 3)
    quiet.close()
    assert capsys.readouterr().err == ""
