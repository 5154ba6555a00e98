"""Exact and near-duplicate images, found through the ANN index — never by comparing all pairs.

Exact duplicates have the same bytes: ingest stores a content digest (`hash`) with every image, so they
are grouped by that alone. Near duplicates (resized, cropped, re-encoded, slightly recoloured copies)
have vectors above a cosine-similarity threshold: each distinct content's stored vector is sent to
the store as a k-nearest-neighbour query, a batch at a time, and every neighbour above the threshold is
joined to it with union-find. Groups are therefore connected components (A~B and B~C put A, B and C
together). Cost: one k-NN query per distinct image (O(n log n) with HNSW), with memory for ids only.

The default threshold is relative to the collection: `baseline + relative * (1 - baseline)`, where the
baseline is the mean similarity of two images of this collection picked at random. Models differ in how
much of the sphere their vectors fill (CLIP's sit in a narrow cone; two unrelated photos score ~0.5 with
ViT-B-32, ~0.9 with a random-weight network), so a raw cut-off that works for one model fails for
another, while the relative one carried over between every model measured (benchmarks/duplicates.py).
An explicit `threshold` is a plain cosine similarity, like the scores `search` prints.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from multimodal.errors import ConfigError
from multimodal.store import IMAGE, Store

# Chosen by measurement: benchmarks/duplicates.py plants resized, cropped, re-encoded and recoloured
# copies among look-alikes, sweeps the threshold per model and reports precision/recall (README, "Toolkit").
DEFAULT_RELATIVE = 0.93
_BASELINE_SAMPLE = 1000  # images whose mutual similarities estimate the baseline
DEFAULT_NEIGHBOURS = 10  # neighbours asked for per image: a group larger than this is still found through chains
_QUERY_BATCH = 256  # stored vectors sent per k-NN call
_MAX_FETCH = 200  # cap on k when many byte-identical copies would crowd the neighbour list


@dataclass(frozen=True)
class DuplicateGroup:
    """Images that are copies of one another. `similarity` is the weakest link that joined the group
    (1.0 for byte-identical files)."""

    paths: list[str]
    ids: list[str]
    similarity: float


@dataclass(frozen=True)
class DuplicateReport:
    """Byte-identical groups (`exact`) apart from visually near-identical ones (`near`).

    A near group lists every path of its contents, so a file can appear in both: `exact` says which
    files are the same bytes, `near` which different files show the same picture.
    """

    threshold: float  # the cosine similarity used
    baseline: float | None  # mean similarity of two random images here (None when the threshold was given)
    images: int
    exact: list[DuplicateGroup] = field(default_factory=list)
    near: list[DuplicateGroup] = field(default_factory=list)


def find_duplicates(store: Store, threshold: float | None = None, *, relative: float = DEFAULT_RELATIVE,
                    neighbours: int = DEFAULT_NEIGHBOURS, where: dict[str, Any] | None = None) -> DuplicateReport:
    """Group the index's images into exact and near duplicates.

    Args:
        store: the index.
        threshold: cosine similarity at or above which two images count as near duplicates; None = relative.
        relative: used when `threshold` is None: the threshold is `baseline + relative * (1 - baseline)`.
        neighbours: how many nearest images each image is compared with.
        where: an extra Chroma filter on the images (e.g. a folder clause from `search.Filters`).

    Raises:
        ConfigError: threshold or relative outside (0, 1], or neighbours < 1.
        EmptyIndexError: nothing indexed yet.
    """
    for name, value in (("--threshold", threshold), ("--relative", relative)):
        if value is not None and not 0.0 < value <= 1.0:
            raise ConfigError(f"{name} must be a similarity in (0, 1], got {value}")
    if neighbours < 1:
        raise ConfigError(f"--neighbours must be at least 1, got {neighbours}")
    store.collection  # noqa: B018 - raises EmptyIndexError with a helpful message
    scope = {"$and": [{"kind": IMAGE}, where]} if where else {"kind": IMAGE}
    contents = _Contents(store.iter_records(where=scope))
    baseline = None
    if threshold is None:
        baseline = collection_baseline(store, list(contents.members))
        threshold = baseline + relative * (1.0 - baseline)
    widest = max((len(ids) for ids in contents.members.values()), default=1)
    k = min(neighbours + widest, _MAX_FETCH, contents.count)
    links = _Links()
    reps = list(contents.members)
    for start in range(0, len(reps), _QUERY_BATCH):
        batch = [r for r in store.get(reps[start: start + _QUERY_BATCH], embeddings=True) if r.embedding is not None]
        if not batch:
            continue
        results = store.query(np.stack([r.embedding for r in batch]), k, where=scope)
        for record, hits in zip(batch, results, strict=True):
            for hit in hits:
                other = contents.rep_of.get(hit.id)
                if other is not None and other != record.id and hit.score >= threshold:
                    links.join(record.id, other, min(hit.score, 1.0))
    return DuplicateReport(threshold=round(threshold, 6), baseline=baseline, images=contents.count,
                           exact=contents.exact_groups(),
                           near=[contents.group(ids, score) for ids, score in links.groups()])


def collection_baseline(store: Store, ids: list[str], sample: int = _BASELINE_SAMPLE) -> float:
    """Mean cosine similarity between distinct images among a seeded sample of `ids`."""
    chosen = random.Random(0).sample(ids, min(sample, len(ids)))
    vectors = [r.embedding for r in store.get(chosen, embeddings=True) if r.embedding is not None]
    if len(vectors) < 2:
        return 0.0
    unit = np.stack(vectors)
    unit /= np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)
    total = unit.sum(axis=0)
    n = len(unit)
    return float((total @ total - n) / (n * (n - 1)))  # the sum over all ordered pairs, minus the self-pairs


class _Contents:
    """Images grouped by content digest; the first id of each digest stands for it."""

    def __init__(self, records: Iterable[Any]) -> None:
        self.path: dict[str, str] = {}
        self.members: dict[str, list[str]] = {}  # representative id -> every id with that content
        self.rep_of: dict[str, str] = {}
        by_hash: dict[str, str] = {}
        for r in records:
            self.path[r.id] = str(r.metadata.get("path", ""))
            digest = r.metadata.get("hash")
            rep = by_hash.setdefault(str(digest), r.id) if digest else r.id
            self.members.setdefault(rep, []).append(r.id)
            self.rep_of[r.id] = rep

    @property
    def count(self) -> int:
        return len(self.path)

    def exact_groups(self) -> list[DuplicateGroup]:
        groups = [self.group([rep], 1.0) for rep, ids in self.members.items() if len(ids) > 1]
        return _ordered(groups)

    def group(self, reps: list[str], similarity: float) -> DuplicateGroup:
        ids = sorted((i for rep in reps for i in self.members[rep]), key=lambda i: self.path[i])
        return DuplicateGroup(paths=[self.path[i] for i in ids], ids=ids, similarity=round(similarity, 6))


class _Links:
    """Union-find over representative ids, remembering each group's weakest joining link."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.weakest: dict[str, float] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]  # path halving keeps trees shallow
            x = self.parent[x]
        return x

    def join(self, a: str, b: str, score: float) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        self.parent[rb] = ra
        self.weakest[ra] = min(score, self.weakest.get(ra, 1.0), self.weakest.pop(rb, 1.0))

    def groups(self) -> list[tuple[list[str], float]]:
        members: dict[str, list[str]] = defaultdict(list)
        for x in self.parent:
            members[self.find(x)].append(x)
        found = [(ids, self.weakest.get(root, 1.0)) for root, ids in members.items() if len(ids) > 1]
        return sorted(found, key=lambda g: (-len(g[0]), -g[1]))


def _ordered(groups: list[DuplicateGroup]) -> list[DuplicateGroup]:
    return sorted(groups, key=lambda g: (-len(g.paths), g.paths))
