"""Pictures that show one attribute apart: no named colour on a shape (no held-out pair), captions true to them."""

from __future__ import annotations

import colorsys
import json
from pathlib import Path

import numpy as np

from multimodal.colour_words import names_a_colour
from multimodal.synthetic import _FR_SHAPES, COLOURS, SHAPES, read_attributes
from multimodal.synthetic_apart import UNNAMED_COLOURS, ApartPicture, captions, draw, hue_distance, pictures, write

SHAPE_WORDS = set(SHAPES) | {noun for noun, _ in _FR_SHAPES.values()}


def _saturation(rgb: tuple[int, int, int]) -> float:
    return colorsys.rgb_to_hsv(*(c / 255 for c in rgb))[1]


def _achromatic(rgb: tuple[int, int, int]) -> bool:
    """Grey, or so dark that its hue is noise (a jittered black can read (14, 29, 13))."""
    return _saturation(rgb) < 0.25 or max(rgb) < 60


def test_unnamed_colours_are_far_from_every_named_hue_or_have_none() -> None:
    for name, rgb in UNNAMED_COLOURS.items():
        if _saturation(rgb) < 0.1:
            continue  # black and white
        assert min(hue_distance(rgb, named) for named in COLOURS.values()) >= 35, name


def test_a_shape_picture_is_filled_with_no_named_colour_and_a_colour_picture_with_its_own() -> None:
    for n in range(20):
        rng = np.random.default_rng(n)
        shape = np.asarray(draw(ApartPicture("shape", "square", "large", "center"), rng, 96))
        centre = tuple(int(c) for c in shape[48, 48])
        assert _achromatic(centre) or min(hue_distance(centre, c) for c in COLOURS.values()) >= 20, centre
        blob = np.asarray(draw(ApartPicture("colour", "red", "large", "center"), rng, 96))
        centre = tuple(int(c) for c in blob[48, 48])
        assert hue_distance(centre, COLOURS["red"]) < 15 and _saturation(centre) > 0.5, centre


def test_captions_name_only_what_the_picture_shows() -> None:
    for picture in pictures(1):
        for language in ("en", "fr"):
            texts = captions(picture, language)
            words = {w for t in texts for w in t.split()}
            if picture.kind == "shape":
                assert not any(names_a_colour(t) for t in texts), texts
                assert words & SHAPE_WORDS, texts
            else:
                assert not words & SHAPE_WORDS, texts
                assert any(names_a_colour(t) for t in texts), texts
            assert len(set(texts)) == len(texts), texts


def test_write_is_deterministic_and_stays_out_of_the_attribute_grid(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    rows_a = write(tmp_path / "a", 1, seed=3, size=48, languages=("en", "fr"))
    rows_b = write(tmp_path / "b", 1, seed=3, size=48, languages=("en", "fr"))
    files = sorted(p.name for p in (tmp_path / "a").glob("*.jpg"))
    assert len(files) == len(pictures(1)) == (len(SHAPES) + len(COLOURS)) * 10
    assert rows_a == rows_b
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
    (tmp_path / "a" / "captions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows_a), encoding="utf-8")
    assert read_attributes(tmp_path / "a") == {}  # evaluation reads only pictures with all four attributes
