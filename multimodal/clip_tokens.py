"""CLIP's byte-pair tokenizer without torch: token ids as a NumPy array, for the ONNX text tower.

A port of open_clip's `SimpleTokenizer` (MIT licence; clean="lower", no reduction mask), reading open_clip's
own vocabulary file. tests/test_text_tower.py checks that both give the same ids. ftfy (whose import costs
up to a second) runs only on text that is not plain printable ASCII or holds an `&`: it changes no other text.
"""

from __future__ import annotations

import gzip
import html
import importlib.util
import itertools
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

CONTEXT_LENGTH = 77
_MERGES = 49152 - 256 - 2  # merges open_clip reads from the vocabulary file


def vocabulary_file() -> Path:
    """open_clip's BPE vocabulary, found without importing open_clip (whose import loads torch)."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("open_clip is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "bpe_simple_vocab_16e6.txt.gz"


@lru_cache(maxsize=1)
def _bytes_to_unicode() -> dict[int, str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs], strict=True))


def _clean(text: str) -> str:
    if not (text.isascii() and text.isprintable()) or "&" in text:  # ftfy also unescapes HTML entities
        import ftfy

        text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text)).strip()
    return " ".join(text.split()).strip().lower()


class ClipTokenizer:
    """Texts -> int64 ids of shape (n, context_length): start token, BPE tokens, end token, zero padding."""

    def __init__(self, vocabulary: Path | None = None, context_length: int = CONTEXT_LENGTH) -> None:
        import regex

        with gzip.open(vocabulary or vocabulary_file()) as f:
            merges = f.read().decode("utf-8").split("\n")[1:_MERGES + 1]
        pairs = [tuple(m.split()) for m in merges]
        vocab = list(_bytes_to_unicode().values())
        vocab += [v + "</w>" for v in vocab] + ["".join(p) for p in pairs] + ["<start_of_text>", "<end_of_text>"]
        self.encoder = {token: i for i, token in enumerate(vocab)}
        self.ranks = {pair: i for i, pair in enumerate(pairs)}
        self.sot, self.eot = self.encoder["<start_of_text>"], self.encoder["<end_of_text>"]
        self.context_length = context_length
        self._cache: dict[str, str] = {"<start_of_text>": "<start_of_text>", "<end_of_text>": "<end_of_text>"}
        self._pattern = regex.compile(
            r"""<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
            regex.IGNORECASE)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        result = np.zeros((len(texts), self.context_length), dtype=np.int64)
        for i, text in enumerate(texts):
            tokens = [self.sot, *self.encode(text), self.eot]
            if len(tokens) > self.context_length:
                tokens = tokens[:self.context_length]
                tokens[-1] = self.eot
            result[i, :len(tokens)] = tokens
        return result

    def encode(self, text: str) -> list[int]:
        byte_map = _bytes_to_unicode()
        ids: list[int] = []
        for token in self._pattern.findall(_clean(text)):
            token = "".join(byte_map[b] for b in token.encode("utf-8"))
            ids.extend(self.encoder[piece] for piece in self._bpe(token).split(" "))
        return ids

    def _bpe(self, token: str) -> str:
        if token in self._cache:
            return self._cache[token]
        word: tuple[str, ...] = (*token[:-1], token[-1] + "</w>")
        while len(word) > 1:
            pairs = set(itertools.pairwise(word))
            best = min(pairs, key=lambda pair: self.ranks.get(pair, float("inf")))
            if best not in self.ranks:
                break
            word = _merge(word, best)
        self._cache[token] = " ".join(word)
        return self._cache[token]


def _merge(word: tuple[str, ...], pair: tuple[str, str]) -> tuple[str, ...]:
    first, second = pair
    out: list[str] = []
    i = 0
    while i < len(word):
        if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
            out.append(first + second)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)
