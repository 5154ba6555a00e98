"""The benchmark scripts' own logic: the GPU check as a CPU dry run, and the precision script's recall measure.

No timings are asserted: speed is measured by the scripts themselves, as ratios within one run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from multimodal.encoder import cpu_has_bf16

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def precision_script():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import precision

        yield precision
    finally:
        sys.path.remove(str(BENCHMARKS))


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
