"""The decode pipeline: order kept, work in flight bounded, errors as values, early stop cancels the rest."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from multimodal.errors import ImageLoadError
from multimodal.images import load_image
from multimodal.pipeline import DECODE_NICE, default_workers, ordered_map, thread_nice
from tests.fixtures.processes import MODEL, RUN_TIMEOUT, cli_args, cli_env


def test_results_come_back_in_input_order_even_when_later_items_finish_first() -> None:
    def slow_first(n: int) -> int:
        time.sleep(0.02 if n % 3 == 0 else 0.0)  # early items finish last
        return n * n

    out = list(ordered_map(slow_first, range(20), workers=4, in_flight=8))
    assert out == [(n, n * n) for n in range(20)]


def test_no_more_than_in_flight_items_are_started_ahead_of_the_consumer() -> None:
    started: list[int] = []
    lock = threading.Lock()
    ahead: list[int] = []

    def record(n: int) -> int:
        with lock:
            started.append(n)
        return n

    consumed = 0
    for _item, _ in ordered_map(record, range(50), workers=3, in_flight=5):
        time.sleep(0.002)  # a slow consumer, as the encoder is
        with lock:
            ahead.append(len(started) - consumed)
        consumed += 1
    assert consumed == 50
    assert max(ahead) <= 5
    assert max(ahead) >= 2  # it does run ahead: decoding overlaps the consumer


def test_items_are_pulled_from_the_input_lazily() -> None:
    pulled: list[int] = []

    def source():
        for n in range(1000):
            pulled.append(n)
            yield n

    stream = ordered_map(lambda n: n, source(), workers=2, in_flight=4)
    first = [next(stream) for _ in range(3)]
    stream.close()
    assert first == [(0, 0), (1, 1), (2, 2)]
    assert len(pulled) <= 3 + 4  # never read the whole input ahead (flat memory on any folder)


def test_errors_returned_as_values_do_not_stop_the_rest() -> None:
    def load(n: int) -> int | ImageLoadError:
        return ImageLoadError(f"f{n}", "bad") if n == 2 else n

    out = [r for _, r in ordered_map(load, range(5), workers=2, in_flight=3)]
    assert [type(r).__name__ for r in out] == ["int", "int", "ImageLoadError", "int", "int"]


def test_an_exception_raised_by_the_function_reaches_the_consumer_at_its_item() -> None:
    def boom(n: int) -> int:
        if n == 3:
            raise RuntimeError("bug")
        return n

    seen: list[int] = []
    with pytest.raises(RuntimeError, match="bug"):
        for item, _ in ordered_map(boom, range(10), workers=2, in_flight=4):
            seen.append(item)
    assert seen == [0, 1, 2]


def test_stopping_early_cancels_queued_work() -> None:
    calls: list[int] = []
    lock = threading.Lock()

    def work(n: int) -> int:
        with lock:
            calls.append(n)
        time.sleep(0.01)
        return n

    stream = ordered_map(work, range(100), workers=1, in_flight=10)
    next(stream)  # 10 items were queued before the first came back
    stream.close()  # returns once the pool has shut down: nothing runs after this
    assert len(calls) < 10  # the queued items were dropped, not run to the end


def test_default_workers_is_the_number_of_usable_cores() -> None:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert default_workers() == usable


def test_big_jpegs_are_decoded_at_a_reduced_scale_that_still_covers_the_model_input(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    Image.new("RGB", (4032, 3024), (120, 80, 40)).save(path, quality=90)
    full = load_image(path, max_pixels=10**9)
    small = load_image(path, max_pixels=10**9, min_side=224)
    assert full.image.size == (4032, 3024)
    assert small.image.size == (504, 378)  # 1/8 scale, the most the DCT allows while both sides stay >= 224
    assert (small.width, small.height) == (4032, 3024)  # the record keeps the true size
    assert min(load_image(path, max_pixels=10**9, min_side=400).image.size) >= 400


def test_draft_decoding_leaves_non_jpeg_images_at_full_size(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (1200, 900), (1, 2, 3)).save(path)
    assert load_image(path, max_pixels=10**9, min_side=224).image.size == (1200, 900)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priority is a Linux feature")
def test_decoding_threads_run_at_lower_priority_and_the_caller_keeps_its_own() -> None:
    before = thread_nice()
    seen = [r for _, r in ordered_map(lambda _: thread_nice(), range(6), workers=2, in_flight=3, nice=DECODE_NICE)]
    assert set(seen) == {min(19, before + DECODE_NICE)}
    assert thread_nice() == before  # the encoder's thread (the caller) is untouched


def test_ingest_decodes_on_lowered_priority_threads(index, photo_folder: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import multimodal.ingest as ingest_module

    calls: list[int] = []
    real = ingest_module.ordered_map

    def spy(*args, **kwargs):
        calls.append(kwargs.get("nice", 0))
        return real(*args, **kwargs)

    monkeypatch.setattr(ingest_module, "ordered_map", spy)
    index.ingest(photo_folder)
    assert calls == [DECODE_NICE]


def test_the_wait_policy_is_set_only_when_the_user_chose_none(monkeypatch: pytest.MonkeyPatch) -> None:
    from multimodal.openmp import passive_wait_policy

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    passive_wait_policy()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    passive_wait_policy()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="torch's OpenMP runtime is libgomp on Linux")
def test_the_cli_makes_openmp_threads_wait_passively_unless_the_user_chose(tmp_path: Path) -> None:
    """libgomp prints the policy it read when torch loads it (OMP_DISPLAY_ENV): the CLI's setting took effect.
    An explicit PASSIVE shows as a spin count of 0; libgomp's own default spins 300000 times first."""
    (tmp_path / "empty").mkdir()

    def policy(**env: str) -> list[str]:
        done = subprocess.run(cli_args("ingest", str(tmp_path / "empty"), *MODEL, "-q"), capture_output=True,
                              text=True, timeout=RUN_TIMEOUT,
                              env={k: v for k, v in cli_env(MULTIMODAL_INDEX_DIR=str(tmp_path / "idx"),
                                                            OMP_DISPLAY_ENV="VERBOSE", **env).items()
                                   if k != "OMP_WAIT_POLICY" or "OMP_WAIT_POLICY" in env})
        assert done.returncode == 0, done.stderr[-2000:]
        return [line.strip() for line in done.stderr.splitlines() if "WAIT_POLICY =" in line or "SPINCOUNT =" in line]

    assert policy() == ["OMP_WAIT_POLICY = 'PASSIVE'", "GOMP_SPINCOUNT = '0'"]
    assert policy(OMP_WAIT_POLICY="ACTIVE")[0] == "OMP_WAIT_POLICY = 'ACTIVE'"


@pytest.mark.clip
def test_bulk_encoding_splits_batches_across_cores_with_the_same_vectors_and_restores_threads(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np
    import torch

    from multimodal.encoder import load_encoder
    from multimodal.pipeline import bulk_encoding

    encoder = load_encoder("mm-tiny", "none", "cpu")
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        batch = torch.randn(5, 3, encoder.image_size, encoder.image_size)
        plain = encoder.encode_images(batch)
        parts: list[int] = []
        real = encoder._encode_images
        monkeypatch.setattr(encoder, "_encode_images", lambda b: (parts.append(len(b)), real(b))[1])
        with bulk_encoding(encoder):
            assert torch.get_num_threads() == 1  # one thread per forward pass
            bulk = encoder.encode_images(batch)
        assert torch.get_num_threads() == 2
        assert sorted(parts) == [2, 3]  # one part per core
        np.testing.assert_allclose(bulk, plain, atol=1e-5)
    finally:
        torch.set_num_threads(threads)


def test_bulk_encoding_is_a_no_op_for_encoders_without_a_bulk_mode(fake_encoder) -> None:
    import torch

    from multimodal.pipeline import bulk_encoding

    with bulk_encoding(fake_encoder):
        vectors = fake_encoder.encode_images(torch.rand(3, 8, 8, 3))  # the fake preprocesses to 8x8x3
    assert fake_encoder.image_batches == [3] and vectors.shape == (3, fake_encoder.dim)


@pytest.mark.clip
def test_a_batch_arriving_as_bulk_mode_ends_in_another_thread_is_still_encoded() -> None:
    import torch

    from multimodal.encoder import load_encoder

    encoder = load_encoder("mm-tiny", "none", "cpu")
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        batch = torch.randn(4, 3, encoder.image_size, encoder.image_size)
        with encoder.bulk():
            assert encoder._split is not None
            encoder._split.shutdown(wait=True)  # as the ingest that owns bulk mode finishing meanwhile
            assert encoder.encode_images(batch).shape == (4, encoder.dim)
    finally:
        torch.set_num_threads(threads)
