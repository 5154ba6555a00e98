"""`multimodal ingest FOLDER`: add a folder's images (and captions) to the index, incrementally."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

from multimodal.cli.common import (
    add_hnsw_options,
    add_index_options,
    add_model_options,
    env,
    prepare_text_queries,
    print_json,
    say_model_note,
    settings_from,
)
from multimodal.cli.progress import ProgressBar
from multimodal.config import Settings
from multimodal.encoder import cpu_has_bf16
from multimodal.ray_options import add_ray_options, ray_options


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("ingest", help="add a folder of images (and captions) to the index",
                              description="Walk FOLDER, encode new or changed images and their captions, "
                              "store them; files that vanished are removed. Rerun to resume.")
    p.add_argument("folder", help="folder (or single image) to ingest")
    p.add_argument("--shard", metavar="I/N", help="only the I-th of N deterministic parts (parallel ingest)")
    p.add_argument("--batch-size", type=int, metavar="N", help="images per forward pass (default 16; "
                   f"env {env('batch_size')})")
    p.add_argument("--workers", type=int, metavar="N", help="decoding threads (default: one per core; "
                   f"env {env('workers')})")
    p.add_argument("--compress", metavar="FORM", help="how a new index stores vectors: none (default), float16, "
                   "or pcaN, e.g. pca128 (fitted on a sample of FOLDER); fixed at the first ingest "
                   f"(env {env('compress')})")
    p.add_argument("--json", action="store_true", help="print a JSON report at the end")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    add_ray_options(p)
    add_index_options(p)
    add_model_options(p)
    add_hnsw_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    from multimodal.index import Index  # loads in run(): `ingest --help` imports none of the library
    from multimodal.ingest import Shard
    from multimodal.ray_engine import make_loader as make_ray_loader
    from multimodal.ray_ingest import RayLoader
    from multimodal.ray_ingest import check_available as check_ray_available
    from multimodal.ray_ingest import shutdown as shutdown_ray

    settings = settings_from(args)
    shard = Shard.parse(args.shard) if args.shard else None
    ray = ray_options(args)
    if ray is not None:
        check_ray_available()  # one line naming the extra, before a model is loaded
    new_folder = _new_index_folder(settings)
    index = Index.open(settings)
    bar = ProgressBar("ingest", disabled=args.quiet or (not sys.stderr.isatty() and args.json))
    loader: RayLoader | None = None
    try:
        if ray is not None:
            loader = make_ray_loader(ray, settings, index.encoder.spec)
        report = index.ingest(args.folder, shard=shard, progress=bar.update, loader=loader)
    except BaseException:
        if new_folder is not None and not index.store.exists:  # the library dropped its empty collection
            _remove_if_untouched(new_folder)
        raise
    finally:
        bar.close()
        if ray is not None:
            shutdown_ray()
    say_model_note(index.store.model_note())
    if loader is not None:
        print(f"ray: {loader.workers_started} workers, {loader.batches_resent} batches re-sent after a lost worker",
              file=sys.stderr)
    if args.json:
        data = report.to_dict()
        if loader is not None:
            data["ray_workers"] = loader.workers_started
            data["ray_start_seconds"] = loader.start_seconds  # of `seconds`: workers loading their model
            if ray is not None and ray.writes == "workers":
                data.update(loader.tally.report())
        print_json(data)
    else:
        _print_summary(report)
        tip = bf16_tip(settings.precision, index.encoder, report.seconds)
        if tip:
            print(tip, file=sys.stderr)
    note = getattr(index.encoder, "precision_note", None)  # `--precision auto` fell back to float32
    if note:
        print(note, file=sys.stderr)
    prepare_text_queries(index, quiet=args.quiet or args.json)
    return 0


_FRESH_FILES = {"chroma.sqlite3", ".ingest.lock"}  # what opening and locking a new embedded index leave


def _new_index_folder(settings: Settings) -> Path | None:
    """The embedded index folder, if this command is the one creating it."""
    if settings.chroma_url:
        return None
    folder = settings.index_dir.expanduser().absolute()
    return None if folder.exists() else folder


def _remove_if_untouched(folder: Path) -> None:
    """A failed first ingest leaves no index folder behind either (only one holding nothing but Chroma's empty
    database is removed; the process ends next, so no open client is left pointing at it)."""
    if folder.is_dir() and {p.name for p in folder.iterdir()} <= _FRESH_FILES:
        shutil.rmtree(folder, ignore_errors=True)


TIP_MIN_SECONDS = 60.0  # a run this long is where a faster mode is worth a line


def bf16_tip(asked: str, encoder: Any, seconds: float) -> str | None:
    """A hint after a long float32 ingest on a CPU that could run --precision bf16 (when no precision was asked)."""
    if asked != "auto" or seconds < TIP_MIN_SECONDS or getattr(encoder, "precision", None) != "fp32":
        return None
    if getattr(encoder, "precision_note", None):  # auto tried bf16 and its self-check failed: no tip
        return None
    if getattr(getattr(encoder, "device", None), "type", None) != "cpu" or not cpu_has_bf16():
        return None
    return ("tip: this CPU computes bfloat16 natively: --precision bf16 (or MULTIMODAL_PRECISION=bf16) runs "
            "ViT-B-32 about 1.9x faster, with vectors within cosine 0.9998 of float32 ones (docs/performance.md)")


def _print_summary(report: Any) -> None:
    d = report.to_dict()
    print(f"{d['added']} added, {d['updated']} updated, {d['unchanged']} unchanged, {d['removed']} removed, "
          f"{d['renamed']} renamed; {d['encoded']} encoded ({d['images_per_second']} img/s), "
          f"{d['captions']} captions, {len(d['failed'])} failed in {d['seconds']:.1f}s", file=sys.stderr)
    for failure in report.failed:
        print(f"  skipped {failure.path}: {failure.reason}", file=sys.stderr)
