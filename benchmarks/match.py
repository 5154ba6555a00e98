"""Weak-match signal: how often `strong` / `weak` is right, on the demo index, for queries in and out of the toy
model's vocabulary.

    .venv/bin/python benchmarks/match.py                    # the demo's cached model and index (trained if needed)
    .venv/bin/python benchmarks/match.py --root /tmp/demo   # another demo folder; --no-readme: print only

In-vocabulary queries are made by `multimodal.synthetic`'s own caption functions (colour + shape, full captions,
their other word orders) plus a few partial English ones (size + colour + shape, shape + position); the held-out
colour × shape pairs, never seen in training, are among them. Out-of-vocabulary queries name animals, places,
objects and scenes, known colours with unknown objects ("a red car"), and synonyms the model never saw ("a
crimson disc"). Each kind is split in two: the *development* half chooses the collection-relative cut-off
(the z-score that best separates the two kinds there); the *evaluation* half, with other out-of-vocabulary
words, is what the accuracies below are. Accuracy: share of in-vocabulary queries marked strong, share of
out-of-vocabulary queries marked weak. "shipped" is what the library answers (`Hit.match`).
"""

from __future__ import annotations

import argparse
import itertools
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _common import machine, write_section

from multimodal import demo, match, synthetic, vocabulary
from multimodal.evaluate import load_captioned
from multimodal.index import Index
from multimodal.search import Searcher

OUT_OF_VOCABULARY = {  # (development, evaluation): different words in each half
    "animals": (["a dog on a beach", "a cat sleeping", "a horse in a field", "two birds on a wire"],
                ["a brown bear", "a fish in a tank", "a puppy playing", "an elephant"]),
    "places": (["a mountain lake", "a city at night", "a snowy forest", "a desert road"],
               ["a beach at sunset", "a busy street", "an old castle", "a waterfall"]),
    "objects": (["a bowl of soup", "a bicycle", "a cup of coffee", "a pair of shoes"],
                ["a plate of pasta", "a laptop on a desk", "a wooden chair", "a birthday cake"]),
    "scenes": (["a birthday party", "people at a wedding", "an old man", "children playing football"],
               ["a concert crowd", "a family dinner", "a woman reading", "a rainy day"]),
    "known colour, unknown object": (["a red car", "a green tree", "a yellow banana", "a blue sky with clouds"],
                                     ["an orange cat", "a purple flower", "a red apple on the left",
                                      "a small blue boat"]),
    "synonyms never trained": (["a crimson disc", "a tiny emerald wedge", "an azure block"],
                               ["a huge lemon asterisk", "a violet plus in the middle", "an amber disc"]),
}
PARTIAL = ("a {size} {colour} {shape}", "a {shape} {position}", "a {colour} {shape} {position}")


@dataclass(frozen=True)
class Query:
    text: str
    kind: str
    in_vocabulary: bool
    heldout_pair: bool = False


def in_vocabulary_queries() -> list[Query]:
    """Every colour + shape caption, and full captions in all their word orders, in every caption language."""
    held = synthetic.heldout_pairs()
    out: list[Query] = []
    for lang, vocab in synthetic.VOCABULARIES.items():
        if lang == "alt":  # the domain-adaptation vocabulary the demo model is never trained on
            continue
        for attrs in synthetic.combinations("all"):
            pair = (attrs.colour, attrs.shape) in held
            if attrs.size == synthetic.SIZES[0] and attrs.position == synthetic.POSITIONS[0]:
                out.append(Query(synthetic.short_caption(attrs, vocab), f"colour + shape ({lang})", True, pair))
            out.append(Query(synthetic.caption(attrs, vocab), f"full caption ({lang})", True, pair))
            out += [Query(t, f"other word orders ({lang})", True, pair)
                    for t in synthetic.caption_phrasings(attrs, vocab)]
    en = synthetic.VOCABULARIES["en"]
    for attrs in synthetic.combinations("all"):
        words = {"size": en.sizes[attrs.size], "colour": en.colours[attrs.colour], "shape": en.shapes[attrs.shape],
                 "position": en.positions[attrs.position]}
        pair = (attrs.colour, attrs.shape) in held
        out += [Query(t.format(**words), "partial (en)", True, pair) for t in PARTIAL]
    return list({q.text: q for q in out}.values())  # a text once


def split(queries: list[Query], seed: int = 0) -> tuple[list[Query], list[Query]]:
    """Half of each kind for development, the other half for evaluation (seeded)."""
    dev: list[Query] = []
    ev: list[Query] = []
    for _, group in itertools.groupby(sorted(queries, key=lambda q: q.kind), key=lambda q: q.kind):
        items = list(group)
        random.Random(seed).shuffle(items)
        dev += items[::2]
        ev += items[1::2]
    return dev, ev


def out_of_vocabulary(half: int) -> list[Query]:
    return [Query(t, kind, False) for kind, halves in OUT_OF_VOCABULARY.items() for t in halves[half]]


def ensure_vocabulary(assets: demo.DemoAssets) -> str:
    """A model trained before vocabularies were recorded gets one from the demo's own training captions."""
    if vocabulary.load(assets.model) is not None:
        return "vocabulary.json recorded by training"
    texts = [c for folder in (assets.data.train, assets.data.short) for caps in load_captioned(folder).captions
             for c in caps]
    vocabulary.save(assets.model, vocabulary.Vocabulary.from_texts(texts))
    return "vocabulary.json written now from the demo's training captions (model trained before they were recorded)"


@dataclass(frozen=True)
class Scored:
    query: Query
    z: float
    unknown: bool  # the vocabulary signal: some content word unknown
    shipped_strong: bool  # what the library says


def score(searcher: Searcher, queries: list[Query]) -> list[Scored]:
    out = []
    for q in queries:
        hits = searcher.search_text(q.text, k=10)
        verdict = searcher.verdict(searcher.text_vector(q.text), [q.text], hits)
        out.append(Scored(q, float(verdict.z if verdict.z is not None else 0.0), bool(verdict.unknown_words),
                          hits[0].match == match.STRONG))
    return out


def accuracy(rows: list[Scored], strong: list[bool]) -> tuple[float, float]:
    """(share of in-vocabulary marked strong, share of out-of-vocabulary marked weak)."""
    inside = [s for r, s in zip(rows, strong, strict=True) if r.query.in_vocabulary]
    outside = [not s for r, s in zip(rows, strong, strict=True) if not r.query.in_vocabulary]
    return float(np.mean(inside)), float(np.mean(outside))


def choose_cutoff(rows: list[Scored]) -> float:
    """The z cut-off that maximises the worse of the two accuracies on `rows` (development queries)."""
    candidates = sorted({round(r.z, 3) for r in rows})
    return max(candidates, key=lambda c: (min(accuracy(rows, [r.z >= c for r in rows])), -abs(c)))


def run(root: Path | None) -> str:
    assets = demo.prepare(root)
    index: Index = demo.open_demo_index(assets, root=root)
    demo.ingest_gallery(index, assets)
    how = ensure_vocabulary(assets)
    searcher = index.searcher
    inside_dev, inside_eval = split(in_vocabulary_queries())
    dev = score(searcher, inside_dev + out_of_vocabulary(0))
    ev = score(searcher, inside_eval + out_of_vocabulary(1))
    cutoff = choose_cutoff(dev)
    lines = [f"Demo index: {index.store.count()} records, model `{assets.model.name}` ({how}).",
             f"Queries: development {len(inside_dev)} in / {len(dev) - len(inside_dev)} out of vocabulary; "
             f"evaluation {len(inside_eval)} in / {len(ev) - len(inside_eval)} out.", "",
             "| signal (evaluation queries) | in-vocabulary marked strong | out-of-vocabulary marked weak |",
             "|---|---|---|"]
    signals = {
        f"z-score of the top score ≥ {cutoff:.2f} (cut-off chosen on development)": [r.z >= cutoff for r in ev],
        "vocabulary: no unknown content word": [not r.unknown for r in ev],
        f"vocabulary and z-score ≥ {cutoff:.2f}": [not r.unknown and r.z >= cutoff for r in ev],
        "shipped (`Hit.match`)": [r.shipped_strong for r in ev],
    }
    for name, strong in signals.items():
        a, b = accuracy(ev, strong)
        lines.append(f"| {name} | {a:.3f} | {b:.3f} |")
    held = [r for r in ev if r.query.heldout_pair]
    if held:
        lines.append(f"\nHeld-out colour × shape pairs (evaluation, {len(held)} queries): "
                     f"{np.mean([r.shipped_strong for r in held]):.3f} marked strong.")
    lines.append("\nOut-of-vocabulary kinds (evaluation), shipped verdict marked weak: " + ", ".join(
        f"{kind} {np.mean([not r.shipped_strong for r in ev if r.query.kind == kind]):.2f}"
        for kind in OUT_OF_VOCABULARY))
    kinds = dict.fromkeys(r.query.kind for r in ev if r.query.in_vocabulary)
    lines.append(f"\nz-score ≥ {cutoff:.2f} alone, in-vocabulary kinds marked strong: " + ", ".join(
        f"{kind} {np.mean([r.z >= cutoff for r in ev if r.query.kind == kind]):.2f}" for kind in kinds))
    zin = [r.z for r in ev if r.query.in_vocabulary]
    zout = [r.z for r in ev if not r.query.in_vocabulary]
    lines.append(f"\nz-score of the top score: in-vocabulary median {np.median(zin):.2f} (5th percentile "
                 f"{np.percentile(zin, 5):.2f}), out-of-vocabulary median {np.median(zout):.2f} (95th percentile "
                 f"{np.percentile(zout, 95):.2f}). Cut-off chosen on development: {cutoff:.2f}; the library's "
                 f"`multimodal.match.Z_STRONG` is {match.Z_STRONG:.2f}.")
    lines.append(f"\nMachine: {machine()}.")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, help="demo folder (default: the demo's own, in the per-user data folder)")
    p.add_argument("--no-readme", action="store_true", help="print only; do not update benchmarks/README.md")
    args = p.parse_args()
    text = run(args.root)
    print(text)
    if not args.no_readme:
        write_section("match", text)


if __name__ == "__main__":
    main()
