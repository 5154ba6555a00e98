"""The one-time bfloat16 self-check behind `--precision auto` on a CPU that computes bfloat16 natively.

A fixed probe batch (seeded pixel noise and a few texts) is encoded by the float32 model and by a bfloat16
copy; bf16 is used when every probe vector keeps cosine >= BF16_MIN_COSINE to its float32 one. The measured
cosine is cached per model and weights file (the same key as the text tower's), so the check costs about a
second once, not on every start; the threshold is applied when it is read.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from multimodal.config import default_data_dir
from multimodal.model_spec import ModelSpec, model_key

BF16_MIN_COSINE = 0.999  # per probe vector, bfloat16 against float32
# Texts a variant of a model (a bfloat16 copy here, an ONNX text tower in text_tower.py) must agree on.
PROBE_TEXTS = ("a photo of a dog", "a red square on a white background", "two people on a beach at sunset",
               "Café crème & croissants, 5 € — “breakfast”", "un chat noir", "x " * 60)
PROBE_IMAGES = 4


def check_file(spec: ModelSpec, root: Path | None = None) -> Path:
    return (root or default_data_dir() / "precision-checks") / f"{model_key(spec)}.json"


def bf16_agrees(spec: ModelSpec, model: Any, tokenizer: Any, root: Path | None = None) -> tuple[bool, float]:
    """Whether `model` (float32, on the CPU) may run in bfloat16, and the lowest probe cosine that says so."""
    path = check_file(spec, root)
    try:
        cosine = float(json.loads(path.read_text())["cosine"])
    except (OSError, ValueError, KeyError):
        cosine = probe_cosine(model, tokenizer)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"model": spec.label(), "cosine": cosine}))
        with contextlib.suppress(OSError):
            tmp.replace(path)
    return cosine >= BF16_MIN_COSINE, cosine


def probe_cosine(model: Any, tokenizer: Any) -> float:
    """The lowest cosine between a bfloat16 copy's and `model`'s vectors on the probe batch."""
    import copy

    import torch

    size = model.visual.image_size
    size = int(size[0] if isinstance(size, (tuple, list)) else size)
    images = torch.randn(PROBE_IMAGES, 3, size, size, generator=torch.Generator().manual_seed(0))
    tokens = tokenizer(list(PROBE_TEXTS))
    half = copy.deepcopy(model).to(torch.bfloat16).eval()
    with torch.inference_mode():
        full = [model.encode_image(images), model.encode_text(tokens)]
        low = [half.encode_image(images.to(torch.bfloat16)), half.encode_text(tokens)]
    cosines = [torch.nn.functional.cosine_similarity(a.float(), b.float(), dim=-1) for a, b in zip(full, low,
                                                                                                  strict=True)]
    return float(torch.cat(cosines).min())
