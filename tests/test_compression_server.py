"""The toolkit on a real Chroma server: a PCA codec published and read back over HTTP, racing writers, and
duplicates / tags / map / probe through the same Store calls as on an embedded index."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from multimodal.compression import fit_pca
from multimodal.config import Settings
from multimodal.duplicates import find_duplicates
from multimodal.index import Index
from multimodal.probe import parse_attribute, parse_targets, run_probe
from multimodal.search import Filters
from multimodal.space_map import build_map
from multimodal.store import Store
from multimodal.tagging import tag_images
from tests.fixtures.colour_words import ColourWordEncoder, colour_folders

pytestmark = pytest.mark.server


def test_a_compressed_index_on_a_server_serves_every_tool(server_settings: Settings, tmp_path: Path) -> None:
    root = colour_folders(tmp_path / "colours", per_colour=6)
    shutil.copyfile(root / "red" / "red0.png", root / "red" / "red0-copy.png")
    index = Index.open(replace(server_settings, compress="pca8"), encoder=ColourWordEncoder())
    index.ingest(root)
    raw = index.store.collection.get(limit=1, include=["embeddings"])["embeddings"]
    assert np.asarray(raw).shape[1] == 8

    reopened = Index.open(replace(server_settings, compress=None), encoder=ColourWordEncoder())
    assert reopened.store.codec.name == "pca8"
    np.testing.assert_allclose(reopened.store.codec.basis, index.store.codec.basis, atol=1e-6)

    report = find_duplicates(reopened.store)
    assert [sorted(Path(p).name for p in g.paths) for g in report.exact] == [["red0-copy.png", "red0.png"]]
    tagged = tag_images(reopened.store, reopened.encoder, ["red", "green", "blue"])
    assert tagged.counts == {"red": 7, "green": 6, "blue": 6}
    hits = reopened.searcher.search_text("x", k=20, filters=Filters(tag="blue"))
    assert {Path(h.path).parent.name for h in hits} == {"blue"}
    assert len(build_map(reopened.store).points) == 19
    result = run_probe(reopened.store, reopened.encoder, parse_targets("tag:red,tag:blue"),
                       (parse_attribute("warm:red,fire"), parse_attribute("cold:blue,ice")), permutations=500)
    assert result.effect_size > 0.8


def test_racing_writers_on_a_server_end_up_with_one_codec(server_settings: Settings) -> None:
    first = Store.open(server_settings)
    first.ensure_collection(ColourWordEncoder().spec, 32)
    second = Store.open(server_settings)
    rng = np.random.default_rng(2)
    mine, theirs = fit_pca(rng.standard_normal((40, 32)), 4), fit_pca(rng.standard_normal((40, 32)), 4)
    first.set_codec(mine)
    np.testing.assert_allclose(second.set_codec(theirs).basis, mine.basis, atol=1e-6)
