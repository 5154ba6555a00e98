"""Options shared by subcommands, and the one place that turns flags into Settings."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from multimodal.config import HNSW_FLAGS, PRECISIONS, Settings


def add_index_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("index")
    group.add_argument("--index", metavar="DIR", help="embedded index folder (env MULTIMODAL_INDEX_DIR; "
                       "default: the per-user data folder)")
    group.add_argument("--chroma-url", metavar="URL", help="use a Chroma server, e.g. http://localhost:8000 "
                       "(env MULTIMODAL_CHROMA_URL)")
    group.add_argument("--chroma-token", metavar="TOKEN", help="token for a Chroma server with token auth "
                       "(env MULTIMODAL_CHROMA_TOKEN)")
    group.add_argument("--collection", metavar="NAME", help="Chroma collection (default: multimodal)")
    group.add_argument("--retry-seconds", type=float, metavar="S", help="keep retrying an unreachable Chroma "
                       "server this long, with backoff, before giving up (default 60; env MULTIMODAL_RETRY_SECONDS)")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", metavar="ARCH", help="open_clip architecture (default ViT-B-32), "
                       "local-dir:PATH or hf-hub:ORG/REPO; an existing index uses its own model")
    group.add_argument("--pretrained", metavar="WEIGHTS", help="open_clip tag (default laion2b_s34b_b79k), "
                       "a checkpoint file, or 'none' (random weights: tests and benchmarks only)")
    group.add_argument("--device", metavar="DEV", help="cpu, cuda, cuda:N or auto (default)")
    group.add_argument("--precision", choices=PRECISIONS, help="auto (default: fp16 on CUDA; bf16 on a CPU "
                       "with AVX512-BF16 or AMX once a one-time self-check per model passes, else float32), fp32, "
                       "bf16 (about 2x faster on such a CPU; cosine >= 0.999 of float32) or fp16 (CUDA); "
                       "env MULTIMODAL_PRECISION")


def add_hnsw_options(parser: argparse.ArgumentParser) -> None:
    """Chroma's HNSW graph parameters; they take effect when the index (collection) is created."""
    group = parser.add_argument_group("HNSW index (used when the index is created)")
    group.add_argument("--hnsw-ef-search", type=int, metavar="N", help="candidates kept per query; higher = better "
                       "recall, slower (default 200; env MULTIMODAL_HNSW_EF_SEARCH)")
    group.add_argument("--hnsw-ef-construction", type=int, metavar="N", help="candidates kept per insert "
                       "(default 200; env MULTIMODAL_HNSW_EF_CONSTRUCTION)")
    group.add_argument("--hnsw-max-neighbors", type=int, metavar="M", help="graph degree M (default 16; "
                       "env MULTIMODAL_HNSW_MAX_NEIGHBORS)")


def settings_from(args: argparse.Namespace, **extra: Any) -> Settings:
    """Flags > MULTIMODAL_* environment > defaults."""
    flags = {
        "index_dir": getattr(args, "index", None),
        "chroma_url": getattr(args, "chroma_url", None),
        "chroma_token": getattr(args, "chroma_token", None),
        "collection": getattr(args, "collection", None),
        "retry_seconds": getattr(args, "retry_seconds", None),
        "model": getattr(args, "model", None),
        "pretrained": getattr(args, "pretrained", None),
        "device": getattr(args, "device", None),
        "precision": getattr(args, "precision", None),
        **{name: getattr(args, name, None) for name in HNSW_FLAGS},
        **extra,
    }
    return Settings.resolve(**flags)


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
