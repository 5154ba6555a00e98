"""How long the shipped tiny model takes to learn the synthetic set: held-out Recall@5 against minutes.

    .venv/bin/python benchmarks/train.py                 # the demo's recipe (data, config, epochs)
    .venv/bin/python benchmarks/train.py --epochs 20 --threads 2 --json curve.json

Trains `mm-tiny` with the demo's two-stage recipe (from scratch on full captions, then a short fine-tune
adding colour + shape captions) on the demo's generated data and, after every epoch, scores
text → image Recall@1/5/10 on the held-out split (colour × shape pairs never seen in
training). Prints the curve and the training time at which held-out R@5 first reached the target
(0.95). Time counts training steps only; scoring between epochs is excluded (and reported apart).
The machine may be shared: the load average at the start and the end are printed with the result.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import machine
from multimodal import demo
from multimodal.train import EpochReport

TARGET = 0.95


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=demo.RECIPE.epochs, help="epochs (default: the demo's)")
    p.add_argument("--seed", type=int, default=demo.RECIPE.seed)
    p.add_argument("--threads", type=int, help="torch threads (default: torch's, one per core)")
    p.add_argument("--data", metavar="DIR", help="where to generate the data (default: a temporary folder)")
    p.add_argument("--json", metavar="FILE", help="also write the curve as JSON")
    args = p.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    recipe = replace(demo.RECIPE, epochs=args.epochs, seed=args.seed)
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.data) if args.data else Path(tmp) / "data"
        started = time.perf_counter()
        data = demo.prepare_data(folder, recipe)
        print(f"data: {folder} ({time.perf_counter() - started:.1f}s to generate or check)")
        curve: list[dict[str, float]] = []
        wall = time.perf_counter()
        offset = {"stage": 0, "seconds": 0.0, "epochs": 0}

        def on_stage(text: str) -> None:
            if curve:  # stage 2's clock and epochs start again at 0: carry stage 1's on
                offset.update(seconds=curve[-1]["train_minutes"] * 60, epochs=curve[-1]["epoch"])
            offset["stage"] += 1
            print(text, flush=True)

        def on_epoch(r: EpochReport) -> None:
            assert r.eval is not None
            row = {"stage": offset["stage"], "epoch": r.epoch + offset["epochs"],
                   "train_minutes": round((r.seconds + offset["seconds"]) / 60, 3),
                   "wall_minutes": round((time.perf_counter() - wall) / 60, 3),
                   "heldout_R@1": r.eval.text_to_image[1], "heldout_R@5": r.eval.text_to_image[5],
                   "heldout_R@10": r.eval.text_to_image[10], "images_per_second": r.images_per_second}
            curve.append(row)
            print(f"  epoch {row['epoch']:>2}  {row['train_minutes']:5.2f} min training "
                  f"({row['wall_minutes']:5.2f} wall)"
                  f"  held-out R@1 {row['heldout_R@1']:.3f}  R@5 {row['heldout_R@5']:.3f}"
                  f"  R@10 {row['heldout_R@10']:.3f}  {r.images_per_second:.0f} img/s", flush=True)

        demo.prepare_model(data, Path(tmp) / "models", recipe, on_epoch=on_epoch, on_stage=on_stage, device="cpu")
    first = next((row for row in curve if row["heldout_R@5"] >= TARGET), None)
    if first:
        print(f"held-out R@5 >= {TARGET} after {first['train_minutes']:.2f} min of training "
              f"({first['wall_minutes']:.2f} min wall, epoch {first['epoch']})")
    else:
        print(f"held-out R@5 never reached {TARGET} in {len(curve)} epochs")
    print(f"load at the end: {machine().rsplit('load average ', 1)[1]}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "target": TARGET, "curve": curve}, indent=1))
    return 0 if first else 1


if __name__ == "__main__":
    sys.exit(main())
