"""Measure an embedding space: retrieval Recall@K, zero-shot accuracy, analogies, clustering, and ANN recall.

Recall@K, text → image: each distinct caption is a query; it scores 1 if any image carrying that exact
caption is among the K nearest images. Image → text: each image is a query over the distinct captions;
it scores 1 if one of its own captions is among the K nearest. (With unique captions this is the usual
CLIP retrieval benchmark; identical captions on several images all count as right answers.)
Analogy completion (`multimodal.analogies`) and clustering quality (`multimodal.clustering`) run when the
captions carry attributes (generated folders) or, for clustering, when the subfolders are classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from multimodal.analogies import (
    ATTRIBUTES,
    ESSAY_WEIGHTS,
    AnalogyScores,
    Weights,
    analogies_for,
    folder_attributes,
    score_analogies,
)
from multimodal.batch_encode import DEFAULT_TEMPLATES, ProgressFn, encode_images, encode_texts, label_vectors
from multimodal.captions import Captions
from multimodal.clustering import ClusterComparison, compare_clusterings
from multimodal.encoder import Encoder
from multimodal.errors import ConfigError, ImageLoadError, NotFoundError
from multimodal.images import walk_images
from multimodal.languages import LanguageScores, language_scores
from multimodal.records import CAPTION, IMAGE
from multimodal.retrieval_metrics import KS, RetrievalScores, retrieval_scores
from multimodal.store import Store


@dataclass(frozen=True)
class CaptionedSet:
    """Images with their captions; `labels` are class names when every image sits in a class subfolder."""

    paths: list[Path]
    captions: list[list[str]]
    labels: list[str] | None = None
    failed: list[ImageLoadError] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)


TOP_CONFUSIONS = 5


@dataclass(frozen=True)
class Confusion:
    """`count` images of class `true` were classified as `predicted` (`share` of that class's images)."""

    true: str
    predicted: str
    count: int
    share: float

    def to_dict(self) -> dict[str, Any]:
        return {"true": self.true, "predicted": self.predicted, "n": self.count, "share": round(self.share, 4)}


@dataclass(frozen=True)
class ZeroShotScores:
    """Share of images whose nearest class prompt is their own subfolder's name, and what the misses became."""

    accuracy: float
    images: int
    per_class: dict[str, float]
    templates: tuple[str, ...]
    confusions: tuple[Confusion, ...] = ()  # the most frequent mistakes, most first (at most TOP_CONFUSIONS)

    def to_dict(self) -> dict[str, Any]:
        return {"accuracy": round(self.accuracy, 4), "n": self.images, "classes": len(self.per_class),
                "per_class": {k: round(v, 4) for k, v in self.per_class.items()}, "templates": list(self.templates),
                "confusions": [c.to_dict() for c in self.confusions]}


@dataclass(frozen=True)
class AnnScores:
    """How many of the exact top-k neighbours the Chroma (HNSW) index returns, averaged over queries."""

    recall: float
    k: int
    queries: int
    vectors: int

    def to_dict(self) -> dict[str, Any]:
        return {f"recall@{self.k}": round(self.recall, 4), "queries": self.queries, "vectors": self.vectors}


@dataclass(frozen=True)
class EvalReport:
    retrieval: RetrievalScores | None
    zero_shot: ZeroShotScores | None = None
    ann: AnnScores | None = None
    skipped: list[str] = field(default_factory=list)  # "path: reason" of images that could not be read
    analogies: AnalogyScores | None = None
    clustering: dict[str, ClusterComparison] | None = None  # labelling ("class", "shape", ...) -> scores
    languages: LanguageScores | None = None  # per caption language, when captions.jsonl tags rows with `lang`

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = self.retrieval.to_dict() if self.retrieval else {}
        if self.zero_shot:
            data["zero_shot"] = self.zero_shot.to_dict()
        if self.analogies:
            data["analogies"] = self.analogies.to_dict()
        if self.clustering:
            data["clustering"] = {name: c.to_dict() for name, c in self.clustering.items()}
        if self.languages:
            data["languages"] = self.languages.to_dict()
        if self.ann:
            data["ann"] = self.ann.to_dict()
        if self.skipped:
            data["skipped"] = self.skipped
        return data


# -- data ------------------------------------------------------------------------------------------
def load_captioned(root: str | Path) -> CaptionedSet:
    """The images under `root` that have at least one caption (sidecar or table), in a stable order."""
    root = Path(root).expanduser().absolute()
    if not root.is_dir():
        raise NotFoundError(f"{root} is not a folder")
    table = Captions.load(root)
    paths, captions = [], []
    for path in walk_images(root):
        found = table.for_image(path)
        if found:
            paths.append(path)
            captions.append(found)
    return CaptionedSet(paths, captions, _class_labels(root, paths))


def _class_labels(root: Path, paths: list[Path]) -> list[str] | None:
    """Subfolder names, when every image sits directly in one of at least two subfolders."""
    parents = [p.relative_to(root).parent for p in paths]
    if not parents or any(len(p.parts) != 1 for p in parents) or len({p.parts[0] for p in parents}) < 2:
        return None
    return [p.parts[0].replace("_", " ") for p in parents]


# -- metrics ---------------------------------------------------------------------------------------
# -- the whole evaluation --------------------------------------------------------------------------
def evaluate_folder(root: str | Path, encoder: Encoder, *, ks: Sequence[int] = KS,
                    templates: Sequence[str] = DEFAULT_TEMPLATES, batch_size: int = 32, workers: int = 0,
                    progress: ProgressFn | None = None, analogies: str | Path | None = None,
                    analogy_weights: Weights = ESSAY_WEIGHTS) -> EvalReport:
    """Retrieval Recall@K on a captioned folder; zero-shot accuracy when its subfolders are classes; analogy
    completion when its captions carry attributes or `analogies` names a TSV; clustering against the classes
    and attributes.

    Raises:
        NotFoundError: `root` is not a folder.
        ConfigError: no captioned images under `root`; a bad analogy file.
    """
    data = load_captioned(root)
    if not data.paths:
        raise ConfigError(f"no captioned images under {root}: add captions.jsonl / captions.csv or .txt sidecars")
    vectors, kept, failed = encode_images(encoder, data.paths, batch_size=batch_size, workers=workers,
                                          progress=progress)
    captions = [data.captions[n] for n in kept]
    texts = list(dict.fromkeys(c for caps in captions for c in caps))
    retrieval = retrieval_scores(vectors, captions, encode_texts(encoder, texts), texts, ks)
    zero_shot = None
    if data.labels is not None:
        zero_shot = zero_shot_scores(encoder, vectors, [data.labels[n] for n in kept], templates)
    paths, folder = [data.paths[n] for n in kept], Path(root).expanduser().absolute()
    attributes = folder_attributes(folder, paths)
    found = analogies_for(folder, paths, captions, attributes, analogies)
    scores = score_analogies(vectors, found, lambda t: encode_texts(encoder, t), analogy_weights) if found else None
    labellings: dict[str, list[str]] = {"class": [data.labels[n] for n in kept]} if data.labels else {}
    for name in ATTRIBUTES if attributes else ():
        labellings[name] = [getattr(a, name) for a in attributes or ()]
    languages = language_scores(folder, paths, captions, vectors, lambda t: encode_texts(encoder, t), ks)
    return EvalReport(retrieval, zero_shot, None, [f"{e.path}: {e.reason}" for e in failed], scores,
                      compare_clusterings(vectors, paths, labellings) or None, languages)


def zero_shot_scores(encoder: Encoder, image_vectors: np.ndarray, labels: Sequence[str],
                     templates: Sequence[str] = DEFAULT_TEMPLATES) -> ZeroShotScores:
    """Classify each image by its nearest class prompt (the mean of the templates' text vectors)."""
    classes = sorted(set(labels))
    prompts = label_vectors(encoder, classes, templates)
    predicted = np.argmax(image_vectors @ prompts.T, axis=1)
    truth = np.array([classes.index(label) for label in labels])
    per_class = {c: float(np.mean(predicted[truth == n] == n)) for n, c in enumerate(classes)}
    return ZeroShotScores(float(np.mean(predicted == truth)), len(labels), per_class, tuple(templates),
                          top_confusions(truth, predicted, classes))


def top_confusions(truth: np.ndarray, predicted: np.ndarray, classes: Sequence[str],
                   top: int = TOP_CONFUSIONS) -> tuple[Confusion, ...]:
    """The most frequent (true class, predicted class) mistakes; ties in class order."""
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    np.fill_diagonal(matrix, 0)
    sizes = np.bincount(truth, minlength=len(classes))
    pairs = sorted(zip(*np.nonzero(matrix), strict=True), key=lambda tp: (-matrix[tp], tp))[:top]
    return tuple(Confusion(classes[t], classes[p], int(matrix[t, p]), float(matrix[t, p] / sizes[t]))
                 for t, p in pairs)


def ann_recall(store: Store, k: int = 10, max_queries: int = 200, seed: int = 0) -> AnnScores:
    """Recall@k of the store's approximate (HNSW) image search against exact search over its own vectors.

    Queries are stored caption vectors (text → image, the common search) or, without captions, image vectors.

    Raises:
        EmptyIndexError: the index holds no images.
    """
    images = list(store.iter_records(where={"kind": IMAGE}, embeddings=True))
    if not images:
        store.require_ingested()
        raise ConfigError(f"the index at {store.location} holds no images to measure")
    queries = [r.embedding for r in store.iter_records(where={"kind": CAPTION}, embeddings=True)
               if r.embedding is not None] or [r.embedding for r in images if r.embedding is not None]
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(queries), size=min(max_queries, len(queries)), replace=False)
    q = np.stack([queries[i] for i in sorted(picked)]).astype(np.float32)
    matrix = np.stack([np.asarray(r.embedding) for r in images]).astype(np.float32)
    ids = np.array([r.id for r in images])
    k = min(k, len(images))
    exact = np.argsort(-(q @ matrix.T), axis=1, kind="stable")[:, :k]
    found = store.query(q, k, where={"kind": IMAGE})
    hits = [len(set(ids[row]) & {h.id for h in approx}) / k for row, approx in zip(exact, found, strict=True)]
    return AnnScores(float(np.mean(hits)), k, len(q), len(images))
