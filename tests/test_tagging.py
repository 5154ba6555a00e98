"""Zero-shot tagging: labels stored as metadata that search filters use; agrees with eval's zero-shot accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from multimodal.batch_encode import label_vectors
from multimodal.cli.main import main
from multimodal.errors import ConfigError, NotFoundError
from multimodal.evaluate import zero_shot_scores
from multimodal.index import Index
from multimodal.search import Filters
from multimodal.tagging import known_tags, parse_labels, tag_images
from tests.fixtures.colour_words import COLOURS, ColourWordEncoder, colour_image, coloured_index
from tests.fixtures.fake_encoder import stub_model_loads

LABELS = ["red", "green", "blue"]


@pytest.fixture
def coloured(tmp_path: Path) -> Index:
    return coloured_index(tmp_path, add=lambda root: (root / "red" / "red0.txt").write_text("a warm picture\n"))


def images(index: Index) -> list:
    return list(index.store.iter_records(where={"kind": "image"}, embeddings=True))


def test_each_image_is_tagged_with_its_colour_and_search_filters_by_tag(coloured: Index) -> None:
    report = tag_images(coloured.store, coloured.encoder, LABELS)
    assert report.images == 12 and report.counts == {"red": 4, "green": 4, "blue": 4}
    for record in images(coloured):
        assert record.metadata["tags"] == [Path(record.metadata["folder"]).name]
        assert 0.0 < record.metadata["tag_scores"][0] <= 1.0
    hits = coloured.searcher.search_text("anything at all", k=20, filters=Filters(tag="green"))
    assert len(hits) == 4 and {Path(h.path).parent.name for h in hits} == {"green"}
    captions = coloured.searcher.search_text("warm", k=5, target="captions", filters=Filters(tag="red"))
    assert [h.caption for h in captions] == ["a warm picture"]
    assert known_tags(coloured.store) == LABELS


def test_stored_tags_score_what_eval_reports_as_zero_shot_accuracy(coloured: Index, tmp_path: Path) -> None:
    root = tmp_path / "colours"
    colour_image(root / "red" / "mislabelled.png", COLOURS["blue"], seed=7)  # in red/, but blue
    coloured.ingest(root)
    tag_images(coloured.store, coloured.encoder, LABELS)
    records = images(coloured)
    truth = [Path(r.metadata["folder"]).name for r in records]
    tagged = np.mean([r.metadata["tags"][0] == t for r, t in zip(records, truth, strict=True)])
    evaluated = zero_shot_scores(coloured.encoder, np.stack([r.embedding for r in records]), truth)
    assert tagged == pytest.approx(evaluated.accuracy) == pytest.approx(12 / 13)


def test_retagging_replaces_tags_and_min_score_keeps_only_confident_labels(coloured: Index) -> None:
    tag_images(coloured.store, coloured.encoder, LABELS)
    tag_images(coloured.store, coloured.encoder, ["green", "blue"], top=2)
    for record in images(coloured):
        assert sorted(record.metadata["tags"]) == ["blue", "green"]
        assert record.metadata["tag_scores"] == sorted(record.metadata["tag_scores"], reverse=True)
    report = tag_images(coloured.store, coloured.encoder, LABELS, top=3, min_score=0.5)
    for record in images(coloured):  # softmax scores sum to 1: at most one label can reach 0.5
        assert len(record.metadata.get("tags", [])) <= 1
    assert report.untagged == sum(1 for r in images(coloured) if "tags" not in r.metadata)


def test_prompt_templates_are_averaged_per_label() -> None:
    encoder = ColourWordEncoder()
    one = label_vectors(encoder, ["red"], ["a photo of a {label}"])
    two = label_vectors(encoder, ["red", "blue"], ["a photo of a {label}", "a {label} thing"])
    assert two.shape == (2, encoder.dim) and np.allclose(np.linalg.norm(two, axis=1), 1.0)
    assert float(one[0] @ two[0]) > 0.99 and float(two[0] @ two[1]) < 0.9
    with pytest.raises(ConfigError, match="placeholder"):
        label_vectors(encoder, ["red"], ["a photo"])


def test_labels_come_from_text_and_files(tmp_path: Path) -> None:
    file = tmp_path / "labels.txt"
    file.write_text("# animals\ncat\ndog, bird\n\n")
    assert parse_labels("car", file) == ["car", "cat", "dog", "bird"]
    with pytest.raises(ConfigError, match="more than once"):
        parse_labels("cat,dog,cat")
    with pytest.raises(ConfigError, match="--labels"):
        parse_labels(" , ")
    with pytest.raises(NotFoundError):
        parse_labels(None, tmp_path / "missing.txt")


def test_command_tags_and_search_filters_by_the_tag(coloured: Index, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    stub_model_loads(monkeypatch, ColourWordEncoder)
    where = ["--index", str(coloured.settings.index_dir)]
    assert main(["tag", "--labels", "red,green,blue", "--template", "a {label} photo", "--json", *where]) == 0
    assert json.loads(capsys.readouterr().out)["counts"] == {"red": 4, "green": 4, "blue": 4}
    assert main(["search", "whatever", "--tag", "blue", "--json", *where]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 4 and all(h["tags"] == ["blue"] and "/blue/" in h["path"] for h in hits)
    assert main(["tag", *where]) == 2 and "--labels" in capsys.readouterr().err
