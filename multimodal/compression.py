"""Compressed vector storage: a codec chosen at the first ingest, recorded with the collection, and
applied by the Store alone — on write (`encode`), on query (`encode_query`) and on read (`decode`).

    none     full float32 vectors (the default)
    float16  vectors rounded to float16 precision. Chroma keeps float32 on disk, so this shows the
             precision cost of half-precision vectors but saves no space in Chroma itself.
    pcaN     vectors projected onto the N leading singular directions of a sample of the collection's
             own vectors (e.g. pca128: 512 → 128 numbers), fitted once and saved with the collection.

The projection is uncentred (no mean subtracted) so that it keeps dot products — what cosine search
ranks by — and stays linear: a composed query projects to the sum of its projected terms, and a
stored vector read back (decoded to the model's space) projects to exactly the stored code again, so
"more like this" on a compressed index is never projected twice.

A pure codec: it depends on nothing else in the project. Choosing and fitting one at an ingest is
`multimodal.codec_fit`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from multimodal.errors import ConfigError

NONE = "none"
FLOAT16 = "float16"
_PCA = re.compile(r"pca(\d+)")


@dataclass(frozen=True)
class Codec:
    """How one collection stores vectors. `basis` (pca only) has orthonormal rows: (stored dim, model dim)."""

    name: str = NONE
    basis: np.ndarray | None = None

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        """Model-space vectors → what is stored."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if self.basis is not None:
            return vectors @ self.basis.T
        if self.name == FLOAT16:
            return vectors.astype(np.float16).astype(np.float32)
        return vectors

    def encode_query(self, vectors: np.ndarray) -> np.ndarray:
        """Query vectors → the stored vectors' space (rounding a query buys nothing, projecting is needed)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        return vectors @ self.basis.T if self.basis is not None else vectors

    def decode(self, stored: np.ndarray) -> np.ndarray:
        """Stored vectors → the model's space (the nearest point the code can express)."""
        stored = np.asarray(stored, dtype=np.float32)
        return stored @ self.basis if self.basis is not None else stored


def check_name(name: str) -> str:
    """`name` if it is a codec this module knows ("none", "float16", "pcaN"), else ConfigError."""
    name = name.strip().lower()
    match = _PCA.fullmatch(name)
    if name in (NONE, FLOAT16) or (match and int(match.group(1)) >= 2):
        return name
    raise ConfigError(f"--compress must be none, float16 or pcaN (e.g. pca128), got {name!r}")


def pca_dim(name: str) -> int | None:
    match = _PCA.fullmatch(name)
    return int(match.group(1)) if match else None


def fit_pca(vectors: np.ndarray, dim: int) -> Codec:
    """The `dim` leading right-singular directions of `vectors` (rows), as a pca codec.

    Raises:
        ConfigError: fewer vectors than `dim`, or `dim` not below the vectors' own dimension.
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    n, full = vectors.shape
    if dim >= full:
        raise ConfigError(f"pca{dim} must reduce the model's {full} dimensions; use a smaller pcaN")
    if n < dim:
        raise ConfigError(f"pca{dim} needs at least {dim} images to fit on, found {n}; ingest more at once, "
                          "or use a smaller pcaN")
    _, _, vt = np.linalg.svd(vectors, full_matrices=False)
    return Codec(f"pca{dim}", np.ascontiguousarray(vt[:dim], dtype=np.float32))
