"""Near-duplicate finder: precision and recall of the default threshold on planted copies, per model.

    .venv/bin/python benchmarks/duplicates.py                       # mm-tiny and ViT-B-32 (random weights)
    .venv/bin/python benchmarks/duplicates.py --model local-dir:/path/to/trained --bases 60 --no-readme

For each model, two planted sets are generated (tests/fixtures/planted.py): every base scene has a
look-alike (same palette and shapes, laid out afresh), half of the bases have one copy of each kind
(resized, cropped, JPEG q30, recoloured, byte-identical). On the *tuning* set (seed 0) the relative
threshold is swept and the best F1 noted; on the *held-out* set (seed 1) the library's default is scored,
so the number reported for the default was not fitted on the data it is scored on. Precision and recall
count pairs of files: every pair inside a reported group (near or exact) against every planted pair.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

from _common import machine, write_section

from multimodal.config import Settings
from multimodal.duplicates import DEFAULT_RELATIVE, find_duplicates
from multimodal.index import Index
from tests.fixtures.planted import PlantedSet, make_planted_set, pair_scores

MODELS = ["mm-tiny:none", "ViT-B-32:none"]
SWEEP = [round(0.50 + 0.02 * i, 2) for i in range(25)]


def scores(index: Index, planted: PlantedSet, **kwargs: Any) -> tuple[float, float, float, Any]:
    report = find_duplicates(index.store, **kwargs)
    precision, recall = pair_scores([g.paths for g in report.near + report.exact], planted.true_pairs())
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1, report


def build(work: Path, model: str, bases: int, seed: int) -> tuple[Index, PlantedSet]:
    name, _, weights = model.partition(":") if not model.startswith(("local-dir:", "hf-hub:")) else (model, "", "")
    planted = make_planted_set(work / f"set{seed}", bases, seed=seed)
    settings = Settings.resolve(index_dir=work / f"index-{seed}", model=name, pretrained=weights or None)
    index = Index.open(settings)
    index.ingest(planted.root)
    return index, planted


def measure(model: str, bases: int, work: Path) -> dict[str, Any]:
    tune_index, tune_set = build(work, model, bases, seed=0)
    sweep = [(scores(tune_index, tune_set, relative=r)[2], r) for r in SWEEP]
    best_f1, best_relative = max(sweep)
    held_index, held_set = build(work, model, bases, seed=1)
    precision, recall, f1, report = scores(held_index, held_set)
    return {"model": model, "files": held_set.files, "pairs": len(held_set.true_pairs()),
            "best_relative": best_relative, "best_f1": best_f1, "precision": precision, "recall": recall, "f1": f1,
            "threshold": report.typical_threshold}


def table(rows: list[dict[str, Any]], bases: int) -> str:
    lines = [
        f"Planted sets of {bases} scenes + {bases} look-alikes, half with 5 copies each; default relative "
        f"threshold {DEFAULT_RELATIVE}. Machine: {machine()}.",
        "",
        "| model | files | planted pairs | default → median cosine cut-off | precision | recall | F1 "
        "| best relative on tuning set (F1) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['model']} | {r['files']} | {r['pairs']} | {r['threshold']:.4f} "
                     f"| {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} "
                     f"| {r['best_relative']:.2f} ({r['best_f1']:.3f}) |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="MODEL[:WEIGHTS], repeatable (default: "
                        + ", ".join(MODELS) + ")")
    parser.add_argument("--bases", type=int, default=40, help="base scenes per planted set (default 40)")
    parser.add_argument("--no-readme", action="store_true", help="print only; leave benchmarks/README.md alone")
    args = parser.parse_args()
    rows = []
    for model in args.model or MODELS:
        work = Path(tempfile.mkdtemp(prefix="mm-dups-"))
        try:
            rows.append(measure(model, args.bases, work))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(rows[-1], flush=True)
    text = table(rows, args.bases)
    print(text)
    if not args.no_readme:
        write_section("duplicates", text)


if __name__ == "__main__":
    main()
