"""Perceptual fingerprints: how a picture looks, in a few hundred bytes, for telling copies from look-alikes.

Computed at ingest from the image already decoded for the model (EXIF orientation applied), of the whole
picture and of its central 85 % (so a cropped copy meets its original at the same scale), and stored as one
hex string (`phash` metadata), so `duplicates` never decodes a file again. Each part holds:

- pHash: the signs, against their median, of the 8×8 lowest frequencies of a 32×32 greyscale thumbnail's
  2-D DCT (type II), as in `imagehash.phash`. Survives resizing, re-encoding, brightness and small crops.
- dHash: whether each pixel of a 9×8 greyscale thumbnail is brighter than its right-hand neighbour, as in
  `imagehash.dhash`. Catches different layouts that share a pHash's coarse structure.

- colour: an 8×8 thumbnail of the chroma channels (Cb, Cr of YCbCr), one byte a cell. Both hashes are
  greyscale, so a red triangle and a blue one in the same place hash alike; their chroma does not. Two
  thumbnails are compared after removing their mean difference (a copy may be warmer or cooler), by the
  largest difference left in any cell.

A pair is a copy only when, in one alignment (whole to whole, or one's centre to the other's whole), all
three are within their limits. Written with numpy (no scipy): the DCT of a 32×32 thumbnail is two 32×32
matrix products; `perceptual_hash` is bit-for-bit `imagehash`'s (a test checks it when it is installed).
`fingerprint` first box-reduces a large picture by a whole factor (short side ≥ 128 px), which costs a few
bits of difference from hashing the full size, and took a 12-MP picture from 426 to 16 ms here.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

PHASH_KEY = "phash"  # record metadata: `fingerprint` of the image
CENTRE = 0.85  # side fraction of the central crop hashed too
# Chosen by measurement (benchmarks/duplicates.py, tuning set of 40 generated scenes): the smallest Hamming
# distances that keep every planted copy there, crops included (pairs that are not copies: 17 bits or more).
MAX_PHASH = 4
MAX_DHASH = 8
# Largest chroma difference (0..255) of any 8×8 cell, after removing the mean difference. Copies in the
# tuning set differ by 10 at most, other pairs by 56 or more; 24 leaves room for harsher chroma subsampling.
MAX_CHROMA = 24
_GRID = 8  # chroma thumbnail side
_WORK_SIDE = 128  # larger pictures are box-reduced towards this short side first (4× the pHash thumbnail)
_PART = 32 + 2 * _GRID * _GRID * 2  # hex digits of one part: pHash, dHash, Cb and Cr thumbnails
_PHASH_SIDE = 32  # thumbnail side for pHash
_LOW = 8  # lowest frequencies kept per axis (8 × 8 = 64 bits)


def fingerprint(image: Image.Image) -> str:
    """The parts (hashes + chroma) of the whole image, then of its central `CENTRE` crop, as hex (576 digits)."""
    image = _reduced(image)
    w, h = image.size
    dx, dy = int(w * (1 - CENTRE) / 2), int(h * (1 - CENTRE) / 2)
    centre = image.crop((dx, dy, w - dx, h - dy)) if w - 2 * dx > 0 and h - 2 * dy > 0 else image
    return _part(image) + _part(centre)


def compare(a: str, b: str) -> tuple[int, int, int]:
    """(pHash bits, dHash bits, chroma difference) of two fingerprints in their best alignment: whole to
    whole, or one's centre to the other's whole (a crop of about 85 % matches its original's centre)."""
    _check(a)
    _check(b)
    pairs = ((a[:_PART], b[:_PART]), (a[_PART:], b[:_PART]), (a[:_PART], b[_PART:]))
    return min((_part_distances(x, y) for x, y in pairs), key=lambda d: (max(d[0], d[1]), d[0] + d[1], d[2]))


def same_picture(a: str, b: str, max_phash: int = MAX_PHASH, max_dhash: int = MAX_DHASH,
                 max_chroma: int = MAX_CHROMA) -> bool:
    """Whether two fingerprints show the same picture: in some alignment, every part within its limit."""
    _check(a)
    _check(b)
    pairs = ((a[:_PART], b[:_PART]), (a[_PART:], b[:_PART]), (a[:_PART], b[_PART:]))
    for x, y in pairs:
        p, d, c = _part_distances(x, y)
        if p <= max_phash and d <= max_dhash and c <= max_chroma:
            return True
    return False


def _reduced(image: Image.Image) -> Image.Image:
    """Box-reduced by a whole factor to a short side of at least `_WORK_SIDE`: the thumbnails come out nearly the
    same, at a fraction of the cost for a large picture that was decoded at full size (a PNG, a HEIC)."""
    factor = min(image.size) // _WORK_SIDE
    return image.reduce(factor) if factor > 1 else image


def _part(image: Image.Image) -> str:
    return perceptual_hash(image) + _chroma(image).tobytes().hex()


def _part_distances(x: str, y: str) -> tuple[int, int, int]:
    p, d = distances(x[:32], y[:32])
    return p, d, _chroma_distance(x[32:], y[32:])


def _chroma(image: Image.Image) -> np.ndarray:
    small = image.convert("RGB").resize((_GRID, _GRID), Image.Resampling.BOX).convert("YCbCr")
    return np.asarray(small, dtype=np.uint8)[:, :, 1:].transpose(2, 0, 1).copy()  # (Cb, Cr) × 8 × 8


def _chroma_distance(x: str, y: str) -> int:
    diff = (np.frombuffer(bytes.fromhex(x), np.uint8).astype(np.int16)
            - np.frombuffer(bytes.fromhex(y), np.uint8).astype(np.int16)).reshape(2, -1)
    diff = diff - np.round(diff.mean(axis=1, keepdims=True))  # a uniform shift (warmer, cooler) is allowed
    return int(np.abs(diff).max())


def _check(a: str) -> None:
    if len(a) != 2 * _PART:
        raise ValueError(f"not a perceptual fingerprint: {a[:40]!r}... ({len(a)} hex digits)")


def perceptual_hash(image: Image.Image) -> str:
    """pHash then dHash of `image`, as 32 hex digits (16 for each)."""
    grey = image.convert("L")
    return _hex(_phash_bits(grey)) + _hex(_dhash_bits(grey))


def distances(a: str, b: str) -> tuple[int, int]:
    """Hamming distances (pHash bits, dHash bits) between two `perceptual_hash` strings."""
    if len(a) != 32 or len(b) != 32:
        raise ValueError(f"not a perceptual hash pair: {a!r}, {b!r}")
    return _hamming(a[:16], b[:16]), _hamming(a[16:], b[16:])


def _phash_bits(grey: Image.Image) -> np.ndarray:
    pixels = np.asarray(grey.resize((_PHASH_SIDE, _PHASH_SIDE), Image.Resampling.LANCZOS), dtype=np.float64)
    basis = _dct_matrix(_PHASH_SIDE)
    low = (basis @ pixels @ basis.T)[:_LOW, :_LOW]  # DCT along columns, then rows
    low = np.round(low, 6)  # float noise would give a flat picture random bits; now flat pictures hash alike
    return (low > np.median(low)).ravel()


def _dhash_bits(grey: Image.Image) -> np.ndarray:
    pixels = np.asarray(grey.resize((_LOW + 1, _LOW), Image.Resampling.LANCZOS), dtype=np.int16)
    return (pixels[:, 1:] > pixels[:, :-1]).ravel()


@lru_cache(maxsize=2)
def _dct_matrix(n: int) -> np.ndarray:
    """Unnormalised DCT-II as a matrix: row k holds 2·cos(π·k·(2i+1) / 2n) (scipy.fftpack's `dct` scaling)."""
    k, i = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    return 2.0 * np.cos(np.pi * k * (2 * i + 1) / (2 * n))


def _hex(bits: np.ndarray) -> str:
    return f"{int(''.join('1' if b else '0' for b in bits), 2):016x}"


def _hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()
