"""Perceptual fingerprints: the hashes are imagehash's, copies stay close, different pictures do not."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageEnhance

from multimodal.perceptual import MAX_CHROMA, compare, distances, fingerprint, perceptual_hash, same_picture


def _scene(seed: int, size: tuple[int, int] = (240, 180)) -> Image.Image:
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", size, tuple(int(c) for c in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(10):
        x, y = rng.integers(0, size[0]), rng.integers(0, size[1])
        r = int(rng.integers(10, 60))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    return image


def test_hashes_are_bit_for_bit_those_of_imagehash() -> None:
    imagehash = pytest.importorskip("imagehash")  # a dev dependency: the reference implementation
    for seed in range(6):
        image = _scene(seed)
        assert perceptual_hash(image) == str(imagehash.phash(image)) + str(imagehash.dhash(image))


def test_copies_match_and_different_pictures_do_not() -> None:
    base = _scene(1)
    w, h = base.size
    copies = [base.resize((w // 2, h // 2), Image.Resampling.LANCZOS),
              base.crop((int(w * 0.075), int(h * 0.075), w - int(w * 0.075), h - int(h * 0.075))),
              ImageEnhance.Brightness(base).enhance(1.1)]
    prints = [fingerprint(c) for c in copies]
    assert all(same_picture(fingerprint(base), p) for p in prints)
    assert not any(same_picture(fingerprint(base), fingerprint(_scene(s))) for s in range(2, 12))


def test_colour_tells_apart_what_greyscale_hashes_cannot() -> None:
    def shape(colour: tuple[int, int, int]) -> Image.Image:
        image = Image.new("RGB", (96, 96), (235, 235, 230))
        ImageDraw.Draw(image).ellipse((30, 50, 70, 90), fill=colour)
        return image

    red, blue = fingerprint(shape((200, 40, 40))), fingerprint(shape((40, 40, 200)))
    phash, dhash, chroma = compare(red, blue)
    assert phash <= 4 and dhash <= 8 and chroma > MAX_CHROMA  # same layout, different colour
    assert not same_picture(red, blue)
    shift = np.array([8, 2, -6], dtype=np.int16)
    warmer = np.clip(np.asarray(shape((200, 40, 40)), np.int16) + shift, 0, 255).astype(np.uint8)
    assert same_picture(red, fingerprint(Image.fromarray(warmer)))  # a uniform colour shift is allowed


def test_flat_pictures_hash_alike_and_malformed_fingerprints_are_refused() -> None:
    grey = fingerprint(Image.new("RGB", (50, 40), (90, 90, 90)))
    white = fingerprint(Image.new("RGB", (64, 48), "white"))
    assert compare(grey, white)[:2] == (0, 0)
    with pytest.raises(ValueError):
        compare(grey, grey[:-2])


def test_a_large_picture_is_hashed_from_a_reduced_copy_close_to_its_full_size_hash() -> None:
    big = _scene(3, size=(1600, 1200))
    p, d = distances(fingerprint(big)[:32], perceptual_hash(big))  # reduced 9× first, hashed at full size
    assert p <= 2 and d <= 4
    assert same_picture(fingerprint(big), fingerprint(big.resize((400, 300), Image.Resampling.LANCZOS)))
