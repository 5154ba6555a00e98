"""Duplicate finder: planted copies found, look-alikes left alone, exact copies apart, k-NN queries only."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from multimodal.cli.main import main
from multimodal.config import Settings
from multimodal.duplicates import DEFAULT_NEIGHBOURS, find_duplicates
from multimodal.errors import ConfigError, EmptyIndexError
from multimodal.index import Index
from multimodal.perceptual import MAX_PHASH, PHASH_KEY, compare, fingerprint
from multimodal.planted import COPY_KINDS, PlantedSet, make_planted_set, pair_scores
from tests.fixtures.fake_encoder import FakeEncoder
from tests.fixtures.images import write_image


@pytest.fixture
def planted(tmp_path: Path) -> tuple[Index, PlantedSet]:
    found = make_planted_set(tmp_path / "set", 8, with_copies=4)
    index = Index.open(Settings.resolve(index_dir=tmp_path / "idx"), encoder=FakeEncoder())
    index.ingest(found.root)
    return index, found


def test_planted_copies_are_grouped_and_look_alikes_are_not(planted: tuple[Index, PlantedSet]) -> None:
    index, truth = planted
    report = find_duplicates(index.store)
    precision, recall = pair_scores([g.paths for g in report.near + report.exact], truth.true_pairs())
    assert precision >= 0.9 and recall >= 0.75
    assert not any("lookalike" in p for g in report.near for p in g.paths)
    assert report.images == truth.files and report.threshold is None and 0.0 < report.typical_threshold < 1.0


def test_exact_copies_are_reported_apart_from_near_ones(planted: tuple[Index, PlantedSet]) -> None:
    index, truth = planted
    report = find_duplicates(index.store)
    assert sorted(sorted(g.paths) for g in report.exact) == sorted(sorted(g) for g in truth.exact)
    assert all(g.similarity == 1.0 for g in report.exact)
    assert all(len({Path(p).name for p in g.paths}) > 1 for g in report.near)  # never only byte-identical files


def test_each_distinct_image_costs_one_nearest_neighbour_query(planted: tuple[Index, PlantedSet],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    index, truth = planted
    asked: list[tuple[int, int]] = []
    real_query = index.store.query

    def counting(vectors: np.ndarray, k: int, **kw: object) -> list:
        asked.append((len(vectors), k))
        return real_query(vectors, k, **kw)

    monkeypatch.setattr(index.store, "query", counting)
    find_duplicates(index.store)
    distinct = truth.files - len(truth.exact)
    assert sum(n for n, _ in asked) == distinct  # one k-NN query per content, never a row of all pairs
    assert max(k for _, k in asked) <= DEFAULT_NEIGHBOURS + 2  # + the largest set of byte-identical copies


def test_groups_chain_through_neighbours_above_the_threshold(tmp_path: Path) -> None:
    root = tmp_path / "fade"
    for n, red in enumerate((200, 170, 140)):  # a -> b -> c, each step small, a -> c larger
        write_image(root / f"{n}.png", color=(red, 60, 255 - red))
    write_image(root / "far.png", color=(10, 240, 10))
    index = Index.open(Settings.resolve(index_dir=tmp_path / "idx"), encoder=FakeEncoder())
    index.ingest(root)
    vectors = {Path(r.metadata["path"]).name: r.embedding
               for r in index.store.iter_records(where={"kind": "image"}, embeddings=True)}
    step = min(float(vectors["0.png"] @ vectors["1.png"]), float(vectors["1.png"] @ vectors["2.png"]))
    ends = float(vectors["0.png"] @ vectors["2.png"])
    assert ends < step
    report = find_duplicates(index.store, threshold=(ends + step) / 2)
    assert [sorted(Path(p).name for p in g.paths) for g in report.near] == [["0.png", "1.png", "2.png"]]
    assert report.near[0].similarity == pytest.approx(step, abs=1e-4) and report.relative is None


def test_a_folder_filter_limits_the_search(planted: tuple[Index, PlantedSet]) -> None:
    index, truth = planted
    folder = str(truth.root / "copies")
    report = find_duplicates(index.store, where={"folders": {"$contains": folder}}, threshold=0.5)
    assert report.images == 4 * len(COPY_KINDS) and all(p.startswith(folder) for g in report.near for p in g.paths)


def test_bad_settings_and_empty_index_are_refused(tmp_path: Path) -> None:
    empty = Index.open(Settings.resolve(index_dir=tmp_path / "idx"), encoder=FakeEncoder())
    with pytest.raises(EmptyIndexError):
        find_duplicates(empty.store)
    for kwargs in ({"threshold": 1.5}, {"relative": 0.0}, {"neighbours": 0}, {"max_phash": 65}, {"max_chroma": -1}):
        with pytest.raises(ConfigError):
            find_duplicates(empty.store, **kwargs)


def test_command_prints_near_groups_as_json_and_identical_files_apart(planted: tuple[Index, PlantedSet],
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    index, truth = planted
    where = ["--index", str(index.settings.index_dir)]
    assert main(["duplicates", "--json", *where]) == 0
    near = json.loads(capsys.readouterr().out)
    assert near == [g.paths for g in find_duplicates(index.store).near] and near
    assert main(["duplicates", "--exact", "--json", *where]) == 0
    assert sorted(map(sorted, json.loads(capsys.readouterr().out))) == sorted(map(sorted, truth.exact))
    assert main(["duplicates", "--threshold", "0.999", *where]) == 0
    text = capsys.readouterr().out
    assert "# 4 groups of identical files" in text and "similarity >= 0.999" in text
    assert main(["duplicates", "--threshold", "2", *where]) == 2


def _shapes_without_duplicates(root: Path) -> Path:
    """Small shapes on one background, each a different picture: a k-NN over thumbnails finds them all close."""
    from PIL import Image, ImageDraw

    for n, (shape, colour, x) in enumerate(itertools.product(("circle", "square", "triangle"),
                                                               ((40, 60, 220), (220, 50, 40)), (14, 46))):
        image = Image.new("RGB", (96, 96), (235, 235, 230))
        draw = ImageDraw.Draw(image)
        box = (x, 62, x + 28, 90)
        if shape == "circle":
            draw.ellipse(box, fill=colour)
        elif shape == "square":
            draw.rectangle(box, fill=colour)
        else:
            draw.polygon([(x, 90), (x + 28, 90), (x + 14, 62)], fill=colour)
        root.mkdir(parents=True, exist_ok=True)
        image.save(root / f"{n:02d}-{shape}.png")
    return root


def test_a_set_without_duplicates_gives_no_groups_though_the_embedding_alone_would(tmp_path: Path) -> None:
    index = Index.open(Settings.resolve(index_dir=tmp_path / "idx"), encoder=FakeEncoder())
    index.ingest(_shapes_without_duplicates(tmp_path / "shapes"))
    report = find_duplicates(index.store)
    assert report.near == [] and report.exact == [] and report.images == 12
    assert report.rejected > 0  # the embedding proposed pairs; the pixels said no
    unchecked = find_duplicates(index.store, max_phash=64, max_dhash=64, max_chroma=255)  # no pixel check
    assert unchecked.near and unchecked.rejected == 0


def test_ingest_stores_a_perceptual_hash_of_the_picture_as_displayed(planted: tuple[Index, PlantedSet]) -> None:
    index, truth = planted
    prints = {str(Path(r.metadata["path"]).relative_to(truth.root)): r.metadata[PHASH_KEY]
              for r in index.store.iter_records(where={"kind": "image"})}
    expected = len(fingerprint(Image.new("RGB", (8, 8))))
    assert len(prints) == truth.files and {len(h) for h in prints.values()} == {expected}
    base = prints["photos/scene0000.png"]
    assert max(compare(base, prints["copies/scene0000-exif-rotated.jpg"])) <= 2  # hashed after EXIF rotation
    assert compare(base, prints["photos/lookalike0000.png"])[0] > MAX_PHASH


def test_an_index_without_hashes_says_so_and_ingest_adds_them_without_encoding(
        planted: tuple[Index, PlantedSet], capsys: pytest.CaptureFixture[str]) -> None:
    index, truth = planted
    ids = [r.id for r in index.store.iter_records(where={"kind": "image"})]
    index.store.update_records(ids, [{PHASH_KEY: None} for _ in ids])  # as an older version left it
    old = find_duplicates(index.store)
    assert old.near == [] and old.unhashed == truth.files and old.exact  # exact copies need no hash
    assert main(["duplicates", "--index", str(index.settings.index_dir)]) == 0
    assert f"{truth.files} images have no perceptual hash" in capsys.readouterr().out
    encoded = index.encoder.images_encoded
    index.ingest(truth.root)
    assert index.encoder.images_encoded == encoded  # vectors reused: only the hashes were added
    again = find_duplicates(index.store)
    assert again.unhashed == 0 and again.near
