"""Zero-shot tagging with meaning: the project's trained tiny model (`tiny_model`, a session fixture)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from multimodal.config import Settings
from multimodal.demo import RECIPE
from multimodal.evaluate import zero_shot_scores
from multimodal.index import Index
from multimodal.synthetic import COLOURS, generate
from multimodal.tagging import tag_images

pytestmark = [pytest.mark.clip, pytest.mark.slow]


def test_colour_tags_from_the_trained_model_are_mostly_right_and_equal_evals_zero_shot_accuracy(
        tiny_model: Path, tmp_path: Path) -> None:
    generate(tmp_path / "colours", split="all", class_folders="colour", seed=3, size=RECIPE.image_size)
    index = Index.open(Settings.resolve(index_dir=tmp_path / "idx", model=f"local-dir:{tiny_model}"))
    index.ingest(tmp_path / "colours")
    report = tag_images(index.store, index.encoder, list(COLOURS))
    records = list(index.store.iter_records(where={"kind": "image"}, embeddings=True))
    truth = [Path(r.metadata["folder"]).name for r in records]
    accuracy = float(np.mean([r.metadata["tags"][0] == t for r, t in zip(records, truth, strict=True)]))
    assert report.images == len(records) > 0
    # Every colour x shape pair once, drawn fresh (chance 1/6), the six pairs it never saw in training included.
    assert accuracy >= 0.8
    evaluated = zero_shot_scores(index.encoder, np.stack([r.embedding for r in records]), truth)
    assert accuracy == pytest.approx(evaluated.accuracy)
