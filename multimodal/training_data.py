"""Image–caption pairs for training: read once, kept small in memory, served in seeded batches.

Images are decoded in parallel once, shrunk to a little above the model's input size and kept in
memory (up to a budget), so later epochs cost no decoding. Random augmentation runs on the main
thread from torch's seeded generator, so a seed fixes the whole run whatever the thread timing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from multimodal.errors import ImageLoadError
from multimodal.evaluate import load_captioned
from multimodal.images import load_image
from multimodal.pipeline import default_workers, ordered_map

CACHE_BUDGET_BYTES = 1 << 30  # decoded images kept in memory; beyond this, later ones are re-read each epoch
_CACHE_MARGIN = 1.15  # cached images keep a little more than the input size, for random crops
Transform = Callable[[Image.Image], torch.Tensor]


@dataclass
class Pairs:
    """Captioned images: `paths[i]` has captions `captions[i]`; decoded images cached by index."""

    paths: list[Path]
    captions: list[list[str]]
    side: int  # shorter side of cached images
    max_pixels: int = 180_000_000
    failed: list[ImageLoadError] = field(default_factory=list)
    _cache: dict[int, Image.Image] = field(default_factory=dict, repr=False)
    _cached_bytes: int = 0

    @classmethod
    def load(cls, root: str | Path, image_size: int, *, workers: int = 0, max_pixels: int = 180_000_000,
             progress: Callable[[int, int], None] | None = None) -> Pairs:
        """Every captioned image under `root`, decoded once; unreadable images are left out (see `failed`)."""
        data = load_captioned(root)
        pairs = cls(list(data.paths), list(data.captions), math.ceil(image_size * _CACHE_MARGIN), max_pixels)
        pairs._warm(workers, progress)
        return pairs

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, indexes: Sequence[int]) -> Pairs:
        sub = Pairs([self.paths[i] for i in indexes], [self.captions[i] for i in indexes], self.side,
                    self.max_pixels)
        sub._cache = {n: self._cache[i] for n, i in enumerate(indexes) if i in self._cache}
        return sub

    def image(self, i: int) -> Image.Image:
        cached = self._cache.get(i)
        return cached if cached is not None else self._decode(self.paths[i])

    def _decode(self, path: Path) -> Image.Image:
        image = load_image(path, max_pixels=self.max_pixels, min_side=self.side).image
        scale = self.side / min(image.size)
        if scale < 1:
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            image = image.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)
        return image

    def _warm(self, workers: int, progress: Callable[[int, int], None] | None) -> None:
        def decode(i: int) -> Image.Image | ImageLoadError:
            try:
                return self._decode(self.paths[i])
            except ImageLoadError as e:
                return e

        keep: list[int] = []
        items = range(len(self.paths))
        for done, (i, result) in enumerate(ordered_map(decode, items, workers=workers or default_workers(),
                                                       in_flight=64), start=1):
            if isinstance(result, ImageLoadError):
                self.failed.append(result)
            else:
                keep.append(i)
                size = result.width * result.height * 3
                if self._cached_bytes + size <= CACHE_BUDGET_BYTES:
                    self._cache[i] = result
                    self._cached_bytes += size
            if progress:
                progress(done, len(self.paths))
        old_cache = self._cache
        self.paths = [self.paths[i] for i in keep]
        self.captions = [self.captions[i] for i in keep]
        self._cache = {n: old_cache[i] for n, i in enumerate(keep) if i in old_cache}

    def split(self, fraction: float, seed: int) -> tuple[Pairs, Pairs | None]:
        """(train, validation): a seeded random `fraction` of the images held out for validation."""
        if fraction <= 0 or len(self) < 4:
            return self, None
        order = np.random.default_rng(seed).permutation(len(self))
        n_val = min(len(self) - 2, max(2, round(len(self) * fraction)))
        return self.subset(sorted(order[n_val:].tolist())), self.subset(sorted(order[:n_val].tolist()))


@dataclass(frozen=True)
class Batch:
    images: torch.Tensor
    texts: list[str]


def epoch_batches(pairs: Pairs, batch_size: int, seed: int, epoch: int,
                  hard_negatives: float = 0.0) -> list[list[tuple[int, str]]]:
    """This epoch's batches of (image index, caption): a seeded shuffle and one random caption per image.

    ClipLoss takes every other image in a batch as a wrong match for a caption, so no batch holds an
    image that also carries another member's chosen caption: "a red circle" never shares a batch with
    a second red circle captioned so, and the loss never pushes a right answer away.

    `hard_negatives` is the share of batches built from groups of captions that share most of their words
    (`_Pool.neighbour_batch`): pairs that differ in one attribute can only be told apart by that attribute,
    so the model has to learn what a random batch lets it skip (there, colour alone separates most pairs).
    It needs no labels: any captioned folder has words.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(pairs))
    chosen = [(i, pairs.captions[i][int(rng.integers(len(pairs.captions[i])))]) for i in order.tolist()]
    pool = _Pool(chosen, pairs.captions)
    open_batches: list[_OpenBatch] = []
    done: list[list[tuple[int, str]]] = []
    while pool.remaining:
        if hard_negatives > 0 and rng.random() < hard_negatives:
            done.append(pool.neighbour_batch(batch_size))
            continue
        i, text = pool.take_next()
        captions = set(pairs.captions[i])
        target = next((b for b in open_batches if b.accepts(text, captions)), None)
        if target is None:
            target = _OpenBatch()
            open_batches.append(target)
        target.add(i, text, captions)
        if len(target.items) == batch_size:
            done.append(target.items)
            open_batches.remove(target)
    done += [b.items for b in open_batches if len(b.items) >= 2]  # a batch of one teaches nothing contrastive
    return [b for b in done if len(b) >= 2]


_STOP_WORDS = frozenset(["a", "an", "the", "of", "on", "at", "in", "to", "and", "with", "photo",
                         "un", "une", "le", "la", "les", "l", "d", "de", "du", "des", "au", "à", "en", "et"])


def caption_words(text: str) -> set[str]:
    """The content words of a caption, lower case, without punctuation and stop words."""
    words = "".join(ch if ch.isalnum() else " " for ch in text.lower()).split()
    return {w for w in words if w not in _STOP_WORDS}


class _Pool:
    """The epoch's (image, caption) choices not yet placed in a batch, in shuffled order."""

    def __init__(self, chosen: list[tuple[int, str]], captions: list[list[str]]) -> None:
        self.items = chosen
        self.captions = captions
        self.placed = [False] * len(chosen)
        self.cursor = 0
        self.remaining = len(chosen)
        self.by_word: dict[str, list[int]] = {}
        for n, (_, text) in enumerate(chosen):
            for word in caption_words(text):
                self.by_word.setdefault(word, []).append(n)

    def take_next(self) -> tuple[int, str]:
        return self._take(self._next_index())

    def _take(self, n: int) -> tuple[int, str]:
        self.placed[n] = True
        self.remaining -= 1
        return self.items[n]

    def neighbour_batch(self, batch_size: int) -> list[tuple[int, str]]:
        """A batch of a few groups, each the next item's caption and the captions sharing most words with it
        ("a small red star on the left" draws "a small red cross on the left", "a large red star on the left",
        ...): pairs that differ in one attribute, so only that attribute tells them apart."""
        batch = _OpenBatch()
        group = max(2, batch_size // 4)
        while len(batch.items) < batch_size and self.remaining:
            before = len(batch.items)
            self._fill(batch, (m for m in range(self.cursor, len(self.items)) if not self.placed[m]),
                       before + 1)
            if len(batch.items) == before:
                break  # nothing left fits this batch
            seed_words = caption_words(batch.items[-1][1])
            overlap: dict[int, int] = {}
            for word in seed_words:
                for m in self.by_word[word]:
                    if not self.placed[m]:
                        overlap[m] = overlap.get(m, 0) + 1
            nearest = sorted(overlap, key=lambda m: -overlap[m])  # stable: ties keep the shuffled order
            self._fill(batch, iter(nearest), min(batch_size, len(batch.items) + group - 1))
        return batch.items

    def _next_index(self) -> int:
        while self.placed[self.cursor]:
            self.cursor += 1
        return self.cursor

    def _fill(self, batch: _OpenBatch, candidates: Iterator[int], batch_size: int) -> None:
        for n in candidates:
            if len(batch.items) >= batch_size:
                return
            i, text = self.items[n]
            captions = set(self.captions[i])
            if batch.accepts(text, captions):
                self._take(n)
                batch.add(i, text, captions)


@dataclass
class _OpenBatch:
    items: list[tuple[int, str]] = field(default_factory=list)
    chosen: set[str] = field(default_factory=set)  # the captions the members are paired with
    carried: set[str] = field(default_factory=set)  # every caption of every member

    def accepts(self, text: str, captions: set[str]) -> bool:
        return text not in self.carried and self.chosen.isdisjoint(captions)

    def add(self, i: int, text: str, captions: set[str]) -> None:
        self.items.append((i, text))
        self.chosen.add(text)
        self.carried |= captions


def batches_of_images(pairs: Pairs, batches: list[list[tuple[int, str]]], transform: Transform,
                      workers: int = 0) -> Iterator[Batch]:
    """The batches as tensors. Images not in the memory cache are decoded a batch ahead on worker threads;
    the random augmentation runs here, on the calling thread, so the seed alone decides it."""
    def decode(items: list[tuple[int, str]]) -> list[Image.Image]:
        return [pairs.image(i) for i, _ in items]

    for items, images in ordered_map(decode, batches, workers=workers or default_workers(), in_flight=2):
        yield Batch(torch.stack([transform(image) for image in images]), [t for _, t in items])
