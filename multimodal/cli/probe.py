"""`multimodal probe`: a WEAT-style association test between two image groups and two word sets."""

from __future__ import annotations

import argparse
from typing import Any

from multimodal.cli.common import add_index_options, add_model_options, print_json, settings_from
from multimodal.index import Index
from multimodal.probe import DEFAULT_PERMUTATIONS, DEFAULT_TEMPLATE, parse_attribute, parse_targets, run_probe


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "probe", help="measure how two image groups associate with two word sets (WEAT-style)",
        description="Effect size (Cohen's d) of the difference between two image groups in how much nearer "
        "they sit to one word set than to the other, with a two-sided permutation p-value. Read the limits in "
        "docs/toolkit.md (Bias probe) before drawing conclusions: compare against control word sets.")
    p.add_argument("--targets", required=True, metavar="X,Y", help="two image groups: folders, or tags "
                   "(tag:LABEL; see `multimodal tag`), e.g. ~/pics/doctors,~/pics/nurses or tag:cat,tag:dog")
    p.add_argument("--attributes", required=True, nargs=2, metavar="NAME:WORDS",
                   help='two word sets, e.g. "pleasant:joy,love,peace" "unpleasant:agony,war,filth"')
    p.add_argument("--template", default=DEFAULT_TEMPLATE, metavar="TEXT",
                   help=f"how a word becomes a text, with {{word}} (default {DEFAULT_TEMPLATE!r})")
    p.add_argument("--permutations", type=int, default=DEFAULT_PERMUTATIONS, metavar="N",
                   help=f"random re-splits for the p-value (default {DEFAULT_PERMUTATIONS})")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    add_index_options(p)
    add_model_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    targets = parse_targets(args.targets)
    attributes = (parse_attribute(args.attributes[0]), parse_attribute(args.attributes[1]))
    index = Index.open(settings_from(args))
    index.store.require_ingested()
    result = run_probe(index.store, index.encoder, targets, attributes, template=args.template,
                       permutations=args.permutations)
    if args.json:
        print_json(result.to_dict())
        return 0
    (x, y), (a, b) = result.targets, result.attributes
    print(f"targets:     {x} ({result.sizes[0]} images) vs {y} ({result.sizes[1]} images)")
    print(f"attributes:  {a} vs {b}")
    print(f"association: {result.mean_association[0]:+.4f} vs {result.mean_association[1]:+.4f} "
          f"(mean cos to '{a}' minus to '{b}')")
    print(f"effect size: {result.effect_size:+.3f}   p = {result.p_value:.4g} "
          f"(two-sided, {result.permutations} permutations)")
    print(result.sentence)
    return 0
