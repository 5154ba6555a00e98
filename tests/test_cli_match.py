"""Through the real `multimodal` command: random weights and weak matches are said on stderr, in `info` and in
`--json`; a failed first ingest leaves no index behind; the missing-weights error says where to get them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from multimodal.encoder import DEFAULT_CHECKPOINT
from tests.fixtures.processes import MODEL, cli, ingest

pytestmark = [pytest.mark.clip, pytest.mark.slow]


def test_random_weights_are_said_by_ingest_info_and_search(tmp_path: Path, photo_folder: Path) -> None:
    index = tmp_path / "idx"
    proc = cli("ingest", str(photo_folder), "-q", *MODEL, index=index)
    assert "random weights" in proc.stderr
    info = cli("info", index=index).stdout
    assert "mm-vit-micro (none)" in info
    assert "random weights — for tests and benchmarks; results carry no meaning" in info
    data = json.loads(cli("info", "--json", index=index).stdout)
    assert data["random_weights"] is True and "random weights" in data["note"]
    search = cli("search", "a red square", "-k", "2", "--json", index=index)
    assert [h["match"] for h in json.loads(search.stdout)] == ["weak", "weak"]
    notes = search.stderr.strip().splitlines()
    assert len(notes) == 2 and "random weights" in notes[0]
    assert notes[1] == "no strong match for 'a red square' (the index was built with random weights); nearest results:"


def test_a_first_ingest_without_weights_leaves_no_index_and_says_where_to_get_them(tmp_path: Path,
                                                                                    photo_folder: Path) -> None:
    index = tmp_path / "idx"
    failed = cli("ingest", str(photo_folder), "--model", "ViT-B-32", index=index, check=False)
    assert failed.returncode == 1
    repo, filename = DEFAULT_CHECKPOINT
    assert f"huggingface.co/{repo}" in failed.stderr and f"--pretrained /path/to/{filename}" in failed.stderr
    assert "multimodal demo" in failed.stderr
    assert not index.exists()  # the folder this ingest created is gone too
    info = json.loads(cli("info", "--json", index=index).stdout)
    assert info["model"] is None and info["images"] == 0
    assert "none yet" in cli("info", index=index).stdout
    bad_flag = cli("ingest", str(photo_folder), "-q", *MODEL, "--compress", "pca16", index=index, check=False)
    assert bad_flag.returncode == 2 and "pca16 needs at least 16 images" in bad_flag.stderr
    assert json.loads(cli("info", "--json", index=index).stdout)["model"] is None
    assert index.is_dir()  # it existed before this ingest (info made it): kept, with its empty database
    assert ingest(photo_folder, index, "--model", "mm-tiny", "--pretrained", "none")["added"] == 6
