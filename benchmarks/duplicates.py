"""Near-duplicate finder: zero false groups on sets without duplicates, recall of planted copies, per model.

    .venv/bin/python benchmarks/duplicates.py                       # mm-tiny and ViT-B-32 (random weights)
    .venv/bin/python benchmarks/duplicates.py --model local-dir:/path/to/demo-model --no-readme

Needs scikit-image (`pip install scikit-image`) for its real sample photos (benchmarks/photos.py).

Tuning: on a generated planted set (seed 0, multimodal/planted.py: 40 scenes, a look-alike of each,
copies of every kind) the perceptual-hash distances of all pairs are computed (no model involved), and the
limits that keep every planted copy are printed next to the library's (multimodal.perceptual: pHash and
dHash limits are the smallest that keep every copy there, the chroma limit sits between the copies' largest
difference and the closest non-copy's, nearer the copies), with the closest pair that is not a copy; for each
model the relative embedding cut-off is swept there (the strictest value keeping every copy is printed;
multimodal.duplicates.DEFAULT_RELATIVE was set one step below the strictest of both default models).

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
from photos import write_photos

from multimodal.config import Settings
from multimodal.demo import prepare_data
from multimodal.duplicates import DEFAULT_RELATIVE, find_duplicates
from multimodal.images import load_image, walk_images
from multimodal.index import Index
from multimodal.model_spec import split_pair
from multimodal.perceptual import MAX_CHROMA, MAX_DHASH, MAX_PHASH, compare, fingerprint
from multimodal.planted import PlantedSet, make_planted_photos, make_planted_set, pair_scores

MODELS = ["mm-tiny:none", "ViT-B-32:none"]
TUNE_BASES = 40  # the set the hash limits and the relative cut-off were chosen on (seed 0)
SWEEP = [round(0.1 * i, 1) for i in range(1, 10)]


def tune_hashes(planted: PlantedSet) -> dict[str, Any]:
    """Smallest (pHash, dHash) limits keeping every planted pair of the tuning set; closest non-copy pair."""
    prints = {str(p): fingerprint(load_image(p, max_pixels=10**8, min_side=224).image)
              for p in walk_images(planted.root)}
    truth = planted.true_pairs()
    copies, others = [], []
    for a, b in itertools.combinations(sorted(prints), 2):
        (copies if frozenset((a, b)) in truth else others).append(compare(prints[a], prints[b]))
    need = tuple(max(c[n] for c in copies) for n in range(3))
    closest = min(others, key=lambda t: (max(t[0], t[1]), t[0] + t[1]))
    chroma = min(c[2] for c in others)
    return {"files": planted.files, "pairs": len(copies), "need": need, "closest_other": closest,
            "closest_chroma": chroma}


def measure(model: str, work: Path, bases: int, photos: list[Path], gallery: Path, tune: PlantedSet) -> dict[str, Any]:
    name, weights = split_pair(model)
    held = make_planted_set(work / "held-out", bases, seed=1)
    real = make_planted_photos(work / "real-copies", photos)
    index = Index.open(Settings.resolve(index_dir=work / "index", model=name, pretrained=weights))
    for root in (tune.root, held.root, real.root, photos[0].parent, gallery):
        index.ingest(root)
    row: dict[str, Any] = {"model": model, "strictest_full_recall": _sweep(index, tune)}
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


def _sweep(index: Index, tune: PlantedSet) -> float | None:
    """The highest relative cut-off that keeps every planted copy of the tuning set (None: none does)."""
    truth = tune.true_pairs()
    kept = [r for r in SWEEP
            if pair_scores([g.paths for g in _report(index, tune.root, relative=r).near], truth)[1] == 1]
    return max(kept, default=None)


def _report(index: Index, root: Path, **kwargs: Any) -> Any:
    return find_duplicates(index.store, where={"folders": {"$contains": str(root)}}, **kwargs)


def table(tuning: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    lines = [
        f"Limits: pHash ≤ {MAX_PHASH}, dHash ≤ {MAX_DHASH} bits (of 64), chroma ≤ {MAX_CHROMA}. Tuning set "
        f"(seed 0, {tuning['files']} files, {tuning['pairs']} planted pairs): every copy there is within "
        f"{tuning['need'][0]}, {tuning['need'][1]} and {tuning['need'][2]}; the closest pair that is not a copy is "
        f"at {tuning['closest_other'][0]} and {tuning['closest_other'][1]} bits, and no such pair is closer than "
        f"{tuning['closest_chroma']} in chroma. Embedding stage: relative cut-off {DEFAULT_RELATIVE} (the last "
        f"column: the strictest value that kept every tuning-set copy, per model). Machine: {machine()}.",
        "",
        "| model | held-out planted set: precision / recall (files, pairs) | real photos with planted copies: "
        "precision / recall (files, pairs) | demo gallery: false groups (files) | distinct real photos: false "
        "groups (files) | candidate pairs the pixels rejected (similar, not copies): gallery / photos "
        "| strictest relative with full recall on the tuning set |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        h, p, g, d = r["held"], r["real"], r["gallery"], r["distinct"]
        lines.append(f"| {r['model']} | {h['precision']:.3f} / {h['recall']:.3f} ({h['files']}, {h['pairs']}) "
                     f"| {p['precision']:.3f} / {p['recall']:.3f} ({p['files']}, {p['pairs']}) "
                     f"| **{g['groups']}** ({g['files']}) | **{d['groups']}** ({d['files']}) "
                     f"| {g['similar']} / {d['similar']} | {r['strictest_full_recall']} |")
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
        tune = make_planted_set(work / "tune", TUNE_BASES, seed=0)
        tuning = tune_hashes(tune)
        print(tuning, flush=True)
        photos = write_photos(work / "distinct-photos")
        for n, model in enumerate(args.model or MODELS):
            rows.append(measure(model, work / f"model{n}", args.bases, photos, gallery, tune))
            print(rows[-1], flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = table(tuning, rows)
    print(text)
    if not args.no_readme:
        write_section("duplicates", text)




if __name__ == "__main__":
    main()
