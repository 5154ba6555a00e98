"""Intrinsic evaluation of the demo model: analogy completion and clustering quality on the demo gallery.

    .venv/bin/python benchmarks/intrinsic.py      # ~1 min (+4 min the first time, to train the demo model)

The gallery holds every attribute combination once (300 images); the numbers are `multimodal eval GALLERY`'s:
  - analogies: image − text(old) + text(new) for every image × every other value of each attribute
    (4,200 swaps); right when the nearest other image has exactly the expected four attributes. Baseline: the
    better of the plus text alone and the image alone. Target (issue 17): accuracy ≥ 0.8 and ≥ 0.2 above it.
    The essay's weights (1, −1, +1) are the reported ones; for comparison, the text step α in
    image + α·(text(new) − text(old)) is also chosen on another set (the demo's `heldout` images, fresh
    draws) and then applied to the gallery.
  - clustering: k-means (k = number of values) once per attribute, on the image vectors and on 16×16 pixels.
`--model local-dir:PATH` measures another model on the same gallery; `--demo-root DIR` reuses a demo folder.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from _common import cache_dir, machine, write_section

from multimodal.analogies import Weights, attribute_analogies, folder_attributes, score_analogies
from multimodal.batch_encode import encode_images, encode_texts
from multimodal.demo import prepare
from multimodal.encoder import Encoder, load_encoder
from multimodal.evaluate import EvalReport, evaluate_folder, load_captioned

STEPS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)  # α tried on the tuning set
TARGET, MARGIN = 0.8, 0.2


def tune_step(encoder: Encoder, folder: Path) -> tuple[float, dict[float, float]]:
    """The α with the best analogy accuracy on `folder` (never the reported set), and every α's accuracy."""
    data = load_captioned(folder)
    vectors, kept, _ = encode_images(encoder, data.paths)
    attributes = folder_attributes(folder.absolute(), [data.paths[n] for n in kept])
    found = attribute_analogies(attributes or [])
    tried = {a: score_analogies(vectors, found, lambda t: encode_texts(encoder, t), Weights(1.0, a, a)).overall.accuracy
             for a in STEPS}
    return max(tried, key=lambda a: tried[a]), tried


def report_text(model: str, report: EvalReport, tuned: EvalReport, step: float, tried: dict[float, float],
                seconds: float) -> str:
    a, t = report.analogies, tuned.analogies
    assert a is not None and t is not None and report.clustering is not None
    o = a.overall
    verdict = "met" if o.accuracy >= TARGET and o.accuracy - o.baseline >= MARGIN else "not met"
    lines = [f"Machine: {machine()}. Model: {model}. Gallery: {o.n} analogies over "
             f"{report.retrieval.images if report.retrieval else '?'} images; {seconds:.0f} s in all.", "",
             "| swapped | n | image − old + new | plus text alone | image alone | baseline | "
             f"α = {step:g} (chosen on `heldout`) |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    rows = [*a.per_attribute.items(), ("**all**", o)]
    for name, g in rows:
        tg = t.overall if name == "**all**" else t.per_attribute[name]
        lines.append(f"| {name} | {g.n} | {g.accuracy:.3f} | {g.plus_only:.3f} | {g.image_only:.3f} | "
                     f"{g.baseline:.3f} | {tg.accuracy:.3f} |")
    lines += ["", f"Target (accuracy ≥ {TARGET} and ≥ {MARGIN} above the baseline): **{verdict}** "
              f"({o.accuracy:.3f} vs {o.baseline:.3f}). α tried on `heldout`: "
              + ", ".join(f"{s:g} → {v:.3f}" for s, v in tried.items()) + ".", "",
              "| clustering by | k | NMI | ARI | purity | silhouette | pixels NMI | pixels ARI | pixels purity | "
              "pixels silhouette |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, c in report.clustering.items():
        e, p = c.embedding, c.pixels
        lines.append(f"| {name} | {e.k} | {e.nmi:.3f} | {e.ari:.3f} | {e.purity:.3f} | {e.silhouette:.3f} | "
                     f"{p.nmi:.3f} | {p.ari:.3f} | {p.purity:.3f} | {p.silhouette:.3f} |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--demo-root", type=Path, help="demo folder to make or reuse (default: the benchmark cache)")
    p.add_argument("--model", help="model to measure (default: the demo's trained mm-tiny)")
    p.add_argument("--no-readme", action="store_true", help="do not rewrite benchmarks/README.md")
    p.add_argument("--json", metavar="FILE", help="also write the measurements to FILE")
    args = p.parse_args()
    print(f"machine: {machine()}", flush=True)
    assets = prepare(root=args.demo_root or cache_dir() / "demo")
    model = args.model or f"local-dir:{assets.model}"
    start = time.perf_counter()
    encoder = load_encoder(model, None, "cpu", precision="fp32")  # as measured before auto meant bf16
    step, tried = tune_step(encoder, assets.data.heldout)
    report = evaluate_folder(assets.data.gallery, encoder)
    tuned = evaluate_folder(assets.data.gallery, encoder, analogy_weights=Weights(1.0, step, step))
    text = report_text(model if args.model else f"demo mm-tiny ({assets.model.name})", report, tuned, step, tried,
                       time.perf_counter() - start)
    print(text)
    if args.json:
        data: dict[str, Any] = {**report.to_dict(), "tuned_step": step, "tuned_analogies": tuned.to_dict()["analogies"],
                                "steps_tried": tried}
        Path(args.json).write_text(json.dumps(data, indent=1))
    if not args.no_readme:
        write_section("intrinsic", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
