"""Faults around a running ingest: the server goes away, queries run alongside, a second ingest starts."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from multimodal.config import Settings
from multimodal.devtools.chroma_server import ChromaServer
from multimodal.errors import EmptyIndexError
from multimodal.records import IMAGE
from multimodal.store import Hit
from tests.fixtures.ingest_runs import (
    SLOW_BATCHES,
    TINY,
    CleanRun,
    Progressing,
    assert_same_index,
    location,
    open_store,
    run_cli,
    settings_for,
    snapshot,
)

pytestmark = [pytest.mark.server, pytest.mark.clip, pytest.mark.slow]


def test_a_server_outage_mid_ingest_is_retried_or_reported_and_a_rerun_completes(
    own_chroma_server: ChromaServer, shared_photos: Path, clean_run: CleanRun
) -> None:
    server = own_chroma_server
    folder = shared_photos
    faulty = location(server.url, "outage")

    # Down for longer than the retry budget: exit 1 with one line that says what to do.
    run = Progressing.start(str(folder), *faulty, *TINY, *SLOW_BATCHES, "--retry-seconds", "2")
    assert run.wait_for(0.3), run.stderr[-1500:]
    with paused(run):  # the server goes down mid-run, however fast this machine is
        server.stop()
    code, stderr = run.finish()
    assert code == 1, stderr[-1500:]
    error = [line for line in stderr.splitlines() if line.startswith("multimodal ingest: error:")]
    assert len(error) == 1 and server.url in error[0] and "rerun" in error[0]

    # The rerun meets a shorter outage: it waits for the server with backoff and completes.
    server.start()
    run = Progressing.start(str(folder), *faulty, *SLOW_BATCHES, "--retry-seconds", "60")
    assert run.wait_for(0.3), run.stderr[-1500:]
    with paused(run):
        server.stop()
    time.sleep(2)
    server.start()
    code, stderr = run.finish()
    assert code == 0, stderr[-1500:]
    assert "retrying" in stderr  # it did meet the outage

    assert_same_index(snapshot(Settings.resolve(chroma_url=server.url, collection="outage")), clean_run.snapshot)


@contextlib.contextmanager
def paused(run: Progressing) -> Iterator[None]:
    """SIGSTOP the ingest for the block (it holds its place mid-run), then SIGCONT."""
    run.proc.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        run.proc.send_signal(signal.SIGCONT)


def test_queries_keep_answering_while_an_ingest_writes_to_the_same_index(
    chroma_server: ChromaServer, shared_photos: Path
) -> None:
    folder = shared_photos
    settings = Settings.resolve(chroma_url=chroma_server.url, collection="busy", retry_seconds=0)
    run = Progressing.start(str(folder), *location(chroma_server.url, "busy"), *TINY, *SLOW_BATCHES)
    answers: list[list[Hit]] = []
    during: list[list[Hit]] = []  # answers with hits, given while the ingest was still running
    stop = threading.Event()

    def ask() -> None:
        store = open_store(settings)
        rng = np.random.default_rng(0)
        while not stop.is_set():
            time.sleep(0.01)  # a steady stream of users, not a busy loop starving the ingest of CPU
            if store.dim() is None:  # the ingest has not created the collection yet
                store = open_store(settings)
                continue
            try:
                vector = rng.standard_normal((1, store.dim() or 0)).astype(np.float32)
                hits = store.query(vector, k=5, where={"kind": IMAGE})[0]
                answers.append(hits)
                if hits and run.proc.poll() is None:
                    during.append(hits)
            except EmptyIndexError:
                continue

    asker = threading.Thread(target=ask)
    asker.start()
    try:
        assert run.wait_for(0.5), run.stderr[-1500:]
        code, stderr = run.finish()
    finally:
        stop.set()
        asker.join()
    assert code == 0, stderr[-1500:]
    assert during  # queries found images while the ingest was still writing
    final = {r.id for r in open_store(settings).iter_records(where={"kind": IMAGE})}
    for hits in answers:  # empty only before the first batch was committed
        assert len(hits) <= 5 and {h.id for h in hits} <= final
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True) and all(-1.001 <= s <= 1.001 for s in scores)


@pytest.mark.parametrize("mode", ["embedded", "server"])
def test_a_second_ingest_of_the_same_index_is_refused_while_the_first_runs(
    mode: str, tmp_path: Path, shared_photos: Path, clean_run: CleanRun
) -> None:
    where = clean_run.url if mode == "server" else str(tmp_path / "index")
    folder = shared_photos
    here = location(where, f"twice-{mode}")
    first = Progressing.start(str(folder), *here, *TINY, *SLOW_BATCHES)
    assert first.wait_for(0.2), first.stderr[-1500:]
    with paused(first):  # frozen mid-run, holding the lock
        second = run_cli("ingest", str(folder), *here, "--json", "-q")
    assert second.returncode == 1
    assert second.stderr.strip().splitlines()[-1].startswith("multimodal ingest: error: another ingest")
    assert f"pid {first.proc.pid}" in second.stderr
    code, stderr = first.finish()
    assert code == 0, stderr[-1500:]

    assert_same_index(snapshot(settings_for(where, f"twice-{mode}")), clean_run.snapshot)

