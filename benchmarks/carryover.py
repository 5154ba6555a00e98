"""Does the training recipe carry over to data the demo's generator did not make?

    .venv/bin/python benchmarks/carryover.py                    # both sets, 3 minutes each, default config
    .venv/bin/python benchmarks/carryover.py --minutes 0.5 --sets digits --config my_clip.json --json out.json

For each set (benchmarks/carryover_sets.py): generate a train and a test folder, run the user's command
`multimodal train TRAIN --out M --minutes N` as a separate process (timed from outside, so the budget is
checked as a user sees it), then score the kept model (the best validation epoch) and the last epoch on
the held-out test images:

* other-shapes (procedural; other shapes, backgrounds and wording): text → image Recall@1/5/10. Baseline:
  a logistic-regression probe per attribute (colour, shape, background) on 16×16 raw pixels, trained on
  the same train images; a caption ranks images by the summed log-probabilities of its attributes.
  Target: held-out text → image R@5 ≥ 0.8.
* digits (scikit-learn's real handwritten digits, captions from labels): zero-shot accuracy with the
  prompts "the number {label}" / "a handwritten {label}". Baseline: logistic regression and 1-NN on the
  raw 8×8 pixels, same split. Target: zero-shot accuracy within 0.05 of the logistic-regression baseline.

Needs scikit-learn (`pip install -e .[bench]`). The machine may be shared: the load average at the start
and end of each run is reported with it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import REPO, machine
from benchmarks.carryover_sets import BACKGROUNDS, COLOURS, DIGIT_TEMPLATES, SHAPES, Split, digits, other_shapes
from multimodal.devtools.processes import child_env

SETS = ("other-shapes", "digits")
R5_TARGET = 0.8
ZERO_SHOT_GAP = 0.05


def train_process(data: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    """`multimodal train` as a user runs it; its JSON report plus the wall time seen from outside."""
    cmd = [sys.executable, "-m", "multimodal", "train", str(data), "--out", str(out), "--minutes", str(args.minutes),
           "--json", "-q", "--restart", "--device", "cpu", "--seed", str(args.seed)]
    if args.config:
        cmd += ["--config", args.config]
    if args.model:
        cmd += ["--model", args.model]
    if args.batch_size:
        cmd += ["--batch-size", str(args.batch_size)]
    env = child_env()
    began = time.monotonic()
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    wall = time.monotonic() - began
    if done.returncode:
        raise SystemExit(f"training failed ({done.returncode}):\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout)
    return {"process_seconds": round(wall, 2), **report}


def held_out(model: Path, test: Path, templates: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """The kept model's and the last epoch's scores on the test folder (retrieval; zero-shot with classes)."""
    import torch

    from multimodal.encoder import load_encoder
    from multimodal.evaluate import evaluate_folder
    from multimodal.train import STATE_FILE

    encoder = load_encoder(f"local-dir:{model}", None, "cpu")
    kept = evaluate_folder(test, encoder, templates=templates).to_dict()
    encoder.model.load_state_dict(torch.load(model / STATE_FILE, map_location="cpu", weights_only=False)["model"])
    last = evaluate_folder(test, encoder, templates=templates).to_dict()
    return {"kept": kept, "last": last}


def shapes_baseline(split: Split) -> dict[str, float]:
    """Text → image Recall@K of per-attribute pixel probes (see the module docstring)."""
    from sklearn.linear_model import LogisticRegression

    from multimodal.retrieval_metrics import recall_at_k

    sizes = (len(COLOURS), len(SHAPES), len(BACKGROUNDS))
    logp = []
    for a, n in enumerate(sizes):
        probe = LogisticRegression(max_iter=3000).fit(split.train_pixels, split.train_labels[:, a])
        p = np.full((len(split.test_pixels), n), 1e-9)
        p[:, probe.classes_] = probe.predict_proba(split.test_pixels)
        logp.append(np.log(np.maximum(p, 1e-9)))
    items = np.concatenate(logp, axis=1)
    texts: dict[str, tuple[int, ...]] = {}
    for caps, labels in zip(split.test_captions, split.test_labels, strict=True):
        for c in caps:
            texts[c] = tuple(int(x) for x in labels)
    offsets = np.cumsum((0, *sizes[:-1]))
    queries = np.zeros((len(texts), sum(sizes)))
    for q, labels in enumerate(texts.values()):
        queries[q, offsets + np.array(labels)] = 1.0
    relevant = [{i for i, caps in enumerate(split.test_captions) if t in caps} for t in texts]
    return {f"R@{k}": round(v, 4) for k, v in recall_at_k(queries, items, relevant).items()}


def digits_baseline(split: Split) -> dict[str, float]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier

    y, y_test = split.train_labels[:, 0], split.test_labels[:, 0]
    logistic = LogisticRegression(max_iter=5000).fit(split.train_pixels, y)
    knn = KNeighborsClassifier(n_neighbors=1).fit(split.train_pixels, y)
    return {"logistic_accuracy": round(float(logistic.score(split.test_pixels, y_test)), 4),
            "1nn_accuracy": round(float(knn.score(split.test_pixels, y_test)), 4)}


def run_set(name: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    split = other_shapes(work / "data") if name == "other-shapes" else digits(work / "data")
    load_before = machine().rsplit("load average ", 1)[1]
    trained = train_process(split.train, work / "model", args)
    load_after = machine().rsplit("load average ", 1)[1]
    templates = DIGIT_TEMPLATES if name == "digits" else ("a picture showing a {label}",)
    scores = held_out(work / "model", split.test, templates)
    result: dict[str, Any] = {
        "set": name, "train_images": len(split.train_pixels), "test_images": len(split.test_pixels),
        "minutes": args.minutes, "process_seconds": trained["process_seconds"],
        "train_wall_seconds": trained["wall_seconds"], "best_epoch": trained["best_epoch"],
        "last_epoch": trained["last_epoch"], "load_before": load_before, "load_after": load_after,
        "kept": scores["kept"], "last": scores["last"],
        "val_history": [{"epoch": e["epoch"], "wall": e["wall"],
                         "val_t2i": e["val"]["text_to_image"] if e["val"] else None} for e in trained["epochs"]],
    }
    if name == "digits":
        result["baseline"] = digits_baseline(split)
        gap = result["baseline"]["logistic_accuracy"] - scores["kept"]["zero_shot"]["accuracy"]
        result["target_met"] = bool(gap <= ZERO_SHOT_GAP)
    else:
        result["baseline"] = shapes_baseline(split)
        result["target_met"] = bool(scores["kept"]["text_to_image"]["R@5"] >= R5_TARGET)
    return result


def table(results: list[dict[str, Any]]) -> str:
    rows = ["| set | train/test images | budget | process wall | best / last epoch | held-out t2i R@1 / R@5 "
            "(kept; last) | zero-shot acc (kept; last) | baseline | target met | load avg (start → end) |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        k, last = r["kept"], r["last"]
        t2i = (f"{k['text_to_image']['R@1']:.3f} / {k['text_to_image']['R@5']:.3f}; "
               f"{last['text_to_image']['R@1']:.3f} / {last['text_to_image']['R@5']:.3f}")
        zs = (f"{k['zero_shot']['accuracy']:.3f}; {last['zero_shot']['accuracy']:.3f}" if "zero_shot" in k else "–")
        base = ", ".join(f"{key} {v:.3f}" for key, v in r["baseline"].items())
        budget = r["minutes"] * 60
        rows.append(f"| {r['set']} | {r['train_images']}/{r['test_images']} | {budget:.0f} s | "
                    f"{r['process_seconds']:.1f} s ({100 * (r['process_seconds'] / budget - 1):+.1f}%) | "
                    f"{r['best_epoch']} / {r['last_epoch']} | {t2i} | {zs} | {base} | "
                    f"{'yes' if r['target_met'] else 'no'} | {r['load_before']} → {r['load_after']} |")
    return "\n".join(rows)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=3.0, help="training budget per set (default 3)")
    p.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, from {', '.join(SETS)}")
    p.add_argument("--config", metavar="JSON", help="an open_clip model config to train (default: mm-tiny)")
    p.add_argument("--model", metavar="ARCH", help="an architecture name for `train --model`")
    p.add_argument("--batch-size", type=int, help="passed to train (default: train's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", metavar="DIR", help="keep data and models here (default: a temporary folder)")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = p.parse_args()
    names = [s.strip() for s in args.sets.split(",") if s.strip()]
    if unknown := set(names) - set(SETS):
        p.error(f"unknown sets {sorted(unknown)}; choose from {', '.join(SETS)}")
    print(f"machine: {machine()}", flush=True)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.work) if args.work else Path(tmp)
        for name in names:
            print(f"{name}: generating, training for {args.minutes} min, scoring ...", flush=True)
            results.append(run_set(name, root / name, args))
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
