"""`multimodal search`: text, image and composed queries; bare paths by default, `--json` for scripts."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from multimodal.cli.common import (
    add_index_options,
    add_model_options,
    prepare_text_queries,
    print_json,
    say_model_note,
    settings_from,
)
from multimodal.errors import ConfigError, NoPositiveTermError

if TYPE_CHECKING:  # the library loads in run(): `search --help` imports none of it
    from multimodal.index import Index
    from multimodal.search import Term
    from multimodal.store import Hit

_JSON_FIELDS = ("width", "height", "format", "date", "folder", "size")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "search", help="search by text, image, or both",
        description="Terms are summed in embedding space: text and --image count +1, --negative and "
        "--negative-image -1, --term any weight ('-0.5 people', '+2 image: PATH'; or WEIGHT:KIND:VALUE).",
    )
    p.add_argument("text", nargs="?", help="text query, e.g. 'a dog on a beach'")
    p.add_argument("--image", action="append", default=[], metavar="PATH", help="query image (repeatable)")
    p.add_argument("--negative", action="append", default=[], metavar="TEXT", help="text to move away from")
    p.add_argument("--negative-image", action="append", default=[], metavar="PATH", help="image to move away from")
    p.add_argument("--id", action="append", default=[], metavar="ID", help="an indexed image: more like this")
    p.add_argument("--like", action="append", default=[], metavar="ID", help="liked image id (recommendation)")
    p.add_argument("--dislike", action="append", default=[], metavar="ID", help="disliked image id")
    p.add_argument("--term", action="append", default=[], metavar="TERM", help="weighted term, as a line of the "
                   "UI's composed query: '-0.5 people', '+2 image: ./a.jpg', '-1 id: ID' (or W:KIND:VALUE, "
                   "e.g. -0.5:text:people)")
    p.add_argument("-k", type=int, default=10, help="number of results (default 10)")
    p.add_argument("--threshold", type=float, help="only results with similarity >= this")
    p.add_argument("--target", choices=["images", "captions", "both"], default="images",
                   help="search images (default), captions, or both")
    p.add_argument("--folder", help="only images in this folder (and below)")
    p.add_argument("--format", help="only this format: jpeg, png, heif, ...")
    p.add_argument("--tag", help="only images tagged with this label (see `multimodal tag`)")
    p.add_argument("--since", metavar="DATE", help="taken/modified on or after (YYYY-MM-DD)")
    p.add_argument("--until", metavar="DATE", help="taken/modified on or before (YYYY-MM-DD)")
    p.add_argument("--json", action="store_true", help='print [{"id","path","score",...}]')
    p.add_argument("--ids", action="store_true", help="print ID<TAB>PATH lines: the ids --id, --like and "
                   "--dislike take")
    add_index_options(p)
    add_model_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    terms = None if args.like or args.dislike else _terms(args)  # usage errors before the index or model opens
    from multimodal.index import Index
    from multimodal.search import Filters, parse_date

    filters = Filters(folder=args.folder, format=args.format, tag=args.tag,
                      date_from=parse_date(args.since, "--since"),
                      date_to=parse_date(args.until, "--until", end_of_day=True))
    options = {"target": args.target, "threshold": args.threshold, "filters": filters}
    index = Index.open(settings_from(args))
    index.store.require_ingested()
    say_model_note(index.store.model_note())
    if terms is None:
        hits = index.searcher.recommend(args.like, args.dislike, k=args.k, **options)
    else:
        hits = index.searcher.search(terms, args.k, **options)
    from multimodal.match import WEAK

    if hits and hits[0].match == WEAK:
        print(f"no strong match for {_describe(args)}{_why(index, terms or [], hits)}; nearest results:",
              file=sys.stderr)
    if args.json:
        print_json([_hit_dict(h) for h in hits])
    elif args.ids:
        for hit in hits:
            print(f"{hit.image_id}\t{hit.path}")
    else:
        for hit in hits:
            print(hit.path)
    prepare_text_queries(index, quiet=args.json)  # once, if this search had to load the model for its text
    return 0


def _describe(args: argparse.Namespace) -> str:
    return repr(args.text) if args.text else "this query"


def _why(index: Index, terms: list[Term], hits: list[Hit]) -> str:
    """" (REASON)" for a weak text or composed query; vectors are cached, so nothing is encoded again."""
    if not terms:
        return ""
    texts = [str(t.value) for t in terms if t.kind == "text" and t.weight > 0]
    verdict = index.searcher.verdict(index.searcher.query_vector(terms), texts, hits)
    return f" ({verdict.reason})" if verdict.reason else ""


_NO_QUERY = "give a text query, --image PATH, --id ID, --like ID or a positive --term"


def _terms(args: argparse.Namespace) -> list[Term]:
    if not (args.text or args.image or args.id or args.term):  # said before any library module loads
        raise ConfigError(_NO_QUERY)
    from multimodal.query_terms import parse_term, require_positive
    from multimodal.search import Term

    terms = [Term("text", args.text)] if args.text else []
    terms += [Term("image", p) for p in args.image]
    terms += [Term("text", t, -1.0) for t in args.negative]
    terms += [Term("image", p, -1.0) for p in args.negative_image]
    terms += [Term("id", i) for i in args.id]
    terms += [parse_term(t, "--term", weighted=True) for t in args.term]
    try:
        require_positive(terms)
    except NoPositiveTermError as e:  # said in the CLI's words: the flags that give a positive term
        raise ConfigError(_NO_QUERY) from e
    return terms


def _hit_dict(hit: Hit) -> dict[str, Any]:
    data: dict[str, Any] = {"id": hit.id, "path": hit.path, "score": round(hit.score, 6), "match": hit.match,
                            "kind": hit.kind, "caption": hit.caption}
    if hit.kind == "caption":
        data["image_id"] = hit.image_id
    data.update({k: hit.metadata[k] for k in _JSON_FIELDS if k in hit.metadata})
    if "tags" in hit.metadata:
        data["tags"] = hit.metadata["tags"]
    return data
