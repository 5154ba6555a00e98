"""`multimodal train DATA --out MODEL_DIR`: contrastive training or fine-tuning on a captioned folder."""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multimodal.cli.common import env, print_json
from multimodal.cli.progress import TrainingBars
from multimodal.config import Settings

if TYPE_CHECKING:  # multimodal.train loads torch: only when a run starts (`train --help` stays fast)
    from multimodal.train import TrainConfig


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train", help="train or fine-tune a model on captioned images",
        description="Contrastive training (open_clip's ClipLoss) on DATA's image-caption pairs. Writes an "
        "open_clip model folder to --out (the best epoch by validation Recall); use it anywhere with "
        "--model local-dir:OUT. Rerunning the same command resumes after the last finished epoch.",
    )
    _add_arguments(p)
    return p


def parser() -> argparse.ArgumentParser:
    """The train command's own parser (the demo's retrain runs its recorded command through it)."""
    p = argparse.ArgumentParser(prog="multimodal train")
    _add_arguments(p)
    return p


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="captioned folder (.txt sidecars, captions.csv or captions.jsonl)")
    p.add_argument("--out", required=True, metavar="DIR", help="model folder to write (and resume from)")
    p.add_argument("--model", default="mm-tiny", metavar="ARCH",
                   help="architecture to train from scratch (default mm-tiny), or the model to fine-tune: "
                   "an open_clip name with --pretrained, local-dir:PATH or hf-hub:ORG/REPO")
    p.add_argument("--pretrained", metavar="WEIGHTS", help="starting weights: open_clip tag or checkpoint file "
                   "(default: none, i.e. from scratch)")
    p.add_argument("--config", metavar="JSON", help="an architecture as an open_clip model config file")
    p.add_argument("--epochs", type=int, help="passes over the data (default 10, unless --minutes is given)")
    p.add_argument("--minutes", type=float, help="wall-clock budget of the whole run, loading and scoring "
                   "included (the learning-rate schedule follows it)")
    p.add_argument("--batch-size", type=int, default=64, help="pairs per step (default 64)")
    p.add_argument("--lr", type=float, default=1.5e-3, help="peak learning rate (default 1.5e-3; try 1e-5 to fine-tune "
                   "a large pretrained model)")
    p.add_argument("--weight-decay", type=float, default=0.1, help="AdamW weight decay (default 0.1)")
    p.add_argument("--seed", type=int, default=0, help="fixes initial weights, data order and augmentation")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of DATA held out for the per-epoch "
                   "Recall@K (default 0.1; 0 = none)")
    p.add_argument("--eval-data", metavar="DIR", help="another captioned folder scored after every epoch")
    p.add_argument("--hard-negatives", type=float, default=0.0, metavar="SHARE",
                   help="share of batches whose captions all share one word (0-1, default 0): teaches the "
                        "attributes a random batch lets the model skip")
    p.add_argument("--colourless-epochs", type=int, default=0, metavar="N",
                   help="the first N epochs train only on captions that name no colour (default 0): a model "
                        "learns colour first and then reads shapes through it; this teaches shapes first")
    p.add_argument("--restart", action="store_true", help="ignore a checkpoint in --out and start over")
    p.add_argument("--device", help=f"cpu, cuda, cuda:N or auto (default: env {env('device')}, else auto)")
    p.add_argument("--workers", type=int, help=f"image-decoding threads (default: env {env('workers')}, else one "
                   "per core)")
    p.add_argument("--json", action="store_true", help="print the per-epoch results as JSON at the end")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The run `args` ask for; --device and --workers fall back to MULTIMODAL_DEVICE / MULTIMODAL_WORKERS (Settings)."""
    from multimodal.train import TrainConfig

    settings = Settings.resolve(device=args.device, workers=args.workers)
    return TrainConfig(
        data=Path(args.data).expanduser(), out=Path(args.out).expanduser(), model=args.model,
        pretrained=args.pretrained, config=Path(args.config).expanduser() if args.config else None,
        epochs=args.epochs, minutes=args.minutes, batch_size=args.batch_size, lr=args.lr,
        weight_decay=args.weight_decay, seed=args.seed, val_fraction=args.val_fraction,
        eval_data=Path(args.eval_data).expanduser() if args.eval_data else None, device=settings.device,
        workers=settings.workers, restart=args.restart, hard_negatives=args.hard_negatives,
        colourless_epochs=args.colourless_epochs,
    )


def run(args: argparse.Namespace) -> int:
    from multimodal.train import train

    config = config_from_args(args)
    bars = TrainingBars(disabled=args.quiet)
    try:
        report = train(config, on_step=bars.step, on_epoch=bars.epoch, on_load=bars.load, started=process_start())
    finally:
        bars.close()
    if report.resumed_from:
        print(f"resumed after epoch {report.resumed_from}", file=sys.stderr)
    for line in report.skipped:
        print(f"  skipped {line}", file=sys.stderr)
    last = report.epochs[-1].epoch if report.epochs else 0
    if args.json:
        print_json({"out": str(report.out), "pairs": report.pairs, "resumed_from": report.resumed_from,
                    "best_epoch": report.best_epoch, "last_epoch": last, "wall_seconds": report.wall_seconds,
                    "epochs": [e.to_dict() for e in report.epochs]})
    else:
        print(f"kept epoch {report.best_epoch} of {last} (best validation Recall); "
              f"{report.wall_seconds:.0f}s in all", file=sys.stderr)
        print(f"model written to {report.out}; use it with --model local-dir:{report.out.absolute()}",
              file=sys.stderr)
    # Measured here: the interpreter's final garbage collections over torch's objects took 2–4 s at exit
    # (0.6 s frozen), time after the budget. Freezing only stops the cycle collector scanning what exists now.
    gc.freeze()
    return 0


def process_start() -> float:
    """This process's start on the `time.monotonic()` clock (Linux; elsewhere: now), so `--minutes` counts
    the interpreter's start and the imports as part of the run."""
    now = time.monotonic()
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return now
    return now - age if 0 <= age < 3600 else now
