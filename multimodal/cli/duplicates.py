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
                   "(default: relative to each image's neighbourhood, see --relative)")
    p.add_argument("--relative", type=float, default=DEFAULT_RELATIVE, metavar="R",
                   help="without --threshold, a neighbour is a copy when its similarity >= ref + R * (1 - ref), ref "
                   "being the similarity of the image's K-th nearest other image (default "
                   f"{DEFAULT_RELATIVE}, chosen by measurement; higher = stricter)")
    p.add_argument("--neighbours", type=int, default=DEFAULT_NEIGHBOURS, metavar="K",
                   help=f"neighbours compared per image (default {DEFAULT_NEIGHBOURS}); raise it for bursts of "
                   "more near-identical shots than K")
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
    how = (f"similarity >= {report.threshold:.3f}" if report.threshold is not None else
           f"relative {report.relative} to each neighbourhood: similarity >= {report.typical_threshold:.3f} typically")
    print(f"# {len(report.near)} groups of near duplicates ({how}) among {report.images} images")
    for group in report.near:
        print(f"# weakest link {group.similarity:.3f}")
        print("\n".join(group.paths), end="\n\n")
