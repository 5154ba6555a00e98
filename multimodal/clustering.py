"""Clustering quality: do the image vectors fall into groups that match known labels?

k-means with k = the number of labels, on the image vectors, scored against the labels (NMI, ARI, purity),
and the silhouette of the labels themselves in that space; next to the same scores for k-means on
downscaled pixels, so that a reader sees what the embedding adds over raw colour and layout. Labels are the
class subfolders and, on a generated folder, each attribute in turn (one clustering per attribute, k = the
number of its values present).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from multimodal.errors import ImageLoadError
from multimodal.images import load_image
from multimodal.pipeline import default_workers, ordered_map

PIXEL_SIDE = 16  # the baseline's images: 16×16 RGB, 768 numbers
SILHOUETTE_SAMPLE = 5000  # silhouette is quadratic in n: larger sets are scored on a seeded sample


@dataclass(frozen=True)
class ClusterScores:
    """k-means against labels: NMI, ARI and purity (1 = the clusters are the labels). The silhouette is the labels'
    own (−1..1, Euclidean): how well the true groups stand apart in this space, whatever k-means found. (The
    silhouette of the clusters found would not depend on the labels: every labelling with the same k would
    get the same number.)"""

    nmi: float
    ari: float
    purity: float
    silhouette: float
    k: int
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {"nmi": round(self.nmi, 4), "ari": round(self.ari, 4), "purity": round(self.purity, 4),
                "silhouette": round(self.silhouette, 4), "k": self.k, "n": self.n}


@dataclass(frozen=True)
class ClusterComparison:
    """One labelling scored twice: on the embedding and on the pixel baseline."""

    embedding: ClusterScores
    pixels: ClusterScores

    def to_dict(self) -> dict[str, Any]:
        return {**self.embedding.to_dict(), "baseline": {**self.pixels.to_dict(),
                                                         "method": f"k-means on {PIXEL_SIDE}x{PIXEL_SIDE} RGB pixels"}}


def purity(labels: Sequence[Any], clusters: Sequence[int]) -> float:
    """Share of items whose cluster's most common label is their own."""
    from sklearn.metrics.cluster import contingency_matrix

    table = contingency_matrix(labels, clusters)
    return float(table.max(axis=0).sum() / table.sum())


def cluster_scores(vectors: np.ndarray, labels: Sequence[Any], *, seed: int = 0, n_init: int = 10) -> ClusterScores:
    """k-means (k = distinct labels) on `vectors`, scored against `labels`.

    Raises:
        ValueError: fewer than two labels, or no more items than labels.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    k = len(set(labels))
    if k < 2 or len(vectors) <= k:
        raise ValueError(f"clustering needs at least two labels and more items than labels ({len(vectors)}, {k})")
    # One BLAS/OpenMP thread: with torch loaded, on a busy 2-core machine, k-means with the default threads took
    # 7 s for 300 vectors (0.1 s on one) and 55 s for 10,000 × 512 (7 s on one): its many small products spin.
    with threadpool_limits(limits=1):
        found = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(vectors)
        sample = SILHOUETTE_SAMPLE if len(vectors) > SILHOUETTE_SAMPLE else None
        silhouette = float(silhouette_score(vectors, labels, sample_size=sample, random_state=seed))
    return ClusterScores(float(normalized_mutual_info_score(labels, found)), float(adjusted_rand_score(labels, found)),
                         purity(labels, found), silhouette, k, len(vectors))


def pixel_vectors(paths: Sequence[Path], side: int = PIXEL_SIDE, max_pixels: int = 180_000_000,
                  workers: int = 0) -> np.ndarray:
    """Each image shrunk to side×side RGB, flattened and scaled to 0..1: the baseline's "embedding".

    Raises:
        ImageLoadError: an image that cannot be read (evaluation only passes images it has just read).
    """
    def thumbnail(path: Path) -> np.ndarray | ImageLoadError:
        try:  # JPEGs decode at 1/8 scale in the DCT domain: a fraction of the encoder's decoding cost
            image = load_image(path, max_pixels=max_pixels, min_side=side).image
        except ImageLoadError as e:
            return e
        small = image.convert("RGB").resize((side, side), Image.Resampling.BILINEAR)
        return np.asarray(small, dtype=np.float32).reshape(-1) / 255.0

    rows = []
    for _, row in ordered_map(thumbnail, list(paths), workers=workers or default_workers(), in_flight=64):
        if isinstance(row, ImageLoadError):
            raise row
        rows.append(row)
    return np.stack(rows) if rows else np.zeros((0, side * side * 3), np.float32)


def compare_clusterings(vectors: np.ndarray, paths: Sequence[Path], labellings: Mapping[str, Sequence[Any]],
                        seed: int = 0) -> dict[str, ClusterComparison]:
    """Embedding vs pixel clustering for each labelling with at least two labels and more items than labels."""
    usable = {name: labels for name, labels in labellings.items() if 2 <= len(set(labels)) < len(labels)}
    if not usable:
        return {}
    pixels = pixel_vectors(paths)
    return {name: ClusterComparison(cluster_scores(vectors, labels, seed=seed),
                                    cluster_scores(pixels, labels, seed=seed)) for name, labels in usable.items()}
