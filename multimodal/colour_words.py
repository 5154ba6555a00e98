"""Which captions name a colour: the words of the basic colour terms in English and French.

A model from scratch learns colour first and then reads shapes through it. Training first on the captions
that name no colour ("a star on the left", "a small shape"; `multimodal train --colourless-epochs`) makes it
learn shapes before colour (what it does and does not fix: docs/training.md).
"""

from __future__ import annotations

# Basic colour terms (Berlin & Kay's eleven and common variants), English and French, every gender and number.
_WORDS = """
red orange yellow green blue purple violet pink brown black white grey gray beige turquoise cyan magenta
gold golden silver navy teal maroon crimson amber lemon emerald azure
rouge rouges jaune jaunes vert verte verts vertes bleu bleue bleus bleues violet violette violets violettes
rose roses marron noir noire noirs noires blanc blanche blancs blanches gris grise grises doré dorée argenté
"""
COLOUR_WORDS = frozenset(_WORDS.split())


def names_a_colour(caption: str) -> bool:
    words = "".join(ch if ch.isalpha() else " " for ch in caption.lower()).split()
    return any(w in COLOUR_WORDS for w in words)


def colourless(captions: list[str]) -> list[str]:
    """The captions that name no colour, in their order."""
    return [c for c in captions if not names_a_colour(c)]


__all__ = ["COLOUR_WORDS", "colourless", "names_a_colour"]
