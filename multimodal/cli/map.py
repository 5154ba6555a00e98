"""`multimodal map --out map.html`: a 2-D map of the embedding space as a standalone page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from multimodal.cli.common import add_index_options, add_model_options, settings_from
from multimodal.errors import ConfigError
from multimodal.index import Index
from multimodal.map_page import COLOUR_BY, DRAW, render_page
from multimodal.search import Filters
from multimodal.space_map import DEFAULT_SAMPLE, METHODS, build_map, thumbnails


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "map", help="write an interactive 2-D map of the collection as one HTML file",
        description="Projects the images (a seeded sample of --sample) to 2-D and writes a page that needs no "
        "network: hover a point for its thumbnail and path; colour by folder, tag or caption; --query draws "
        "where a text lands, with its nearest images ringed.")
    p.add_argument("--out", required=True, metavar="FILE", help="where to write the page, e.g. map.html")
    p.add_argument("--query", action="append", default=[], metavar="TEXT", help="draw a text query (repeatable)")
    p.add_argument("--method", choices=METHODS, default="pca", help="pca (default) or umap (needs umap-learn)")
    p.add_argument("--sample", type=int, default=DEFAULT_SAMPLE, metavar="N",
                   help=f"at most N images on the map (default {DEFAULT_SAMPLE})")
    p.add_argument("--colour-by", choices=COLOUR_BY, default="auto",
                   help="initial colouring (default auto: tags if the index was tagged, else clusters of the space)")
    p.add_argument("--no-thumbnails", action="store_true", help="leave thumbnails out (a much smaller page)")
    p.add_argument("--draw", choices=DRAW, default="points",
                   help="draw images as points or as thumbnails at their places (an image atlas); the page can switch")
    p.add_argument("--folder", help="only images in this folder (and below)")
    add_index_options(p)
    add_model_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    out = Path(args.out).expanduser()
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; give a file name such as map.html")
    index = Index.open(settings_from(args))
    clauses = Filters(folder=args.folder).clauses()
    space = build_map(index.store, sample=args.sample, method=args.method, where=clauses[0] if clauses else None)
    for text in args.query:  # the model loads only when a query asks for it
        space.place(text, index.searcher.text_vector(text))
    thumbs = {} if args.no_thumbnails else thumbnails([p.path for p in space.points],
                                                     max_pixels=index.settings.max_pixels)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_page(space, colour_by=args.colour_by, thumbnails=thumbs, draw=args.draw), encoding="utf-8")
    print(f"wrote {out} ({len(space.points)} of {space.total} images, {space.method})", file=sys.stderr)
    return 0
