"""`--precision auto` on a CPU: bfloat16 after a one-time self-check per model, float32 when the check fails;
which precision made each vector is recorded and shown by `info`."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import torch

import multimodal.encoder as encoder_module
from multimodal import precision_check
from multimodal.cli.main import main
from multimodal.config import Settings
from multimodal.encoder import load_encoder
from multimodal.index import Index
from tests.fixtures.fake_encoder import FakeEncoder


@pytest.mark.clip
def test_auto_runs_bf16_once_the_cached_self_check_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encoder_module, "cpu_has_bf16", lambda: True)
    encoder = load_encoder("mm-vit-micro", "none", "cpu")
    assert encoder.precision == "bf16" and encoder.precision_note is None
    assert next(encoder.model.parameters()).dtype == torch.bfloat16
    cached = json.loads(precision_check.check_file(encoder.spec).read_text())
    assert cached["cosine"] >= precision_check.BF16_MIN_COSINE

    def no_second_probe(*_: object) -> float:
        raise AssertionError("the check ran again instead of reading its cache")

    monkeypatch.setattr(precision_check, "probe_cosine", no_second_probe)
    assert load_encoder("mm-vit-micro", "none", "cpu").precision == "bf16"


@pytest.mark.clip
def test_a_failing_self_check_falls_back_to_float32_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encoder_module, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(precision_check, "BF16_MIN_COSINE", 1.5)  # no bf16 copy can reach it
    encoder = load_encoder("mm-vit-micro", "none", "cpu")
    assert encoder.precision == "fp32" and next(encoder.model.parameters()).dtype == torch.float32
    assert encoder.precision_note is not None and "self-check failed" in encoder.precision_note
    assert "using float32" in encoder.precision_note and "\n" not in encoder.precision_note


@pytest.mark.clip
def test_without_native_bf16_auto_is_float32_and_runs_no_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encoder_module, "cpu_has_bf16", lambda: False)
    encoder = load_encoder("mm-vit-micro", "none", "cpu")
    assert encoder.precision == "fp32" and encoder.precision_note is None
    assert not precision_check.check_file(encoder.spec).exists()


def test_each_record_says_which_precision_made_it_and_info_counts_them(
        tmp_path: Path, photo_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings.resolve(index_dir=tmp_path / "index")
    fake = FakeEncoder()
    fake.precision = "bf16"  # type: ignore[attr-defined]
    index = Index.open(settings, encoder=fake)
    index.ingest(photo_folder)
    records = list(index.store.iter_records())
    assert records and {r.metadata["precision"] for r in records} == {"bf16"}  # images and captions
    assert index.store.precisions() == {"bf16": index.store.count("image")}
    monkeypatch.setenv("MULTIMODAL_INDEX_DIR", str(tmp_path / "index"))
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["info"]) == 0
    assert f"precision:   bf16 ({index.store.count('image')} images)" in out.getvalue()
