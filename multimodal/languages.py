"""One space for several languages, measured: Recall@K per caption language and a translation check.

A folder's `captions.jsonl` may tag each row with its language (`"lang": "fr"`); the demo's sets do. Then
`multimodal eval` scores text → image and image → text retrieval once per language (each language's
captions as the only texts), and checks that the languages share one space: for each caption in the first
language, its nearest caption in another language should be its translation, i.e. the first caption in
that language of the same image.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from multimodal.retrieval_metrics import KS, RetrievalScores, retrieval_scores

TextEncoder = Callable[[Sequence[str]], np.ndarray]  # texts -> unit vectors, one row each


@dataclass(frozen=True)
class TranslationScores:
    source: str  # language of the queries
    target: str  # language searched
    accuracy: float  # share of source captions whose nearest target caption is their translation
    pairs: int

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.source, "to": self.target, "accuracy": round(self.accuracy, 4), "n": self.pairs}


@dataclass(frozen=True)
class LanguageScores:
    per_language: dict[str, RetrievalScores]
    translation: list[TranslationScores]

    def to_dict(self) -> dict[str, Any]:
        return {"per_language": {lang: s.to_dict() for lang, s in self.per_language.items()},
                "translation": [t.to_dict() for t in self.translation]}


def caption_languages(root: str | Path) -> dict[tuple[Path, str], str]:
    """(absolute image path, caption) -> language, from `captions.jsonl` rows that carry a `lang` key."""
    root = Path(root).expanduser().absolute()
    table = root / "captions.jsonl"
    if not table.is_file():
        return {}
    found: dict[tuple[Path, str], str] = {}
    for line in table.read_text(encoding="utf-8").splitlines():
        row = json.loads(line) if line.strip() else {}
        if isinstance(row, dict) and {"file", "caption", "lang"} <= set(row):
            found[(root / row["file"], row["caption"])] = str(row["lang"])
    return found


def language_scores(root: str | Path, paths: Sequence[Path], captions: Sequence[Sequence[str]],
                    image_vectors: np.ndarray, encode_texts: TextEncoder, ks: Sequence[int] = KS,
                    ) -> LanguageScores | None:
    """Per-language retrieval and the translation check; None unless captions are in two or more languages."""
    lang_of = caption_languages(root)
    by_language: dict[str, list[list[str]]] = {}
    for path, caps in zip(paths, captions, strict=True):
        for cap in caps:
            lang = lang_of.get((Path(path).absolute(), cap))
            if lang is not None:
                by_language.setdefault(lang, [[] for _ in paths])
    if len(by_language) < 2:
        return None
    for i, (path, caps) in enumerate(zip(paths, captions, strict=True)):
        for cap in caps:
            lang = lang_of.get((Path(path).absolute(), cap))
            if lang is not None:
                by_language[lang][i].append(cap)
    vectors = _text_vectors(encode_texts, by_language)
    per_language = {}
    for lang, lang_caps in by_language.items():
        texts = list(dict.fromkeys(c for cs in lang_caps for c in cs))
        keep = [i for i, cs in enumerate(lang_caps) if cs]
        per_language[lang] = retrieval_scores(image_vectors[keep], [lang_caps[i] for i in keep],
                                              np.stack([vectors[t] for t in texts]), texts, ks)
    languages = sorted(by_language, key=lambda lang: (lang != "en", lang))
    translation = [_translation(by_language[languages[0]], by_language[other], vectors, languages[0], other)
                   for other in languages[1:]]
    return LanguageScores(per_language, translation)


def _text_vectors(encode_texts: TextEncoder, by_language: dict[str, list[list[str]]]) -> dict[str, np.ndarray]:
    texts = list(dict.fromkeys(c for caps in by_language.values() for cs in caps for c in cs))
    return dict(zip(texts, encode_texts(texts), strict=True))


def _translation(source: list[list[str]], target: list[list[str]], vectors: dict[str, np.ndarray],
                 source_lang: str, target_lang: str) -> TranslationScores:
    """Each image's first caption in `source` should find, among all first captions in `target`, the one of
    an image it also describes."""
    right_answers: dict[str, set[str]] = {}
    for src, tgt in zip(source, target, strict=True):
        if src and tgt:
            right_answers.setdefault(src[0], set()).add(tgt[0])
    candidates = sorted({t for answers in right_answers.values() for t in answers})
    if not right_answers:
        return TranslationScores(source_lang, target_lang, 0.0, 0)
    matrix = np.stack([vectors[t] for t in candidates])
    hits = [candidates[int(np.argmax(matrix @ vectors[q]))] in answers for q, answers in right_answers.items()]
    return TranslationScores(source_lang, target_lang, float(np.mean(hits)), len(hits))


__all__ = ["LanguageScores", "TranslationScores", "caption_languages", "language_scores"]
