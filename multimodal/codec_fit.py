"""Choose a collection's codec at its first ingest, and fit a PCA codec on a sample of the folder.

Ingest-side work (it walks the folder, reads captions and encodes a sample); the codec itself is
`multimodal.compression`.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from multimodal.batch_encode import encode_images, encode_texts
from multimodal.captions import Captions
from multimodal.compression import Codec, check_name, fit_pca, pca_dim
from multimodal.config import Settings
from multimodal.encoder import Encoder
from multimodal.errors import StateConflictError
from multimodal.images import walk_images
from multimodal.store import Store

FIT_SAMPLE = 2000  # images (plus their captions) encoded to fit a PCA codec; costs this many extra encodes once
_TEXT_BATCH = 256


def ensure_codec(store: Store, encoder: Encoder, settings: Settings, root: Path) -> Codec:
    """Make the collection's codec the one `settings.compress` asks for (None: keep the collection's).

    A codec can only be chosen while the collection is empty: its vectors are stored in that form.

    Raises:
        StateConflictError: a different codec was asked for than the one the collection already uses.
    """
    current = store.codec
    if settings.compress is None:
        return current
    asked = check_name(settings.compress)
    if asked == current.name:
        return current
    if store.count() > 0:
        raise StateConflictError(
            f"the index at {store.location} stores vectors as {current.name}, not {asked}; the form is fixed at "
            "the first ingest: leave out --compress, or use another --collection")
    dim = pca_dim(asked)
    codec = fit_pca(sample_vectors(root, encoder, settings), dim) if dim else Codec(asked)
    return store.set_codec(codec)


def sample_vectors(root: Path, encoder: Encoder, settings: Settings, size: int = FIT_SAMPLE) -> np.ndarray:
    """Vectors of a seeded random sample of the images under `root`, plus their captions (text queries
    live in the same space, so the fit must see text vectors as well as image vectors). Images that do
    not load are left out: ingest reports them."""
    paths = sorted(walk_images(root)) if root.is_dir() else [root]
    paths = random.Random(0).sample(paths, min(size, len(paths)))
    captions = Captions.load(root)
    texts = encode_texts(encoder, [c for p in paths for c in captions.for_image(p)], batch_size=_TEXT_BATCH)
    images, _, _ = encode_images(encoder, paths, batch_size=settings.batch_size, workers=settings.workers,
                                 max_pixels=settings.max_pixels)
    return np.concatenate([texts, images])
