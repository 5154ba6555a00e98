"""Two captioned sets the demo's generator did not make, for benchmarks/carryover.py.

* `other_shapes`: procedurally drawn, but other shapes (hexagon, ring, heart, arrow, moon, diamond),
  textured backgrounds (noise, checker, stripes), other colours' shades and other caption wording
  ("a picture showing a ..."). Train and test are separate draws of every colour × shape × background.
* `digits`: scikit-learn's `load_digits` (1,797 real 8×8 handwritten digits, shipped inside the
  scikit-learn wheel), upscaled; captions made from the labels; the test folder has one subfolder per
  class (named by the digit's word), so `multimodal eval` also reports zero-shot accuracy.

Both return plain arrays too, for the pixel baselines.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("hexagon", "ring", "heart", "arrow", "moon", "diamond")
COLOURS = {"crimson": (200, 20, 40), "lime": (90, 220, 40), "navy": (20, 40, 150), "gold": (235, 190, 20),
           "violet": (150, 60, 210), "teal": (20, 160, 160)}
BACKGROUNDS = ("noise", "checker", "stripes")
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DIGIT_TEMPLATES = ("the number {label}", "a handwritten {label}")  # zero-shot prompts (label = the word)


@dataclass(frozen=True)
class Split:
    """A generated train/test pair of captioned folders, with what each test image is (for baselines)."""

    train: Path
    test: Path
    train_pixels: np.ndarray  # (n, features) raw pixels, 0–1
    train_labels: np.ndarray  # (n, attributes) integer codes
    test_pixels: np.ndarray
    test_labels: np.ndarray
    test_captions: list[list[str]]


# -- other shapes ------------------------------------------------------------------------------
def shape_captions(colour: str, shape: str, background: str) -> list[str]:
    return [f"a picture showing a {colour} {shape} on a {background} background",
            f"{background} pattern behind a {colour} {shape}"]


def other_shapes(root: Path, *, train_per_combination: int = 6, test_per_combination: int = 2, size: int = 72,
                 seed: int = 0) -> Split:
    combos = list(itertools.product(range(len(COLOURS)), range(len(SHAPES)), range(len(BACKGROUNDS))))
    made = {}
    for split, per, offset in (("train", train_per_combination, 0), ("test", test_per_combination, 1)):
        rng = np.random.default_rng([seed, offset])
        folder = root / split
        folder.mkdir(parents=True, exist_ok=True)
        pixels, labels, captions, lines = [], [], [], []
        for n, (c, s, b) in enumerate(combo for combo in combos for _ in range(per)):
            colour, shape, background = list(COLOURS)[c], SHAPES[s], BACKGROUNDS[b]
            image = _draw(COLOURS[colour], shape, background, rng, size)
            name = f"{n:05d}.png"
            image.save(folder / name)
            caps = shape_captions(colour, shape, background)
            lines += [json.dumps({"file": name, "caption": cap}) for cap in caps]
            pixels.append(np.asarray(image.resize((16, 16), Image.Resampling.BILINEAR), np.float32).ravel() / 255)
            labels.append((c, s, b))
            captions.append(caps)
        (folder / "captions.jsonl").write_text("\n".join(lines) + "\n")
        made[split] = (np.stack(pixels), np.array(labels), captions)
    return Split(root / "train", root / "test", made["train"][0], made["train"][1], made["test"][0],
                 made["test"][1], made["test"][2])


def _draw(rgb: tuple[int, int, int], shape: str, background: str, rng: np.random.Generator, size: int) -> Image.Image:
    back = _texture(background, rng, size)
    image = back.copy()
    draw = ImageDraw.Draw(image)
    r = size * rng.uniform(0.22, 0.32)
    cx, cy = (size / 2 + rng.uniform(-0.12, 0.12) * size for _ in range(2))
    jitter = rng.integers(-25, 26, 3)
    colour = tuple(int(np.clip(v + j, 0, 255)) for v, j in zip(rgb, jitter, strict=True))
    angle = rng.uniform(-0.3, 0.3)
    if shape == "ring":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=colour, width=max(3, round(r * 0.35)))
    elif shape == "moon":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
        bite = Image.new("L", image.size, 0)  # an offset disc shows the background again: a crescent is left
        ImageDraw.Draw(bite).ellipse((cx - r * 0.4, cy - r * 1.05, cx + r * 1.6, cy + r * 0.95), fill=255)
        image.paste(back, (0, 0), bite)
    else:
        draw.polygon(_outline(shape, cx, cy, r, angle), fill=colour)
    return image


def _outline(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    if shape == "hexagon":
        points = [(math.cos(angle + k * math.pi / 3), math.sin(angle + k * math.pi / 3)) for k in range(6)]
    elif shape == "diamond":
        points = [(0, -1), (0.6, 0), (0, 1), (-0.6, 0)]
    elif shape == "arrow":
        points = [(-1, -0.25), (0.2, -0.25), (0.2, -0.6), (1, 0), (0.2, 0.6), (0.2, 0.25), (-1, 0.25)]
    else:  # heart
        ts = np.linspace(0, 2 * math.pi, 40, endpoint=False)
        points = [(16 * math.sin(t) ** 3 / 17, -(13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t)
                                                  - math.cos(4 * t)) / 17) for t in ts]
    if shape in ("diamond", "arrow", "heart"):
        c, s = math.cos(angle), math.sin(angle)
        points = [(x * c - y * s, x * s + y * c) for x, y in points]
    return [(cx + r * x, cy + r * y) for x, y in points]


def _texture(background: str, rng: np.random.Generator, size: int) -> Image.Image:
    base = rng.uniform(90, 170)
    if background == "noise":
        arr = base + rng.normal(0, 35, (size, size))
    elif background == "checker":
        cell = int(rng.integers(6, 12))
        yy, xx = np.mgrid[:size, :size]
        arr = base + 45 * (((yy // cell) + (xx // cell)) % 2 * 2 - 1)
    else:  # stripes
        period = rng.uniform(8, 14)
        yy, xx = np.mgrid[:size, :size]
        arr = base + 45 * np.sign(np.sin((xx + yy) * 2 * math.pi / period))
    grey = np.clip(arr, 0, 255).astype(np.uint8)
    return Image.fromarray(np.stack([grey] * 3, axis=-1), "RGB")


# -- scikit-learn's digits ---------------------------------------------------------------------
def digit_captions(digit: int) -> list[str]:
    return [f"a handwritten digit {digit}", f"the number {WORDS[digit]}", f"a handwritten {WORDS[digit]}"]


def digits(root: Path, *, test_fraction: float = 0.3, size: int = 64, seed: int = 0) -> Split:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    pixels, labels = data.images / 16.0, data.target
    idx_train, idx_test = train_test_split(np.arange(len(labels)), test_size=test_fraction, random_state=seed,
                                           stratify=labels)
    captions = {}
    for split, indexes in (("train", idx_train), ("test", idx_test)):
        lines: list[str] = []
        for i in indexes:
            grey = Image.fromarray((255 - pixels[i] * 255).astype(np.uint8), "L")  # dark ink on white paper
            image = grey.resize((size, size), Image.Resampling.BICUBIC).convert("RGB")
            name = f"{WORDS[labels[i]]}/{i:04d}.png"  # class subfolders: eval's zero-shot uses their names
            (root / split / name).parent.mkdir(parents=True, exist_ok=True)
            image.save(root / split / name)
            lines += [json.dumps({"file": name, "caption": cap}) for cap in digit_captions(int(labels[i]))]
        (root / split / "captions.jsonl").write_text("\n".join(lines) + "\n")
        captions[split] = [digit_captions(int(labels[i])) for i in indexes]
    flat = pixels.reshape(len(pixels), -1)
    return Split(root / "train", root / "test", flat[idx_train], labels[idx_train, None], flat[idx_test],
                 labels[idx_test, None], captions["test"])
