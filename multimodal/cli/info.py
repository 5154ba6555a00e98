"""`multimodal info`: what is in the index, which model made it, where it lives."""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from multimodal.cli.common import add_index_options, print_json, settings_from

if TYPE_CHECKING:  # the library loads in run(): `info --help` imports none of it
    from multimodal.config import Settings
    from multimodal.store import IndexInfo


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("info", help="show what the index holds and which model built it")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    add_index_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    info, precisions = _read(settings_from(args))
    if args.json:
        data = asdict(info)
        data["model"] = asdict(info.model) if info.model else None
        data["precisions"] = precisions
        print_json(data)
        return 0
    when = dt.datetime.fromtimestamp(info.last_ingest).isoformat(timespec="seconds") if info.last_ingest else "never"
    print(f"index:       {info.location} (collection {info.collection})")
    print(f"images:      {info.images}")
    print(f"captions:    {info.captions}")
    print(f"model:       {info.model.label() if info.model else '(none yet: run `multimodal ingest FOLDER`)'}")
    if info.note:
        print(f"             {info.note}")
    print(f"dimensions:  {info.dim or '-'}")
    print(f"precision:   {', '.join(f'{k} ({v} images)' for k, v in precisions.items()) or '-'}")
    print(f"last ingest: {when}")
    return 0


def _read(settings: Settings) -> tuple[IndexInfo, dict[str, int]]:
    """From the embedded index's SQLite file when it can (no chromadb import: most of `info`'s time), else Chroma."""
    from multimodal.index_summary import read_summary

    summary = read_summary(settings)
    if summary is not None:
        return summary.info, summary.precisions
    from multimodal.store import Store

    store = Store.open(settings)
    return store.info(), store.precisions()  # which precision made the vectors (see --precision)
