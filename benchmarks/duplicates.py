"""Near-duplicate finder: zero false groups on sets without duplicates, recall of planted copies, per model.

    .venv/bin/python benchmarks/duplicates.py                       # mm-tiny and ViT-B-32 (random weights)
    .venv/bin/python benchmarks/duplicates.py --model local-dir:/path/to/demo-model --no-readme

Needs scikit-image (`pip install scikit-image`) for its real sample photos (tests/fixtures/photos.py).

Tuning (no model involved): on a generated planted set (seed 0, tests/fixtures/planted.py: scenes, a
look-alike of each, copies of every kind) the perceptual-hash distances of all pairs are computed, and the
smallest Hamming limits that keep every planted copy are printed next to the library's defaults
(multimodal.perceptual.MAX_PHASH / MAX_DHASH), with the closest pair that is not a copy.

Evaluation, for each model, on sets not used for tuning:
- sets with planted copies: a second generated set (seed 1) and 20 real photos with a copy of each kind
  (resized, central 85 % crop, JPEG q30, brighter and warmer, WebP, EXIF-rotated, byte-identical);
  precision and recall count pairs of files in reported groups (near and exact) against planted pairs;
- sets without duplicates: the demo gallery (300 renders) and the 20 distinct real photos; every group
  reported there is false.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import tempfile
from pathlib import Path
from typing import Any

from _common import cache_dir, machine, write_section

from multimodal.config import Settings
from multimodal.demo import prepare_data
from multimodal.duplicates import find_duplicates
from multimodal.images import load_image, walk_images
from multimodal.index import Index
from multimodal.perceptual import MAX_DHASH, MAX_PHASH, compare, fingerprint
from tests.fixtures.photos import write_photos
from tests.fixtures.planted import make_planted_photos, make_planted_set, pair_scores

MODELS = ["mm-tiny:none", "ViT-B-32:none"]
TUNE_BASES = 40  # the set the hash limits were chosen on (seed 0)


def tune_hashes(work: Path, bases: int) -> dict[str, Any]:
    """Smallest (pHash, dHash) limits keeping every planted pair of the tuning set; closest non-copy pair."""
    planted = make_planted_set(work / "tune", bases, seed=0)
    prints = {str(p): fingerprint(load_image(p, max_pixels=10**8, min_side=224).image)
              for p in walk_images(planted.root)}
    truth = planted.true_pairs()
    copies, others = [], []
    for a, b in itertools.combinations(sorted(prints), 2):
        (copies if frozenset((a, b)) in truth else others).append(compare(prints[a], prints[b]))
    need = (max(p for p, _ in copies), max(d for _, d in copies))
    closest = min(others, key=lambda t: (max(t), sum(t)))
    return {"files": planted.files, "pairs": len(copies), "need": need, "closest_other": closest}


def measure(model: str, work: Path, bases: int, photos: list[Path], gallery: Path) -> dict[str, Any]:
    name, _, weights = model.partition(":") if not model.startswith(("local-dir:", "hf-hub:")) else (model, "", "")
    held = make_planted_set(work / "held-out", bases, seed=1)
    real = make_planted_photos(work / "real-copies", photos)
    index = Index.open(Settings.resolve(index_dir=work / "index", model=name, pretrained=weights or None))
    for root in (held.root, real.root, photos[0].parent, gallery):
        index.ingest(root)
    row: dict[str, Any] = {"model": model}
    for key, planted in (("held", held), ("real", real)):
        report = _report(index, planted.root)
        precision, recall = pair_scores([g.paths for g in report.near + report.exact], planted.true_pairs())
        row[key] = {"files": report.images, "pairs": len(planted.true_pairs()), "precision": precision,
                    "recall": recall, "similar": report.rejected}
    for key, root in (("gallery", gallery), ("distinct", photos[0].parent)):
        report = _report(index, root)
        row[key] = {"files": report.images, "groups": len(report.near) + len(report.exact),
                    "similar": report.rejected}
    return row


def _report(index: Index, root: Path) -> Any:
    return find_duplicates(index.store, where={"folders": {"$contains": str(root)}})


def table(tuning: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    lines = [
        f"Hash limits: pHash ≤ {MAX_PHASH}, dHash ≤ {MAX_DHASH} bits (of 64). Tuning set (seed 0, "
        f"{tuning['files']} files, {tuning['pairs']} planted pairs): every copy kept needs ≤ {tuning['need'][0]} "
        f"and ≤ {tuning['need'][1]}; the closest pair that is not a copy is at {tuning['closest_other'][0]} and "
        f"{tuning['closest_other'][1]}. Embedding stage: the default relative cut-off. Machine: {machine()}.",
        "",
        "| model | held-out planted set: precision / recall (files, pairs) | real photos with planted copies: "
        "precision / recall (files, pairs) | demo gallery: false groups (files) | distinct real photos: false "
        "groups (files) | candidate pairs the pixels rejected (similar, not copies): gallery / photos |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        h, p, g, d = r["held"], r["real"], r["gallery"], r["distinct"]
        lines.append(f"| {r['model']} | {h['precision']:.3f} / {h['recall']:.3f} ({h['files']}, {h['pairs']}) "
                     f"| {p['precision']:.3f} / {p['recall']:.3f} ({p['files']}, {p['pairs']}) "
                     f"| **{g['groups']}** ({g['files']}) | **{d['groups']}** ({d['files']}) "
                     f"| {g['similar']} / {d['similar']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="MODEL[:WEIGHTS], repeatable (default: "
                        + ", ".join(MODELS) + ")")
    parser.add_argument("--bases", type=int, default=20, help="base scenes per generated planted set (default 20)")
    parser.add_argument("--no-readme", action="store_true", help="print only; leave benchmarks/README.md alone")
    args = parser.parse_args()
    gallery = prepare_data(cache_dir() / "demo-data").gallery
    work = Path(tempfile.mkdtemp(prefix="mm-dups-"))
    rows = []
    try:
        tuning = tune_hashes(work, TUNE_BASES)
        print(tuning, flush=True)
        photos = write_photos(work / "distinct-photos")
        for n, model in enumerate(args.model or MODELS):
            rows.append(measure(model, work / f"model{n}", args.bases, photos, gallery))
            print(rows[-1], flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = table(tuning, rows)
    print(text)
    if not args.no_readme:
        write_section("duplicates", text)




if __name__ == "__main__":
    main()
