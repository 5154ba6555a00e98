"""The real OpenCLIP code path: seeded random weights, normalisation, batching, weight errors."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import multimodal.encoder as encoder_module
from multimodal.encoder import cpu_has_bf16, load_encoder
from multimodal.errors import ConfigError, WeightsUnavailableError
from multimodal.model_spec import ModelSpec

pytestmark = pytest.mark.clip


@pytest.fixture(scope="module")
def tiny():
    return load_encoder("mm-tiny", "none", "cpu")


def _images(n: int) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (80, 100, 3), dtype=np.uint8)) for _ in range(n)]


def test_embeddings_are_unit_float32_and_batch_independent(tiny) -> None:
    tensors = torch.stack([tiny.preprocess(im) for im in _images(5)])
    batch = tiny.encode_images(tensors)
    single = np.concatenate([tiny.encode_images(t[None]) for t in tensors])
    assert batch.dtype == np.float32 and batch.shape == (5, tiny.dim)
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    assert np.allclose(batch, single, atol=1e-5)
    texts = tiny.encode_texts(["a red circle", "a blue square"])
    assert texts.shape == (2, tiny.dim) and np.allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow  # a second interpreter imports torch and open_clip: the fast subset's slowest test (64 s loaded)
def test_random_weights_are_the_same_in_every_process(tiny, tmp_path: Path) -> None:
    code = ("from multimodal.encoder import load_encoder; import numpy as np, sys; "
            "e = load_encoder('mm-tiny', 'none', 'cpu'); np.save(sys.argv[1], e.encode_texts(['a dog']))")
    target = tmp_path / "seeded.npy"
    subprocess.run([sys.executable, "-c", code, str(target)], check=True, capture_output=True)
    assert np.allclose(np.load(target), tiny.encode_texts(["a dog"]), atol=1e-6)


def test_loading_does_not_disturb_the_callers_random_state() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    load_encoder("mm-tiny", "none", "cpu")
    assert torch.equal(torch.rand(3), expected)


def test_missing_tag_weights_fail_fast_with_the_fixes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError) as err:
        load_encoder("ViT-B-32", "laion2b_s34b_b79k", "cpu")
    message = str(err.value)
    assert "\n" not in message and "--pretrained /path" in message and "local-dir:" in message
    assert time.monotonic() - start < 30  # no minute of download retries (generous bound, not a benchmark)


def test_missing_checkpoint_file_and_local_dir_are_clear(tmp_path: Path) -> None:
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        load_encoder("mm-tiny", str(tmp_path / "missing.bin"), "cpu")
    with pytest.raises(WeightsUnavailableError, match=r"open_clip_config\.json"):
        load_encoder(f"local-dir:{tmp_path}", None, "cpu")


def test_unknown_model_and_tag_and_device_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown model"):
        load_encoder("ViT-Nope-1", "none", "cpu")
    with pytest.raises(ConfigError, match="known tags"):
        load_encoder("ViT-B-32", "no_such_tag", "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match=r"--device cpu"):
            load_encoder("mm-tiny", "none", "cuda")


def test_model_spec_normalises_what_the_index_records(tmp_path: Path) -> None:
    assert ModelSpec.parse("ViT-B-32", None) == ModelSpec("ViT-B-32", "none")
    assert ModelSpec.parse("ViT-B-32", "laion2b_s34b_b79k").pretrained == "laion2b_s34b_b79k"
    assert ModelSpec.parse("ViT-B-32", "./w.safetensors").pretrained == str(Path.cwd() / "w.safetensors")
    assert ModelSpec.parse(f"local-dir:{tmp_path}", "ignored") == ModelSpec(f"local-dir:{tmp_path.resolve()}", "")


def test_index_refuses_a_model_whose_dimension_changed_since_ingest(tmp_path: Path, photo_folder: Path) -> None:
    from multimodal.config import Settings
    from multimodal.errors import ModelMismatchError
    from multimodal.index import Index

    settings = Settings.resolve(index_dir=tmp_path / "idx", model="mm-vit-micro", pretrained="none")
    index = Index.open(settings)
    index.ingest(photo_folder)
    index.store.update_metadata({"mm_dim": index.encoder.dim * 2})  # as if the config file had changed
    reopened = Index.open(Settings.resolve(index_dir=tmp_path / "idx"))
    with pytest.raises(ModelMismatchError, match="new --index"):
        reopened.search("a red square")


needs_bf16 = pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no native bfloat16 (AVX512-BF16 or AMX)")


@needs_bf16
def test_bf16_on_a_cpu_agrees_with_float32_and_runs_bf16_weights() -> None:
    fp32 = load_encoder("mm-vit-micro", "none", "cpu", precision="fp32")
    bf16 = load_encoder("mm-vit-micro", "none", "cpu", precision="bf16")
    assert bf16.precision == "bf16" and next(bf16.model.parameters()).dtype == torch.bfloat16
    assert next(fp32.model.parameters()).dtype == torch.float32
    tensors = torch.stack([fp32.preprocess(im) for im in _images(6)])
    a = fp32.encode_images(tensors)
    with bf16.bulk():  # ingest's split-batch path too
        b = bf16.encode_images(tensors)
    assert b.dtype == np.float32 and np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    assert (a * b).sum(axis=1).min() >= 0.999
    assert not np.array_equal(a, b)  # it really ran in another precision
    texts = ["a red circle", "a blue square on a green background"]
    assert (fp32.encode_texts(texts) * bf16.encode_texts(texts)).sum(axis=1).min() >= 0.999


def test_a_precision_the_device_cannot_run_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    auto = load_encoder("mm-tiny", "none", "cpu").precision  # bf16 where the CPU has it and the self-check passes
    assert auto == ("bf16" if encoder_module.cpu_has_bf16() else "fp32")
    with pytest.raises(ConfigError, match="for CUDA GPUs; on a CPU use bf16"):
        load_encoder("mm-tiny", "none", "cpu", precision="fp16")
    with pytest.raises(ConfigError, match="must be one of auto, fp32, bf16, fp16"):
        load_encoder("mm-tiny", "none", "cpu", precision="int4")
    monkeypatch.setattr(encoder_module, "cpu_has_bf16", lambda: False)
    with pytest.raises(ConfigError, match=r"lacks .*use --precision fp32"):
        load_encoder("mm-tiny", "none", "cpu", precision="bf16")


def test_the_offline_hint_names_the_file_open_clip_loads_for_the_default_tag() -> None:
    import open_clip

    from multimodal.config import DEFAULT_MODEL, DEFAULT_PRETRAINED
    from multimodal.encoder import DEFAULT_CHECKPOINT

    cfg = open_clip.get_pretrained_cfg(DEFAULT_MODEL, DEFAULT_PRETRAINED)
    assert cfg["hf_hub"].rstrip("/") == DEFAULT_CHECKPOINT[0]
    assert DEFAULT_CHECKPOINT[1] == "open_clip_model.safetensors"  # the first name open_clip (and we) look for


def test_a_checkpoint_loads_into_an_uninitialised_model_with_the_same_weights(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    random = load_encoder("mm-vit-micro", "none", "cpu", precision="fp32", seed=3)
    checkpoint = tmp_path / "micro.pt"
    torch.save(random.model.state_dict(), checkpoint)
    init = torch.nn.init.normal_
    fast = load_encoder("mm-vit-micro", str(checkpoint), "cpu", precision="fp32")  # init skipped: seed 0 unused
    assert torch.nn.init.normal_ is init  # restored afterwards
    expected = random.model.state_dict()
    assert all(torch.equal(value, expected[name]) for name, value in fast.model.state_dict().items())
    texts = ["a red circle"]
    assert np.array_equal(fast.encode_texts(texts), random.encode_texts(texts))
