"""The fast query path: plain ANN query + kind filter in Python, falling back to Chroma's `where` when needed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from multimodal.index import Index
from multimodal.records import CAPTION, IMAGE
from multimodal.search import Filters, Term
from multimodal.store import Record
from tests.fixtures.fake_encoder import FakeEncoder


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _fill(index: Index, encoder: FakeEncoder, vectors: np.ndarray, kinds: list[str]) -> None:
    index.store.ensure_collection(encoder.spec, encoder.dim)
    records = []
    for i, (v, kind) in enumerate(zip(vectors, kinds, strict=True)):
        meta: dict[str, Any] = {"kind": kind, "path": f"/p/{i}.jpg", "folders": ["/p"], "format": "JPEG"}
        if kind == CAPTION:
            meta["image_id"] = "r0"
        records.append(Record(f"r{i}", meta, v, "caption" if kind == CAPTION else None))
    index.store.upsert(records)


@pytest.fixture
def where_calls(index: Index, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    calls: list[Any] = []
    real = index.store.query

    def spy(vectors: np.ndarray, k: int, *, where: dict[str, Any] | None = None) -> Any:
        calls.append(where)
        return real(vectors, k, where=where)

    monkeypatch.setattr(index.store, "query", spy)
    return calls


def test_an_image_only_index_is_searched_without_a_metadata_filter(index: Index, fake_encoder: FakeEncoder,
                                                                   where_calls: list[Any]) -> None:
    vectors = _unit(np.random.default_rng(0).standard_normal((60, fake_encoder.dim)))
    _fill(index, fake_encoder, vectors, [IMAGE] * 60)
    hits = index.searcher.search([Term("id", "r5")], k=5)
    assert len(hits) == 5
    assert where_calls == [None]


def test_results_match_exact_search_over_the_wanted_kind(index: Index, fake_encoder: FakeEncoder) -> None:
    rng = np.random.default_rng(1)
    vectors = _unit(rng.standard_normal((300, fake_encoder.dim)))
    kinds = [CAPTION if i % 3 == 0 else IMAGE for i in range(300)]
    _fill(index, fake_encoder, vectors, kinds)
    for probe in (7, 50, 200):
        hits = index.searcher.search([Term("id", f"r{probe}")], k=8)
        sims = vectors @ vectors[probe]
        exact = [f"r{i}" for i in np.argsort(-sims) if kinds[i] == IMAGE and i != probe][:8]
        assert [h.id for h in hits] == exact
        assert all(h.kind == IMAGE for h in hits)


def test_when_captions_crowd_the_neighbourhood_the_filtered_query_still_returns_k_images(
        index: Index, fake_encoder: FakeEncoder, where_calls: list[Any]) -> None:
    rng = np.random.default_rng(2)
    centre = _unit(rng.standard_normal(fake_encoder.dim))
    near = _unit(centre + 0.05 * rng.standard_normal((40, fake_encoder.dim)))  # 40 captions right by the query
    far = _unit(rng.standard_normal((10, fake_encoder.dim)))  # 10 images elsewhere
    _fill(index, fake_encoder, np.concatenate([near, far]), [CAPTION] * 40 + [IMAGE] * 10)
    hits = index.searcher.search([Term("id", "r0")], k=4)
    assert len(hits) == 4 and all(h.kind == IMAGE for h in hits)
    sims = far @ near[0]
    assert [h.id for h in hits] == [f"r{40 + i}" for i in np.argsort(-sims)[:4]]
    assert where_calls[0] is None and where_calls[-1] == {"kind": IMAGE}  # tried fast, then filtered


def test_user_filters_go_to_chroma_as_a_where_clause(index: Index, fake_encoder: FakeEncoder,
                                                     where_calls: list[Any]) -> None:
    vectors = _unit(np.random.default_rng(3).standard_normal((20, fake_encoder.dim)))
    _fill(index, fake_encoder, vectors, [IMAGE] * 20)
    index.searcher.search([Term("id", "r1")], k=3, filters=Filters(format="jpg"))
    assert where_calls == [{"$and": [{"kind": IMAGE}, {"format": "JPEG"}]}]
