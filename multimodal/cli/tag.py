"""`multimodal tag`: zero-shot labels stored as metadata (`search --tag LABEL` filters on them)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from multimodal.batch_encode import DEFAULT_TEMPLATES
from multimodal.cli.common import add_index_options, add_model_options, print_json, settings_from
from multimodal.index import Index
from multimodal.search import Filters
from multimodal.tagging import parse_labels, tag_images


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "tag", help="label indexed images zero-shot from a list of words",
        description="Each image gets the labels whose prompts are nearest to it, with softmax scores, stored as "
        "metadata (tags, tag_scores) on the image and its captions. Uses stored vectors: no image is re-read. "
        "Rerun after ingesting new images. Accuracy on labelled folders: `multimodal eval`.")
    p.add_argument("--labels", metavar="A,B,...", help='comma-separated labels, e.g. "cat,dog,car"')
    p.add_argument("--labels-file", metavar="FILE", help="labels, one per line or comma-separated (# comments)")
    p.add_argument("--template", action="append", metavar="TEXT", help="prompt with {label}, repeatable: "
                   f"vectors are averaged (default {DEFAULT_TEMPLATES[0]!r})")
    p.add_argument("--top", type=int, default=1, metavar="N", help="labels kept per image (default 1)")
    p.add_argument("--min-score", type=float, default=0.0, metavar="S",
                   help="keep only labels scoring at least S (softmax, 0-1; default 0: always tag)")
    p.add_argument("--folder", help="only images in this folder (and below)")
    p.add_argument("--json", action="store_true", help="print a JSON report")
    add_index_options(p)
    add_model_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    labels = parse_labels(args.labels, args.labels_file)
    index = Index.open(settings_from(args))
    clauses = Filters(folder=args.folder).clauses()
    index.store.require_ingested()
    report = tag_images(index.store, index.encoder, labels, templates=tuple(args.template or DEFAULT_TEMPLATES),
                        top=args.top, min_score=args.min_score, where=clauses[0] if clauses else None)
    if args.json:
        print_json({"images": report.images, "labels": report.labels, "counts": report.counts,
                    "untagged": report.untagged, "seconds": report.seconds})
        return 0
    for label in report.labels:
        print(f"{report.counts.get(label, 0):>7}  {label}")
    if report.untagged:
        print(f"{report.untagged:>7}  (below --min-score: untagged)")
    print(f"tagged {report.images - report.untagged} of {report.images} images in {report.seconds:.1f}s; "
          f"filter with `multimodal search ... --tag LABEL`", file=sys.stderr)
    return 0
