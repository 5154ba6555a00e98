"""Captions for images: sidecar `.txt` files, or `captions.csv` / `captions.jsonl` at a folder's root.

Sidecar: `cat.jpg` + `cat.txt` (one caption per non-empty line). Table files map a path relative to
the folder holding them to a caption, one row per caption: CSV with a header naming `file` (or
`image`/`path`) and `caption` (or `text`) columns; JSONL with the same keys. An image may have several.
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections import defaultdict
from pathlib import Path

from multimodal.errors import ConfigError

CAPTION_TABLES = ("captions.csv", "captions.jsonl")
_FILE_KEYS = ("file", "image", "path", "filename")
_TEXT_KEYS = ("caption", "text")


class Captions:
    """Looks up the captions of images under one root folder."""

    def __init__(self, root: Path, table: dict[Path, list[str]]) -> None:
        self.root = root
        self._table = table

    @classmethod
    def load(cls, root: Path) -> Captions:
        """Read the root's caption tables (if any). Sidecars are read lazily, per image."""
        root = Path(root)
        table: dict[Path, list[str]] = defaultdict(list)
        folder = root if root.is_dir() else root.parent
        for name in CAPTION_TABLES:
            path = folder / name
            if path.is_file():
                for file, caption in _read_table(path):
                    table[(folder / file).resolve()].append(caption)
        return cls(folder, dict(table))

    def for_image(self, image: Path) -> list[str]:
        """All captions of `image`: table rows first, then its sidecar's lines; duplicates dropped."""
        found = list(self._table.get(Path(image).resolve(), []))
        sidecar = Path(image).with_suffix(".txt")
        if sidecar.is_file():
            with contextlib.suppress(OSError):  # unreadable sidecar: the image still counts
                found += [line.strip() for line in sidecar.read_text(encoding="utf-8", errors="replace").splitlines()]
        return list(dict.fromkeys(c for c in found if c))


def _read_table(path: Path) -> list[tuple[str, str]]:
    try:
        if path.suffix == ".jsonl":
            return _read_jsonl(path)
        return _read_csv(path)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ConfigError(f"cannot read captions from {path}: {e}") from e


def _read_csv(path: Path) -> list[tuple[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        fields = [h.strip().lower() for h in reader.fieldnames or []]
        file_key = next((k for k in _FILE_KEYS if k in fields), None)
        text_key = next((k for k in _TEXT_KEYS if k in fields), None)
        if file_key is None or text_key is None:
            raise ConfigError(f"{path} needs a header with a 'file' and a 'caption' column, got {fields}")
        rows = []
        for row in reader:
            row = {(k or "").strip().lower(): (v or "") for k, v in row.items()}
            if row.get(file_key) and row.get(text_key):
                rows.append((row[file_key].strip(), row[text_key].strip()))
        return rows


def _read_jsonl(path: Path) -> list[tuple[str, str]]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}:{n} is not valid JSON: {e.msg}") from e
        file = next((obj[k] for k in _FILE_KEYS if k in obj), None)
        text = next((obj[k] for k in _TEXT_KEYS if k in obj), None)
        if isinstance(file, str) and isinstance(text, str) and text.strip():
            rows.append((file.strip(), text.strip()))
    return rows
