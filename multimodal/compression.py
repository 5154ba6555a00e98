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
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from multimodal.errors import ConfigError, ImageLoadError

if TYPE_CHECKING:
    from multimodal.config import Settings
    from multimodal.encoder import Encoder
    from multimodal.store import Store

NONE = "none"
FLOAT16 = "float16"
FIT_SAMPLE = 2000  # images (plus their captions) encoded to fit a PCA codec; costs this many extra encodes once
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


def ensure_codec(store: Store, encoder: Encoder, settings: Settings, root: Path) -> Codec:
    """Make the collection's codec the one `settings.compress` asks for (None: keep the collection's).

    A codec can only be chosen while the collection is empty: its vectors are stored in that form.

    Raises:
        ConfigError: a different codec was asked for than the one the collection already uses.
    """
    current = store.codec
    if settings.compress is None:
        return current
    asked = check_name(settings.compress)
    if asked == current.name:
        return current
    if store.count() > 0:
        raise ConfigError(f"the index at {store.location} stores vectors as {current.name}, not {asked}; the form "
                          "is fixed at the first ingest: leave out --compress, or use another --collection")
    dim = pca_dim(asked)
    codec = fit_pca(sample_vectors(root, encoder, settings), dim) if dim else Codec(asked)
    return store.set_codec(codec)


def sample_vectors(root: Path, encoder: Encoder, settings: Settings, size: int = FIT_SAMPLE) -> np.ndarray:
    """Vectors of a seeded random sample of the images under `root`, plus their captions (text queries
    live in the same space, so the fit must see text vectors as well as image vectors)."""
    import torch

    from multimodal.captions import Captions
    from multimodal.images import walk_images

    paths = sorted(walk_images(root)) if root.is_dir() else [root]
    paths = random.Random(0).sample(paths, min(size, len(paths)))
    captions = Captions.load(root)
    texts = [c for p in paths for c in captions.for_image(p)]
    parts = [encoder.encode_texts(texts[i: i + 256]) for i in range(0, len(texts), 256)]
    for batch in _batches(_tensors(paths, encoder, settings), settings.batch_size):
        parts.append(encoder.encode_images(torch.stack(batch)))
    return np.concatenate(parts) if parts else np.zeros((0, encoder.dim), dtype=np.float32)


def _tensors(paths: list[Path], encoder: Encoder, settings: Settings) -> Iterator[object]:
    from multimodal.images import load_image
    from multimodal.pipeline import default_workers, ordered_map

    def load(path: Path) -> object:
        try:
            return encoder.preprocess(load_image(path, max_pixels=settings.max_pixels,
                                                 min_side=encoder.image_size).image)
        except (ImageLoadError, OSError):
            return None  # ingest reports bad files; the fit just does without them

    workers = settings.workers or default_workers()
    for _, tensor in ordered_map(load, paths, workers=workers, in_flight=4 * workers):
        if tensor is not None:
            yield tensor


def _batches(items: Iterator[object], size: int) -> Iterator[list[object]]:
    batch: list[object] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
