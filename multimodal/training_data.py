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


def epoch_batches(pairs: Pairs, batch_size: int, seed: int, epoch: int) -> list[list[tuple[int, str]]]:
    """This epoch's batches of (image index, caption): a seeded shuffle and one random caption per image.

    ClipLoss takes every other image in a batch as a wrong match for a caption, so no batch holds an
    image that also carries another member's chosen caption: "a red circle" never shares a batch with
    a second red circle captioned so, and the loss never pushes a right answer away.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(pairs))
    choice = [int(rng.integers(len(pairs.captions[i]))) for i in order]
    open_batches: list[_OpenBatch] = []
    done: list[list[tuple[int, str]]] = []
    for i, c in zip(order.tolist(), choice, strict=True):
        text, captions = pairs.captions[i][c], set(pairs.captions[i])
        target = next((b for b in open_batches if b.accepts(text, captions)), None)
        if target is None:
            target = _OpenBatch()
            open_batches.append(target)
        target.add(i, text, captions)
        if len(target.items) == batch_size:
            done.append(target.items)
            open_batches.remove(target)
    done += [b.items for b in open_batches if len(b.items) >= 2]  # a batch of one teaches nothing contrastive
    return done


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
