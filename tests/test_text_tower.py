"""Text queries through the exported ONNX text tower: same tokens, same vectors, no torch in the process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from multimodal import text_tower
from multimodal.clip_tokens import ClipTokenizer
from multimodal.model_spec import ModelSpec
from tests.fixtures.fake_encoder import FakeEncoder
from tests.fixtures.processes import cli_env

needs_onnx = pytest.mark.skipif(not text_tower.available(), reason="the onnx extra is not installed")
TEXTS = ["a red square", "A  Dog's   BEACH!! at 3pm", "café crème brûlée 日本語", "&amp;amp; <b>x</b>",
         "don't we'll they're", "x" * 500, "", "naïve ﬁsh “quoted”", "emoji 🐶🏖️ 123,456.78", "Tab\there\r\nline"]


@pytest.mark.clip
def test_the_torch_free_tokenizer_gives_open_clips_ids() -> None:
    import open_clip

    for context_length in (77, 20):
        ours = ClipTokenizer(context_length=context_length)(TEXTS)
        theirs = open_clip.tokenizer.SimpleTokenizer(context_length=context_length)(TEXTS).numpy()
        assert ours.dtype == np.int64 and np.array_equal(ours, theirs)


def test_the_tower_folder_changes_with_the_checkpoint_file(tmp_path: Path) -> None:
    checkpoint = tmp_path / "w.pt"
    checkpoint.write_bytes(b"one")
    spec = ModelSpec("ViT-B-32", str(checkpoint))
    first = text_tower.tower_folder(spec, tmp_path)
    assert text_tower.tower_folder(spec, tmp_path) == first
    checkpoint.write_bytes(b"other weights")
    assert text_tower.tower_folder(spec, tmp_path) != first
    assert text_tower.tower_folder(ModelSpec("ViT-B-32", "none"), tmp_path) != first


def test_a_query_encoder_loads_the_model_only_for_what_text_cannot_answer() -> None:
    class Tower:
        dim = 32

        def encode_texts(self, texts: list[str]) -> np.ndarray:
            return np.ones((len(texts), 32), dtype=np.float32)

    loads: list[int] = []
    full = FakeEncoder()

    def load() -> FakeEncoder:
        loads.append(1)
        return full

    query = text_tower.QueryEncoder(full.spec, Tower(), load)  # type: ignore[arg-type]
    assert query.encode_texts(["a"]).shape == (1, 32) and query.dim == 32 and loads == []
    assert query.image_size == full.image_size and loads == [1]


@pytest.mark.clip
@needs_onnx
def test_an_exported_tower_matches_torch_and_one_that_disagrees_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from multimodal.encoder import load_encoder

    encoder = load_encoder("mm-vit-micro", "none", "cpu", precision="fp32")
    folder = text_tower.export_text_tower(encoder, tmp_path / "ok")
    assert folder is not None and json.loads((folder / "tower.json").read_text())["cosine"] >= text_tower.MIN_COSINE
    tower = text_tower.load_tower(encoder.spec, tmp_path / "ok")
    assert tower is not None
    cosines = (tower.encode_texts(TEXTS) * encoder.encode_texts(TEXTS)).sum(axis=1)
    assert cosines.min() >= text_tower.MIN_COSINE

    monkeypatch.setattr(text_tower, "MIN_COSINE", 1.5)  # no export can reach it: the check must refuse
    assert text_tower.export_text_tower(encoder, tmp_path / "refused") is None
    assert text_tower.load_tower(encoder.spec, tmp_path / "refused") is None
    assert not any((tmp_path / "refused").rglob("*.onnx"))  # nothing half-written left behind


@pytest.mark.clip
@pytest.mark.slow
@needs_onnx
def test_a_cli_text_search_after_ingest_runs_without_torch_and_finds_what_torch_finds(
        tmp_path: Path, photo_folder: Path) -> None:
    env = cli_env(MULTIMODAL_INDEX_DIR=str(tmp_path / "idx"))

    def cli(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "multimodal", *args], capture_output=True,
                              text=True, env={**env, **extra}, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc

    cli("ingest", str(photo_folder), "-q", "--model", "mm-vit-micro", "--pretrained", "none")
    fast = cli("search", "a red square", "--json")
    imported = {line.rsplit("|", 1)[-1].strip() for line in fast.stderr.splitlines() if line.startswith("import ")}
    assert "onnxruntime" in imported and not {"torch", "open_clip"} & imported
    slow = cli("search", "a red square", "--json", "--precision", "fp32", MULTIMODAL_TEXT_TOWER="0")  # torch
    assert "torch" in slow.stderr
    ours, theirs = json.loads(fast.stdout), json.loads(slow.stdout)
    assert [h["id"] for h in ours] == [h["id"] for h in theirs]
    assert np.allclose([h["score"] for h in ours], [h["score"] for h in theirs], atol=1e-4)
