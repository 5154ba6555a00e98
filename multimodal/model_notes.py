"""What a model's results are worth, said wherever the model is named: random weights, the demo's toy model.

`--pretrained none` fills an index with vectors from seeded random weights: right for tests and
benchmarks, meaningless for search, and nothing in a model label such as `ViT-B-32 (none)` says so.
A model folder may carry `model_note.json` ({"note": "..."}) to describe itself (the demo writes one
for its toy model). The note is recorded in the index at its first ingest (`mm_note`), next to the model.
"""

from __future__ import annotations

import json
from pathlib import Path

from multimodal.model_folder import atomic_write
from multimodal.model_spec import ModelSpec

NOTE_FILE = "model_note.json"
RANDOM_NOTE = "random weights — for tests and benchmarks; results carry no meaning"
TOY_NOTE = ("toy model trained on coloured shapes — it reads their colour, shape, size and position in English and "
            "French, and knows nothing else")


def is_random(spec: ModelSpec | None) -> bool:
    return spec is not None and spec.is_random


def note_for(spec: ModelSpec | None) -> str | None:
    """The note for a model: random weights, or what its folder says about itself; None for a plain model."""
    if spec is None:
        return None
    if is_random(spec):
        return RANDOM_NOTE
    return read_note(spec.folder) if spec.folder is not None else None


def read_note(folder: Path) -> str | None:
    try:
        note = json.loads((Path(folder) / NOTE_FILE).read_text(encoding="utf-8")).get("note")
    except (OSError, ValueError, AttributeError):
        return None
    return str(note) if note else None


def write_note(folder: Path, note: str) -> None:
    """Describe the model in `folder` (idempotent: an unchanged note is not rewritten)."""
    if read_note(folder) == note:
        return
    atomic_write(Path(folder) / NOTE_FILE,
                 lambda tmp: tmp.write_text(json.dumps({"note": note}, ensure_ascii=False), encoding="utf-8"))
