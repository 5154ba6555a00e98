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

from multimodal.colour_words import colourless
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
    """A training step's images and every caption they carry: `targets[i, t]` is true where image `i`
    carries caption `texts[t]` (a caption shared by two images in the batch is right for both)."""

    images: torch.Tensor
    texts: list[str]
    targets: torch.Tensor  # bool, images x texts


def batch_targets(captions: Sequence[Sequence[str]]) -> tuple[list[str], torch.Tensor]:
    """The distinct captions of a batch's images, in first-seen order, and which image carries which."""
    texts = list(dict.fromkeys(c for caps in captions for c in caps))
    column = {t: n for n, t in enumerate(texts)}
    targets = torch.zeros(len(captions), len(texts), dtype=torch.bool)
    for i, caps in enumerate(captions):
        targets[i, [column[c] for c in caps]] = True
    return texts, targets


def epoch_batches(pairs: Pairs, batch_size: int, seed: int, epoch: int,
                  hard_negatives: float = 0.0) -> list[list[int]]:
    """This epoch's batches of image indexes: a seeded shuffle, every image once.

    Each image trains with all its captions (`Batch`), and a caption two batch-mates share counts as right
    for both (multimodal.contrastive_loss), so any images may share a batch.

    `hard_negatives` is the share of batches built from groups of images whose captions share most of their
    words (`_Pool.neighbour_batch`): images that differ in one attribute can only be told apart by that
    attribute, so the model has to learn what a random batch lets it skip (there, colour alone separates
    most pairs). It needs no labels: any captioned folder has words.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(pairs)).tolist()
    pool = _Pool(order, [_image_words(captions) for captions in pairs.captions])
    done: list[list[int]] = []
    while pool.remaining:
        if hard_negatives > 0 and rng.random() < hard_negatives:
            done.append(pool.neighbour_batch(batch_size))
        else:
            done.append(pool.take_next(batch_size))
    return [b for b in done if len(b) >= 2]  # a batch of one teaches nothing contrastive


_STOP_WORDS = frozenset(["a", "an", "the", "of", "on", "at", "in", "to", "and", "with", "photo",
                         "un", "une", "le", "la", "les", "l", "d", "de", "du", "des", "au", "à", "en", "et"])


def caption_words(text: str) -> set[str]:
    """The content words of a caption, lower case, without punctuation and stop words."""
    words = "".join(ch if ch.isalnum() else " " for ch in text.lower()).split()
    return {w for w in words if w not in _STOP_WORDS}


def _image_words(captions: Sequence[str]) -> frozenset[str]:
    return frozenset(w for text in captions for w in caption_words(text))


class _Pool:
    """The epoch's images not yet placed in a batch, in shuffled order, with their captions' words."""

    def __init__(self, order: list[int], words: list[frozenset[str]]) -> None:
        self.order = order
        self.words = words
        self.placed = [False] * len(order)
        self.cursor = 0
        self.remaining = len(order)
        self.by_word: dict[str, list[int]] = {}
        for n, i in enumerate(order):
            for word in words[i]:
                self.by_word.setdefault(word, []).append(n)

    def take_next(self, count: int) -> list[int]:
        """The next `count` images in shuffled order."""
        taken: list[int] = []
        while len(taken) < count and self.remaining:
            taken.append(self._take(self._next_position()))
        return taken

    def neighbour_batch(self, batch_size: int) -> list[int]:
        """A batch of a few groups, each the next image and the images whose captions share most words with
        its captions (a small red star on the left draws a small red cross on the left, a large red star on
        the left, ...): images that differ in one attribute, so only that attribute tells them apart."""
        batch: list[int] = []
        group = max(2, batch_size // 4)
        while len(batch) < batch_size and self.remaining:
            seed = self._next_position()
            batch.append(self._take(seed))
            seed_words = self.words[self.order[seed]]
            overlap: dict[int, int] = {}
            for word in seed_words:
                for m in self.by_word[word]:
                    if not self.placed[m]:
                        overlap[m] = overlap.get(m, 0) + 1
            # Most shared words first, one image per distinct set of words: another drawing of a kind already
            # in the group (the same captions) is no harder a negative than a random image.
            nearest = sorted(overlap, key=lambda m: -overlap[m])  # stable: ties keep the shuffled order
            kinds = {seed_words}
            want = min(group, batch_size - len(batch) + 1)
            for m in nearest:
                if len(kinds) >= want:
                    break
                if (words := self.words[self.order[m]]) not in kinds:
                    kinds.add(words)
                    batch.append(self._take(m))
        return batch

    def _take(self, position: int) -> int:
        self.placed[position] = True
        self.remaining -= 1
        return self.order[position]

    def _next_position(self) -> int:
        while self.placed[self.cursor]:
            self.cursor += 1
        return self.cursor


def batches_of_images(pairs: Pairs, batches: list[list[int]], transform: Transform,
                      workers: int = 0, colourless_only: bool = False) -> Iterator[Batch]:
    """The batches as tensors, each image with all its captions (see `Batch`), or with only those that name
    no colour when `colourless_only` is set (an image with none sits that batch out). Images not in the memory
    cache are decoded a batch ahead on worker threads; the random augmentation runs here, on the calling
    thread, so the seed alone decides it."""
    def decode(items: list[int]) -> list[Image.Image]:
        return [pairs.image(i) for i in items]

    for items, images in ordered_map(decode, batches, workers=workers or default_workers(), in_flight=2):
        captions = [pairs.captions[i] for i in items]
        if colourless_only:
            kept = [(image, colourless(caps)) for image, caps in zip(images, captions, strict=True)]
            images, captions = [im for im, caps in kept if caps], [caps for _, caps in kept if caps]
            if len(images) < 2:
                continue
        texts, targets = batch_targets(captions)
        yield Batch(torch.stack([transform(image) for image in images]), texts, targets)

