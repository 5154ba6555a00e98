"""`search --ids` prints the ids that `--like`, `--dislike` and `--id` take, so a user can go from a result to more."""

from __future__ import annotations

from pathlib import Path

import pytest

from multimodal.cli.main import main
from tests.fixtures.colour_words import ColourWordEncoder, coloured_index
from tests.fixtures.fake_encoder import stub_model_loads


def test_ids_printed_by_search_feed_like_and_dislike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    index = coloured_index(tmp_path)
    stub_model_loads(monkeypatch, ColourWordEncoder)
    where = ["--index", str(index.settings.index_dir)]

    assert main(["search", "blue", "-k", "3", "--ids", *where]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 3 and all(len(row) == 2 and "/blue/" in row[1] for row in rows)
    stored = {r.id for r in index.store.iter_records(where={"kind": "image"})}
    assert {image_id for image_id, _ in rows} <= stored

    liked, disliked = rows[0][0], rows[1][0]
    assert main(["search", "--like", liked, "--dislike", disliked, "-k", "2", "--ids", *where]) == 0
    found = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert len(found) == 2 and {liked, disliked}.isdisjoint(image_id for image_id, _ in found)
    assert all("/blue/" in path for _, path in found)
