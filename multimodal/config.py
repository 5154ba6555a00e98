"""Settings: one frozen dataclass, resolved as flags > environment (MULTIMODAL_*) > defaults."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from multimodal.errors import ConfigError

DEFAULT_MODEL = "ViT-B-32"
DEFAULT_PRETRAINED = "laion2b_s34b_b79k"
DEFAULT_COLLECTION = "multimodal"
PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # auto: fp16 on CUDA, bf16 on a CPU that passes its check (encoder.py)
_COLLECTION_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]")


def default_data_dir() -> Path:
    """Per-user data folder (XDG on Linux, ~/Library on macOS, %LOCALAPPDATA% on Windows)."""
    if os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif os.uname().sysname == "Darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "multimodal"


@dataclass(frozen=True)
class HnswConfig:
    """Chroma's HNSW index parameters (set when a collection is created; ef_search also later)."""

    # Chosen by benchmarks/query.py (100k clustered vectors): recall@10 0.96-0.98 at 100, 0.99 at 200 for
    # +0.7 ms a query.
    ef_search: int = 200  # candidates kept while searching; higher = better recall, slower query
    ef_construction: int = 200  # candidates kept while inserting; higher = better graph, slower add
    max_neighbors: int = 16  # graph degree ("M"); higher = better recall on hard data, more memory


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to open an index and a model."""

    index_dir: Path = field(default_factory=lambda: default_data_dir() / "index")  # embedded Chroma folder
    chroma_url: str | None = None  # http://host:port of a Chroma server; None = embedded
    chroma_token: str | None = None  # bearer token for a Chroma server with token auth
    retry_seconds: float = 60.0  # how long a call keeps retrying (with backoff) while the server is unreachable
    collection: str = DEFAULT_COLLECTION  # Chroma collection holding images and captions
    model: str | None = None  # open_clip architecture or local-dir:/hf-hub: name; None = the index's or default
    pretrained: str | None = None  # open_clip tag, checkpoint file or "none"; None = the index's or default
    device: str = "auto"  # "cpu", "cuda", "cuda:1" or "auto"
    precision: str = "auto"  # auto, fp32, bf16 (CUDA or a CPU with native bfloat16) or fp16 (CUDA)
    batch_size: int = 16  # images per forward pass
    workers: int = 0  # image-decoding threads; 0 = one per core
    max_pixels: int = 180_000_000  # larger images are refused as decompression bombs
    compress: str | None = None  # none, float16 or pcaN: how a new index stores vectors; None = the index's own
    hnsw: HnswConfig = field(default_factory=HnswConfig)

    @classmethod
    def resolve(cls, **flags: Any) -> Settings:
        """Build settings from flags (None = not given), then MULTIMODAL_* variables, then defaults."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "hnsw":
                continue
            raw = _given(flags, f.name)
            if raw is not None:
                values[f.name] = _coerce(f.name, raw)
        unknown = set(flags) - {f.name for f in fields(cls)} - set(HNSW_FLAGS)
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        settings = cls(**values)
        given = flags.get("hnsw")
        hnsw = given if isinstance(given, HnswConfig) else _resolve_hnsw(flags)
        return replace(settings, hnsw=hnsw).validated()

    def validated(self) -> Settings:
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.workers < 0:
            raise ConfigError(f"--workers must be 0 (auto) or more, got {self.workers}")
        if self.retry_seconds < 0:
            raise ConfigError(f"--retry-seconds must be 0 (no retry) or more, got {self.retry_seconds}")
        if self.compress is not None:
            from multimodal.compression import check_name  # NumPy loads only when a codec is named

            check_name(self.compress)
        check_precision(self.precision)
        if self.chroma_url and not self.chroma_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"--chroma-url must look like http://host:port, got {self.chroma_url!r}"
            )
        if not _COLLECTION_NAME.fullmatch(self.collection):
            raise ConfigError(
                f"--collection must be 3-512 characters of letters, digits, '.', '_' or '-', starting and ending "
                f"with a letter or digit (Chroma's rule), got {self.collection!r}"
            )
        return self


def check_precision(precision: str) -> None:
    """Raise a ConfigError unless `precision` is one of PRECISIONS (what it means on a device: encoder.py)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


# Flat names for the HNSW fields: flags `hnsw_ef_search=...` and env MULTIMODAL_HNSW_EF_SEARCH.
HNSW_FLAGS = {f"hnsw_{f.name}": f.name for f in fields(HnswConfig)}


def _resolve_hnsw(flags: dict[str, Any]) -> HnswConfig:
    values: dict[str, int] = {}
    for flag, name in HNSW_FLAGS.items():
        raw = _given(flags, flag)
        if raw is None:
            continue
        values[name] = _coerce(flag, raw)
        if values[name] < (2 if name == "max_neighbors" else 1):
            raise ConfigError(f"--{flag.replace('_', '-')} is too small: {values[name]}")
    return HnswConfig(**values)


def _given(flags: dict[str, Any], name: str) -> Any:
    """The flag's value, else MULTIMODAL_<NAME>'s; None when neither is given (an empty string counts as not)."""
    raw = flags.get(name)
    raw = raw if raw is not None else os.environ.get(f"MULTIMODAL_{name.upper()}")
    return None if raw is None or raw == "" else raw


def _coerce(name: str, raw: Any) -> Any:
    if name == "index_dir":
        return Path(raw).expanduser()
    if name in {"batch_size", "workers", "max_pixels", *HNSW_FLAGS}:
        try:
            return int(raw)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{name} must be a whole number, got {raw!r}") from e
    if name == "retry_seconds":
        try:
            return float(raw)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from e
    return raw
