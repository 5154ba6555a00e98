"""A captioned synthetic image set: coloured shapes at positions and sizes on textured backgrounds.

Every image shows one shape and is captioned from its attributes ("a small red circle on the left").
The held-out split holds colour × shape pairs that the training split never shows (e.g. red circles),
so retrieval on it measures whether a model composes attributes rather than memorising captions.
Everything is drawn from a seed: the same arguments write byte-identical files.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from multimodal.errors import ConfigError

DATA_VERSION = 4  # bump when the drawing or the captions change: cached demo models depend on it
SHAPES = ("circle", "square", "triangle", "star", "cross")
COLOURS = {  # saturated, so they stand out from the low-saturation backgrounds
    "red": (215, 35, 35), "orange": (245, 140, 25), "yellow": (240, 215, 35),
    "green": (40, 165, 65), "blue": (40, 85, 225), "purple": (140, 55, 190),
}
SIZES = ("small", "large")
POSITIONS = ("left", "right", "top", "bottom", "center")
Split = Literal["train", "heldout", "all"]
CaptionStyle = Literal["full", "phrasings", "short", "varied", "rich"]


@dataclass(frozen=True)
class Vocabulary:
    """The words captions use for each attribute value; an alternative vocabulary tests domain adaptation."""

    shapes: dict[str, str]
    colours: dict[str, str]
    sizes: dict[str, str]
    positions: dict[str, str]  # a whole phrase: "on the left"


VOCABULARIES = {
    "en": Vocabulary(
        shapes={s: s for s in SHAPES},
        colours={c: c for c in COLOURS},
        sizes={s: s for s in SIZES},
        positions={"left": "on the left", "right": "on the right", "top": "at the top",
                   "bottom": "at the bottom", "center": "in the center"},
    ),
    # Words the "en" captions never use: a model trained on "en" has to be fine-tuned to follow them.
    "alt": Vocabulary(
        shapes={"circle": "disc", "square": "block", "triangle": "wedge", "star": "asterisk", "cross": "plus"},
        colours={"red": "crimson", "orange": "amber", "yellow": "lemon", "green": "emerald", "blue": "azure",
                 "purple": "violet"},
        sizes={"small": "tiny", "large": "huge"},
        positions={"left": "near the west edge", "right": "near the east edge", "top": "near the north edge",
                   "bottom": "near the south edge", "center": "in the middle"},
    ),
}


@dataclass(frozen=True)
class Attributes:
    shape: str
    colour: str
    size: str
    position: str


@dataclass(frozen=True)
class SyntheticSet:
    """What `generate` wrote."""

    root: Path
    images: int
    captions: int
    combinations: int  # distinct (shape, colour, size, position) tuples in this split


def heldout_pairs() -> frozenset[tuple[str, str]]:
    """(colour, shape) pairs that only the held-out split shows: one shape per colour, every shape used.
    (Red circles, blue stars and green squares stay in training: the examples people try first.)"""
    colours = list(COLOURS)
    return frozenset((c, SHAPES[(2 * i + 1) % len(SHAPES)]) for i, c in enumerate(colours))


def combinations(split: Split) -> list[Attributes]:
    """All attribute tuples of a split, in a fixed order."""
    held = heldout_pairs()
    out = []
    for shape, colour, size, position in itertools.product(SHAPES, COLOURS, SIZES, POSITIONS):
        is_held = (colour, shape) in held
        if split == "all" or (split == "heldout") == is_held:
            out.append(Attributes(shape, colour, size, position))
    return out


def caption(attrs: Attributes, vocabulary: Vocabulary = VOCABULARIES["en"]) -> str:
    """The full caption, e.g. "a small red circle on the left"."""
    v = vocabulary
    return _a(f"{v.sizes[attrs.size]} {v.colours[attrs.colour]} {v.shapes[attrs.shape]} {v.positions[attrs.position]}")


def caption_phrasings(attrs: Attributes, vocabulary: Vocabulary = VOCABULARIES["en"]) -> list[str]:
    """The full caption in other word orders ("on the left, a small red circle", "a red circle, small, on
    the left"): a model trained on them learns what a word means wherever it stands."""
    v = vocabulary
    s, c, z, p = (v.shapes[attrs.shape], v.colours[attrs.colour], v.sizes[attrs.size], v.positions[attrs.position])
    return [f"{p}, {_a(f'{z} {c} {s}')}", f"{_a(f'{c} {s}')}, {z}, {p}", f"{_a(f'{z} {s} {p}')}, {c}",
            f"a photo of {_a(f'{z} {c} {s} {p}')}"]


# French: the adjective of size before the noun, the colour after it, both agreeing with the noun's gender.
_FR_SHAPES = {"circle": ("cercle", "m"), "square": ("carré", "m"), "triangle": ("triangle", "m"),
              "star": ("étoile", "f"), "cross": ("croix", "f")}
_FR_COLOURS = {"red": ("rouge", "rouge"), "orange": ("orange", "orange"), "yellow": ("jaune", "jaune"),
               "green": ("vert", "verte"), "blue": ("bleu", "bleue"), "purple": ("violet", "violette")}
_FR_SIZES = {"small": ("petit", "petite"), "large": ("grand", "grande")}
_FR_POSITIONS = {"left": "à gauche", "right": "à droite", "top": "en haut", "bottom": "en bas",
                 "center": "au centre"}


def caption_fr(attrs: Attributes) -> str:
    """The full caption in French, e.g. "une petite étoile bleue à gauche", "un grand cercle rouge en haut"."""
    noun, gender = _FR_SHAPES[attrs.shape]
    g = 0 if gender == "m" else 1
    article = "un" if gender == "m" else "une"
    return (f"{article} {_FR_SIZES[attrs.size][g]} {noun} {_FR_COLOURS[attrs.colour][g]} "
            f"{_FR_POSITIONS[attrs.position]}")


def caption_phrasings_fr(attrs: Attributes) -> list[str]:
    """The French caption in other word orders ("à gauche, une petite étoile bleue")."""
    noun, gender = _FR_SHAPES[attrs.shape]
    g = 0 if gender == "m" else 1
    article = "un" if gender == "m" else "une"
    size, colour, where = _FR_SIZES[attrs.size][g], _FR_COLOURS[attrs.colour][g], _FR_POSITIONS[attrs.position]
    photo = "d'un" if gender == "m" else "d'une"
    return [f"{where}, {article} {size} {noun} {colour}", f"{article} {noun} {colour}, {size}, {where}",
            f"une photo {photo} {size} {noun} {colour} {where}"]


def short_caption_fr(attrs: Attributes) -> str:
    """Colour and shape only, in French ("une étoile bleue", "un cercle rouge")."""
    noun, gender = _FR_SHAPES[attrs.shape]
    g = 0 if gender == "m" else 1
    return f"{'un' if gender == 'm' else 'une'} {noun} {_FR_COLOURS[attrs.colour][g]}"


def captions_for(attrs: Attributes, style: CaptionStyle, language: str = "en",
                 vocabulary: Vocabulary = VOCABULARIES["en"]) -> list[str]:
    """Every caption `generate` writes for one image in one language, the full caption first."""
    if language == "fr":
        full, phrasings, short = caption_fr(attrs), caption_phrasings_fr(attrs), short_caption_fr(attrs)
    else:
        full, phrasings = caption(attrs, vocabulary), caption_phrasings(attrs, vocabulary)
        short = short_caption(attrs, vocabulary)
    texts = [full]
    if style in ("phrasings", "varied", "rich"):
        texts += phrasings
    if style in ("short", "varied", "rich"):
        texts.append(short)
    if style == "rich":
        texts.append(colourless_caption(attrs, language))
        texts += attribute_captions(attrs, language)
    return texts


def attribute_captions(attrs: Attributes, language: str = "en") -> list[str]:
    """One caption per attribute, naming it alone: "a star", "a red shape", "a small shape", "a shape on the
    left" ("une étoile", "une forme rouge", "une petite forme", "une forme à gauche"). Each is shared by
    every image with that value, and training counts a caption as right for every image that carries it
    (multimodal.contrastive_loss): "a star" pulls red, blue and green stars together and away from the
    other shapes, teaching each attribute apart from the others (how far the demo model composes them for
    colour × shape pairs never seen in training: docs/training.md)."""
    if language == "fr":
        noun, gender = _FR_SHAPES[attrs.shape]
        article = "un" if gender == "m" else "une"  # "forme" is feminine
        return [f"{article} {noun}", f"une forme {_FR_COLOURS[attrs.colour][1]}",
                f"une {_FR_SIZES[attrs.size][1]} forme", f"une forme {_FR_POSITIONS[attrs.position]}"]
    v = VOCABULARIES["en"]
    return [_a(v.shapes[attrs.shape]), _a(f"{v.colours[attrs.colour]} shape"), _a(f"{v.sizes[attrs.size]} shape"),
            f"a shape {v.positions[attrs.position]}"]


def colourless_caption(attrs: Attributes, language: str = "en") -> str:
    """The shape and position without the colour ("a star on the left"; "une étoile à gauche"). Paired with
    it, an image is told from its batch by shape and position alone, which teaches shape apart from colour
    (the attribute a model learns first). Shared by every colour and size of its kind: training counts it as
    right for each of them (multimodal.contrastive_loss)."""
    if language == "fr":
        noun, gender = _FR_SHAPES[attrs.shape]
        return f"{'un' if gender == 'm' else 'une'} {noun} {_FR_POSITIONS[attrs.position]}"
    v = VOCABULARIES["en"]
    return f"{_a(v.shapes[attrs.shape])} {v.positions[attrs.position]}"


def short_caption(attrs: Attributes, vocabulary: Vocabulary = VOCABULARIES["en"]) -> str:
    """Colour and shape only ("a red circle"): teaches that a query leaving out size and position leaves
    them open. Every image of a kind carries it, and training counts a shared caption as right for every
    image that carries it, so it is never taught as a wrong match for its own kind."""
    return _a(f"{vocabulary.colours[attrs.colour]} {vocabulary.shapes[attrs.shape]}")


def _a(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def generate(out: str | Path, *, split: Split = "train", per_combination: int = 1, seed: int = 0,
             size: int = 96, vocabulary: str = "en", captions: CaptionStyle = "full",
             class_folders: Literal["shape", "colour"] | None = None,
             languages: tuple[str, ...] = ("en",)) -> SyntheticSet:
    """Write a captioned set into `out`: JPEG images plus one `captions.jsonl` (one row per caption,
    with the image's attributes as extra keys).

    Args:
        out: folder to write into (created; existing files with the same names are overwritten).
        split: "train" (combinations outside the held-out pairs), "heldout" (only those), or "all".
        per_combination: images drawn for each attribute combination (positions and sizes jitter).
        seed: the same seed writes the same files.
        size: image side in pixels.
        vocabulary: "en" or "alt" (other words for every attribute).
        captions: "full": one caption per image; "phrasings": plus the same in other word orders; "short": plus
            the colour + shape caption ("a red circle"); "varied": all of them; "rich": those, the caption without
            its colour ("a star on the left") and one caption per attribute ("a star", "a red shape", ...).
        class_folders: put images in subfolders named after their shape (or colour), for zero-shot evaluation.
        languages: caption languages, each row tagged with its `lang`: "en" (in `vocabulary`'s words) and/or
            "fr" (French, with its word order and agreement: "une petite étoile bleue à gauche").
    """
    if unknown := set(languages) - {"en", "fr"}:
        raise ConfigError(f"unknown caption language(s) {sorted(unknown)}; choose from en, fr")
    if vocabulary not in VOCABULARIES:
        raise ConfigError(f"unknown vocabulary {vocabulary!r}; choose from {', '.join(VOCABULARIES)}")
    if per_combination < 1 or size < 32:
        raise ConfigError("per_combination must be at least 1 and size at least 32")
    vocab = VOCABULARIES[vocabulary]
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    combos = combinations(split)
    rows: list[dict[str, str]] = []
    split_code = {"train": 1, "heldout": 2, "all": 3}[split]
    for n, (attrs, _) in enumerate(itertools.product(combos, range(per_combination))):
        rng = np.random.default_rng([seed, split_code, n])
        folder = getattr(attrs, class_folders) if class_folders else ""
        rel = f"{folder}/{n:05d}.jpg" if folder else f"{n:05d}.jpg"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        # Full-resolution colour (no 4:2:0 subsampling) keeps small shapes' colours true at a few KB a file.
        draw_image(attrs, rng, size).save(root / rel, format="JPEG", quality=92, subsampling=0)
        rows += [{"file": rel, "caption": t, "lang": lang, **attrs.__dict__}
                 for lang in languages for t in captions_for(attrs, captions, lang, vocab)]
    with open(root / "captions.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(row) + "\n" for row in rows)
    return SyntheticSet(root, len(combos) * per_combination, len(rows), len(combos))


def read_attributes(root: str | Path) -> dict[Path, Attributes]:
    """Absolute image path -> attributes, from a generated folder's `captions.jsonl`."""
    root = Path(root).absolute()
    found: dict[Path, Attributes] = {}
    for line in (root / "captions.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if "shape" in row:  # pictures without the four attributes (multimodal.synthetic_apart) are left out
            found[root / row["file"]] = Attributes(row["shape"], row["colour"], row["size"], row["position"])
    return found


# -- drawing ---------------------------------------------------------------------------------------
_SUPERSAMPLE = 3  # shapes are drawn at 3x and scaled down: smooth edges without a blur


def draw_image(attrs: Attributes, rng: np.random.Generator, size: int) -> Image.Image:
    """One image: a textured background and one shape, both jittered by `rng`."""
    return draw_figure(attrs.shape, COLOURS[attrs.colour], attrs.size, attrs.position, rng, size)


def draw_figure(shape: str, rgb: tuple[int, int, int], size_name: str, position: str, rng: np.random.Generator,
                size: int) -> Image.Image:
    """A textured background and one figure: a shape of `SHAPES`, or "blob" (an irregular polygon that is none
    of them), filled with `rgb` (shaded and tinted a little), at `size_name` and `position`."""
    image = _background(rng, size)
    radius = size * (rng.uniform(0.11, 0.14) if size_name == "small" else rng.uniform(0.22, 0.26))
    cx, cy = _centre(position, radius / size, rng)
    colour = _jitter_colour(rgb, rng)
    big = size * _SUPERSAMPLE
    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)
    r = radius * _SUPERSAMPLE
    if shape == "circle":
        draw.ellipse((cx * big - r, cy * big - r, cx * big + r, cy * big + r), fill=255)
    elif shape == "blob":
        draw.polygon(_blob(cx * big, cy * big, r, rng), fill=255)
    else:
        draw.polygon(_outline(shape, cx * big, cy * big, r, rng.uniform(-0.3, 0.3)), fill=255)
    mask = mask.resize((size, size), Image.Resampling.LANCZOS)
    image.paste(Image.new("RGB", (size, size), colour), (0, 0), mask)
    return image


def _blob(cx: float, cy: float, r: float, rng: np.random.Generator) -> list[tuple[float, float]]:
    """7-10 corners at random angles and radii: a lumpy outline that is neither round nor any of `SHAPES`."""
    k = int(rng.integers(7, 11))
    angles = np.sort(rng.uniform(0, 2 * np.pi, k))
    radii = r * rng.uniform(0.6, 1.15, k)
    return [(cx + q * math.cos(t), cy + q * math.sin(t)) for q, t in zip(radii, angles, strict=True)]


def _centre(position: str, r: float, rng: np.random.Generator) -> tuple[float, float]:
    """Shape centre as a fraction of the side; the shape stays inside its region and inside the image."""
    edge = (r + 0.03, max(r + 0.03, 0.32))  # the outer third of the image, never clipped
    middle = (0.44, 0.56)
    along = (max(0.36, r + 0.03), min(0.64, 0.97 - r))
    x, y = {
        "left": (edge, along), "right": ((1 - edge[1], 1 - edge[0]), along),
        "top": (along, edge), "bottom": (along, (1 - edge[1], 1 - edge[0])), "center": (middle, middle),
    }[position]
    return float(rng.uniform(*x)), float(rng.uniform(*y))


def _outline(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    if shape == "square":
        pts = [(math.cos(a), math.sin(a)) for a in (math.pi / 4 + k * math.pi / 2 for k in range(4))]
        scale = r * 1.1
    elif shape == "triangle":
        pts = [(math.cos(a), math.sin(a)) for a in (-math.pi / 2 + k * 2 * math.pi / 3 for k in range(3))]
        scale = r * 1.2
    elif shape == "star":
        pts = [((1.0 if k % 2 == 0 else 0.45) * math.cos(a), (1.0 if k % 2 == 0 else 0.45) * math.sin(a))
               for k, a in enumerate(-math.pi / 2 + k * math.pi / 5 for k in range(10))]
        scale = r * 1.2
    elif shape == "cross":
        t = 0.34
        pts = [(-t, -1), (t, -1), (t, -t), (1, -t), (1, t), (t, t), (t, 1), (-t, 1), (-t, t), (-1, t), (-1, -t),
               (-t, -t)]
        scale = r
    else:
        return []
    cos, sin = math.cos(angle), math.sin(angle)
    return [(cx + scale * (x * cos - y * sin), cy + scale * (x * sin + y * cos)) for x, y in pts]


def _jitter_colour(rgb: tuple[int, int, int], rng: np.random.Generator) -> tuple[int, int, int]:
    """Shade and tint a little, so colour names cover a range rather than one exact value."""
    shade = rng.uniform(0.8, 1.08)
    return tuple(int(np.clip(c * shade + rng.normal(0, 10), 0, 255)) for c in rgb)  # type: ignore[return-value]


def _background(rng: np.random.Generator, size: int) -> Image.Image:
    """A low-saturation textured background: gradient, stripes or blotches, plus grain."""
    base = rng.uniform(70, 200)
    tint = rng.normal(0, 12, 3)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    kind = rng.integers(3)
    if kind == 0:  # gradient at a random angle
        a = rng.uniform(0, 2 * np.pi)
        field = (xx * np.cos(a) + yy * np.sin(a)) * rng.uniform(30, 70)
    elif kind == 1:  # soft stripes
        a, freq = rng.uniform(0, np.pi), rng.uniform(4, 12)
        field = np.sin((xx * np.cos(a) + yy * np.sin(a)) * freq * 2 * np.pi) * rng.uniform(10, 25)
    else:  # blotches: blurred coarse noise
        cells = Image.fromarray(rng.uniform(0, 255, (8, 8)).astype(np.uint8))
        coarse = cells.resize((size, size), Image.Resampling.BICUBIC)
        field = (np.asarray(coarse.filter(ImageFilter.GaussianBlur(size / 16)), np.float32) - 128) * 0.4
    grain = rng.normal(0, rng.uniform(4, 12), (size, size, 3))
    pixels = base + tint[None, None, :] + field[..., None] + grain
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
