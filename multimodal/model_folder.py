"""Model folders in open_clip's format: `open_clip_config.json` (model_cfg + preprocess_cfg) and
`open_clip_model.safetensors`, which `--model local-dir:FOLDER` loads in every command.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multimodal.encoder import register_model_configs
from multimodal.errors import ConfigError
from multimodal.model_spec import ModelSpec

if TYPE_CHECKING:  # torch loads with the model, not with this module (model notes import it)
    import torch

WEIGHTS_FILE = "open_clip_model.safetensors"
CONFIG_FILE = "open_clip_config.json"


def architecture(config: Path | None) -> tuple[str | None, dict[str, Any] | None]:
    """For an architecture given as a JSON file: the name it is registered under with open_clip, and its
    model_cfg. (None, None) without a file."""
    import open_clip

    register_model_configs()
    if config is None:
        return None, None
    path = Path(config)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"cannot read model config {path}: {e}") from e
    cfg = raw.get("model_cfg", raw)
    if not {"embed_dim", "vision_cfg", "text_cfg"} <= set(cfg):
        raise ConfigError(f"{path} is not an open_clip model config (needs embed_dim, vision_cfg, text_cfg)")
    name = f"mm-custom-{path.stem}"
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"multimodal-configs-{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(folder)
    return name, cfg


def model_cfg(spec: ModelSpec) -> dict[str, Any]:
    """The architecture of a loaded model, as open_clip's model_cfg dict."""
    import open_clip

    if spec.folder is not None:
        return dict(json.loads((spec.folder / CONFIG_FILE).read_text(encoding="utf-8"))["model_cfg"])
    if spec.hub_repo is not None:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(spec.hub_repo, CONFIG_FILE)
        if not isinstance(found, str):
            raise ConfigError(f"cannot find the config of {spec.model} in the Hugging Face cache")
        return dict(json.loads(Path(found).read_text(encoding="utf-8"))["model_cfg"])
    cfg = dict(open_clip.get_model_config(spec.model) or {})
    tag = open_clip.get_pretrained_cfg(spec.model, spec.pretrained) if spec.pretrained else {}
    if tag and tag.get("quick_gelu"):
        cfg["quick_gelu"] = True  # the tag was trained with QuickGELU; the saved model must keep it
    return cfg


def save_model(model: torch.nn.Module, arch: dict[str, Any], out: Path, tokenizer: Any = None) -> None:
    """Write `model` as an open_clip folder that `local-dir:OUT` loads."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    preprocess_cfg = dict(getattr(model.visual, "preprocess_cfg", {}) or {})
    config = {"model_cfg": arch, "preprocess_cfg": preprocess_cfg}
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(out / WEIGHTS_FILE, lambda tmp: save_file(tensors, str(tmp)))
    atomic_write(out / CONFIG_FILE, lambda tmp: tmp.write_text(json.dumps(config, indent=2)))
    hf = getattr(tokenizer, "tokenizer", None)
    if arch.get("text_cfg", {}).get("hf_tokenizer_name") and hf is not None and hasattr(hf, "save_pretrained"):
        hf.save_pretrained(str(out))  # local-dir loads an HF tokenizer from the folder itself


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """Write through a temporary file, so a crash never leaves a half-written model or checkpoint."""
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)
