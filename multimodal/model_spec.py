"""Which model: the one parser for model names and weights, and the identity an index records.

    ViT-B-32 + laion2b_s34b_b79k   an open_clip architecture and a pretrained tag
    ViT-B-32 + /path/w.safetensors a checkpoint file (made absolute)
    ViT-B-32 + none                random weights, seeded (tests and benchmarks only)
    local-dir:/path/to/folder      an open_clip folder (open_clip_config.json + weights; made absolute)
    hf-hub:org/repo                an open_clip model on the Hugging Face hub

Depends on nothing in the project and imports neither torch nor open_clip: the store, the model notes and
the caches key on a spec without loading a model.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
from dataclasses import dataclass
from pathlib import Path

RANDOM_WEIGHTS = "none"
LOCAL_DIR = "local-dir:"
HF_HUB = "hf-hub:"
CHECKPOINT_SUFFIXES = (".bin", ".pt", ".pth", ".safetensors")
KEY_FORMAT = 1  # bump when what is cached under `model_key` (text towers, precision checks) changes form


@dataclass(frozen=True)
class ModelSpec:
    """Which model: what the index records so vectors from different models never mix."""

    model: str  # architecture name, or local-dir:/abs/path, or hf-hub:org/repo
    pretrained: str  # open_clip tag, absolute checkpoint path, "none", or "" for schema models

    @classmethod
    def parse(cls, model: str, pretrained: str | None) -> ModelSpec:
        """The spec for a `--model` and `--pretrained` pair (`pretrained` is ignored for schema models)."""
        if model.startswith(LOCAL_DIR):
            return cls(f"{LOCAL_DIR}{Path(model[len(LOCAL_DIR):]).expanduser().resolve()}", "")
        if model.startswith(HF_HUB):
            return cls(model, "")
        pretrained = (pretrained or "").strip()
        if pretrained.lower() in ("none", "random", ""):
            return cls(model, RANDOM_WEIGHTS)
        if os.sep in pretrained or Path(pretrained).suffix in CHECKPOINT_SUFFIXES:
            return cls(model, str(Path(pretrained).expanduser().resolve()))
        return cls(model, pretrained)

    @property
    def folder(self) -> Path | None:
        """The folder of a local-dir: model; None for any other."""
        return folder_of(self.model)

    @property
    def hub_repo(self) -> str | None:
        """`org/repo` of an hf-hub: model; None for any other."""
        return self.model[len(HF_HUB):] if self.model.startswith(HF_HUB) else None

    @property
    def is_random(self) -> bool:
        return self.pretrained == RANDOM_WEIGHTS

    @property
    def checkpoint(self) -> Path | None:
        """The checkpoint file named by `pretrained` (an absolute path); None for a tag or random weights."""
        return Path(self.pretrained) if self.pretrained and Path(self.pretrained).is_absolute() else None

    def label(self) -> str:
        return self.model if not self.pretrained else f"{self.model} ({self.pretrained})"


def is_schema(model: str) -> bool:
    """Whether `model` names its weights itself (local-dir:, hf-hub:), so --pretrained does not apply."""
    return model.startswith((LOCAL_DIR, HF_HUB))


def split_pair(text: str) -> tuple[str, str | None]:
    """`ARCH:TAG` (one string, as the benchmarks' --model takes it) → (ARCH, TAG or None); a local-dir: or
    hf-hub: name is one model with no separate weights."""
    if is_schema(text):
        return text, None
    name, _, weights = text.partition(":")
    return name, weights or None


def folder_of(model: str) -> Path | None:
    """The folder of a `local-dir:` model name (as written, not resolved); None for other names."""
    return Path(model[len(LOCAL_DIR):]) if model.startswith(LOCAL_DIR) else None


def model_key(spec: ModelSpec) -> str:
    """A name for `spec` as it is now: its weights files (size, time), open_clip's and torch's versions."""
    parts = [spec.model, spec.pretrained, str(KEY_FORMAT), _version("open_clip_torch"), _version("torch")]
    for path in _weight_files(spec):
        stat = path.stat()
        parts += [str(path), str(stat.st_size), str(stat.st_mtime_ns)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


def _weight_files(spec: ModelSpec) -> list[Path]:
    """Files whose change changes the model (a retrained local-dir model, a rewritten checkpoint)."""
    folder = spec.folder
    if folder is not None:
        return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    checkpoint = spec.checkpoint
    if checkpoint is not None and checkpoint.is_file():
        return [checkpoint]
    return []  # a tag's or the hub's files are fixed by name; random weights by the seed


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "-"
