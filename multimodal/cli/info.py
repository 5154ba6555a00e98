"""`multimodal info`: what is in the index, which model made it, where it lives."""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import asdict
from typing import Any

from multimodal.cli.common import add_index_options, print_json, settings_from


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("info", help="show what the index holds and which model built it")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    add_index_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    from multimodal.store import Store  # loads in run(): `info --help` imports none of the library

    store = Store.open(settings_from(args))
    info = store.info()
    precisions = store.precisions()  # which precision made the vectors (see --precision)
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
