"""How well a model reads the synthetic attributes: the measures a user of the demo feels.

Retrieval Recall@K on the held-out pairs says whether the right image is near its full caption among
held-out images only; a user searches the whole gallery with short queries. So this module scores:

- per-attribute zero-shot accuracy on held-out images: each value's label vector is the mean of the
  full captions of every combination carrying it (prompt ensembling over the other attributes);
- held-out text → image R@1 with full captions, per caption language;
- short queries on the gallery: "a {colour} {shape}" (and its French form) must put an image of that
  colour *and* shape first, for every colour × shape pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from multimodal.batch_encode import encode_images, encode_texts
from multimodal.encoder import Encoder
from multimodal.synthetic import (
    COLOURS,
    POSITIONS,
    SHAPES,
    SIZES,
    Attributes,
    caption,
    caption_fr,
    read_attributes,
    short_caption,
    short_caption_fr,
)

ATTRIBUTES = {"colour": tuple(COLOURS), "shape": SHAPES, "size": SIZES, "position": POSITIONS}
LANGUAGES = ("en", "fr")


@dataclass(frozen=True)
class PairQuery:
    text: str
    colour: str
    shape: str
    top: str  # file name of the first image
    right: bool


@dataclass(frozen=True)
class AttributeScores:
    zero_shot: dict[str, dict[str, float]]  # language -> attribute -> accuracy on held-out images
    heldout_r1: dict[str, float]  # language -> text → image R@1 of full captions among held-out images
    pair_queries: dict[str, float]  # language -> share of colour × shape queries right at rank 1 (gallery)
    wrong: list[PairQuery] = field(default_factory=list)  # the pair queries that missed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def full_caption(attrs: Attributes, language: str) -> str:
    return caption_fr(attrs) if language == "fr" else caption(attrs)


def pair_caption(colour: str, shape: str, language: str) -> str:
    attrs = Attributes(shape, colour, "small", "center")  # size and position are not in a short caption
    return short_caption_fr(attrs) if language == "fr" else short_caption(attrs)


def score_attributes(encoder: Encoder, heldout: Path, gallery: Path,
                     languages: Sequence[str] = LANGUAGES) -> AttributeScores:
    """Score `encoder` on a held-out folder and a gallery written by `synthetic.generate`."""
    held = read_attributes(heldout)
    held_paths = sorted(held)
    held_vectors = _images(encoder, held_paths)
    gal = read_attributes(gallery)
    gal_paths = sorted(gal)
    gal_vectors = _images(encoder, gal_paths)
    zero_shot, heldout_r1, pairs, wrong = {}, {}, {}, []
    for lang in languages:
        zero_shot[lang] = _zero_shot(encoder, held_vectors, [held[p] for p in held_paths], lang)
        heldout_r1[lang] = _recall_at_1(encoder, held_vectors, [held[p] for p in held_paths], lang)
        queries = _pair_queries(encoder, gal_vectors, gal_paths, [gal[p] for p in gal_paths], lang)
        pairs[lang] = float(np.mean([q.right for q in queries]))
        wrong += [q for q in queries if not q.right]
    return AttributeScores(zero_shot, heldout_r1, pairs, wrong)


def _images(encoder: Encoder, paths: list[Path]) -> np.ndarray:
    vectors, _, failed = encode_images(encoder, paths)
    if failed:
        raise ValueError(f"could not read {failed[0].path}: {failed[0].reason}")
    return vectors


def _zero_shot(encoder: Encoder, vectors: np.ndarray, attrs: list[Attributes], language: str) -> dict[str, float]:
    every = [Attributes(s, c, z, p) for s in SHAPES for c in COLOURS for z in SIZES for p in POSITIONS]
    texts = encode_texts(encoder, [full_caption(a, language) for a in every])
    scores = {}
    for name, values in ATTRIBUTES.items():
        labels = np.stack([texts[[getattr(a, name) == v for a in every]].mean(axis=0) for v in values])
        labels /= np.linalg.norm(labels, axis=1, keepdims=True)
        predicted = np.argmax(vectors @ labels.T, axis=1)
        truth = np.array([values.index(getattr(a, name)) for a in attrs])
        scores[name] = round(float(np.mean(predicted == truth)), 4)
    return scores


def _recall_at_1(encoder: Encoder, vectors: np.ndarray, attrs: list[Attributes], language: str) -> float:
    distinct = sorted(set(attrs), key=lambda a: full_caption(a, language))
    texts = encode_texts(encoder, [full_caption(a, language) for a in distinct])
    top = np.argmax(texts @ vectors.T, axis=1)
    return round(float(np.mean([attrs[t] == a for t, a in zip(top, distinct, strict=True)])), 4)


def _pair_queries(encoder: Encoder, vectors: np.ndarray, paths: list[Path], attrs: list[Attributes],
                  language: str) -> list[PairQuery]:
    pairs = [(c, s) for c in COLOURS for s in SHAPES]
    texts = encode_texts(encoder, [pair_caption(c, s, language) for c, s in pairs])
    top = np.argmax(texts @ vectors.T, axis=1)
    return [PairQuery(pair_caption(c, s, language), c, s, paths[t].name,
                      attrs[t].colour == c and attrs[t].shape == s)
            for (c, s), t in zip(pairs, top, strict=True)]


__all__ = ["ATTRIBUTES", "AttributeScores", "PairQuery", "full_caption", "pair_caption", "score_attributes"]
