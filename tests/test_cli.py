"""End to end through the real `multimodal` command, as a subprocess, with the real OpenCLIP path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from multimodal.encoder import cpu_has_bf16
from tests.fixtures.images import write_image
from tests.fixtures.processes import MODEL, cli, ingest

pytestmark = [pytest.mark.clip, pytest.mark.slow]
def test_ingest_search_and_incremental_reruns(tmp_path: Path, photo_folder: Path) -> None:
    index = tmp_path / "idx"
    first = ingest(photo_folder, index, *MODEL)
    assert (first["added"], first["encoded"], first["failed"]) == (6, 6, [])
    assert set(first) >= {"added", "updated", "unchanged", "removed", "renamed", "encoded", "failed"}

    paths = cli("search", "a red square", "-k", "3", index=index).stdout.split()
    assert len(paths) == 3 and all(Path(p).is_file() for p in paths)
    hits = json.loads(cli("search", "--image", str(photo_folder / "img2.jpg"), "-k", "2", "--json", index=index).stdout)
    assert hits[0]["path"] == str(photo_folder / "img2.jpg") and hits[0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert {"id", "path", "score"} <= set(hits[0])

    assert ingest(photo_folder, index)["encoded"] == 0  # the index remembers its model
    (photo_folder / "img0.jpg").rename(photo_folder / "renamed.jpg")
    renamed = ingest(photo_folder, index)
    assert (renamed["encoded"], renamed["renamed"]) == (0, 1)
    (photo_folder / "img1.jpg").unlink()
    assert ingest(photo_folder, index)["removed"] == 1
    write_image(photo_folder / "img2.jpg", seed=42)
    modified = ingest(photo_folder, index)
    assert (modified["updated"], modified["encoded"]) == (1, 1)

    info = json.loads(cli("info", "--json", index=index).stdout)
    assert info["images"] == 5 and info["model"]["model"] == "mm-vit-micro"


def test_bad_files_are_listed_and_exit_code_is_zero(tmp_path: Path, photo_folder: Path) -> None:
    (photo_folder / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    proc = cli("ingest", str(photo_folder), "--json", "-q", *MODEL, index=tmp_path / "idx")
    report = json.loads(proc.stdout)
    assert [f["path"] for f in report["failed"]] == [str(photo_folder / "broken.jpg")]
    assert report["added"] == 6


@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no native bfloat16 (AVX512-BF16 or AMX)")
def test_a_bf16_ingest_is_searched_in_float32(tmp_path: Path, photo_folder: Path) -> None:
    index = tmp_path / "idx"
    assert ingest(photo_folder, index, *MODEL, "--precision", "bf16")["encoded"] == 6
    hits = json.loads(cli("search", "--image", str(photo_folder / "img3.jpg"), "-k", "2", "--json",
                          "--precision", "fp32", index=index).stdout)
    assert hits[0]["path"] == str(photo_folder / "img3.jpg") and hits[0]["score"] >= 0.999


def test_errors_are_one_line_without_traceback(tmp_path: Path, photo_folder: Path) -> None:
    index = tmp_path / "idx"
    weights = cli("ingest", str(photo_folder), "--model", "ViT-B-32", "--pretrained", "laion2b_s34b_b79k",
                  index=index, check=False)
    assert weights.returncode == 1
    assert "Traceback" not in weights.stderr and "--pretrained /path" in weights.stderr
    assert len(weights.stderr.strip().splitlines()) == 1

    empty = cli("search", "a dog", index=index, check=False)
    assert empty.returncode == 1 and "multimodal ingest" in empty.stderr

    bad_flag = cli("search", "x", "--since", "yesterday", index=index, check=False)
    assert bad_flag.returncode == 2 and "YYYY" not in bad_flag.stderr and "2024-06-30" in bad_flag.stderr
    bad_precision = cli("ingest", str(photo_folder), "--precision", "fp8", index=index, check=False)
    assert bad_precision.returncode == 2 and "invalid choice: 'fp8'" in bad_precision.stderr
    assert "'bf16'" in bad_precision.stderr

    ingest(photo_folder, index, *MODEL)
    mismatch = cli("search", "x", "--model", "ViT-B-32", index=index, check=False)
    assert mismatch.returncode == 1 and "built with mm-vit-micro" in mismatch.stderr
