"""Map of the space: 2-D projection of the stored vectors, queries placed on it, a standalone page."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from multimodal.cli.main import main
from multimodal.devtools.browser import chromium_page
from multimodal.errors import ConfigError
from multimodal.index import Index
from multimodal.map_page import render_page
from multimodal.space_map import build_map, thumbnails
from tests.fixtures.colour_words import ColourWordEncoder, coloured_index
from tests.fixtures.fake_encoder import stub_model_loads


@pytest.fixture
def coloured(tmp_path: Path) -> Index:
    return coloured_index(tmp_path, add=lambda root: (root / "blue" / "blue1.txt").write_text("a cold picture\n"))


def folder_of(path: str) -> str:
    return Path(path).parent.name


def test_pca_map_keeps_colour_folders_apart(coloured: Index) -> None:
    space = build_map(coloured.store)
    assert space.method == "pca" and space.total == 12 and len(space.points) == 12
    assert 0.0 < space.explained <= 1.0
    xy = {p.id: np.array([p.x, p.y]) for p in space.points}
    centres = {f: np.mean([xy[p.id] for p in space.points if folder_of(p.path) == f], axis=0)
               for f in ("red", "green", "blue")}
    for p in space.points:
        nearest = min(centres, key=lambda f: float(np.linalg.norm(xy[p.id] - centres[f])))
        assert nearest == folder_of(p.path)


def test_a_query_lands_among_its_matches(coloured: Index) -> None:
    space = build_map(coloured.store)
    mark = space.place("red", coloured.searcher.text_vector("red"))
    paths = {p.id: p.path for p in space.points}
    assert {folder_of(paths[i]) for i in mark.matches[:4]} == {"red"}
    centres = {f: np.mean([[p.x, p.y] for p in space.points if folder_of(p.path) == f], axis=0)
               for f in ("red", "green", "blue")}
    assert min(centres, key=lambda f: float(np.linalg.norm(np.array([mark.x, mark.y]) - centres[f]))) == "red"


def test_a_sample_is_seeded_and_filters_apply(coloured: Index, tmp_path: Path) -> None:
    first = [p.id for p in build_map(coloured.store, sample=5).points]
    assert len(first) == 5 and first == [p.id for p in build_map(coloured.store, sample=5).points]
    folder = str(tmp_path / "colours" / "green")
    only_green = build_map(coloured.store, where={"folders": {"$contains": folder}})
    assert {folder_of(p.path) for p in only_green.points} == {"green"} and only_green.total == 4


def test_the_page_is_standalone_with_thumbnails_paths_and_queries(coloured: Index) -> None:
    space = build_map(coloured.store)
    space.place("blue <sky>", coloured.searcher.text_vector("blue"))
    thumbs = thumbnails([p.path for p in space.points])
    page = render_page(space, colour_by="caption", thumbnails=thumbs)
    assert not re.search(r"""(src|href)=["']?https?:""", page) and "<link" not in page  # nothing fetched
    data = json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', page, re.S).group(1))
    assert len(data["x"]) == 12 and set(data["path"]) == {p.path for p in space.points}
    assert all(t.startswith("data:image/jpeg;base64,") for t in data["thumb"])
    assert sorted(data["groups"]["caption"]["names"]) == ["captioned", "no caption"]
    assert sorted(data["groups"]["folder"]["names"]) == ["blue", "green", "red"]
    assert data["queries"][0]["label"] == "blue <sky>" and len(data["queries"][0]["matches"]) == 10
    with pytest.raises(ConfigError):
        render_page(space, colour_by="size")
    assert data["draw"] == "points"


def test_the_image_atlas_mode_is_chosen_up_front_and_needs_the_thumbnails(coloured: Index) -> None:
    space = build_map(coloured.store)
    page = render_page(space, thumbnails=thumbnails([p.path for p in space.points]), draw="thumbnails")
    data = json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', page, re.S).group(1))
    assert data["draw"] == "thumbnails" and 'id="draw"' in page
    with pytest.raises(ConfigError, match="needs the thumbnails"):
        render_page(space, draw="thumbnails")
    with pytest.raises(ConfigError, match="--draw must be one of points, thumbnails"):
        render_page(space, draw="mosaic")


def test_umap_without_umap_learn_says_how_to_install(coloured: Index, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "umap", None)  # import fails as when it is not installed
    with pytest.raises(ConfigError, match="umap-learn"):
        build_map(coloured.store, method="umap")
    with pytest.raises(ConfigError, match="--method"):
        build_map(coloured.store, method="tsne")


def test_command_writes_the_page_with_a_query(coloured: Index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    stub_model_loads(monkeypatch, ColourWordEncoder)
    out = tmp_path / "out" / "map.html"
    index_dir = str(coloured.settings.index_dir)
    args = ["map", "--out", str(out), "--query", "green", "--no-thumbnails", "--index", index_dir]
    assert main(args) == 0
    data = json.loads(re.search(r'type="application/json">(.*?)</script>', out.read_text(), re.S).group(1))
    assert data["queries"][0]["label"] == "green" and set(data["thumb"]) == {""}
    assert "12 of 12 images" in capsys.readouterr().err
    assert main(["map", "--out", str(tmp_path), "--index", str(coloured.settings.index_dir)]) == 2


@pytest.mark.browser
def test_the_page_in_a_browser_shows_a_thumbnail_and_path_on_hover_and_recolours(coloured: Index,
                                                                                 tmp_path: Path) -> None:
    space = build_map(coloured.store)
    space.place("red", coloured.searcher.text_vector("red"))
    page_file = tmp_path / "map.html"
    page_file.write_text(render_page(space, thumbnails=thumbnails([p.path for p in space.points])))
    with chromium_page() as page:
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(page_file.as_uri())
        dots = page.locator("svg#map circle[r='4']")
        assert dots.count() == 12
        assert page.locator("svg#map path").count() == 1  # the query's diamond
        assert page.locator("svg#map circle[r='7']").count() == 10  # its nearest images, ringed
        dots.last.hover()  # drawn last, so no overlapping point can intercept the pointer
        tip = page.locator("#tip")
        assert tip.is_visible() and tip.inner_text().strip() in {p.path for p in space.points}
        assert tip.locator("img").get_attribute("src").startswith("data:image/jpeg;base64,")
        assert len({dots.nth(i).get_attribute("fill") for i in range(12)}) == 3  # by folder
        page.select_option("#by", "caption")
        assert "captioned" in page.locator("#legend").inner_text()
        assert "modality gap" in page.locator("#legend").inner_text()  # why the diamond may sit apart from its rings
        assert len({dots.nth(i).get_attribute("fill") for i in range(12)}) == 2  # one image has a caption
        assert all(url.startswith(("file:", "data:")) for url in requests)  # nothing from the network


def test_auto_colouring_uses_clusters_of_the_space_then_tags(coloured: Index) -> None:
    space = build_map(coloured.store)
    by_cluster: dict[int, set[str]] = {}
    for p in space.points:
        by_cluster.setdefault(p.cluster, set()).add(folder_of(p.path))
    assert len(by_cluster) == 3 and all(len(f) == 1 for f in by_cluster.values())  # one colour folder each

    def data(page: str) -> dict:
        return json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', page, re.S).group(1))

    untagged = data(render_page(space))
    assert untagged["colourBy"] == "cluster" and len(untagged["groups"]["cluster"]["names"]) == 3
    tagged = build_map(coloured.store)
    tagged.points[0] = dataclasses.replace(tagged.points[0], tag="warm")
    assert data(render_page(tagged))["colourBy"] == "tag"
    assert data(render_page(space, colour_by="folder"))["colourBy"] == "folder"


def test_clusters_find_planted_groups_and_the_silhouette_matches_sklearn() -> None:
    from sklearn.metrics import silhouette_score

    from multimodal.space_map import _silhouette, _squared_distances, clusters_of

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(6, 64))
    sizes = [220, 180, 150, 120, 90, 40]
    x = np.concatenate([c + 0.3 * rng.normal(size=(n, 64)) for c, n in zip(centres, sizes, strict=True)])
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    found = clusters_of(x)
    bounds = np.cumsum([0, *sizes])
    assert [len(set(found[a:b].tolist())) for a, b in itertools.pairwise(bounds)] == [1] * 6
    assert found[0] == 0 and found[-1] == 5  # numbered by size, largest first
    labels = rng.integers(0, 4, 300)
    distances = np.sqrt(np.maximum(_squared_distances(x[:300], x[:300]), 0))
    assert _silhouette(distances, labels) == pytest.approx(float(silhouette_score(x[:300], labels)), abs=1e-4)
    assert clusters_of(x[:3]).tolist() == [0, 0, 0]
