"""Zero-shot tagging: label the indexed images from a list of words, using only their stored vectors.

Each label becomes a text vector — the mean of its prompts ("a photo of a {label}", ...), as CLIP's
zero-shot classifier builds it (`multimodal.batch_encode.label_vectors`, shared with zero-shot evaluation) —
and each image gets the labels nearest to it, with softmax scores, as metadata: `tags` (a list of
strings, which `search --tag` and `Filters(tag=...)` match with Chroma's `$contains`) and `tag_scores`
(the same order). An image's captions get the same tags, so caption searches filter the same way. No
image is decoded or re-encoded, so tagging a large index costs one read and one metadata write per image.

Tags describe the vectors at tagging time: an image re-ingested after a change loses them until the
next `multimodal tag`. Accuracy on a labelled folder is what `multimodal eval` reports as zero-shot accuracy.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from multimodal.batch_encode import DEFAULT_TEMPLATES, ProgressFn, label_vectors
from multimodal.encoder import Encoder
from multimodal.errors import ConfigError, NotFoundError
from multimodal.records import IMAGE, caption_id
from multimodal.store import Store

LOGIT_SCALE = 100.0  # CLIP's learnt temperature: turns cosine gaps into softmax scores that read as confidence
_PAGE = 500  # images tagged per read/write round trip


@dataclass(frozen=True)
class TagReport:
    """What one tagging run did."""

    images: int
    labels: list[str]
    counts: dict[str, int] = field(default_factory=dict)  # images whose top tag is this label
    untagged: int = 0  # images whose best score fell below min_score
    seconds: float = 0.0


def parse_labels(text: str | None = None, file: str | Path | None = None) -> list[str]:
    """Labels from "cat,dog,car" and/or a file (one per line or comma-separated; '#' starts a comment).

    Raises:
        ConfigError: no labels, or a label given twice.
        NotFoundError: the labels file does not exist.
    """
    parts = (text or "").split(",")
    if file is not None:
        path = Path(file).expanduser()
        if not path.is_file():
            raise NotFoundError(f"labels file {path} does not exist")
        for line in path.read_text(encoding="utf-8").splitlines():
            parts += line.split("#", 1)[0].split(",")
    labels = [p.strip() for p in parts if p.strip()]
    if not labels:
        raise ConfigError('give labels: --labels "cat,dog,car" or --labels-file FILE')
    repeated = sorted(label for label, n in Counter(labels).items() if n > 1)
    if repeated:
        raise ConfigError(f"labels given more than once: {', '.join(repeated)}")
    return labels


def label_scores(image_vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Softmax over labels of the scaled cosine similarities: rows are images, columns labels."""
    unit = image_vectors / np.maximum(np.linalg.norm(image_vectors, axis=1, keepdims=True), 1e-12)
    logits = LOGIT_SCALE * (unit @ labels.T)
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def tag_images(store: Store, encoder: Encoder, labels: Sequence[str], *,
               templates: Sequence[str] = DEFAULT_TEMPLATES, top: int = 1, min_score: float = 0.0,
               where: dict[str, Any] | None = None, progress: ProgressFn | None = None) -> TagReport:
    """Store the `top` labels (those scoring at least `min_score`) as `tags` on every image matching `where`.

    Raises:
        ConfigError: bad top / min_score / templates, or no labels.
        EmptyIndexError: nothing indexed yet.
    """
    if top < 1:
        raise ConfigError(f"--top must be at least 1, got {top}")
    if not 0.0 <= min_score < 1.0:
        raise ConfigError(f"--min-score must be in [0, 1), got {min_score}")
    if not labels:
        raise ConfigError("give at least one label")
    started = time.monotonic()
    store.require_ingested()
    matrix = label_vectors(encoder, labels, templates)
    scope = {"$and": [{"kind": IMAGE}, where]} if where else {"kind": IMAGE}
    ids = [r.id for r in store.iter_records(where=scope)]
    counts: Counter[str] = Counter()
    untagged = 0
    for start in range(0, len(ids), _PAGE):
        records = [r for r in store.get(ids[start: start + _PAGE], embeddings=True) if r.embedding is not None]
        if records:
            scores = label_scores(np.stack([r.vector for r in records]), matrix)
            updates = [_tags(row, labels, top, min_score) for row in scores]
            untagged += sum(1 for u in updates if u["tags"] is None)
            counts.update(u["tags"][0] for u in updates if u["tags"])
            _write(store, records, updates)
        if progress:
            progress(min(start + _PAGE, len(ids)), len(ids))
    store.update_metadata({"mm_tag_labels": ",".join(labels)})
    return TagReport(images=len(ids), labels=list(labels), counts=dict(counts.most_common()), untagged=untagged,
                     seconds=round(time.monotonic() - started, 3))


def known_tags(store: Store) -> list[str]:
    """The labels of the last tagging run, for pickers (empty if the index was never tagged)."""
    if not store.exists:
        return []
    text = str(store.metadata().get("mm_tag_labels", ""))
    return [t for t in text.split(",") if t]


def _tags(row: np.ndarray, labels: Sequence[str], top: int, min_score: float) -> dict[str, Any]:
    best = [int(i) for i in np.argsort(-row, kind="stable")[:top] if row[i] >= min_score]
    if not best:  # None removes the keys: an image keeps no stale tags from an earlier run
        return {"tags": None, "tag_scores": None}
    return {"tags": [labels[i] for i in best], "tag_scores": [round(float(row[i]), 4) for i in best]}


def _write(store: Store, records: list[Any], updates: list[dict[str, Any]]) -> None:
    ids, metas = [], []
    for record, update in zip(records, updates, strict=True):
        ids.append(record.id)
        metas.append(update)
        for n in range(int(record.metadata.get("n_captions", 0))):
            ids.append(caption_id(record.id, n))
            metas.append(update)
    store.update_records(ids, metas)
