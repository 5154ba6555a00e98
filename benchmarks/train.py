"""The demo model's recipe, run and measured: held-out Recall@K against minutes, and the measures a user feels.

    .venv/bin/python benchmarks/train.py                         # run the recipe, print the curve and the scores
    .venv/bin/python benchmarks/train.py --plot curve.png        # also draw held-out R@1/R@5 against minutes
    .venv/bin/python benchmarks/train.py --export data/demo-model   # write the shipped model and its recipe.json

Runs `multimodal train` exactly as the demo's recipe records it (`multimodal.demo.train_command`) on the
demo's generated data and, after every epoch, scores text → image Recall@K on the held-out split
(colour × shape pairs never seen in training, captions in English and French). At the end it scores the
model as a user meets it (`multimodal.attribute_eval`): per-attribute zero-shot accuracy on held-out
images, held-out R@1 of full captions, and "a {colour} {shape}" on the 300-image gallery, both languages,
on data generated with seeds the recipe never trains or selects on. Time counts training steps only;
scoring between epochs is reported apart. The machine may be shared: the load average is printed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import machine
from multimodal import demo, model_notes
from multimodal.train import EpochReport

TARGETS = {"zero_shot": 0.95, "heldout_r1": 0.9, "pair_queries": 0.95}
CHECK_SEED = 1000  # the fresh held-out and gallery sets scored at the end: never used to train or choose


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", metavar="DIR", help="where to generate the data (default: a temporary folder)")
    p.add_argument("--models", metavar="DIR", help="where to train (default: a temporary folder); a rerun resumes")
    p.add_argument("--json", metavar="FILE", help="also write the curve and scores as JSON")
    p.add_argument("--plot", metavar="PNG", help="draw held-out Recall@K against training minutes")
    p.add_argument("--export", metavar="DIR", help="write the model (float16 weights) and recipe.json to DIR")
    args = p.parse_args()
    print(f"machine: {machine()}")
    print(f"command: {shlex.join(demo.train_command())}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.data) if args.data else Path(tmp) / "data"
        data = demo.prepare_data(folder, with_train=True)
        curve: list[dict[str, float]] = []
        wall = time.perf_counter()

        def on_epoch(r: EpochReport) -> None:
            assert r.eval is not None
            row = {"epoch": r.epoch, "train_minutes": round(r.seconds / 60, 3),
                   "wall_minutes": round((time.perf_counter() - wall) / 60, 3),
                   "heldout_R@1": r.eval.text_to_image[1], "heldout_R@5": r.eval.text_to_image[5],
                   "images_per_second": r.images_per_second}
            curve.append(row)
            print(f"  epoch {r.epoch:>2}  {row['train_minutes']:5.2f} min training ({row['wall_minutes']:5.2f} wall)"
                  f"  held-out R@1 {row['heldout_R@1']:.3f}  R@5 {row['heldout_R@5']:.3f}"
                  f"  {r.images_per_second:.0f} img/s", flush=True)

        model, _ = demo.prepare_model(data, Path(args.models) if args.models else Path(tmp) / "models",
                                      on_epoch=on_epoch, on_stage=print, device="cpu")
        scores = score_fresh(model, Path(tmp) / "check")
        result = {"machine": machine(), "curve": curve, "scores": scores, "targets": TARGETS,
                  "train_minutes": curve[-1]["train_minutes"] if curve else None}
        _print_scores(scores)
        print(f"load at the end: {machine().rsplit('load average ', 1)[1]}")
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1))
        if args.plot and curve:
            plot(curve, Path(args.plot))
        if args.export:
            export(model, Path(args.export), result)
    return 0 if meets_targets(scores) else 1


def score_fresh(model: Path, folder: Path) -> dict[str, Any]:
    """Scores on a held-out split and a gallery drawn with seeds the recipe never used."""
    from multimodal.attribute_eval import score_attributes
    from multimodal.encoder import load_encoder
    from multimodal.synthetic import generate

    r = demo.RECIPE
    generate(folder / "heldout", split="heldout", per_combination=r.heldout_per_combination, seed=CHECK_SEED,
             size=r.image_size, languages=r.languages)
    generate(folder / "gallery", split="all", per_combination=1, seed=CHECK_SEED + 1, size=r.image_size,
             languages=r.languages)
    encoder = load_encoder(f"local-dir:{model}", None, "cpu")
    scores = score_attributes(encoder, folder / "heldout", folder / "gallery")
    return scores.to_dict()


def meets_targets(scores: dict[str, Any]) -> bool:
    return (all(v >= TARGETS["zero_shot"] for v in scores["zero_shot"]["en"].values())
            and scores["heldout_r1"]["en"] >= TARGETS["heldout_r1"]
            and scores["pair_queries"]["en"] >= TARGETS["pair_queries"])


def _print_scores(scores: dict[str, Any]) -> None:
    for lang, attrs in scores["zero_shot"].items():
        cells = "  ".join(f"{k} {v:.3f}" for k, v in attrs.items())
        print(f"{lang}: zero-shot {cells}  |  held-out R@1 {scores['heldout_r1'][lang]:.3f}  |  "
              f"'a {{colour}} {{shape}}' right at rank 1: {scores['pair_queries'][lang]:.3f}")
    for miss in scores["wrong"]:
        print(f"  missed: {miss['text']!r} -> {miss['top']}")


def plot(curve: list[dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.4), dpi=110)
    minutes = [row["train_minutes"] for row in curve]
    ax.plot(minutes, [row["heldout_R@5"] for row in curve], marker=".", label="held-out R@5")
    ax.plot(minutes, [row["heldout_R@1"] for row in curve], marker=".", label="held-out R@1")
    ax.set_xlabel("training minutes (2-core CPU)")
    ax.set_ylabel("text → image recall")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title("Demo model: full captions of held-out colour × shape pairs among held-out images\n"
                 "(English + French; colour, size and position suffice there, shape is not tested)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def export(model: Path, out: Path, result: dict[str, Any]) -> None:
    """The shipped model: config, float16 weights (half the size; cosine to float32 ≥ 0.99999) and recipe.json."""
    import torch
    from safetensors.torch import load_file, save_file

    out.mkdir(parents=True, exist_ok=True)
    for name in ("open_clip_config.json", "vocabulary.json"):  # the words it was trained on: weak-match signal
        shutil.copy(model / name, out / name)
    tensors = load_file(str(model / "open_clip_model.safetensors"))
    save_file({k: v.to(torch.float16) if v.is_floating_point() else v for k, v in tensors.items()},
              str(out / "open_clip_model.safetensors"))
    manifest = {
        "what": "the demo's tiny OpenCLIP model: a toy trained on generated coloured shapes, nothing else",
        "data_version": demo.DATA_VERSION, "recipe": asdict(demo.RECIPE),
        "data": "multimodal.demo.prepare_data(DATA, with_train=True)",
        "command": shlex.join(demo.train_command()),
        "weights": "float16 copy of the trained float32 weights",
        "sha256": hashlib.sha256((out / "open_clip_model.safetensors").read_bytes()).hexdigest(),
        "train_minutes": result["train_minutes"], "machine": result["machine"],
        "scores": {k: v for k, v in result["scores"].items() if k != "wrong"},
    }
    model_notes.write_note(out, model_notes.TOY_NOTE)  # `info`, the UI header and stderr say it is a toy
    (out / demo.MANIFEST_FILE).write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n",
                                          encoding="utf-8")
    print(f"exported to {out}")


if __name__ == "__main__":
    sys.exit(main())
