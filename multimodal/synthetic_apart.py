"""Training pictures that show one attribute apart from the other: shapes in colours the captions never name,
and colour blobs that are no shape.

In the coloured-shape set every shape has a colour and every colour a shape, so a model can learn "red circle"
as one thing and then not know a red square, a pair it never saw. These pictures take the pairs apart:
- **shape apart**: each shape filled with a colour outside the named six (black, white, lime, cyan, magenta),
  captioned without a colour ("a large star on the left", "a star");
- **colour apart**: a lumpy blob in each named colour, captioned without a shape ("a large red shape on the
  left", "a red shape").
Neither shows a colour × shape pair of the held-out split (no named colour on a shape), so the held-out
scores still measure composition. Both are drawn from a seed like the rest of the set.
"""

from __future__ import annotations

import colorsys
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from multimodal.synthetic import (
    _FR_COLOURS,
    _FR_POSITIONS,
    _FR_SHAPES,
    _FR_SIZES,
    COLOURS,
    POSITIONS,
    SHAPES,
    SIZES,
    VOCABULARIES,
    _a,
    draw_figure,
)

# Far from the six named hues (at least 35 degrees of hue away, or no hue at all): no picture here could pass
# for a named colour on a shape, which would show a held-out pair.
UNNAMED_COLOURS = {"black": (30, 30, 30), "white": (235, 235, 235), "lime": (110, 220, 40),
                   "cyan": (40, 200, 200), "magenta": (230, 40, 160)}
_SEED_TAG = 4  # keeps these pictures' random streams apart from the split codes 1-3 of `synthetic.generate`


@dataclass(frozen=True)
class ApartPicture:
    kind: str  # "shape" (an unnamed colour) or "colour" (a blob)
    value: str  # the shape or the colour shown
    size: str
    position: str


def pictures(per_value: int) -> list[ApartPicture]:
    """`per_value` pictures for each shape and each named colour, at every size and position."""
    kinds = [("shape", s) for s in SHAPES] + [("colour", c) for c in COLOURS]
    return [ApartPicture(kind, value, size, position)
            for (kind, value), size, position, _ in itertools.product(kinds, SIZES, POSITIONS, range(per_value))]


def draw(picture: ApartPicture, rng: np.random.Generator, size: int) -> object:
    if picture.kind == "shape":
        rgb = list(UNNAMED_COLOURS.values())[int(rng.integers(len(UNNAMED_COLOURS)))]
        return draw_figure(picture.value, rgb, picture.size, picture.position, rng, size)
    return draw_figure("blob", COLOURS[picture.value], picture.size, picture.position, rng, size)


def captions(picture: ApartPicture, language: str = "en") -> list[str]:
    """The full caption without the missing attribute first, then one caption per attribute shown (and, for a
    shape, the shape with its position, as coloured shapes carry it)."""
    if language == "fr":
        return _captions_fr(picture)
    v = VOCABULARIES["en"]
    size, where = v.sizes[picture.size], v.positions[picture.position]
    noun = v.shapes[picture.value] if picture.kind == "shape" else f"{v.colours[picture.value]} shape"
    texts = [f"{_a(f'{size} {noun}')} {where}", _a(noun)]
    if picture.kind == "shape":
        texts.append(f"{_a(noun)} {where}")  # as `synthetic.colourless_caption` writes it for coloured shapes
    return [*texts, _a(f"{size} shape"), f"a shape {where}"]


def _captions_fr(picture: ApartPicture) -> list[str]:
    size, where = _FR_SIZES[picture.size], _FR_POSITIONS[picture.position]
    if picture.kind == "shape":
        noun, gender = _FR_SHAPES[picture.value]
        article, adjective = ("un", size[0]) if gender == "m" else ("une", size[1])
        texts = [f"{article} {adjective} {noun} {where}", f"{article} {noun}", f"{article} {noun} {where}"]
    else:
        colour = _FR_COLOURS[picture.value][1]  # "forme" is feminine
        texts = [f"une {size[1]} forme {colour} {where}", f"une forme {colour}"]
    return [*texts, f"une {size[1]} forme", f"une forme {where}"]


def write(root: Path, per_value: int, *, seed: int, size: int, languages: tuple[str, ...]) -> list[dict[str, str]]:
    """Draw the pictures into `root` as `apart-NNNNN.jpg`; returns their caption rows for `captions.jsonl`."""
    rows: list[dict[str, str]] = []
    for n, picture in enumerate(pictures(per_value)):
        rel = f"apart-{n:05d}.jpg"
        image = draw(picture, np.random.default_rng([seed, _SEED_TAG, n]), size)
        image.save(root / rel, format="JPEG", quality=92, subsampling=0)  # type: ignore[attr-defined]
        rows += [{"file": rel, "caption": t, "lang": lang} for lang in languages for t in captions(picture, lang)]
    return rows


def hue_distance(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """Degrees between two colours' hues (0-180); for tests and for choosing `UNNAMED_COLOURS`."""
    ha = colorsys.rgb_to_hsv(*(c / 255 for c in a))[0]
    hb = colorsys.rgb_to_hsv(*(c / 255 for c in b))[0]
    d = abs(ha - hb) * 360
    return min(d, 360 - d)
