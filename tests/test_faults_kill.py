"""kill -9 of an ingest at random points, then a rerun: the index equals a clean single run."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from multimodal.records import IMAGE
from tests.fixtures.ingest_runs import (
    PHOTOS,
    SLOW_BATCHES,
    TINY,
    CleanRun,
    Progressing,
    assert_same_index,
    ingest_json,
    location,
    open_store,
    settings_for,
    snapshot,
)


@pytest.mark.slow
@pytest.mark.clip
@pytest.mark.server  # the reference index lives on the session's server, whichever mode is killed
@pytest.mark.parametrize("mode", ["embedded", "server"])
def test_kill_9_at_three_random_points_then_a_rerun_equals_a_clean_run(
    mode: str, tmp_path: Path, shared_photos: Path, clean_run: CleanRun
) -> None:
    where = clean_run.url if mode == "server" else str(tmp_path / "index")
    folder = shared_photos
    faulty = location(where, f"killed-{mode}")
    rng = random.Random(9)
    points = [rng.uniform(0.1, 0.6) for _ in range(3)]  # fractions of each run's remaining files
    before = 0
    for fraction in points:
        run = Progressing.start(str(folder), *faulty, *TINY, *SLOW_BATCHES)
        assert run.kill_at(fraction) == -9, f"the kill at {fraction:.0%} did not land: {run.stderr[-1500:]!r}"
        stored = open_store(settings_for(where, f"killed-{mode}")).count(IMAGE)
        assert stored >= before  # committed batches survive the kill
        before = stored
    assert 0 < before < PHOTOS

    rerun = ingest_json(str(folder), *faulty)  # the index's own model is used
    assert rerun["encoded"] == PHOTOS - before  # what was committed is not encoded again
    assert rerun["added"] == PHOTOS - before and rerun["unchanged"] == before
    assert_same_index(snapshot(settings_for(where, f"killed-{mode}")), clean_run.snapshot)
