"""The UI says when results are weak and when the model's results mean little (random weights, a toy model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from multimodal import model_notes
from multimodal.config import Settings
from multimodal.index import Index
from multimodal.model_spec import ModelSpec
from multimodal.store import Hit
from tests.fixtures.fake_encoder import FakeEncoder
from tests.fixtures.ui_app import gallery_folder, small_index
from ui import views
from ui.handlers import Handlers
from ui.service import Options, SearchService
from ui.thumbnails import Thumbnails

OPTS = (24, "images", 0.0, "", "Any", None, None)


def handlers_for(index: Index, tmp_path: Path) -> Handlers:
    return Handlers(SearchService(index, Thumbnails(tmp_path / "thumbs")))


def index_with(spec: ModelSpec, tmp_path: Path) -> Index:
    encoder = FakeEncoder()
    encoder.spec = spec
    index = Index.open(Settings.resolve(index_dir=tmp_path / "index"), encoder=encoder)
    index.ingest(gallery_folder(tmp_path / "pics"))
    return index


def test_weak_results_are_headed_no_strong_match_and_the_api_says_weak(tmp_path: Path) -> None:
    handlers = handlers_for(small_index(tmp_path / "pics", tmp_path / "index"), tmp_path)  # random weights
    status = handlers.search_text("a red square", *OPTS)[2]
    assert status.startswith("### No strong match for “a red square”; nearest results:") and "8 results" in status
    hits = handlers.service.search_text("a red square", Options(k=3))
    assert [views.hit_dict(h)["match"] for h in hits] == ["weak"] * 3


def test_the_header_badges_random_weights(tmp_path: Path) -> None:
    handlers = handlers_for(small_index(tmp_path / "pics", tmp_path / "index"), tmp_path)
    summary, details = handlers.index_state()
    assert "mm-badge-random" in summary and "random weights" in summary and "results carry no meaning" in summary
    assert "random weights" in details


def test_the_header_names_the_toy_model_and_a_plain_model_gets_no_badge(tmp_path: Path) -> None:
    folder = tmp_path / "toy"
    folder.mkdir()
    model_notes.write_note(folder, model_notes.TOY_NOTE)
    toy = handlers_for(index_with(ModelSpec.parse(f"local-dir:{folder}", None), tmp_path / "a"), tmp_path / "a")
    assert "toy model trained on coloured shapes" in toy.index_state()[0]
    plain = handlers_for(index_with(ModelSpec("fake", "tag"), tmp_path / "b"), tmp_path / "b")
    summary = plain.index_state()[0]
    assert "mm-badge" not in summary and "8 images" in summary
    status = plain.search_text("a red square", *OPTS)[2]  # 8 images: too few for the z-score, nothing flags it
    assert status.startswith("**8 results**")


@pytest.mark.parametrize("match, expected", [("weak", True), ("strong", False)])
def test_status_heading_follows_the_first_hits_match(match: str, expected: bool) -> None:
    hits = [Hit("a", "/x/a.jpg", 0.5, match=match)]
    assert views.status("“q”", hits, 0.01).startswith("### No strong match") is expected
