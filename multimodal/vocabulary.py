"""The words a model trained here has seen: `vocabulary.json` in its folder, and which words of a query it never saw.

A model trained from scratch on a closed set of captions (the demo's coloured shapes) knows nothing
outside them: "a bowl of soup" still lands near some shape with a confident-looking score. Training
records the content words of its captions; a query with a content word outside that set is a query the
model cannot answer. A model that starts from pretrained weights has an open vocabulary and gets no
file (its fine-tuning captions do not bound what it knows); neither do models without a folder.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from multimodal.model_folder import atomic_write
from multimodal.model_spec import ModelSpec

VOCABULARY_FILE = "vocabulary.json"
_WORD = re.compile(r"[^\W_]+", re.UNICODE)  # letters and digits of any script; apostrophes and hyphens split
# Function words of English and French: they carry no content, so a query is not judged by them.
_STOP_TEXT = """
a an the of on at in to into onto by with and or but for from as is are be it its this that these those
there here some any very than then
le la les l un une des du de d au aux et ou en sur dans avec pour par à est sont ce cet cette ces qui que y
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())


@dataclass(frozen=True)
class Vocabulary:
    """The content words of a model's training captions (lower case, NFC)."""

    words: frozenset[str]

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Vocabulary:
        return cls(frozenset(w for text in texts for w in content_words(text)))

    def unknown(self, text: str) -> list[str]:
        """The content words of `text` this vocabulary never saw (in order, once each)."""
        return list(dict.fromkeys(w for w in content_words(text) if not self.knows(w)))

    def knows(self, word: str) -> bool:
        """A word, or its singular/plural by a trailing "s" ("circles", "étoiles"), was seen."""
        return word in self.words or word.removesuffix("s") in self.words or word + "s" in self.words

    def union(self, other: Vocabulary) -> Vocabulary:
        return Vocabulary(self.words | other.words)


def content_words(text: str) -> list[str]:
    """Lower-cased words of `text` without stop words; accents kept ("étoile", "à" is a stop word)."""
    words = _WORD.findall(unicodedata.normalize("NFC", text).casefold())
    return [w for w in words if w not in STOP_WORDS]


def load(folder: Path) -> Vocabulary | None:
    """The vocabulary recorded in a model folder, or None (an open-vocabulary model)."""
    path = Path(folder) / VOCABULARY_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Vocabulary(frozenset(str(w) for w in data["words"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # an unreadable file must not break search; the collection-relative signal still applies


def for_spec(spec: ModelSpec | None) -> Vocabulary | None:
    """The vocabulary of the model behind `spec`: only `local-dir:` folders carry one."""
    folder = spec.folder if spec is not None else None
    return load(folder) if folder is not None else None


def save(folder: Path, vocabulary: Vocabulary) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    data = {"about": "content words of the captions this model was trained on (multimodal.vocabulary)",
            "words": sorted(vocabulary.words)}
    atomic_write(folder / VOCABULARY_FILE,
                 lambda tmp: tmp.write_text(json.dumps(data, ensure_ascii=False, indent=0), encoding="utf-8"))


def record_training(out: Path, start: ModelSpec, captions: Iterable[Iterable[str]]) -> Vocabulary | None:
    """After training into `out` from `start`: write the vocabulary if the model's knowledge is closed.

    From random weights: the captions' words. Fine-tuned from a folder with a vocabulary: both together.
    From pretrained weights (a tag, a checkpoint, hf-hub, a folder without one): open, so no file (a stale
    one from an earlier run in `out` is removed)."""
    new = Vocabulary.from_texts(c for caps in captions for c in caps)
    if start.is_random:
        vocabulary: Vocabulary | None = new
    else:
        base = for_spec(start)
        vocabulary = base.union(new) if base is not None else None
    if vocabulary is None:
        (Path(out) / VOCABULARY_FILE).unlink(missing_ok=True)
        return None
    save(Path(out), vocabulary)
    return vocabulary
