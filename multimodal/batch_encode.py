"""Batch encoding: image files, texts and class labels to unit vectors, a batch at a time.

The one place evaluation, tagging, training, the probes and the compression fit turn many inputs into vectors
(ingest has its own resumable pipeline). Importing it needs no torch: torch loads with the first image batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from multimodal.encoder import Encoder
from multimodal.errors import ConfigError, ImageLoadError
from multimodal.images import load_image
from multimodal.pipeline import default_workers, ordered_map

if TYPE_CHECKING:
    import torch

DEFAULT_TEMPLATES = ("a photo of a {label}",)  # zero-shot prompt for a class label
ProgressFn = Callable[[int, int], None]  # (items done, items in all)


def encode_images(encoder: Encoder, paths: Sequence[Path], *, batch_size: int = 32, workers: int = 0,
                  max_pixels: int = 180_000_000, progress: ProgressFn | None = None,
                  ) -> tuple[np.ndarray, list[int], list[ImageLoadError]]:
    """Vectors of the images that load, the indexes (into `paths`) they belong to, and the failures."""
    def prepare(path: Path) -> torch.Tensor | ImageLoadError:
        try:
            return encoder.preprocess(load_image(path, max_pixels=max_pixels, min_side=encoder.image_size).image)
        except ImageLoadError as e:
            return e

    import torch  # with the first batch: importing this module needs no torch (`multimodal eval --help`)

    vectors, kept, failed, batch = [], [], [], []
    stream = ordered_map(prepare, list(paths), workers=workers or default_workers(), in_flight=max(64, 2 * batch_size))
    for n, (_, result) in enumerate(stream):
        done = n + 1
        if isinstance(result, ImageLoadError):
            failed.append(result)
        else:
            batch.append(result)
            kept.append(n)
        if len(batch) == batch_size or (done == len(paths) and batch):
            vectors.append(encoder.encode_images(torch.stack(batch)))
            batch = []
        if progress:
            progress(done, len(paths))
    dim = encoder.dim
    return (np.concatenate(vectors) if vectors else np.zeros((0, dim), np.float32)), kept, failed


def encode_texts(encoder: Encoder, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
    chunks = [encoder.encode_texts(list(texts[i:i + batch_size])) for i in range(0, len(texts), batch_size)]
    return np.concatenate(chunks) if chunks else np.zeros((0, encoder.dim), np.float32)



def label_vectors(encoder: Encoder, labels: Sequence[str], templates: Sequence[str] = DEFAULT_TEMPLATES) -> np.ndarray:
    """One unit vector per label: the mean of its prompts' text vectors (CLIP's prompt ensembling).

    Zero-shot evaluation and `multimodal tag` both classify with these.
    """
    if not templates or any("{label}" not in t for t in templates):
        raise ConfigError("every prompt template needs a {label} placeholder, e.g. 'a photo of a {label}'")
    prompts = encode_texts(encoder, [t.format(label=label) for label in labels for t in templates])
    means = prompts.reshape(len(labels), len(templates), -1).mean(axis=1)
    return means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
