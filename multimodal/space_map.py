"""A map of the embedding space: the collection (or a sample of it) projected to 2-D.

PCA (numpy's SVD, the default) keeps the two directions along which the images differ most, so
distances on the map are honest but crowded; UMAP (`method="umap"`, needs `pip install umap-learn`)
keeps neighbourhoods instead, so clusters separate but distances between them mean little. A query is
projected the same way and drawn on the map, with its nearest images among the points ringed — a text
query often lands beside the image cloud rather than in it (CLIP's "modality gap"), and the rings show
where its matches really are. `multimodal.map_page.render_page` draws a map as a standalone HTML page.
"""

from __future__ import annotations

import base64
import io
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from multimodal.errors import ConfigError, ImageLoadError
from multimodal.records import IMAGE
from multimodal.store import Store

DEFAULT_SAMPLE = 2000  # points on a map: enough to see structure, few enough for a light page
THUMBNAIL = 96  # longest side (px) of the thumbnails embedded for hovering
METHODS = ("pca", "umap")
MATCHES = 10  # nearest images ringed for each query
MAX_CLUSTERS = 10  # the page has 10 distinct colours
CLUSTER_SAMPLE = 600  # points k is chosen on


@dataclass(frozen=True)
class Point:
    id: str
    path: str
    folder: str
    tag: str | None
    captioned: bool
    x: float
    y: float
    cluster: int = 0  # k-means cluster of its embedding (k chosen by silhouette), for colouring


@dataclass(frozen=True)
class QueryMark:
    label: str
    x: float
    y: float
    matches: list[str]  # ids of its nearest points on the map, best first


@dataclass
class SpaceMap:
    """Projected points, how they were made, and any queries placed on them."""

    points: list[Point]
    method: str
    total: int  # images in the index (or the filter); the map shows a sample when larger
    explained: float | None = None  # share of variance the two PCA axes keep
    queries: list[QueryMark] = field(default_factory=list)
    _projector: Any = None
    _vectors: np.ndarray | None = None

    def place(self, label: str, vector: np.ndarray) -> QueryMark:
        """Project one query vector onto the map and ring its nearest points."""
        xy = self._projector(np.asarray(vector, dtype=np.float32)[None, :])[0]
        unit = self._vectors if self._vectors is not None else np.zeros((0, len(vector)), np.float32)
        order = np.argsort(-(unit @ (vector / max(float(np.linalg.norm(vector)), 1e-12))), kind="stable")
        mark = QueryMark(label, float(xy[0]), float(xy[1]), [self.points[i].id for i in order[:MATCHES]])
        self.queries.append(mark)
        return mark


def build_map(store: Store, *, sample: int = DEFAULT_SAMPLE, method: str = "pca",
              where: dict[str, Any] | None = None, seed: int = 0) -> SpaceMap:
    """Project up to `sample` images (a seeded random sample when there are more) to 2-D.

    Raises:
        ConfigError: unknown method, UMAP not installed, sample < 3, or fewer than 3 images.
        EmptyIndexError: nothing indexed yet.
    """
    if method not in METHODS:
        raise ConfigError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    if sample < 3:
        raise ConfigError(f"--sample must be at least 3, got {sample}")
    store.require_ingested()
    scope = {"$and": [{"kind": IMAGE}, where]} if where else {"kind": IMAGE}
    ids = [r.id for r in store.iter_records(where=scope)]
    chosen = sorted(random.Random(seed).sample(ids, min(sample, len(ids))))
    records = [r for r in store.get(chosen, embeddings=True) if r.embedding is not None]
    if len(records) < 3:
        raise ConfigError(f"a map needs at least 3 images, the index has {len(records)}")
    vectors = np.stack([r.vector for r in records]).astype(np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    project, explained = (_umap(vectors, seed) if method == "umap" else _pca(vectors))
    xy = project(vectors)
    clusters = clusters_of(vectors, seed=seed)
    points = [Point(r.id, str(r.metadata.get("path", "")), str(r.metadata.get("folder", "")),
                    _first_tag(r.metadata), bool(r.metadata.get("n_captions")), float(x), float(y), int(c))
              for r, (x, y), c in zip(records, xy, clusters, strict=True)]
    return SpaceMap(points, method, len(ids), explained, [], project, vectors)


def thumbnails(paths: Sequence[str], size: int = THUMBNAIL, max_pixels: int = 180_000_000,
               workers: int = 0) -> dict[str, str]:
    """path -> small JPEG as a data: URI (embedded, so the page works offline and when moved);
    unreadable files are left out."""
    from multimodal.images import load_image
    from multimodal.pipeline import default_workers, ordered_map

    def one(path: str) -> str | None:
        try:
            image = load_image(Path(path), max_pixels=max_pixels, min_side=size).image
        except (ImageLoadError, OSError):
            return None
        image.thumbnail((size, size))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=75)
        return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")

    count = workers or default_workers()
    found = ordered_map(one, list(dict.fromkeys(paths)), workers=count, in_flight=4 * count)
    return {path: uri for path, uri in found if uri is not None}


Projector = Callable[[np.ndarray], np.ndarray]


def clusters_of(vectors: np.ndarray, *, seed: int = 0, max_k: int = MAX_CLUSTERS) -> np.ndarray:
    """K-means clusters of unit vectors, numbered by size (largest first); k in 2..max_k by the best silhouette.

    k is chosen on a seeded sample of at most `CLUSTER_SAMPLE` points, then every point joins its nearest
    centre: numpy only, well under a second for a 2,000-point map. Fewer than 4 points are one cluster.
    """
    n = len(vectors)
    if n < 4:
        return np.zeros(n, dtype=int)
    rng = np.random.default_rng(seed)
    sample = vectors[np.sort(rng.choice(n, min(n, CLUSTER_SAMPLE), replace=False))]
    distances = np.sqrt(np.maximum(_squared_distances(sample, sample), 0.0))
    best_centres, best_score = None, -2.0
    for k in range(2, min(max_k, len(sample) - 1) + 1):
        centres, labels = _kmeans(sample, k, rng)
        score = _silhouette(distances, labels)
        if score > best_score:
            best_centres, best_score = centres, score
    if best_centres is None:
        return np.zeros(n, dtype=int)
    labels = np.argmin(_squared_distances(vectors, best_centres), axis=1)
    order = {c: rank for rank, (c, _) in enumerate(Counter(labels.tolist()).most_common())}
    return np.array([order[c] for c in labels.tolist()], dtype=int)


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # Against a few centres einsum is ~10x quicker than BLAS here (no thread start-up on a busy machine).
    dots = np.einsum("ij,kj->ik", a, b) if len(b) <= 32 else a @ b.T
    return (a * a).sum(1)[:, None] - 2.0 * dots + (b * b).sum(1)[None, :]


def _kmeans(points: np.ndarray, k: int, rng: np.random.Generator,
            iterations: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means from a k-means++ start."""
    centres = [points[rng.integers(len(points))]]
    for _ in range(1, k):
        nearest = np.min(_squared_distances(points, np.stack(centres)), axis=1).clip(min=0)
        total = float(nearest.sum())
        pick = rng.choice(len(points), p=nearest / total) if total > 0 else rng.integers(len(points))
        centres.append(points[pick])
    centre = np.stack(centres)
    labels = np.zeros(len(points), dtype=int)
    for step in range(iterations):
        new = np.argmin(_squared_distances(points, centre), axis=1)
        if step and np.array_equal(new, labels):
            break
        labels = new
        for c in range(k):
            members = points[labels == c]
            if len(members):
                centre[c] = members.mean(0)
    return centre, labels


def _silhouette(distances: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette (Rousseeuw, 1987) from a full distance matrix; -1 when there are fewer than 2 clusters."""
    groups = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    if len(groups) < 2:
        return -1.0
    mean_to = np.stack([distances[:, g].mean(1) for g in groups], axis=1)  # mean distance to each cluster
    own = np.searchsorted(np.unique(labels), labels)
    sizes = np.array([len(g) for g in groups])[own]
    a = mean_to[np.arange(len(labels)), own] * sizes / np.maximum(sizes - 1, 1)  # leave the point itself out
    mean_to[np.arange(len(labels)), own] = np.inf
    b = mean_to.min(1)
    s = np.where(sizes > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)
    return float(s.mean())


def _pca(vectors: np.ndarray) -> tuple[Projector, float]:
    mean = vectors.mean(axis=0)
    _, s, vt = np.linalg.svd(vectors - mean, full_matrices=False)
    axes = vt[:2]
    variance = s**2
    explained = float(variance[:2].sum() / variance.sum()) if variance.sum() > 0 else 0.0

    def project(v: np.ndarray) -> np.ndarray:
        return (np.asarray(v, dtype=np.float32) - mean) @ axes.T

    return project, explained


def _umap(vectors: np.ndarray, seed: int) -> tuple[Projector, None]:
    try:
        import umap
    except ImportError as e:
        raise ConfigError("--method umap needs umap-learn: pip install 'multimodal[umap]' (or umap-learn)") from e
    reducer = umap.UMAP(n_components=2, metric="cosine", random_state=seed,
                        n_neighbors=min(15, len(vectors) - 1)).fit(vectors)
    fitted = reducer.embedding_

    def project(v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype=np.float32)
        if v is vectors:
            return fitted
        return reducer.transform(v)

    return project, None


def _first_tag(meta: dict[str, Any]) -> str | None:
    tags = meta.get("tags")
    return str(tags[0]) if isinstance(tags, list) and tags else None
