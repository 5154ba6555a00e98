"""Analogy completion: does image − text(old) + text(new) land nearest an image that shows the new thing?

The essay's "king − man + woman ≈ queen" across modalities: the vector of a small red circle on the left,
minus the text "red", plus the text "blue", should be nearest a small *blue* circle on the left. An analogy
is right when the nearest image (the query image itself left out) is one of its right answers: on a
generated folder, an image whose four attributes equal the expected ones (the new value, the others kept).

Two one-term queries are scored the same way, and the better of them is the baseline: the plus text alone
("blue": finds blue things, but any shape) and the image alone (finds the same shape, but the old colour).
Accuracy above the baseline is what the arithmetic adds.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from multimodal.errors import ConfigError
from multimodal.synthetic import VOCABULARIES, Attributes, Vocabulary, read_attributes

ATTRIBUTES = ("colour", "shape", "size", "position")
TextEncodeFn = Callable[[Sequence[str]], np.ndarray]  # texts -> unit vectors, one row each


@dataclass(frozen=True)
class Analogy:
    """`start` − `minus` + `plus`; right when the nearest image is in `right` (indexes into the gallery)."""

    start: int | str  # a gallery image (its index; left out of its own answers) or a text
    minus: str
    plus: str
    group: str  # the attribute swapped ("colour"), or the TSV's fifth column
    right: frozenset[int]


@dataclass(frozen=True)
class Weights:
    """query = normalise(image·start − minus·text(old) + plus·text(new)); 1/1/1 is the essay's arithmetic."""

    image: float = 1.0
    minus: float = 1.0
    plus: float = 1.0


ESSAY_WEIGHTS = Weights()


@dataclass(frozen=True)
class GroupScores:
    """Accuracy of the arithmetic and of the two one-term queries over `n` analogies."""

    accuracy: float
    plus_only: float  # the plus text alone
    image_only: float  # the start alone (the query image, or the start text)
    n: int

    @property
    def baseline(self) -> float:
        return max(self.plus_only, self.image_only)

    def to_dict(self) -> dict[str, Any]:
        return {"accuracy": round(self.accuracy, 4), "baseline": round(self.baseline, 4),
                "plus_only": round(self.plus_only, 4), "image_only": round(self.image_only, 4), "n": self.n}


@dataclass(frozen=True)
class AnalogyScores:
    overall: GroupScores
    per_attribute: dict[str, GroupScores]
    weights: Weights

    def to_dict(self) -> dict[str, Any]:
        return {**self.overall.to_dict(), "per_attribute": {k: v.to_dict() for k, v in self.per_attribute.items()},
                "weights": [self.weights.image, -self.weights.minus, self.weights.plus]}


# -- building analogy sets -------------------------------------------------------------------------
def folder_attributes(root: Path, paths: Sequence[Path]) -> list[Attributes] | None:
    """Each image's attributes when `root/captions.jsonl` carries them for every one of `paths`, else None."""
    try:
        found = read_attributes(root)
    except (OSError, KeyError, TypeError, json.JSONDecodeError):
        return None  # no table, or a table without attribute keys: a folder like any other
    if not paths or any(p not in found for p in paths):
        return None
    return [found[p] for p in paths]


def attribute_words(attribute: str, value: str, vocabulary: Vocabulary = VOCABULARIES["en"]) -> str:
    """The caption words for one attribute value: "red", "star", "small", "on the left"."""
    table = {"colour": vocabulary.colours, "shape": vocabulary.shapes, "size": vocabulary.sizes,
             "position": vocabulary.positions}[attribute]
    return table[value]


def attribute_analogies(attributes: Sequence[Attributes], *, limit: int | None = 2000, seed: int = 0,
                        vocabulary: Vocabulary = VOCABULARIES["en"]) -> list[Analogy]:
    """Every image × every attribute × every other value of it seen in the folder, keeping the swaps whose
    expected image exists (the query left out); at most `limit` per attribute (a seeded sample)."""
    by_attrs: dict[Attributes, set[int]] = {}
    for n, attrs in enumerate(attributes):
        by_attrs.setdefault(attrs, set()).add(n)
    rng = np.random.default_rng(seed)
    out: list[Analogy] = []
    for attribute in ATTRIBUTES:
        values = sorted({getattr(a, attribute) for a in attributes})
        group = []
        for n, attrs in enumerate(attributes):
            old = getattr(attrs, attribute)
            for new in values:
                right = by_attrs.get(_swap(attrs, attribute, new), set()) - {n}
                if new != old and right:
                    group.append(Analogy(n, attribute_words(attribute, old, vocabulary),
                                         attribute_words(attribute, new, vocabulary), attribute, frozenset(right)))
        if limit is not None and len(group) > limit:
            group = [group[i] for i in sorted(rng.choice(len(group), size=limit, replace=False))]
        out += group
    return out


def _swap(attrs: Attributes, attribute: str, value: str) -> Attributes:
    return Attributes(**{**attrs.__dict__, attribute: value})


def analogies_for(root: Path, paths: Sequence[Path], captions: Sequence[Sequence[str]],
                  attributes: Sequence[Attributes] | None, tsv: str | Path | None = None) -> list[Analogy]:
    """The TSV's analogies if one is given, else the attribute swaps when the captions carry attributes."""
    if tsv is not None:
        return read_analogies(tsv, root, paths, captions)
    return attribute_analogies(attributes) if attributes else []


def read_analogies(tsv: str | Path, root: Path, paths: Sequence[Path], captions: Sequence[Sequence[str]],
                   ) -> list[Analogy]:
    """Analogies from a TSV: `start` (an image under `root`, or a text), minus text, plus text, expected caption
    words, and optionally a group name. Right answers: the other images whose captions (together) hold every
    expected word. Empty lines and lines starting with `#` are skipped.

    Raises:
        ConfigError: an unreadable file, a row of the wrong width, an image that was not evaluated, or
            expected words that no other image's caption holds.
    """
    tsv = Path(tsv)
    try:
        rows = list(csv.reader(tsv.read_text(encoding="utf-8").splitlines(), delimiter="\t"))
    except OSError as e:
        raise ConfigError(f"cannot read the analogy file {tsv}: {e}") from e
    where = {p: n for n, p in enumerate(paths)}
    words = [{w for c in caps for w in _words(c)} for caps in captions]  # an image's captions together
    out = []
    for line, row in enumerate(rows, 1):
        if not row or not "".join(row).strip() or row[0].startswith("#"):
            continue
        if len(row) not in (4, 5):
            raise ConfigError(f"{tsv} line {line}: expected 4 or 5 tab-separated columns "
                              "(image or text, minus text, plus text, expected caption words[, group])")
        start, minus, plus, expected = (cell.strip() for cell in row[:4])
        image = _as_image(start, root)
        if image is not None and image not in where:
            raise ConfigError(f"{tsv} line {line}: {start} is not among the captioned images evaluated")
        start_ref: int | str = where[image] if image is not None else start
        want = set(_words(expected))
        right = frozenset(n for n, have in enumerate(words) if want <= have and n != start_ref)
        if not right:
            raise ConfigError(f"{tsv} line {line}: no other image has a caption with all of {expected!r}")
        out.append(Analogy(start_ref, minus, plus, row[4].strip() if len(row) == 5 else "all", right))
    return out


def _as_image(cell: str, root: Path) -> Path | None:
    for candidate in (Path(cell).expanduser(), root / cell):
        if candidate.suffix and candidate.is_file():
            return candidate.absolute()
    return None


def _words(text: str) -> list[str]:
    return text.lower().replace(",", " ").split()


# -- scoring ---------------------------------------------------------------------------------------
def score_analogies(image_vectors: np.ndarray, analogies: Sequence[Analogy], encode_texts: TextEncodeFn,
                    weights: Weights = ESSAY_WEIGHTS) -> AnalogyScores:
    """Accuracy of the arithmetic and of the one-term baselines, overall and per group."""
    if not analogies:
        raise ConfigError("no analogies to score")
    texts = list(dict.fromkeys(t for a in analogies for t in (a.minus, a.plus, a.start) if isinstance(t, str)))
    vec = dict(zip(texts, encode_texts(texts), strict=True))
    start = np.stack([image_vectors[a.start] if isinstance(a.start, int) else vec[a.start] for a in analogies])
    minus = np.stack([vec[a.minus] for a in analogies])
    plus = np.stack([vec[a.plus] for a in analogies])
    arithmetic = weights.image * start - weights.minus * minus + weights.plus * plus
    hits = {name: right_answers(image_vectors, q, analogies)
            for name, q in (("arithmetic", arithmetic), ("plus", plus), ("image", start))}
    groups = list(dict.fromkeys(a.group for a in analogies))
    member = np.array([a.group for a in analogies])
    per_group = {g: _group(hits, member == g) for g in groups}
    return AnalogyScores(_group(hits, np.ones(len(analogies), bool)), per_group, weights)


def right_answers(image_vectors: np.ndarray, queries: np.ndarray, analogies: Sequence[Analogy],
                  chunk: int = 1024) -> np.ndarray:
    """Whether each query's nearest image (its own start image left out) is one of its right answers."""
    queries = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    nearest = np.empty(len(queries), dtype=np.int64)
    for lo in range(0, len(queries), chunk):
        scores = queries[lo:lo + chunk] @ image_vectors.T
        for row, a in enumerate(analogies[lo:lo + chunk]):
            if isinstance(a.start, int):
                scores[row, a.start] = -np.inf
        nearest[lo:lo + chunk] = np.argmax(scores, axis=1)
    return np.array([int(n) in a.right for n, a in zip(nearest, analogies, strict=True)])


def _group(hits: dict[str, np.ndarray], mask: np.ndarray) -> GroupScores:
    return GroupScores(float(hits["arithmetic"][mask].mean()), float(hits["plus"][mask].mean()),
                       float(hits["image"][mask].mean()), int(mask.sum()))
