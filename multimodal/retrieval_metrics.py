"""Retrieval Recall@K, both ways, from vectors: the metric every evaluation here reports.

Text → image: each distinct caption is a query; it scores 1 if any image carrying that exact caption is
among the K nearest images. Image → text: each image is a query over the distinct captions; it scores 1 if
one of its own captions is among the K nearest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

KS = (1, 5, 10)


@dataclass(frozen=True)
class RetrievalScores:
    """Recall@K both ways; keys of the dicts are K."""

    text_to_image: dict[int, float]
    image_to_text: dict[int, float]
    images: int
    texts: int  # distinct captions

    def to_dict(self) -> dict[str, Any]:
        return {
            "text_to_image": {f"R@{k}": round(v, 4) for k, v in self.text_to_image.items()},
            "image_to_text": {f"R@{k}": round(v, 4) for k, v in self.image_to_text.items()},
            "n": self.images,
            "n_texts": self.texts,
        }


def recall_at_k(queries: np.ndarray, items: np.ndarray, relevant: Sequence[set[int]],
                ks: Sequence[int] = KS) -> dict[int, float]:
    """Share of queries with at least one relevant item among their k nearest (by dot product)."""
    if len(queries) == 0:
        return {k: 0.0 for k in ks}
    scores = queries @ items.T
    # Rank of the best relevant item = how many items score strictly higher than it.
    best = np.array([scores[q, sorted(rel)].max() if rel else -np.inf for q, rel in enumerate(relevant)])
    rank = (scores > best[:, None]).sum(axis=1)
    return {k: float(np.mean(rank < k)) for k in ks}


def retrieval_scores(image_vectors: np.ndarray, captions: Sequence[Sequence[str]], text_vectors: np.ndarray,
                     texts: Sequence[str], ks: Sequence[int] = KS) -> RetrievalScores:
    """Recall@K both ways, given image vectors, each image's captions, and vectors for the distinct `texts`."""
    where = {t: n for n, t in enumerate(texts)}
    images_of: list[set[int]] = [set() for _ in texts]
    for i, caps in enumerate(captions):
        for c in caps:
            images_of[where[c]].add(i)
    texts_of = [{where[c] for c in caps} for caps in captions]
    return RetrievalScores(
        text_to_image=recall_at_k(text_vectors, image_vectors, images_of, ks),
        image_to_text=recall_at_k(image_vectors, text_vectors, texts_of, ks),
        images=len(image_vectors), texts=len(texts),
    )


__all__ = ["KS", "RetrievalScores", "recall_at_k", "retrieval_scores"]
