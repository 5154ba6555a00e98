"""On the demo's trained toy model: it knows its own vocabulary, so out-of-vocabulary queries are weak, and it
says it is a toy wherever it is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from multimodal import demo, model_notes, vocabulary
from multimodal.match import STRONG, WEAK

pytestmark = [pytest.mark.clip, pytest.mark.slow]


def test_the_toy_model_knows_its_words_and_says_it_is_a_toy(demo_assets: demo.DemoAssets, tmp_path: Path) -> None:
    words = vocabulary.load(demo_assets.model).words  # recorded by training, both stages together
    assert {"red", "circle", "star", "left", "small"} <= words and "dog" not in words
    assert model_notes.read_note(demo_assets.model) == model_notes.TOY_NOTE
    index = demo.open_demo_index(demo_assets, tmp_path / "index")
    demo.ingest_gallery(index, demo_assets)
    assert index.info().note == model_notes.TOY_NOTE
    for query in ("a dog on a beach", "a bowl of soup", "a birthday party", "a red car"):
        assert {h.match for h in index.search(query, k=5)} == {WEAK}, query
    for query in ("a red circle", "a small blue star on the left", "a purple square"):
        assert {h.match for h in index.search(query, k=5)} == {STRONG}, query
