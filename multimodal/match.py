"""Is this a real answer? Every search result is marked `strong` or `weak`, so nearest-but-wrong results say so.

A search always returns its k nearest items, and their raw cosine scores depend on the model (one model's
0.58 is a match, another's is noise). Two signals, chosen by measurement (`benchmarks/match.py`):

- collection-relative, for every model: the query's top score as a z-score over that query's scores on a
  sample of the collection's own images. A query that finds something stands out from the rest of the
  collection; one that finds nothing lands about as close to many images as to its best one.
- vocabulary, for models trained here from scratch (`multimodal.vocabulary`): a text query with a content
  word the model's training captions never used is weak, whatever the scores say: such a model maps
  "a bowl of soup" onto some shape, as confidently as "a red circle". For such a model the vocabulary
  alone judges text queries: on the demo, adding the z-score cut-off only lost in-vocabulary queries.

An index built with random weights (`--pretrained none`) has no strong matches.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from multimodal import model_notes, vocabulary
from multimodal.model_spec import ModelSpec
from multimodal.records import IMAGE
from multimodal.store import Store

STRONG = "strong"
WEAK = "weak"
SAMPLE_SIZE = 2000  # images whose scores make a query's reference distribution (all of them, below this)
RECHECK_SECONDS = 2.0  # how stale the sample may be after an ingest
# Fewer images than this: the z-score is not used (the best of n scores is at most sqrt(n − 1) deviations
# above their mean, so in a handful of images nothing could stand out), and only the other signals judge.
MIN_SAMPLE = 20
# Cut-off on the top score's z over the collection sample: chosen on benchmarks/match.py's development
# queries (demo index: 2.32), reported on its evaluation queries; see docs/photos.md, "Weak matches".
Z_STRONG = 2.3


@dataclass(frozen=True)
class Verdict:
    """How good a query's best results are. `reason` says why a weak match is weak."""

    match: str  # STRONG or WEAK
    z: float | None  # the top score's z-score over the collection sample (None: too few images)
    unknown_words: tuple[str, ...] = ()  # content words of the text terms the model never saw
    reason: str = ""


class MatchJudge:
    """Judges query vectors against one store; the image sample is cached and refreshed when the index changes."""

    def __init__(self, store: Store, z_strong: float = Z_STRONG, sample_size: int = SAMPLE_SIZE,
                 recheck_seconds: float = RECHECK_SECONDS) -> None:
        self.store = store
        self.z_strong = z_strong
        self.sample_size = sample_size
        self.recheck_seconds = recheck_seconds
        self._lock = threading.Lock()
        self._sample: np.ndarray | None = None
        self._sample_key: object = None
        self._checked = -math.inf  # time.monotonic() of the last look at the record count
        self._vocabularies: dict[ModelSpec | None, vocabulary.Vocabulary | None] = {}

    def judge(self, vector: np.ndarray, texts: Sequence[str] = (), top: float | None = None) -> Verdict:
        """The verdict for a query vector; `texts` are its positive text terms, `top` its best hit's score.

        Random weights: weak. A model with a vocabulary judges text queries by it alone (measured: adding the
        z-score cut-off only lost in-vocabulary queries, see docs/photos.md); every other query by the z-score."""
        spec = self.store.model_spec()
        z = self.z_score(vector, top)
        if model_notes.is_random(spec):
            return Verdict(WEAK, z, reason="the index was built with random weights")
        vocab = self._vocabulary(spec) if texts else None
        if vocab is not None:
            unknown = tuple(dict.fromkeys(w for t in texts for w in vocab.unknown(t)))
            if unknown:
                return Verdict(WEAK, z, unknown, reason="the model never saw " + ", ".join(map(repr, unknown)))
            return Verdict(STRONG, z)
        if z is not None and z < self.z_strong:
            return Verdict(WEAK, z, reason=f"the best result barely stands out from the collection (z {z:.2f})")
        return Verdict(STRONG, z)

    def _vocabulary(self, spec: ModelSpec | None) -> vocabulary.Vocabulary | None:
        """The model's vocabulary, read from its folder once per model."""
        if spec not in self._vocabularies:
            self._vocabularies[spec] = vocabulary.for_spec(spec)
        return self._vocabularies[spec]

    def z_score(self, vector: np.ndarray, top: float | None = None) -> float | None:
        """(best score − mean) / std of the query's scores over the image sample; None below MIN_SAMPLE images."""
        sample = self.sample()
        if len(sample) < MIN_SAMPLE:
            return None
        scores = sample @ np.asarray(vector, dtype=np.float32)
        best = float(scores.max()) if top is None else max(float(scores.max()), float(top))
        spread = float(scores.std())
        return (best - float(scores.mean())) / spread if spread > 1e-9 else 0.0

    def sample(self) -> np.ndarray:
        """Up to `sample_size` image vectors drawn at random (seeded), read again when the record count changes
        (looked at no more than every `recheck_seconds`: counting costs about as much as judging)."""
        with self._lock:
            now = time.monotonic()
            if self._sample is not None and now - self._checked < self.recheck_seconds:
                return self._sample
            key = (self.store.exists, self.store.count() if self.store.exists else 0)
            self._checked = now
            if self._sample is None or key != self._sample_key:
                self._sample, self._sample_key = self._read_sample(), key
            return self._sample

    def _read_sample(self) -> np.ndarray:
        ids = self.store.ids(IMAGE)
        if len(ids) > self.sample_size:
            ids = random.Random(0).sample(ids, self.sample_size)
        rows = [r.embedding for r in self.store.get(ids, embeddings=True) if r.embedding is not None]
        return np.stack(rows).astype(np.float32) if rows else np.zeros((0, self.store.dim() or 1), np.float32)
