"""The model's text tower exported to ONNX and run by ONNX Runtime: a text query without torch or open_clip.

Importing open_clip (with torch, torchvision and timm) costs several times `import torch`; a text query needs
none of it. After an ingest (or the first text search) loads the model, `export_text_tower` writes the text
tower to ONNX, lets ONNX Runtime optimise it once, and keeps it only if it agrees with torch on a fixed set of
probe texts (cosine >= MIN_COSINE each). Later text queries load that file instead of the model
(`QueryEncoder`); image terms still load the full model, on first use.

Optional: it needs `onnxruntime` (queries) and `onnx` (export), the `onnx` extra. Without them, or for a
model whose tokenizer is not CLIP's (checked at export), everything runs in torch as before.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from multimodal.config import default_data_dir
from multimodal.model_spec import KEY_FORMAT, ModelSpec, model_key
from multimodal.precision_check import PROBE_TEXTS

if TYPE_CHECKING:
    from multimodal.encoder import ClipEncoder, Encoder

MIN_COSINE = 0.9999  # per probe text, ONNX Runtime against torch float32
_FORMAT = KEY_FORMAT  # the exported graph's and its metadata's form: bump model_spec.KEY_FORMAT when they change


def available() -> bool:
    """Whether text queries may use an exported tower: ONNX Runtime is installed and MULTIMODAL_TEXT_TOWER is not 0."""
    return os.environ.get("MULTIMODAL_TEXT_TOWER", "") != "0" and importlib.util.find_spec("onnxruntime") is not None


def tower_folder(spec: ModelSpec, root: Path | None = None) -> Path:
    """Where `spec`'s exported text tower lives: one folder per model and weights file."""
    return (root or default_data_dir() / "text-towers") / model_key(spec)


class OnnxTextTower:
    """An exported text tower: texts -> L2-normalised float32 vectors, with no torch in the process."""

    def __init__(self, folder: Path) -> None:
        import onnxruntime as ort

        from multimodal.clip_tokens import ClipTokenizer

        self.meta = json.loads((folder / "tower.json").read_text())
        self.dim = int(self.meta["dim"])
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # optimised at export
        options.intra_op_num_threads = min(4, os.cpu_count() or 1)
        self.session = ort.InferenceSession(str(folder / "text.onnx"), options, providers=["CPUExecutionProvider"])
        self.tokenizer = ClipTokenizer(context_length=int(self.meta["context_length"]))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        features = self.session.run(None, {"tokens": self.tokenizer(list(texts))})[0].astype(np.float32)
        return features / np.maximum(np.linalg.norm(features, axis=-1, keepdims=True), 1e-12)


def load_tower(spec: ModelSpec, root: Path | None = None) -> OnnxTextTower | None:
    """`spec`'s checked tower, or None (not exported yet, ONNX Runtime missing, or unreadable)."""
    folder = tower_folder(spec, root)
    if not available() or not (folder / "tower.json").is_file():
        return None
    try:
        return OnnxTextTower(folder)
    except Exception:  # a damaged or foreign file: torch answers instead, and the next export replaces it
        return None


def export_text_tower(encoder: ClipEncoder, root: Path | None = None,
                      on_start: Callable[[], None] | None = None) -> Path | None:
    """Export `encoder`'s text tower for later text queries; the folder, or None when it cannot be used.
    `on_start` is called before an export really starts (not when the tower exists already).

    None when onnx/onnxruntime are missing, the tokenizer is not CLIP's, or the exported tower disagrees with
    torch on a probe text (cosine < MIN_COSINE). Takes seconds to a minute (once per model).
    """
    folder = tower_folder(encoder.spec, root)
    if (folder / "tower.json").is_file():
        return folder
    if not available() or importlib.util.find_spec("onnx") is None or not _clip_tokenizer(encoder):
        return None
    if on_start is not None:
        on_start()
    if encoder.precision != "fp32" or encoder.device.type != "cpu":  # its weights were cast: take the originals
        from multimodal.encoder import load_encoder

        encoder = load_encoder(encoder.spec.model, encoder.spec.pretrained or None, "cpu", precision="fp32")
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=folder.parent))
    try:
        cosine = _export(encoder, work)
        if cosine < MIN_COSINE:
            return None
        meta = {"model": encoder.spec.label(), "dim": encoder.dim, "cosine": cosine, "format": _FORMAT,
                "context_length": int(encoder.tokenizer.context_length)}
        (work / "tower.json").write_text(json.dumps(meta))
        (work / "raw.onnx").unlink()
        with contextlib.suppress(OSError):  # another process finished first
            work.rename(folder)
        return folder if (folder / "tower.json").is_file() else None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _clip_tokenizer(encoder: ClipEncoder) -> bool:
    """Whether the model tokenizes as `ClipTokenizer` does (open_clip's SimpleTokenizer, lower-casing)."""
    tokenizer = encoder.tokenizer
    clean = getattr(getattr(tokenizer, "clean_fn", None), "__name__", "")
    return (type(tokenizer).__name__ == "SimpleTokenizer" and clean == "_clean_lower"
            and getattr(tokenizer, "reduction_fn", None) is None and len(tokenizer.encoder) == 49408)


def _export(encoder: ClipEncoder, work: Path) -> float:
    """Write work/text.onnx (optimised by ONNX Runtime); the lowest probe cosine against torch float32."""
    import copy
    import warnings

    import onnxruntime as ort
    import torch

    model = copy.deepcopy(encoder.model).eval()  # float32 on the CPU (export_text_tower sees to it)
    tokens = encoder.tokenizer(list(PROBE_TEXTS))

    class TextTower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.clip = model

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.clip.encode_text(ids)

    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # the fused attention kernel has no ONNX export
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(TextTower(), (tokens,), str(work / "raw.onnx"), dynamo=False, opset_version=17,
                              input_names=["tokens"], output_names=["features"],
                              dynamic_axes={"tokens": {0: "batch"}, "features": {0: "batch"}})
            expected = model.encode_text(tokens).numpy()
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED  # portable across CPUs
    options.optimized_model_filepath = str(work / "text.onnx")
    ort.InferenceSession(str(work / "raw.onnx"), options, providers=["CPUExecutionProvider"])
    tower = OnnxTextTower.__new__(OnnxTextTower)
    tower.session = ort.InferenceSession(str(work / "text.onnx"), providers=["CPUExecutionProvider"])
    from multimodal.clip_tokens import ClipTokenizer

    tower.tokenizer = ClipTokenizer(context_length=int(encoder.tokenizer.context_length))
    if not np.array_equal(tower.tokenizer(list(PROBE_TEXTS)), tokens.numpy()):
        return -1.0
    got = tower.encode_texts(PROBE_TEXTS)
    expected = expected / np.linalg.norm(expected, axis=-1, keepdims=True)
    return float((got * expected).sum(axis=-1).min())


class QueryEncoder:
    """The encoder a query uses: text through the ONNX tower, anything else through the full model, which
    `load_full` loads on first need (an image term, the image size)."""

    def __init__(self, spec: ModelSpec, tower: OnnxTextTower, load_full: Callable[[], Encoder]) -> None:
        self.spec, self.tower, self._load_full = spec, tower, load_full
        self.dim = tower.dim

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.tower.encode_texts(texts)

    def __getattr__(self, name: str) -> Any:  # image_size, preprocess, encode_images, ...
        return getattr(self._load_full(), name)
