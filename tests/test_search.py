"""Search through the library API: text, image, id, composed, recommendations, filters, targets."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from multimodal.errors import ConfigError, EmptyIndexError, NotFoundError
from multimodal.index import Index
from multimodal.records import image_id
from multimodal.search import Filters, Term
from tests.fixtures.fake_encoder import FakeEncoder
from tests.fixtures.images import write_image


@pytest.fixture
def filled(index: Index, photo_folder: Path) -> Index:
    index.ingest(photo_folder)
    return index


def ranking(index: Index, vector: np.ndarray, exclude: set[str] = frozenset()) -> list[tuple[str, float]]:
    """Every stored image but `exclude`, ranked by exact cosine to `vector`: what a search must return, in order."""
    vector = vector / np.linalg.norm(vector)
    scores = {r.id: float(np.dot(r.embedding, vector))
              for r in index.store.iter_records(where={"kind": "image"}, embeddings=True) if r.id not in exclude}
    return sorted(scores.items(), key=lambda item: -item[1])


def assert_ranked(hits: list, expected: list[tuple[str, float]]) -> None:
    """The hits are the expected ids in the expected order, with the expected scores."""
    assert [h.id for h in hits] == [i for i, _ in expected[: len(hits)]]
    assert [h.score for h in hits] == pytest.approx([score for _, score in expected[: len(hits)]], abs=1e-4)


def test_image_query_finds_the_same_picture_first_with_score_one(filled: Index, photo_folder: Path,
                                                                 tmp_path: Path) -> None:
    query = write_image(tmp_path / "query.png", color=(220, 20, 20))  # same pixels as sub/red.png
    hits = filled.searcher.search_image(query, k=3)
    assert hits[0].path == str(photo_folder / "sub" / "red.png")
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)
    red = image_id(photo_folder / "sub" / "red.png")
    assert len(hits) == 3
    assert_ranked(hits, ranking(filled, filled.searcher.stored_vector(red)))


def test_pil_image_query(filled: Index, photo_folder: Path) -> None:
    hits = filled.searcher.search_image(Image.new("RGB", (30, 30), (20, 20, 220)), k=1)
    assert hits[0].path == str(photo_folder / "sub" / "blue.png")


def test_indexed_path_query_uses_the_stored_vector(filled: Index, photo_folder: Path,
                                                   fake_encoder: FakeEncoder) -> None:
    before = fake_encoder.images_encoded
    hits = filled.searcher.search_image(photo_folder / "img1.jpg", k=1)
    assert hits[0].path == str(photo_folder / "img1.jpg")
    assert fake_encoder.images_encoded == before  # no decode, no model call


def test_more_like_this_excludes_itself_and_does_not_encode(filled: Index, photo_folder: Path,
                                                            fake_encoder: FakeEncoder) -> None:
    before = fake_encoder.images_encoded
    rid = image_id(photo_folder / "sub" / "red.png")
    hits = filled.searcher.more_like_this(rid, k=3)
    assert rid not in {h.id for h in hits} and len(hits) == 3
    assert fake_encoder.images_encoded == before
    assert_ranked(hits, ranking(filled, filled.searcher.stored_vector(rid), exclude={rid}))


def test_unknown_id_is_a_clear_error(filled: Index) -> None:
    with pytest.raises(NotFoundError, match="no image with id"):
        filled.searcher.more_like_this("nope")


def test_text_query_matches_caption_and_repeats_hit_the_cache(filled: Index, fake_encoder: FakeEncoder) -> None:
    hits = filled.searcher.search_text("a red square", k=1, target="captions")
    assert hits[0].kind == "caption" and hits[0].caption == "a red square"
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)  # the fake text encoder is deterministic
    calls = len(fake_encoder.text_batches)
    filled.searcher.search_text("a red square", k=1)
    assert len(fake_encoder.text_batches) == calls


def test_both_targets_merge_to_one_hit_per_image(filled: Index, photo_folder: Path) -> None:
    hits = filled.searcher.search_text("a red square", k=10, target="both")
    image_ids = [h.image_id for h in hits]
    assert len(image_ids) == len(set(image_ids)) == 6
    assert hits[0].path == str(photo_folder / "sub" / "red.png")
    query = filled.searcher.text_vector("a red square")
    best: dict[str, float] = {}
    for record in filled.store.iter_records(embeddings=True):  # images and captions: each image's best
        owner = str(record.metadata.get("image_id", record.id))
        best[owner] = max(best.get(owner, -2.0), float(np.dot(record.embedding, query)))
    assert image_ids == sorted(best, key=lambda i: -best[i])
    assert [h.score for h in hits] == pytest.approx(sorted(best.values(), reverse=True), abs=1e-4)


def test_composed_query_is_the_normalised_weighted_sum(filled: Index, photo_folder: Path) -> None:
    s = filled.searcher
    red, blue = image_id(photo_folder / "sub" / "red.png"), image_id(photo_folder / "sub" / "blue.png")
    v = s.query_vector([Term("id", red, 1.0), Term("id", blue, -0.5), Term("text", "sunset", 0.3)])
    expected = s.stored_vector(red) - 0.5 * s.stored_vector(blue) + 0.3 * s.text_vector("sunset")
    assert np.allclose(v, expected / np.linalg.norm(expected), atol=1e-5)
    assert np.linalg.norm(v) == pytest.approx(1.0)


def test_negative_term_lowers_the_disliked_images_score(filled: Index, photo_folder: Path) -> None:
    red, img0 = str(photo_folder / "sub" / "red.png"), str(photo_folder / "img0.jpg")
    plain = {h.path: h.score for h in filled.searcher.search([Term("image", red)], k=6)}
    hits = filled.searcher.search([Term("image", red), Term("image", img0, -1.0)], k=6)
    pushed = {h.path: h.score for h in hits}
    assert pushed[img0] < plain[img0]
    assert min(pushed, key=pushed.__getitem__) == img0
    s = filled.searcher
    expected = s.stored_vector(image_id(Path(red))) - s.stored_vector(image_id(Path(img0)))
    assert_ranked(hits, ranking(filled, expected))


def test_recommend_from_liked_and_disliked(filled: Index, photo_folder: Path) -> None:
    red, blue = image_id(photo_folder / "sub" / "red.png"), image_id(photo_folder / "sub" / "blue.png")
    hits = filled.searcher.recommend([red], [blue], k=4)
    assert {red, blue}.isdisjoint(h.id for h in hits) and len(hits) == 4
    expected = filled.searcher.stored_vector(red) - 0.5 * filled.searcher.stored_vector(blue)  # Rocchio, dislike 0.5
    assert_ranked(hits, ranking(filled, expected, exclude={red, blue}))


def test_terms_that_cancel_out_are_refused(filled: Index) -> None:
    with pytest.raises(ConfigError, match="cancel"):
        filled.searcher.search([Term("text", "x", 1.0), Term("text", "x", -1.0)])


def test_threshold_drops_weak_hits(filled: Index, photo_folder: Path) -> None:
    hits = filled.searcher.search_image(photo_folder / "sub" / "red.png", k=6, threshold=0.999)
    assert [h.path for h in hits] == [str(photo_folder / "sub" / "red.png")]


def test_folder_and_format_filters(filled: Index, photo_folder: Path) -> None:
    sub = filled.searcher.search_text("anything", k=10, filters=Filters(folder=str(photo_folder / "sub")))
    assert {Path(h.path).name for h in sub} == {"red.png", "blue.png"}
    jpegs = filled.searcher.search_text("anything", k=10, filters=Filters(format="jpg"))
    assert len(jpegs) == 4 and all(h.path.endswith(".jpg") for h in jpegs)


def test_date_range_filter(filled: Index, photo_folder: Path) -> None:
    old = photo_folder / "img0.jpg"
    os.utime(old, (1_000_000_000, 1_000_000_000))  # 2001
    filled.ingest(photo_folder)
    hits = filled.searcher.search_text("x", k=10, filters=Filters(date_to=1_100_000_000))
    assert [h.path for h in hits] == [str(old)]
    recent = filled.searcher.search_text("x", k=10, filters=Filters(date_from=1_100_000_000))
    assert len(recent) == 5


def test_nearest_captions_for_an_image(filled: Index, photo_folder: Path) -> None:
    hits = filled.searcher.nearest_captions(photo_folder / "sub" / "red.png", k=3)
    assert [h.caption for h in hits] == ["a red square"]


def test_empty_index_says_what_to_run(index: Index) -> None:
    with pytest.raises(EmptyIndexError, match="multimodal ingest"):
        index.search("anything")


def test_python_api_search_text_and_image_together(filled: Index, photo_folder: Path) -> None:
    hits = filled.search("a red square", image=photo_folder / "sub" / "red.png", negative="blue", k=2)
    assert hits[0].path == str(photo_folder / "sub" / "red.png")
