"""Perceptual hashes: 64-bit fingerprints of how a picture looks, for telling copies from look-alikes.

Two hashes, computed at ingest from the image already decoded for the model (EXIF orientation applied),
of the whole picture and of its central 85 % (so a cropped copy meets its original at the same scale),
stored as one 64-digit hex string (`phash` metadata), so `duplicates` never decodes a file again:

- pHash: the signs, against their median, of the 8×8 lowest frequencies of a 32×32 greyscale thumbnail's
  2-D DCT (type II), as in `imagehash.phash`. Survives resizing, re-encoding, brightness and small crops.
- dHash: whether each pixel of a 9×8 greyscale thumbnail is brighter than its right-hand neighbour, as in
  `imagehash.dhash`. Catches different layouts that share a pHash's coarse structure.

Both are greyscale, so a thumbnail's mean colour is not part of them; the embedding stage (which sees
colour) runs first, and a pair is a copy only when the embedding and both hashes agree.
Written with numpy (no scipy): the thumbnails are 32×32, so the DCT is two 32×32 matrix products.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

PHASH_KEY = "phash"  # record metadata: `fingerprint` of the image
CENTRE = 0.85  # side fraction of the central crop hashed too
# Chosen by measurement (benchmarks/duplicates.py, tuning set): the smallest Hamming distances that keep
# every planted copy of the tuning set, crops included; look-alikes there are 17 bits apart or more.
MAX_PHASH = 4
MAX_DHASH = 8
_PHASH_SIDE = 32  # thumbnail side for pHash
_LOW = 8  # lowest frequencies kept per axis (8 × 8 = 64 bits)


def fingerprint(image: Image.Image) -> str:
    """`perceptual_hash` of the whole image, then of its central `CENTRE` crop: 64 hex digits (32 bytes)."""
    w, h = image.size
    dx, dy = int(w * (1 - CENTRE) / 2), int(h * (1 - CENTRE) / 2)
    centre = image.crop((dx, dy, w - dx, h - dy)) if w - 2 * dx > 0 and h - 2 * dy > 0 else image
    return perceptual_hash(image) + perceptual_hash(centre)


def compare(a: str, b: str) -> tuple[int, int]:
    """(pHash, dHash) distances of two fingerprints, best aligned: whole to whole, or one's centre to the
    other's whole (a crop of about 85 % matches its original's centre)."""
    pairs = ((a[:32], b[:32]), (a[32:], b[:32]), (a[:32], b[32:]))
    return min((distances(x, y) for x, y in pairs), key=lambda d: (max(d), sum(d)))


def same_picture(a: str, b: str, max_phash: int = MAX_PHASH, max_dhash: int = MAX_DHASH) -> bool:
    """Whether two fingerprints show the same picture: both hashes within their Hamming limits."""
    p, d = compare(a, b)
    return p <= max_phash and d <= max_dhash


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
