"""Acting on duplicates: keep one file of each group, move (never delete) the others, and undo that.

`plan_moves` picks the file to keep in each group (`largest`: most pixels, then most bytes; `newest` /
`oldest`: by capture date, else modification time) and sends the others to a folder, under their path
relative to the common folder of every file in the groups, so the layout mirrors the library's and two
`IMG_0001.jpg` from different folders stay apart. `apply_moves` refuses if any target exists already,
writes the manifest (JSON) before the first move, then moves; `undo_moves` puts every file back (also
after a run that stopped half way), refusing if an original path is occupied again. Nothing is ever
overwritten or deleted. The index keeps the old paths until the folders are ingested again.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from multimodal.duplicates import DuplicateGroup
from multimodal.errors import ConfigError, NotFoundError
from multimodal.store import Store

KEEP = ("largest", "newest", "oldest")
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class FileDetails:
    """What the index knows of a file: what a person compares before choosing which copy to keep."""

    path: str
    size: int  # bytes
    width: int
    height: int
    date: float  # capture time (EXIF) if known, else modification time; Unix seconds
    mtime: float


@dataclass(frozen=True)
class Move:
    source: str  # where the file is now
    target: str  # where it goes
    kept: str  # the file kept in its group


@dataclass(frozen=True)
class UndoReport:
    restored: list[str]  # files put back
    already: list[str]  # files already at their original path (never moved, or undone before)
    missing: list[str]  # moved files no longer found in the folder


def file_details(store: Store, groups: Iterable[DuplicateGroup]) -> dict[str, FileDetails]:
    """The stored size, dimensions and dates of every file in `groups`, by path (no file is opened)."""
    ids = sorted({i for g in groups for i in g.ids})
    details = {}
    for r in store.get(ids):
        m = r.metadata
        mtime = float(m.get("mtime") or 0.0)
        details[str(m.get("path"))] = FileDetails(
            path=str(m.get("path")), size=int(m.get("size") or 0), width=int(m.get("width") or 0),
            height=int(m.get("height") or 0), date=float(m.get("date") or mtime), mtime=mtime)
    return details


def plan_moves(groups: Iterable[DuplicateGroup], details: dict[str, FileDetails], keep: str,
               dest: str | Path) -> list[Move]:
    """One move for every file but the kept one of each set of duplicates (near and exact groups that
    share a file are one set).

    Raises:
        ConfigError: an unknown `keep`.
    """
    if keep not in KEEP:
        raise ConfigError(f"--keep must be one of {', '.join(KEEP)}, got {keep!r}")
    sets = _merged([list(g.paths) for g in groups])
    chosen = [(_kept(paths, details, keep), paths) for paths in sets]
    moving = [p for kept, paths in chosen for p in paths if p != kept]
    if not moving:
        return []
    base = Path(os.path.commonpath([str(Path(p).parent) for paths in sets for p in paths]))
    dest = Path(dest).expanduser().absolute()
    return [Move(p, str(dest / Path(p).relative_to(base)), kept)
            for kept, paths in chosen for p in sorted(paths) if p != kept]


def apply_moves(moves: list[Move], manifest: Path) -> None:
    """Write `manifest`, then move each file to its target.

    Raises:
        ConfigError: a target exists already, a target lies inside a source's own path, or the manifest exists.
        NotFoundError: a file to move is gone.
    """
    taken = [m.target for m in moves if os.path.lexists(m.target)]
    if taken:
        raise ConfigError(f"{len(taken)} target files exist already (nothing was moved), e.g. {taken[0]}")
    gone = [m.source for m in moves if not os.path.lexists(m.source)]
    if gone:
        raise NotFoundError(f"{len(gone)} files to move no longer exist (nothing was moved), e.g. {gone[0]}; "
                            "run ingest and duplicates again")
    if manifest.exists():
        raise ConfigError(f"{manifest} exists already; choose another manifest path")
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({"version": MANIFEST_VERSION, "created": time.time(),
                                    "moves": [asdict(m) for m in moves]}, indent=1), encoding="utf-8")
    for m in moves:
        _move(Path(m.source), Path(m.target))


def undo_moves(manifest: Path) -> UndoReport:
    """Put back every file `manifest` moved.

    Raises:
        NotFoundError: no such manifest.
        ConfigError: not a manifest, or an original path is occupied by another file (nothing is moved then).
    """
    moves = read_manifest(manifest)
    occupied = [m.source for m in moves if os.path.lexists(m.source) and os.path.lexists(m.target)]
    if occupied:
        raise ConfigError(f"{len(occupied)} original paths are occupied again (nothing was moved back), "
                          f"e.g. {occupied[0]}; move those files away first")
    report = UndoReport([], [], [])
    for m in moves:
        if os.path.lexists(m.source):
            report.already.append(m.source)
        elif not os.path.lexists(m.target):
            report.missing.append(m.target)
        else:
            _move(Path(m.target), Path(m.source))
            report.restored.append(m.source)
    return report


def read_manifest(manifest: Path) -> list[Move]:
    if not manifest.is_file():
        raise NotFoundError(f"no manifest at {manifest}")
    try:
        data: Any = json.loads(manifest.read_text(encoding="utf-8"))
        return [Move(str(m["source"]), str(m["target"]), str(m["kept"])) for m in data["moves"]]
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{manifest} is not a duplicates manifest ({e})") from e


def default_manifest(dest: str | Path) -> Path:
    return Path(dest).expanduser().absolute() / f"manifest-{time.strftime('%Y%m%d-%H%M%S')}.json"


def _move(source: Path, target: Path) -> None:
    if os.path.lexists(target):  # checked again: something may have appeared meanwhile
        raise ConfigError(f"{target} exists already; {source} was not moved")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(source), str(target))


def _kept(paths: list[str], details: dict[str, FileDetails], keep: str) -> str:
    def info(p: str) -> FileDetails:
        return details.get(p) or FileDetails(p, 0, 0, 0, 0.0, 0.0)

    if keep == "largest":
        return max(sorted(paths), key=lambda p: (info(p).width * info(p).height, info(p).size))
    order = sorted(sorted(paths), key=lambda p: (info(p).date, info(p).mtime))
    return order[-1] if keep == "newest" else order[0]


def _merged(groups: list[list[str]]) -> list[list[str]]:
    """Groups that share a file, merged (a near group and the exact group inside it are one set)."""
    owner: dict[str, int] = {}
    sets: list[set[str]] = []
    for paths in groups:
        hits = sorted({owner[p] for p in paths if p in owner})
        merged = set(paths).union(*(sets[i] for i in hits))
        for i in hits:
            sets[i] = set()
        sets.append(merged)
        for p in merged:
            owner[p] = len(sets) - 1
    return [sorted(s) for s in sets if len(s) > 1]
