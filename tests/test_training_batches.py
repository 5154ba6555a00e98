"""Batches of captions that differ in one word: the hard negatives that make a model learn every attribute."""

from __future__ import annotations

import itertools
from pathlib import Path

import torch

from multimodal.training_data import Pairs, caption_words, epoch_batches

COLOURS = ("red", "blue", "green", "yellow", "orange", "purple")
SHAPES = ("circle", "star", "cross", "square", "triangle")
SIZES = ("small", "large")
PLACES = ("left", "right", "top", "bottom", "center")


def _pairs() -> Pairs:
    combos = list(itertools.product(SIZES, COLOURS, SHAPES, PLACES))  # 300 kinds, one image each
    captions = [[f"a {z} {c} {s} on the {p}"] for z, c, s, p in combos]
    return Pairs([Path(f"{i}.jpg") for i in range(len(combos))], captions, side=8)


def _near_misses(batch: list[int], pairs: Pairs) -> float:
    """Share of a batch's images with a batch-mate whose caption differs from theirs in exactly one word."""
    words = [caption_words(pairs.captions[i][0]) for i in batch]
    return sum(any(len(a - b) == 1 for b in words if b is not a) for a in words) / len(batch)


def test_hard_negative_batches_gather_images_whose_captions_differ_in_one_word() -> None:
    pairs = _pairs()
    hard = epoch_batches(pairs, batch_size=16, seed=0, epoch=1, hard_negatives=1.0)
    plain = epoch_batches(pairs, batch_size=16, seed=0, epoch=1)
    hard_share = sum(_near_misses(b, pairs) for b in hard) / len(hard)
    plain_share = sum(_near_misses(b, pairs) for b in plain) / len(plain)
    assert hard_share >= 0.8 and hard_share >= plain_share + 0.3, (hard_share, plain_share)


def test_hard_negative_batches_hold_one_drawing_of_each_kind_per_group() -> None:
    combos = list(itertools.product(COLOURS, SHAPES))  # 30 kinds, four drawings each
    pairs = Pairs([Path(f"{i}.jpg") for i in range(120)], [[f"a {c} {s}"] for c, s in combos * 4], side=8)
    for batch in epoch_batches(pairs, batch_size=8, seed=2, epoch=0, hard_negatives=1.0):
        kinds = [pairs.captions[i][0] for i in batch[:2]]  # a group's seed and its nearest neighbour
        assert len(batch) < 2 or kinds[0] != kinds[1]


def test_hard_negative_batches_keep_every_image_once_and_the_seed_decides() -> None:
    pairs = _pairs()
    batches = epoch_batches(pairs, batch_size=8, seed=3, epoch=2, hard_negatives=0.5)
    seen = [i for batch in batches for i in batch]
    assert len(seen) == len(set(seen)) and len(seen) >= 298  # each image at most once, few left over
    assert batches == epoch_batches(pairs, batch_size=8, seed=3, epoch=2, hard_negatives=0.5)


def test_caption_words_drop_stop_words_in_english_and_french() -> None:
    assert caption_words("a small red circle on the left") == {"small", "red", "circle", "left"}
    assert caption_words("une photo d'une petite étoile bleue à gauche") == {"petite", "étoile", "bleue", "gauche"}


def test_colourless_batches_keep_only_captions_that_name_no_colour(tmp_path: Path) -> None:
    from PIL import Image

    from multimodal.training_data import batches_of_images

    paths = []
    for i in range(4):
        paths.append(tmp_path / f"{i}.png")
        Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(paths[-1])
    captions = [["a red star", "a star"], ["a blue circle", "a circle on the left"], ["a green cross"],
                ["une étoile bleue", "une étoile"]]
    pairs = Pairs(paths, captions, side=8)

    def to_tensor(image: Image.Image) -> torch.Tensor:
        return torch.zeros(3, 8, 8)

    [plain] = list(batches_of_images(pairs, [[0, 1, 2, 3]], to_tensor, workers=1))
    [colourless] = list(batches_of_images(pairs, [[0, 1, 2, 3]], to_tensor, workers=1, colourless_only=True))
    assert len(plain.texts) == 7 and plain.images.shape[0] == 4
    assert colourless.texts == ["a star", "a circle on the left", "une étoile"]
    assert colourless.images.shape[0] == 3  # the green cross has no colourless caption: it sits the batch out
    assert colourless.targets.tolist() == [[True, False, False], [False, True, False], [False, False, True]]
