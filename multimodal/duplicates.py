"""Exact and near-duplicate images, found through the ANN index — never by comparing all pairs.

Exact duplicates have the same bytes: ingest stores a content digest (`hash`) with every image, so they
are grouped by that alone. Near duplicates (resized, cropped, re-encoded, slightly recoloured copies)
are found in two stages. Candidates: each distinct content's stored vector is sent to the store as a
k-nearest-neighbour query, a batch at a time, and neighbours above a cosine-similarity cut-off are
candidates. Verification: a candidate pair is a near duplicate only when the pictures agree too, i.e.
their perceptual hashes (multimodal.perceptual, stored at ingest; no file is decoded here) are within a
few bits. Embeddings alone join things that are merely similar (four blue shapes at the bottom of a
picture, or unrelated photos under random weights); the hashes alone would need all pairs. Verified
pairs are joined with union-find. Groups are therefore connected components (A~B and B~C put A, B and C
together). Cost: one k-NN query per distinct image (O(n log n) with HNSW), with memory for ids only.

By default the cut-off is relative to each image's neighbourhood: with `ref` the similarity of its
`neighbours`-th nearest other image, a neighbour counts as a copy when its similarity is at least
`ref + relative * (1 - ref)` — it must stand out from the crowd around the image, not only be close.
Models differ widely in how much of the sphere their vectors fill (unrelated photos score ~0.5 with
CLIP ViT-B-32 and above 0.99 with some random-weight networks), and collections differ in density, so
no fixed cosine cut-off carries over. An explicit `threshold` is a plain cosine similarity instead, like
the scores `search` prints. Either way it only proposes candidates: the perceptual hashes decide.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from multimodal.errors import ConfigError
from multimodal.perceptual import MAX_CHROMA, MAX_DHASH, MAX_PHASH, PHASH_KEY, same_picture
from multimodal.records import IMAGE
from multimodal.store import Store

# Chosen by measurement (benchmarks/duplicates.py): with the pixel check carrying precision, the embedding
# stage only proposes candidates, so it errs on recall. On the tuning set every value up to 0.4 kept every
# planted copy with both random-weight models, at precision 1.0 throughout. A first choice (0.3, 10 neighbours)
# then missed recoloured copies of real photos under random-weight ViT-B-32 (recall 0.87), which place them far
# apart; 0.1 and 20 neighbours were set after seeing that (docs/toolkit.md, "Near-duplicates"). The cost is more hash
# comparisons (cheap) and a k-NN query of 20 instead of 10.
DEFAULT_RELATIVE = 0.1
DEFAULT_NEIGHBOURS = 20  # neighbours compared per image, and the one whose similarity is the local reference
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

    threshold: float | None  # the cosine similarity given, or None: relative to each neighbourhood
    relative: float | None  # the relative cut-off used when no threshold was given
    typical_threshold: float  # median of the cosine cut-offs applied (the given threshold, if one was)
    images: int
    exact: list[DuplicateGroup] = field(default_factory=list)
    near: list[DuplicateGroup] = field(default_factory=list)
    rejected: int = 0  # candidate pairs close in the embedding whose pictures differ (similar, not copies)
    unhashed: int = 0  # images without a perceptual hash (indexed by an older version): never near duplicates


def find_duplicates(store: Store, threshold: float | None = None, *, relative: float = DEFAULT_RELATIVE,
                    neighbours: int = DEFAULT_NEIGHBOURS, where: dict[str, Any] | None = None,
                    max_phash: int = MAX_PHASH, max_dhash: int = MAX_DHASH,
                    max_chroma: int = MAX_CHROMA) -> DuplicateReport:
    """Group the index's images into exact and near duplicates.

    Args:
        store: the index.
        threshold: cosine similarity at or above which two images count as near duplicates; None = relative.
        relative: used when `threshold` is None: an image's cut-off is `ref + relative * (1 - ref)`, `ref`
            the similarity of its `neighbours`-th nearest other image.
        neighbours: how many nearest images each image is compared with (raise it for bursts of more
            near-identical shots than this).
        where: an extra Chroma filter on the images (e.g. a folder clause from `search.Filters`).
        max_phash, max_dhash: Hamming distances (of 64 bits) up to which two pictures count as the same.
        max_chroma: the largest chroma difference (0..255) of any cell of their 8×8 colour thumbnails.

    Raises:
        ConfigError: threshold or relative outside (0, 1], or neighbours < 1.
        EmptyIndexError: nothing indexed yet.
    """
    for name, value in (("--threshold", threshold), ("--relative", relative)):
        if value is not None and not 0.0 < value <= 1.0:
            raise ConfigError(f"{name} must be a similarity in (0, 1], got {value}")
    if neighbours < 1:
        raise ConfigError(f"--neighbours must be at least 1, got {neighbours}")
    if not (0 <= max_phash <= 64 and 0 <= max_dhash <= 64 and 0 <= max_chroma <= 255):
        raise ConfigError(f"hash distances must be in 0..64 bits and chroma in 0..255, got {max_phash}, "
                          f"{max_dhash} and {max_chroma}")
    store.require_ingested()
    scope = {"$and": [{"kind": IMAGE}, where]} if where else {"kind": IMAGE}
    contents = _Contents(store.iter_records(where=scope))
    widest = max((len(ids) for ids in contents.members.values()), default=1)
    k = min(neighbours + widest, _MAX_FETCH, contents.count)  # room for its own copies, then `neighbours` others
    links = _Links()
    rejected: set[frozenset[str]] = set()
    cutoffs: list[float] = []
    reps = list(contents.members)
    for start in range(0, len(reps), _QUERY_BATCH):
        batch = [r for r in store.get(reps[start: start + _QUERY_BATCH], embeddings=True) if r.embedding is not None]
        if not batch:
            continue
        results = store.query(np.stack([r.vector for r in batch]), k, where=scope)
        for record, hits in zip(batch, results, strict=True):
            others = _distinct_others(record.id, hits, contents.rep_of)
            if not others:
                continue
            cutoff = threshold if threshold is not None else _local_cutoff(others, neighbours, relative)
            cutoffs.append(cutoff)
            for other, score in others:
                if score < cutoff:
                    continue
                if contents.same_picture(record.id, other, (max_phash, max_dhash, max_chroma)):
                    links.join(record.id, other, min(score, 1.0))
                else:
                    rejected.add(frozenset((record.id, other)))
    typical = threshold if threshold is not None else float(np.median(cutoffs)) if cutoffs else 1.0
    return DuplicateReport(threshold=threshold, relative=None if threshold is not None else relative,
                           typical_threshold=round(typical, 6), images=contents.count,
                           exact=contents.exact_groups(),
                           near=[contents.group(ids, score) for ids, score in links.groups()],
                           rejected=len(rejected), unhashed=contents.unhashed)


def _distinct_others(rep: str, hits: list[Any], rep_of: dict[str, str]) -> list[tuple[str, float]]:
    """(content, best score) of the other contents among `hits`, nearest first (copies count once)."""
    seen: dict[str, float] = {}
    for hit in hits:
        other = rep_of.get(hit.id)
        if other is not None and other != rep and other not in seen:
            seen[other] = hit.score
    return list(seen.items())


def _local_cutoff(others: list[tuple[str, float]], neighbours: int, relative: float) -> float:
    ref = others[min(neighbours, len(others)) - 1][1]
    return ref + relative * (1.0 - ref)


class _Contents:
    """Images grouped by content digest; the first id of each digest stands for it."""

    def __init__(self, records: Iterable[Any]) -> None:
        self.path: dict[str, str] = {}
        self.members: dict[str, list[str]] = {}  # representative id -> every id with that content
        self.rep_of: dict[str, str] = {}
        self.phash: dict[str, str] = {}
        by_hash: dict[str, str] = {}
        for r in records:
            self.path[r.id] = str(r.metadata.get("path", ""))
            if r.metadata.get(PHASH_KEY):
                self.phash[r.id] = str(r.metadata[PHASH_KEY])
            digest = r.metadata.get("hash")
            rep = by_hash.setdefault(str(digest), r.id) if digest else r.id
            self.members.setdefault(rep, []).append(r.id)
            self.rep_of[r.id] = rep

    @property
    def count(self) -> int:
        return len(self.path)

    @property
    def unhashed(self) -> int:
        return self.count - len(self.phash)

    def same_picture(self, a: str, b: str, limits: tuple[int, int, int]) -> bool:
        """Whether two contents' stored perceptual fingerprints agree; False when either has none."""
        ha, hb = self.phash.get(a), self.phash.get(b)
        return ha is not None and hb is not None and same_picture(ha, hb, *limits)

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
