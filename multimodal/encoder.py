"""The OpenCLIP encoder: resolve weights, load once, encode batches into L2-normalised float32.

Weights can be an open_clip tag (`laion2b_s34b_b79k`, from the Hugging Face cache or the hub), a
checkpoint file, a `local-dir:PATH` or `hf-hub:ORG/REPO` model, or `none`: random weights, seeded so
that every process builds the same model (for tests and benchmarks only; its embeddings mean nothing).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse

if TYPE_CHECKING:  # torch (and NumPy) load with the first model, not with this module (`--help` needs neither)
    import numpy as np
    import torch
    from PIL import Image

from multimodal.config import check_precision
from multimodal.errors import ConfigError, WeightsUnavailableError, first_line
from multimodal.model_spec import ModelSpec

RANDOM_SEED = 0  # every process that asks for random weights gets these same weights
MODEL_CONFIG_DIR = Path(__file__).parent / "model_configs"  # architectures this project ships
AUTO_BF16 = "bf16 if it agrees"  # `auto` on a CPU with native bfloat16: bf16 once the self-check passes

DEFAULT_CHECKPOINT = ("laion/CLIP-ViT-B-32-laion2B-s34B-b79K", "open_clip_model.safetensors")  # laion2b_s34b_b79k
_FIXES = (
    "fixes: (1) run once with network access so the weights land in the Hugging Face cache, "
    "(2) pass --pretrained /path/to/checkpoint.bin (or .safetensors): for an offline machine, download the "
    f"default model's file {DEFAULT_CHECKPOINT[1]} from https://huggingface.co/{DEFAULT_CHECKPOINT[0]} "
    f"elsewhere, copy it over and pass --pretrained /path/to/{DEFAULT_CHECKPOINT[1]} (with the default "
    "--model ViT-B-32), "
    "(3) pass --model local-dir:/path/to/folder (open_clip_config.json + weights); "
    "to try the app offline, `multimodal demo` trains a small model here; "
    "--pretrained none gives random weights for tests only"
)


class Encoder(Protocol):
    """What ingest and search need from a model. The tests' fake encoder implements it too."""

    spec: ModelSpec
    dim: int
    image_size: int

    def preprocess(self, image: Image.Image) -> torch.Tensor: ...

    def encode_images(self, batch: torch.Tensor) -> np.ndarray: ...

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...


class ClipEncoder:
    """An open_clip model in eval mode, kept warm, encoding whole batches at a time."""

    def __init__(self, spec: ModelSpec, model: Any, preprocess: Any, tokenizer: Any, device: torch.device,
                 precision: str = "fp32"):
        import torch

        self.spec = spec
        self.device = device
        self.precision = precision  # what runs on `device` (load_encoder resolves and checks it): fp32, bf16, fp16
        self.precision_note: str | None = None  # one line when `--precision auto` fell back (for the CLI to show)
        # CUDA runs the float32 weights under autocast; a CPU runs bf16 weights (its autocast casts every weight
        # on every call, which measured slower than float32 here).
        self._autocast: torch.dtype | None = None
        self._input_dtype = torch.float32
        if device.type == "cuda" and self.precision != "fp32":
            self._autocast = torch.float16 if self.precision == "fp16" else torch.bfloat16
        elif self.precision == "bf16":
            model = model.to(torch.bfloat16)
            self._input_dtype = torch.bfloat16
        self.model = model
        self._preprocess = preprocess
        self.tokenizer = tokenizer
        self.dim = int(_embed_dim(model))
        size = model.visual.image_size
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        self._split: ThreadPoolExecutor | None = None  # set by bulk(): batch parts encoded side by side
        self._parts = 1

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        return self._preprocess(image)

    @contextlib.contextmanager
    def bulk(self) -> Iterator[None]:
        """Encode many batches on the CPU (ingest): one torch thread per forward pass, each batch split
        into one part per core, the parts encoded side by side.

        A multi-threaded forward pass meets at a barrier after every operation, so any thread that loses
        its core (to a decoding thread, to another program) stalls the others; measured on 2 cores, two
        threads cost 116-124 CPU-ms per image against 105-108 for one. Single-threaded parts meet once per
        batch instead. Torch's thread count is process-wide, so it is restored on exit.
        """
        import torch

        threads = torch.get_num_threads()
        if self.device.type != "cpu" or threads < 2 or self._split is not None:
            yield
            return
        torch.set_num_threads(1)
        self._split, self._parts = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="encode"), threads
        try:
            yield
        finally:
            pool, self._split, self._parts = self._split, None, 1  # new batches take the plain path from here
            pool.shutdown(wait=True)
            torch.set_num_threads(threads)

    def encode_images(self, batch: torch.Tensor) -> np.ndarray:
        split, parts = self._split, self._parts
        if split is None or len(batch) < 2:
            return self._encode_images(batch)
        try:
            futures = [split.submit(self._encode_images, part) for part in batch.tensor_split(min(parts, len(batch)))]
        except RuntimeError:  # bulk mode ended in another thread meanwhile (pool shut down)
            return self._encode_images(batch)
        import numpy as np

        return np.concatenate([f.result() for f in futures])

    def _encode_images(self, batch: torch.Tensor) -> np.ndarray:
        import torch

        with torch.inference_mode():  # thread-local: entered again in each thread that encodes a part
            return self._encode_image_batch(batch)

    def _encode_image_batch(self, batch: torch.Tensor) -> np.ndarray:
        if self.device.type == "cuda" and not batch.is_pinned():
            # Page-locked memory lets the copy run as one DMA (torch caches these buffers across batches).
            batch = batch.pin_memory()
        batch = batch.to(self.device, dtype=self._input_dtype, non_blocking=True)
        with self._amp():
            features = self.model.encode_image(batch)
        return _normalise(features)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            tokens = self.tokenizer(list(texts)).to(self.device)
            with self._amp():
                features = self.model.encode_text(tokens)
            return _normalise(features)

    def _amp(self) -> contextlib.AbstractContextManager[Any]:
        if self._autocast is not None:
            import torch

            return torch.autocast("cuda", dtype=self._autocast)
        return contextlib.nullcontext()


def load_encoder(model: str, pretrained: str | None, device: str = "auto", seed: int = RANDOM_SEED,
                 precision: str = "auto") -> ClipEncoder:
    """Build an open_clip model for `model` + `pretrained` on `device` (`seed`: random weights' seed).

    `precision`: auto (fp16 autocast on CUDA; on a CPU with native bfloat16, such as AVX512-BF16 or AMX,
    bf16 once a one-time self-check per model passes (multimodal/precision_check.py), else float32), fp32,
    fp16 (CUDA only) or bf16 (CUDA, or a CPU with native bfloat16: about 2x faster there, cosine >= 0.999
    of float32). The encoder's `precision` says which one runs.

    Raises:
        WeightsUnavailableError: the weights are neither on disk nor downloadable; one line names the fixes.
        ConfigError: unknown architecture, device or precision.
    """
    import open_clip
    import torch

    register_model_configs()
    spec = ModelSpec.parse(model, pretrained)
    torch_device = resolve_device(device)
    precision = _effective_precision(precision, torch_device)  # refused before seconds are spent on a model
    kwargs = _weights_kwargs(spec, open_clip)
    from_file = bool(kwargs.get("pretrained")) and Path(str(kwargs.get("pretrained"))).is_file()
    try:
        with _quiet_open_clip(), torch.random.fork_rng(devices=[]), _no_random_init(from_file):
            torch.manual_seed(seed)
            clip, _, preprocess = open_clip.create_model_and_transforms(**kwargs)
    except (FileNotFoundError, OSError, RuntimeError) as e:
        if isinstance(e, RuntimeError) and "download" not in str(e).lower():
            raise
        raise WeightsUnavailableError(f"cannot load weights for {spec.label()}: {first_line(e)}; {_FIXES}") from e
    clip = clip.to(torch_device).eval()
    tokenizer = open_clip.get_tokenizer(kwargs["model_name"])
    note = None
    if precision == AUTO_BF16:
        from multimodal.precision_check import bf16_agrees

        agrees, cosine = bf16_agrees(spec, clip, tokenizer)
        precision = "bf16" if agrees else "fp32"
        if not agrees:
            note = (f"bfloat16 self-check failed for {spec.label()} (cosine {cosine:.5f} to float32); "
                    "using float32")
    encoder = ClipEncoder(spec, clip, preprocess, tokenizer, torch_device, precision)
    encoder.precision_note = note
    return encoder


def resolve_device(device: str) -> torch.device:
    import torch

    if device in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise ConfigError(f"--device must be cpu, cuda, cuda:N or auto, got {device!r}") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu")
    return dev


def _effective_precision(precision: str, device: torch.device) -> str:
    """What `precision` means on `device`, or a ConfigError saying which one to use instead."""
    check_precision(precision)
    if device.type == "cuda":
        return "fp16" if precision == "auto" else precision
    if precision == "fp16":
        raise ConfigError("--precision fp16 is for CUDA GPUs; on a CPU use bf16 (if it has native bfloat16) or fp32")
    if precision == "bf16" and not cpu_has_bf16():
        raise ConfigError("--precision bf16 needs a CPU with native bfloat16 (AVX512-BF16 or AMX), which this one "
                          "lacks (it would run slower than float32); use --precision fp32")
    if precision == "auto":
        return AUTO_BF16 if cpu_has_bf16() else "fp32"
    return precision


def cpu_has_bf16() -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX512-BF16 or AMX) rather than emulating it."""
    import torch

    get = getattr(torch.cpu, "get_capabilities", None)
    caps = get() if get is not None else {}
    return bool(caps.get("avx512_bf16") or caps.get("amx_bf16"))


def register_model_configs() -> None:
    """Make the architectures in multimodal/model_configs/ known to open_clip.

    mm-tiny is the small model `multimodal train` trains by default; mm-demo is mm-tiny with a twice as
    wide image tower (the demo's model); mm-vit-micro is a tiny ViT whose seeded random weights still tell
    images apart, for plumbing tests and quick trials without weights.
    """
    import open_clip

    if "mm-demo" not in open_clip.list_models():
        open_clip.add_model_config(MODEL_CONFIG_DIR)


def _weights_kwargs(spec: ModelSpec, open_clip: Any) -> dict[str, Any]:
    folder = spec.folder
    if folder is not None:
        if not (folder / "open_clip_config.json").is_file():
            raise WeightsUnavailableError(
                f"{folder} is not an open_clip model folder (no open_clip_config.json); {_FIXES}"
            )
        return {"model_name": spec.model}
    if spec.hub_repo is not None:
        cached = _cached_hub_folder(spec.hub_repo)
        if cached is not None:
            return {"model_name": f"local-dir:{cached}"}
        _require_hub(spec)
        return {"model_name": spec.model}
    if spec.model not in open_clip.list_models():
        raise ConfigError(
            f"unknown model {spec.model!r}; see `python -c 'import open_clip; print(open_clip.list_models())'`"
            " or use local-dir:/path"
        )
    if spec.is_random:
        return {"model_name": spec.model, "pretrained": None}
    if spec.checkpoint is not None:
        if not spec.checkpoint.is_file():
            raise WeightsUnavailableError(f"checkpoint file {spec.pretrained} does not exist; {_FIXES}")
        return {"model_name": spec.model, "pretrained": spec.pretrained}
    return _tag_kwargs(spec, open_clip)


def _tag_kwargs(spec: ModelSpec, open_clip: Any) -> dict[str, Any]:
    cfg = open_clip.get_pretrained_cfg(spec.model, spec.pretrained)
    if not cfg:
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(spec.model)) or "none"
        raise ConfigError(f"{spec.model} has no pretrained tag {spec.pretrained!r}; known tags: {tags}")
    cached = _cached_tag_file(cfg)
    if cached is None:
        _require_hub(spec)
        return {"model_name": spec.model, "pretrained": spec.pretrained}
    # Loading the cached file directly skips the hub round trip; keep the tag's preprocessing.
    return {
        "model_name": spec.model,
        "pretrained": cached,
        "force_quick_gelu": bool(cfg.get("quick_gelu", False)),
        "image_mean": cfg.get("mean"),
        "image_std": cfg.get("std"),
        "image_interpolation": cfg.get("interpolation"),
        "image_resize_mode": cfg.get("resize_mode"),
    }


def _cached_tag_file(cfg: dict[str, Any]) -> str | None:
    hub = cfg.get("hf_hub", "")
    if not hub:
        return None
    from huggingface_hub import try_to_load_from_cache

    repo, filename = os.path.split(hub.rstrip("/") + ("/" if hub.endswith("/") else ""))
    names = [filename] if filename else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
    for name in names:
        found = try_to_load_from_cache(repo, name)
        if isinstance(found, str):
            return found
    return None


def _cached_hub_folder(repo: str) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, "open_clip_config.json")
    return Path(found).parent if isinstance(found, str) else None


def _require_hub(spec: ModelSpec) -> None:
    """Fail in a second, not after a minute of retries, when the hub cannot be reached."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise WeightsUnavailableError(f"weights for {spec.label()} are not cached and HF_HUB_OFFLINE is set; {_FIXES}")
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=3).close()
    except OSError as e:
        raise WeightsUnavailableError(
            f"weights for {spec.label()} are not on this machine and {host} cannot be reached ({e}); {_FIXES}"
        ) from e


_INIT_FUNCTIONS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "orthogonal_",
                   "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_")


@contextlib.contextmanager
def _no_random_init(active: bool) -> Iterator[None]:
    """Skip torch.nn.init's random initialisation while a model whose every weight a checkpoint file is about
    to overwrite is built (open_clip loads full checkpoints with strict=True, so none can stay unset): ViT-B-32's
    build and load took 3.0 s instead of 5.1 s here (medians of 3, identical weights). Buffers a model computes itself
    are unaffected."""
    if not active:
        yield
        return
    import torch

    # nn.MultiheadAttention imported its init functions by name: patch them where it looks them up too.
    modules = (torch.nn.init, torch.nn.modules.activation)
    saved = [(m, name, getattr(m, name)) for m in modules for name in _INIT_FUNCTIONS if hasattr(m, name)]
    for module, name, _ in saved:
        setattr(module, name, _keep)
    try:
        yield
    finally:
        for module, name, function in saved:
            setattr(module, name, function)


def _keep(tensor: Any, *_: Any, **__: Any) -> Any:
    return tensor


@contextlib.contextmanager
def _quiet_open_clip() -> Iterator[None]:
    """open_clip warns through the root logger ("initialized randomly"); we report that ourselves."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _embed_dim(model: Any) -> int:
    import torch

    proj = getattr(model, "text_projection", None)
    if isinstance(proj, torch.Tensor):
        return proj.shape[1]
    if isinstance(proj, torch.nn.Linear):
        return proj.out_features
    return int(model.visual.output_dim)


def _normalise(features: torch.Tensor) -> np.ndarray:
    features = features.float()
    features = features / features.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    import numpy as np

    return features.cpu().numpy().astype(np.float32, copy=False)


