"""`multimodal duplicates`: groups of near-identical images, byte-identical files apart; optionally moves
all but one file of each group into a folder (with a manifest that `--undo` reads)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from multimodal.cli.common import add_index_options, print_json, settings_from
from multimodal.duplicate_moves import KEEP, apply_moves, default_manifest, file_details, plan_moves, undo_moves
from multimodal.duplicates import DEFAULT_NEIGHBOURS, DEFAULT_RELATIVE, DuplicateReport, find_duplicates
from multimodal.perceptual import MAX_CHROMA, MAX_DHASH, MAX_PHASH
from multimodal.search import Filters
from multimodal.store import Store


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "duplicates", help="find near-duplicate and identical images",
        description="Groups of images that show the same picture (resized, cropped, re-encoded, recoloured "
        "copies): candidates from one nearest-neighbour query per image, kept only when their perceptual "
        "fingerprints (hashes and colour, stored at ingest) agree too; pairs that are only similar are counted, "
        "not listed; byte-identical files are listed apart. Uses only stored vectors and "
        "hashes: no model is loaded and no image is decoded. Report-only unless --move-to is given; files "
        "are moved, never deleted.")
    p.add_argument("--threshold", type=float, metavar="T", help="cosine similarity that makes a neighbour a "
                   "candidate (default: relative to each image's neighbourhood, see --relative)")
    p.add_argument("--relative", type=float, default=DEFAULT_RELATIVE, metavar="R",
                   help="without --threshold, a neighbour is a candidate when its similarity >= ref + R * (1 - ref), "
                   "ref being the similarity of the image's K-th nearest other image (default "
                   f"{DEFAULT_RELATIVE}, chosen by measurement; higher = stricter)")
    p.add_argument("--neighbours", type=int, default=DEFAULT_NEIGHBOURS, metavar="K",
                   help=f"neighbours compared per image (default {DEFAULT_NEIGHBOURS}); raise it for bursts of "
                   "more near-identical shots than K")
    p.add_argument("--max-phash", type=int, default=MAX_PHASH, metavar="BITS",
                   help=f"pHash bits (of 64) two copies may differ by (default {MAX_PHASH}, chosen by measurement)")
    p.add_argument("--max-dhash", type=int, default=MAX_DHASH, metavar="BITS",
                   help=f"dHash bits (of 64) two copies may differ by (default {MAX_DHASH})")
    p.add_argument("--max-chroma", type=int, default=MAX_CHROMA, metavar="D",
                   help=f"largest colour difference (0-255) of any cell of two copies' 8x8 colour thumbnails, "
                   f"after removing a uniform shift (default {MAX_CHROMA})")
    p.add_argument("--folder", help="only images in this folder (and below)")
    p.add_argument("--exact", action="store_true", help="only byte-identical groups")
    p.add_argument("--json", action="store_true", help="print [[path, path, ...], ...]: the near groups, "
                   "or the byte-identical groups with --exact")
    act = p.add_argument_group("acting on duplicates (files are moved, never deleted)")
    act.add_argument("--move-to", metavar="DIR", help="move every file but one of each group into DIR, keeping "
                     "their paths relative to their common folder, and write a manifest there first")
    act.add_argument("--keep", choices=KEEP, default="largest", help="which file of a group stays: largest "
                     "(most pixels, then bytes), newest or oldest (capture date, else modification time); "
                     "default largest")
    act.add_argument("--manifest", metavar="FILE", help="where --move-to writes its manifest "
                     "(default DIR/manifest-DATE.json)")
    act.add_argument("--undo", metavar="MANIFEST", help="put back every file a --move-to run moved; "
                     "nothing else is done")
    add_index_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    if args.undo:
        return _undo(Path(args.undo), args.json)
    store = Store.open(settings_from(args))
    clauses = Filters(folder=args.folder).clauses()
    report = find_duplicates(store, args.threshold, relative=args.relative, neighbours=args.neighbours,
                             where=clauses[0] if clauses else None, max_phash=args.max_phash,
                             max_dhash=args.max_dhash, max_chroma=args.max_chroma)
    if args.move_to:
        return _move(store, report, args)
    if args.json:
        print_json([g.paths for g in (report.exact if args.exact else report.near)])
    else:
        _print(report, exact_only=args.exact)
    return 0


def _move(store: Store, report: DuplicateReport, args: argparse.Namespace) -> int:
    groups = report.exact if args.exact else report.near + report.exact
    moves = plan_moves(groups, file_details(store, groups), args.keep, args.move_to)
    manifest = Path(args.manifest).expanduser().absolute() if args.manifest else default_manifest(args.move_to)
    if moves:
        apply_moves(moves, manifest)
    if args.json:
        print_json({"manifest": str(manifest) if moves else None, "moved": [m.__dict__ for m in moves]})
        return 0
    for m in moves:
        print(f"{m.source} -> {m.target}")
    print(f"# moved {len(moves)} files (kept one of each group, --keep {args.keep})"
          + (f"; undo with: multimodal duplicates --undo {manifest}" if moves else ""))
    if moves:
        print("# the index still lists the old paths until you run `multimodal ingest` on their folders again")
    return 0


def _undo(manifest: Path, as_json: bool) -> int:
    done = undo_moves(manifest.expanduser().absolute())
    if as_json:
        print_json(done.__dict__)
        return 0
    print(f"# put back {len(done.restored)} files; {len(done.already)} were already in place"
          + (f"; {len(done.missing)} not found where they were moved: " + ", ".join(done.missing)
             if done.missing else ""))
    return 0 if not done.missing else 1


def _print(report: DuplicateReport, exact_only: bool) -> None:
    print(f"# {len(report.exact)} groups of identical files (same bytes)")
    for group in report.exact:
        print("\n".join(group.paths), end="\n\n")
    if exact_only:
        return
    how = (f"similarity >= {report.threshold:.3f}" if report.threshold is not None else
           f"relative {report.relative} to each neighbourhood: similarity >= {report.typical_threshold:.3f} typically")
    print(f"# {len(report.near)} groups of near duplicates ({how}, and perceptual hashes agree) "
          f"among {report.images} images")
    if report.rejected:
        print(f"# {report.rejected} pairs were close in the embedding but are different pictures (similar, "
              "not duplicates): not listed")
    if report.unhashed:
        print(f"# {report.unhashed} images have no perceptual hash yet (indexed by an older version) and are "
              "never near duplicates: run `multimodal ingest` on their folders again to add the hashes")
    for group in report.near:
        print(f"# weakest link {group.similarity:.3f}")
        print("\n".join(group.paths), end="\n\n")
