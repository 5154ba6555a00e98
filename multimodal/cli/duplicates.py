"""`multimodal duplicates`: groups of near-identical images, and byte-identical files apart."""

from __future__ import annotations

import argparse
from typing import Any

from multimodal.cli.common import add_index_options, print_json, settings_from
from multimodal.duplicates import DEFAULT_NEIGHBOURS, DEFAULT_RELATIVE, DuplicateReport, find_duplicates
from multimodal.search import Filters
from multimodal.store import Store


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "duplicates", help="find near-duplicate and identical images",
        description="Groups of images that show the same picture (resized, cropped, re-encoded, recoloured "
        "copies), found with one nearest-neighbour query per image; byte-identical files are listed apart. "
        "Uses only stored vectors: no model is loaded.")
    p.add_argument("--threshold", type=float, metavar="T", help="cosine similarity that counts as a duplicate "
                   "(default: relative to the collection, see --relative)")
    p.add_argument("--relative", type=float, default=DEFAULT_RELATIVE, metavar="R",
                   help="without --threshold: T = baseline + R * (1 - baseline), where baseline is the mean "
                   f"similarity of two random images here (default {DEFAULT_RELATIVE}, chosen by measurement)")
    p.add_argument("--neighbours", type=int, default=DEFAULT_NEIGHBOURS, metavar="K",
                   help=f"neighbours compared per image (default {DEFAULT_NEIGHBOURS})")
    p.add_argument("--folder", help="only images in this folder (and below)")
    p.add_argument("--exact", action="store_true", help="only byte-identical groups")
    p.add_argument("--json", action="store_true", help="print [[path, path, ...], ...]: the near groups, "
                   "or the byte-identical groups with --exact")
    add_index_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    store = Store.open(settings_from(args))
    clauses = Filters(folder=args.folder).clauses()
    report = find_duplicates(store, args.threshold, relative=args.relative, neighbours=args.neighbours,
                             where=clauses[0] if clauses else None)
    if args.json:
        print_json([g.paths for g in (report.exact if args.exact else report.near)])
    else:
        _print(report, exact_only=args.exact)
    return 0


def _print(report: DuplicateReport, exact_only: bool) -> None:
    print(f"# {len(report.exact)} groups of identical files (same bytes)")
    for group in report.exact:
        print("\n".join(group.paths), end="\n\n")
    if exact_only:
        return
    how = f", baseline {report.baseline:.3f}" if report.baseline is not None else ""
    print(f"# {len(report.near)} groups of near duplicates (similarity >= {report.threshold:.3f}{how}) "
          f"among {report.images} images")
    for group in report.near:
        print(f"# weakest link {group.similarity:.3f}")
        print("\n".join(group.paths), end="\n\n")
