"""Sharded ingest: N processes write one folder into one real Chroma server, without overlap."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from multimodal.config import Settings
from multimodal.devtools.chroma_server import ChromaServer
from multimodal.ingest import Shard
from tests.fixtures.ingest_runs import (
    PHOTOS,
    RUN_TIMEOUT,
    TINY,
    CleanRun,
    assert_same_index,
    cli_args,
    cli_env,
    location,
    snapshot,
)


def test_every_file_belongs_to_exactly_one_shard() -> None:
    paths = [f"a/{i}.jpg" for i in range(300)] + ["é/ü.png", "x y/z.heic"]
    for n in (1, 2, 3, 7):
        owners = [[i for i in range(n) if Shard(i, n).owns(p)] for p in paths]
        assert all(len(o) == 1 for o in owners)
        assert len({o[0] for o in owners}) == n  # every shard gets some of 302 files


@pytest.mark.server
@pytest.mark.clip
@pytest.mark.slow
def test_two_parallel_shards_build_exactly_the_single_process_index(
    chroma_server: ChromaServer, shared_photos: Path, clean_run: CleanRun
) -> None:
    folder = shared_photos
    procs = [
        subprocess.Popen(cli_args("ingest", str(folder), *location(chroma_server.url, "sharded"), *TINY,
                             "--shard", f"{i}/2", "--json", "-q"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env())
        for i in range(2)
    ]
    outs = [p.communicate(timeout=RUN_TIMEOUT) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outs]
    reports = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert all(r["added"] > 0 for r in reports)  # both shards did part of the work ...
    assert sum(r["added"] for r in reports) == clean_run.report["added"] == PHOTOS  # ... and no file twice
    assert sum(r["encoded"] for r in reports) == PHOTOS
    assert_same_index(snapshot(Settings.resolve(chroma_url=chroma_server.url, collection="sharded")),
                      clean_run.snapshot)
