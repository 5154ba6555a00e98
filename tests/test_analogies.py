"""Analogy completion: image − text + text is scored against the one-term baselines, on generated folders
(attributes from the captions) and on a TSV of analogies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from multimodal.analogies import Analogy, Weights, attribute_analogies, right_answers, score_analogies
from multimodal.cli.main import main
from multimodal.errors import ConfigError
from multimodal.evaluate import evaluate_folder
from multimodal.synthetic import Attributes, generate, read_attributes
from tests.fixtures.attribute_encoder import AttributeEncoder
from tests.fixtures.fake_encoder import FakeEncoder, stub_model_loads
from tests.fixtures.images import write_image


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every attribute combination once (300 images), as the demo's gallery."""
    return generate(tmp_path_factory.mktemp("gallery"), split="all", size=32, seed=5).root


def test_arithmetic_is_right_where_both_one_term_queries_are_wrong(gallery: Path) -> None:
    report = evaluate_folder(gallery, AttributeEncoder(gallery))
    scores = report.analogies
    assert scores is not None
    # Every image × every other value of each attribute: colour 5, shape 4, size 1, position 4 swaps each.
    assert {k: g.n for k, g in scores.per_attribute.items()} == {
        "colour": 1500, "shape": 1200, "size": 300, "position": 1200}
    assert scores.overall.n == 4200
    assert scores.overall.accuracy == 1.0
    assert scores.overall.baseline < 0.1  # "blue" alone ties all blue images; the image alone finds its size twin
    assert scores.per_attribute["colour"].baseline < 0.1
    # The image alone is right exactly when the swap is its nearest neighbour: here, the size twin.
    assert scores.per_attribute["size"].image_only == 1.0
    data = report.to_dict()["analogies"]
    assert data["accuracy"] == 1.0 and data["n"] == 4200 and data["baseline"] == round(scores.overall.baseline, 4)
    assert set(data["per_attribute"]) == {"colour", "shape", "size", "position"}


def test_the_baselines_are_the_arithmetic_with_one_term_left(gallery: Path) -> None:
    encoder = AttributeEncoder(gallery)
    full = evaluate_folder(gallery, encoder).analogies
    plus_only = evaluate_folder(gallery, encoder, analogy_weights=Weights(image=0.0, minus=0.0)).analogies
    image_only = evaluate_folder(gallery, encoder, analogy_weights=Weights(minus=0.0, plus=0.0)).analogies
    assert full is not None and plus_only is not None and image_only is not None
    assert plus_only.overall.accuracy == pytest.approx(full.overall.plus_only)
    assert image_only.overall.accuracy == pytest.approx(full.overall.image_only)
    assert plus_only.overall.accuracy < full.overall.accuracy and image_only.overall.accuracy < full.overall.accuracy


def test_a_hit_needs_every_attribute_kept_and_the_query_image_is_left_out() -> None:
    # Two-dimensional space: image 0 sits on the query itself, image 1 is the right answer, image 2 is wrong.
    images = np.array([[1.0, 0.0], [0.8, 0.6], [0.6, 0.8]], np.float32)
    analogy = Analogy(0, "old", "new", "colour", frozenset({1}))
    other = Analogy(0, "old", "new", "colour", frozenset({2}))
    assert right_answers(images, np.array([[1.0, 0.0], [1.0, 0.0]]), [analogy, other]).tolist() == [True, False]


def test_swaps_are_kept_only_where_the_expected_image_exists() -> None:
    attrs = [Attributes("circle", "red", "small", "left"), Attributes("circle", "blue", "small", "left"),
             Attributes("star", "red", "small", "left")]
    found = attribute_analogies(attrs)
    described = {(a.start, a.minus, a.plus, a.group, tuple(sorted(a.right))) for a in found}
    assert described == {
        (0, "red", "blue", "colour", (1,)), (1, "blue", "red", "colour", (0,)),
        (0, "circle", "star", "shape", (2,)), (2, "star", "circle", "shape", (0,)),
    }  # no blue star exists, so neither the red star's colour swap nor the blue circle's shape swap is asked


def test_attribute_analogies_are_capped_by_a_seeded_sample() -> None:
    attrs = [Attributes(s, c, "small", "left") for s in ("circle", "star") for c in ("red", "blue", "green")] * 2
    capped = attribute_analogies(attrs, limit=5, seed=1)
    assert sum(a.group == "colour" for a in capped) == 5 and sum(a.group == "shape" for a in capped) == 5
    assert capped == attribute_analogies(attrs, limit=5, seed=1)


def test_score_analogies_with_a_text_start_uses_the_text_as_the_one_term_query() -> None:
    vectors = {"red circle": [1.0, 1.0, 0.0], "red": [1.0, 0.0, 0.0], "blue": [0.0, 0.0, 1.0]}

    def encode(texts: Any) -> np.ndarray:
        return np.array([vectors[t] for t in texts], np.float32)

    images = np.array([[0.7, 0.7, 0.0], [0.0, 0.7, 0.7], [0.0, 0.0, 1.0]], np.float32)  # red/blue circle, blue
    scores = score_analogies(images, [Analogy("red circle", "red", "blue", "all", frozenset({1}))], encode)
    assert (scores.overall.accuracy, scores.overall.plus_only, scores.overall.image_only) == (1.0, 0.0, 0.0)


def _tsv(path: Path, rows: list[str]) -> Path:
    path.write_text("# start\tminus\tplus\texpected\tgroup\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_the_analogy_file_replaces_the_attribute_swaps_and_names_its_groups(
        gallery: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    names = {(a.shape, a.colour, a.size, a.position): p.name for p, a in read_attributes(gallery).items()}
    tsv = _tsv(tmp_path / "analogies.tsv", [
        f"{names['circle', 'red', 'small', 'left']}\tred\tblue\tsmall blue circle on the left\tcolour",
        f"{gallery / names['star', 'green', 'large', 'top']}\tstar\tcross\tlarge green cross at the top\tshape",
        "a small red circle on the left\ton the left\ton the right\tsmall red circle right\tfrom text",
    ])
    stub_model_loads(monkeypatch, lambda: AttributeEncoder(gallery), module="multimodal.cli.eval")
    code = main(["eval", str(gallery), "--analogies", str(tsv), "--model", "fake", "--json", "-q"])
    result = json.loads(capsys.readouterr().out)["analogies"]
    assert code == 0 and result["n"] == 3 and result["accuracy"] == 1.0
    assert {k: v["n"] for k, v in result["per_attribute"].items()} == {"colour": 1, "shape": 1, "from text": 1}


@pytest.mark.parametrize(("row", "message"), [
    ("00000.jpg\tred\tblue", "line 2: expected 4 or 5 tab-separated columns"),  # line 1 is a comment
    ("00000.jpg\tred\tblue\tpurple elephant", "line 2: no other image has a caption"),
])
def test_a_bad_analogy_row_is_a_clear_error(gallery: Path, tmp_path: Path, row: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        evaluate_folder(gallery, FakeEncoder(), analogies=_tsv(tmp_path / "a.tsv", [row]))


def test_a_missing_analogy_file_is_a_clear_error(gallery: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the analogy file"):
        evaluate_folder(gallery, FakeEncoder(), analogies=tmp_path / "missing.tsv")


def test_an_analogy_image_outside_the_evaluated_folder_is_refused(gallery: Path, tmp_path: Path) -> None:
    outside = write_image(tmp_path / "elsewhere.png", color=(200, 0, 0))
    with pytest.raises(ConfigError, match="not among the captioned images"):
        evaluate_folder(gallery, FakeEncoder(), analogies=_tsv(tmp_path / "a.tsv", [f"{outside}\tred\tblue\tblue"]))


def test_a_folder_without_attributes_reports_no_analogies(tmp_path: Path) -> None:
    for n, colour in enumerate([(200, 0, 0), (0, 0, 200), (0, 200, 0)]):
        write_image(tmp_path / f"{n}.png", color=colour)
        (tmp_path / f"{n}.txt").write_text(f"thing {n}\n")
    report = evaluate_folder(tmp_path, FakeEncoder())
    assert report.analogies is None and "analogies" not in report.to_dict()
