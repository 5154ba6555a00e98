"""Options shared by subcommands, and the one place that turns flags into Settings."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from typing import Any

from multimodal.config import HNSW_FLAGS, PRECISIONS, Settings

OPTION_DEST = {"index_dir": "index"}  # Settings fields set by an option of another name; the rest: --field-name


def env(field: str) -> str:
    """The environment variable behind the Settings field `field` (what Settings.resolve reads)."""
    return f"MULTIMODAL_{field.upper()}"


def add_index_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("index")
    group.add_argument("--index", metavar="DIR", help=f"embedded index folder (env {env('index_dir')}; "
                       "default: the per-user data folder)")
    group.add_argument("--chroma-url", metavar="URL", help="use a Chroma server, e.g. http://localhost:8000 "
                       f"(env {env('chroma_url')})")
    group.add_argument("--chroma-token", metavar="TOKEN", help="token for a Chroma server with token auth "
                       f"(env {env('chroma_token')})")
    group.add_argument("--collection", metavar="NAME", help=f"Chroma collection (default: multimodal; "
                       f"env {env('collection')})")
    group.add_argument("--retry-seconds", type=float, metavar="S", help="keep retrying an unreachable Chroma "
                       f"server this long, with backoff, before giving up (default 60; env {env('retry_seconds')})")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", metavar="ARCH", help="open_clip architecture (default ViT-B-32), "
                       "local-dir:PATH or hf-hub:ORG/REPO; an existing index uses its own model "
                       f"(env {env('model')})")
    group.add_argument("--pretrained", metavar="WEIGHTS", help="open_clip tag (default laion2b_s34b_b79k), "
                       "a checkpoint file, or 'none' (random weights: tests and benchmarks only; "
                       f"env {env('pretrained')})")
    group.add_argument("--device", metavar="DEV", help=f"cpu, cuda, cuda:N or auto (default; env {env('device')})")
    group.add_argument("--precision", choices=PRECISIONS, help="auto (default: fp16 on CUDA; bf16 on a CPU "
                       "with AVX512-BF16 or AMX once a one-time self-check per model passes, else float32), fp32, "
                       "bf16 (about 2x faster on such a CPU; cosine >= 0.999 of float32) or fp16 (CUDA); "
                       f"env {env('precision')}")


def add_hnsw_options(parser: argparse.ArgumentParser) -> None:
    """Chroma's HNSW graph parameters; they take effect when the index (collection) is created."""
    group = parser.add_argument_group("HNSW index (used when the index is created)")
    group.add_argument("--hnsw-ef-search", type=int, metavar="N", help="candidates kept per query; higher = better "
                       f"recall, slower (default 200; env {env('hnsw_ef_search')})")
    group.add_argument("--hnsw-ef-construction", type=int, metavar="N", help="candidates kept per insert "
                       f"(default 200; env {env('hnsw_ef_construction')})")
    group.add_argument("--hnsw-max-neighbors", type=int, metavar="M", help="graph degree M (default 16; "
                       f"env {env('hnsw_max_neighbors')})")


def settings_from(args: argparse.Namespace, **extra: Any) -> Settings:
    """Flags > MULTIMODAL_* environment > defaults, for every Settings field (and HNSW flag) whose option the
    command has (see OPTION_DEST); `extra` overrides."""
    names = [f.name for f in fields(Settings) if f.name != "hnsw"] + list(HNSW_FLAGS)
    flags = {name: getattr(args, OPTION_DEST.get(name, name), None) for name in names}
    return Settings.resolve(**{**flags, **extra})


def prepare_text_queries(index: Any, quiet: bool = False) -> None:
    """After a command that loaded the model: export its text tower once, so later text searches skip torch
    (multimodal/text_tower.py; needs the `onnx` extra). Silent when there is nothing to do."""
    def note() -> None:
        if not quiet:
            print("preparing fast text search for this model (once: the text tower in ONNX Runtime)...",
                  file=sys.stderr, flush=True)

    index.export_text_tower(on_start=note)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=None, default=str)
    sys.stdout.write("\n")


def say_model_note(note: str | None) -> None:
    """One stderr line when the index's model needs a warning (random weights, a toy model)."""
    if note:
        print(f"note: this index's model: {note}", file=sys.stderr)
