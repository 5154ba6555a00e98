"""The benchmark scripts' own logic: the GPU check as a CPU dry run, and the precision script's recall measure.

No timings are asserted: speed is measured by the scripts themselves, as ratios within one run.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from multimodal.encoder import cpu_has_bf16

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _script(name: str) -> Iterator[ModuleType]:
    """A benchmark script imported as a module (they import each other by bare name, as when run)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.fixture(scope="module")
def precision_script():
    yield from _script("precision")


def test_top_k_overlap_counts_shared_neighbours(precision_script) -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(5, 40))
    assert precision_script.top_k_overlap(scores, scores.copy(), k=10) == 1.0
    assert precision_script.top_k_overlap(scores, -scores, k=10) == 0.0  # the opposite order shares nothing
    half = scores.copy()
    top = np.argsort(-scores, axis=1)[:, :10]
    for row, cols in enumerate(top):
        half[row, cols[:5]] = -100.0  # push half of each top 10 to the bottom
    assert precision_script.top_k_overlap(scores, half, k=10) == 0.5


@pytest.mark.clip
@pytest.mark.slow
def test_gpu_check_dry_run_on_the_cpu_passes_its_accuracy_check(tmp_path: Path) -> None:
    """The script that a lent GPU machine runs, exercised here on the CPU so that it cannot rot unseen."""
    out = tmp_path / "gpu.json"
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "gpu_check.py"), "--device", "cpu", "--batches", "8",
                           "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    low = result["accuracy"]["precision"]
    assert low == ("bf16" if cpu_has_bf16() else "fp32")  # the reduced precision this CPU can run
    assert result["ok"] and result["accuracy"]["min_cosine"] >= 0.999
    if low == "bf16":
        assert result["accuracy"]["min_cosine"] < 1.0  # two precisions really were compared
    assert {f"batch 8 {low} pinned", "batch 8 fp32 pinned", f"batch 8 {low} pageable"} == set(
        result["images_per_second"])
    assert all(rate > 0 for rate in result["images_per_second"].values())


@pytest.fixture(scope="module")
def intrinsic_script():
    yield from _script("intrinsic")


@pytest.fixture(scope="module")
def match_script():
    yield from _script("match")


def test_intrinsic_benchmark_tunes_on_one_set_and_judges_the_target_on_another(intrinsic_script, tmp_path) -> None:
    from multimodal.evaluate import evaluate_folder
    from multimodal.synthetic import generate
    from tests.fixtures.attribute_encoder import AttributeEncoder

    tuning = generate(tmp_path / "tuning", split="heldout", size=32, seed=1).root
    gallery = generate(tmp_path / "gallery", split="heldout", size=32, seed=2).root
    step, tried = intrinsic_script.tune_step(AttributeEncoder(tuning), tuning)
    assert set(tried) == set(intrinsic_script.STEPS) and tried[step] == max(tried.values())
    encoder = AttributeEncoder(gallery)  # the constructed space: the arithmetic is right, the baselines are not
    report = evaluate_folder(gallery, encoder)
    text = intrinsic_script.report_text("fake", report, report, step, tried, 1.0)
    assert "**met**" in text and "| colour | " in text and "| position | " in text
    assert report.analogies is not None and f"| **all** | {report.analogies.overall.n} | 1.000 |" in text


def test_match_benchmark_splits_every_kind_and_picks_the_separating_cut_off(match_script) -> None:
    queries = match_script.in_vocabulary_queries()
    dev, ev = match_script.split(queries)
    assert not {q.text for q in dev} & {q.text for q in ev} and len(dev) + len(ev) == len(queries)
    assert {q.kind for q in dev} == {q.kind for q in ev} and any(q.heldout_pair for q in ev)
    assert not {q.text for q in match_script.out_of_vocabulary(0)} & {q.text for q in match_script.out_of_vocabulary(1)}
    row = match_script.Scored
    rows = [row(match_script.Query(f"in {z}", "k", True), z, False, True) for z in (2.5, 2.6, 3.0)]
    rows += [row(match_script.Query(f"out {z}", "k", False), z, True, False) for z in (1.9, 2.1, 2.55)]
    cutoff = match_script.choose_cutoff(rows)
    assert cutoff == 2.5  # in: all strong, out: two of three weak; 2.6 ties (the other way round): the lower wins
    assert match_script.accuracy(rows, [r.z >= cutoff for r in rows]) == (1.0, pytest.approx(2 / 3))


@pytest.mark.slow  # ~15 s idle: 1,797 digit images and four logistic regressions
def test_carryover_sets_are_captioned_folders_and_the_shapes_baseline_beats_chance(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")  # the optional `bench` extra
    from benchmarks import carryover
    from benchmarks.carryover_sets import digits, other_shapes
    from multimodal.evaluate import load_captioned

    shapes = other_shapes(tmp_path / "shapes", train_per_combination=2, test_per_combination=1, size=32)
    test = load_captioned(shapes.test)
    assert len(test) == 108 and all(len(c) == 2 and c[0].startswith("a picture showing a ") for c in test.captions)
    assert len(load_captioned(shapes.train)) == 216 and not set(test.paths) & set(load_captioned(shapes.train).paths)
    baseline = carryover.shapes_baseline(shapes)
    assert baseline["R@5"] > 5 / 108 * 2  # a caption's combination has 1 test image among 108: chance is ~0.05
    numbers = digits(tmp_path / "digits", size=16)
    classes = load_captioned(numbers.test)
    assert classes.labels is not None and len(set(classes.labels)) == 10 and len(classes) == 540
    assert {c.split()[-1] for c in classes.captions[0]} & {classes.labels[0]}  # captions name the class
    assert carryover.digits_baseline(numbers)["logistic_accuracy"] > 0.9


@pytest.fixture
def ingest_script() -> Iterator[ModuleType]:
    yield from _script("ingest")


def test_ingest_table_names_the_default_flags_precision_and_the_onnx_rows(ingest_script) -> None:
    def run(ours: float, fast: float) -> dict:
        bound = {"images_per_second": 10.0, "decode_cpu_s": 0.03, "encode_cpu_s": 0.1,
                 "bf16": {"images_per_second": 20.0, "encode_cpu_s": 0.05}}
        return {"others": 0.1, "load": 1.0, "chroma": {"images_per_second": 2.0, "peak_rss_mb": 2000}, "bound": bound,
                "ours": {"images_per_second": ours, "peak_rss_mb": 1500}, "rss_half_mb": 1490,
                "vs_chroma": ours / 2.0, "of_bound": ours / 10.0,
                "bf16": {"images_per_second": fast, "vs_chroma": fast / 2.0, "of_bound": fast / 20.0,
                         "precisions": {"bf16": 48}},
                "onnx": {"batch1_images_per_second": 9.0, "batch16_images_per_second": 11.0,
                         "batch1_cpu_s": 0.12, "batch16_cpu_s": 0.09}}

    result = {"n": 48, "runs": [run(8.0, 13.0), run(7.0, 12.0), run(9.0, 14.0)], "machine": "test box"}
    text = ingest_script.table(result, ingest_script.summary(result), "")
    assert "**this project, default flags** (`multimodal ingest`: bf16 here) | **13.00** | **6.50** |" in text
    assert "batch 1 (immich)" in text and "batch 16 (rclip)" in text and "| 11.00 | 5.50 |" in text


@pytest.fixture(scope="module")
def ingest_threads_script():
    yield from _script("ingest_threads")


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads per-thread CPU from /proc (Linux)")
def test_ingest_threads_sampler_charges_cpu_to_the_thread_family_that_spent_it(ingest_threads_script) -> None:
    import threading
    import time

    seen: dict[str, tuple[str, float]] = {}
    stop = threading.Event()
    sampler = threading.Thread(target=ingest_threads_script.thread_cpu, args=(stop, seen), daemon=True)
    sampler.start()

    release, spun = threading.Event(), threading.Semaphore(0)

    def spin(seconds: float) -> None:
        end = time.thread_time() + seconds
        while time.thread_time() < end:
            pass
        spun.release()
        release.wait()  # stay alive (and sampled) until the sampler has seen the whole spin

    busy = [threading.Thread(target=spin, args=(0.4,), name=f"busy_{i}") for i in range(2)]
    for t in busy:
        t.start()
    for _ in busy:
        assert spun.acquire(timeout=60)
    time.sleep(0.5)  # several samples after both spins ended
    stop.set()
    sampler.join()
    release.set()
    for t in busy:
        t.join()
    spent = sum(cpu for name, cpu in seen.values() if name.rstrip("0123456789_") == "busy")
    # Two threads spun 0.4 CPU-s each (/proc counts 10 ms ticks): all of it charged to them, nothing more.
    assert 0.75 <= spent <= 0.9, seen


def test_ingest_threads_table_sets_the_pipeline_beside_its_parts(ingest_threads_script) -> None:
    def run(ips: float) -> dict:
        return {"ingest": {"precision": "bf16", "images_per_second": ips, "cpu_ms": 100.0, "core_use": 0.9,
                           "threads_ms": {"decode": 40.0, "encode": 55.0}},
                "parts": {"decode": 35.0, "decode_identity": 40.0, "decode_beside": 41.0, "encode": 60.0,
                          "encode_beside": 61.0}}

    text = ingest_threads_script.table([run(17.0), run(18.0), run(19.0)], 192)
    assert "| … + SHA-256 + fingerprint | 40.0 | 41.0 | 40.0 (decoding threads) |" in text
    assert "Ingest: 18.00 images/s" in text and "cores kept 90 % busy" in text
    cores = ingest_threads_script.cores()
    assert f"Bound from the parts alone: {1000 * cores / 95:.2f} images/s" in text
