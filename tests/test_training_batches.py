"""Batches of captions that differ in one word: the hard negatives that make a model learn every attribute."""

from __future__ import annotations

import itertools
from pathlib import Path

from multimodal.training_data import Pairs, caption_words, epoch_batches

COLOURS = ("red", "blue", "green", "yellow", "orange", "purple")
SHAPES = ("circle", "star", "cross", "square", "triangle")
SIZES = ("small", "large")
PLACES = ("left", "right", "top", "bottom", "center")


def _pairs() -> Pairs:
    combos = list(itertools.product(SIZES, COLOURS, SHAPES, PLACES))  # 300 kinds, one image each
    captions = [[f"a {z} {c} {s} on the {p}"] for z, c, s, p in combos]
    return Pairs([Path(f"{i}.jpg") for i in range(len(combos))], captions, side=8)


def _near_misses(batch: list[tuple[int, str]]) -> float:
    """Share of a batch's captions with a batch-mate that differs from it in exactly one word."""
    words = [caption_words(text) for _, text in batch]
    return sum(any(len(a - b) == 1 for b in words if b is not a) for a in words) / len(batch)


def test_hard_negative_batches_pair_captions_that_differ_in_one_word() -> None:
    pairs = _pairs()
    hard = epoch_batches(pairs, batch_size=16, seed=0, epoch=1, hard_negatives=1.0)
    plain = epoch_batches(pairs, batch_size=16, seed=0, epoch=1)
    hard_share = sum(map(_near_misses, hard)) / len(hard)
    plain_share = sum(map(_near_misses, plain)) / len(plain)
    assert hard_share >= 0.8 and hard_share >= plain_share + 0.3, (hard_share, plain_share)


def test_hard_negative_batches_keep_every_rule_of_plain_batches() -> None:
    pairs = _pairs()
    batches = epoch_batches(pairs, batch_size=8, seed=3, epoch=2, hard_negatives=0.5)
    seen = [i for batch in batches for i, _ in batch]
    assert len(seen) == len(set(seen)) and len(seen) >= 290  # each image at most once, few left over
    for batch in batches:
        texts = [text for _, text in batch]
        assert len(texts) == len(set(texts))  # never two images paired with one caption
        assert all(text in pairs.captions[i] for i, text in batch)
    assert batches == epoch_batches(pairs, batch_size=8, seed=3, epoch=2, hard_negatives=0.5)


def test_caption_words_drop_stop_words_in_english_and_french() -> None:
    assert caption_words("a small red circle on the left") == {"small", "red", "circle", "left"}
    assert caption_words("une photo d'une petite étoile bleue à gauche") == {"petite", "étoile", "bleue", "gauche"}
