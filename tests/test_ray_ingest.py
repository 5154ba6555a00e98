"""`ingest --ray`: a real two-node Ray cluster (tests/fixtures/ray_cluster.py) and a real `chroma run` server.

The --ray index must equal a plain ingest's (ids, count, vectors, report, failures); a kill -9 of the second
node mid-run still completes with a complete, duplicate-free index; a kill -9 of the driver resumes on rerun.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from multimodal.devtools.chroma_server import ChromaServer
from multimodal.devtools.ray_cluster import RayCluster
from multimodal.records import IMAGE
from tests.fixtures.ingest_runs import (
    RUN_TIMEOUT,
    TINY,
    Progressing,
    Snapshot,
    assert_same_index,
    captioned_folder,
    cli_args,
    cli_env,
    ingest_json,
    location,
    open_store,
    settings_for,
    snapshot,
)
from tests.fixtures.processes import free_port

PHOTOS = 20  # small: every node has one CPU on a shared 2-core box
BAD = {"broken.jpg": b"not a jpeg at all", "part1/empty.png": b""}
BATCH = ["--batch-size", "2"]  # many small batches, so a fault lands mid-run
_SKIP_KEYS = {"seconds", "images_per_second", "ray_workers", "ray_start_seconds", "ray_records_written",
              "ray_write_records_per_second"}
ALTERNATIVES = {"ray-data": ["--ray-engine", "data"], "worker-writes": ["--ray-writes", "workers"]}


@pytest.fixture(scope="module")
def ray_photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = captioned_folder(tmp_path_factory.mktemp("rayphotos") / "photos", PHOTOS)
    for name, data in BAD.items():
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture(scope="module")
def plain(chroma_server: ChromaServer, ray_photos: Path) -> tuple[dict, Snapshot]:
    """A plain (no Ray) ingest of the folder: the reference."""
    report = ingest_json(str(ray_photos), *location(chroma_server.url, "ray-plain"), *TINY, *BATCH)
    assert report["added"] == PHOTOS and len(report["failed"]) == len(BAD)
    return report, snapshot(settings_for(chroma_server.url, "ray-plain"))


def ray_ingest(cluster: RayCluster, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**cli_env(), **cluster.env}
    return subprocess.run(cli_args("ingest", *args, "--ray", cluster.address), capture_output=True, text=True, env=env,
                          timeout=RUN_TIMEOUT)


def ray_progressing(cluster: RayCluster, *args: str) -> Progressing:
    env = {**cli_env(), **cluster.env, "TQDM_MININTERVAL": "0", "TQDM_MINITERS": "1",
           "MULTIMODAL_PROGRESS_SECONDS": "0"}
    proc = subprocess.Popen(cli_args("ingest", *args, "--ray", cluster.address), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
    return Progressing(proc)


def comparable(report: dict) -> dict:
    out = {k: v for k, v in report.items() if k not in _SKIP_KEYS}
    out["failed"] = sorted((f["path"], f["reason"]) for f in report["failed"])
    return out


def test_without_ray_installed_the_flag_is_one_line_naming_the_extra(tmp_path: Path, ray_photos: Path) -> None:
    fake = tmp_path / "noray" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named ray')\n")  # Ray absent, as without the extra
    env = {**cli_env(), "PYTHONPATH": f"{fake.parent}:{Path(__file__).resolve().parents[1]}"}
    done = subprocess.run(cli_args("ingest", str(ray_photos), "--index", str(tmp_path / "idx"), *TINY, "--ray", "auto"),
                          capture_output=True, text=True, env=env, timeout=RUN_TIMEOUT)
    assert done.returncode != 0
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "pip install 'multimodal[ray]'" in lines[0], done.stderr[-2000:]
    assert not (tmp_path / "idx").exists()


@pytest.mark.ray
@pytest.mark.slow
def test_an_unreachable_cluster_is_one_clear_line_within_retry_seconds(tmp_path: Path, ray_photos: Path) -> None:
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    done = subprocess.run(cli_args("ingest", str(ray_photos), "--index", str(tmp_path / "idx"), *TINY, "--ray", address,
                              "--retry-seconds", "2"), capture_output=True, text=True, env=cli_env(),
                          timeout=RUN_TIMEOUT)
    assert done.returncode != 0
    lines = [line for line in done.stderr.strip().splitlines() if line.strip() and not line.startswith("note:")]
    assert len(lines) == 1 and address in lines[0] and "unreachable" in lines[0], done.stderr[-2000:]
    assert time.monotonic() - started < 60  # python + torch start, the model load and 2 s of retries


@pytest.mark.ray
@pytest.mark.server
@pytest.mark.clip
@pytest.mark.slow
def test_ray_ingest_equals_a_plain_ingest(ray_cluster: RayCluster, chroma_server: ChromaServer, ray_photos: Path,
                                         plain: tuple[dict, Snapshot]) -> None:
    done = ray_ingest(ray_cluster, str(ray_photos), *location(chroma_server.url, "ray-eq"), *TINY, *BATCH,
                      "--json", "-q")
    assert done.returncode == 0, done.stderr[-3000:] + ray_cluster.logs()
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["ray_workers"] == 2  # one per node
    assert comparable(report) == comparable(plain[0])  # same counts, same failures with the same reasons
    assert_same_index(snapshot(settings_for(chroma_server.url, "ray-eq")), plain[1])

    again = ray_ingest(ray_cluster, str(ray_photos), *location(chroma_server.url, "ray-eq"), *TINY, "--json", "-q")
    assert again.returncode == 0, again.stderr[-3000:]
    rerun = json.loads(again.stdout.strip().splitlines()[-1])
    assert rerun["unchanged"] == PHOTOS and rerun["encoded"] == 0  # nothing to send to the cluster


@pytest.mark.ray
@pytest.mark.server
@pytest.mark.clip
@pytest.mark.slow
def test_a_driver_killed_mid_run_resumes_and_encodes_only_what_is_missing(
    ray_cluster: RayCluster, chroma_server: ChromaServer, ray_photos: Path, plain: tuple[dict, Snapshot]
) -> None:
    where = location(chroma_server.url, "ray-driver-kill")
    run = ray_progressing(ray_cluster, str(ray_photos), *where, *TINY, *BATCH)
    assert run.kill_at(0.4) == -9, f"the kill did not land: {run.stderr[-1500:]!r}"
    stored = open_store(settings_for(chroma_server.url, "ray-driver-kill")).count(IMAGE)
    assert 0 < stored < PHOTOS

    done = ray_ingest(ray_cluster, str(ray_photos), *where, *TINY, "--json", "-q")
    assert done.returncode == 0, done.stderr[-3000:]
    rerun = json.loads(done.stdout.strip().splitlines()[-1])
    assert rerun["encoded"] == PHOTOS - stored  # what was committed is not encoded again
    assert rerun["added"] == PHOTOS - stored and rerun["unchanged"] == stored
    assert_same_index(snapshot(settings_for(chroma_server.url, "ray-driver-kill")), plain[1])


@pytest.mark.ray
@pytest.mark.server
@pytest.mark.clip
@pytest.mark.slow
def test_killing_the_second_node_mid_run_still_completes_the_index(
    ray_cluster: RayCluster, chroma_server: ChromaServer, ray_photos: Path, plain: tuple[dict, Snapshot]
) -> None:
    where = location(chroma_server.url, "ray-node-kill")
    run = ray_progressing(ray_cluster, str(ray_photos), *where, *TINY, *BATCH)
    try:
        assert run.wait_for(0.05), f"the run ended before the kill: {run.stderr[-1500:]!r}"
        assert ray_cluster.kill_worker_node() > 0  # kill -9 of its raylet, agents and worker processes
        code, err = run.finish()
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
        if ray_cluster.worker is None:
            ray_cluster.start_worker_node()  # for any later test on this module's cluster
    assert code == 0, err[-3000:]
    summary = [line for line in err.splitlines() if line.startswith("ray:")]
    assert summary and "2 workers" in summary[-1], err[-2000:]
    assert not summary[-1].startswith("ray: 2 workers, 0 batches"), summary  # the lost node's batches were re-sent
    assert_same_index(snapshot(settings_for(chroma_server.url, "ray-node-kill")), plain[1])


def test_worker_rows_are_turned_into_the_same_results_as_a_local_read() -> None:
    """The driver side of the pool without a cluster: errors stay per file, vectors come through as sent."""
    import numpy as np

    from multimodal.errors import ImageLoadError
    from multimodal.ingest import _Work
    from multimodal.ray_ingest import _batches, _results

    works = [_Work(Path(f"/x/{i}.jpg"), f"id{i}", Path(sys.executable).stat(), [], None) for i in range(5)]
    assert [len(b) for b in _batches(works, 2)] == [2, 2, 1]
    rows = [{"n": 1, "error": "truncated"},
            {"n": 0, "digest": "d0", "width": 3, "height": 4, "format": "JPEG", "taken": None,
             "phash": "f" * 16, "vector": np.ones(2, np.float32)}]
    out = list(_results(works[:2], rows))
    assert out[0][0] is works[1] and isinstance(out[0][1], ImageLoadError) and out[0][1].reason == "truncated"
    loaded = out[1][1]
    assert out[1][0] is works[0] and (loaded.image.width, loaded.image.height, loaded.digest) == (3, 4, "d0")
    assert loaded.vector is not None and loaded.vector.tolist() == [1.0, 1.0]
    assert loaded.phash == "f" * 16  # the fingerprint of the pixels the worker decoded, not of a placeholder


@pytest.mark.ray
@pytest.mark.server
@pytest.mark.clip
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ALTERNATIVES))
def test_the_measured_alternatives_equal_a_plain_ingest(ray_cluster: RayCluster, chroma_server: ChromaServer,
                                                      ray_photos: Path, plain: tuple[dict, Snapshot],
                                                      name: str) -> None:
    """Ray Data's map_batches and writes from the workers (kept to rerun benchmarks/scale.py) build the same index."""
    done = ray_ingest(ray_cluster, str(ray_photos), *location(chroma_server.url, f"ray-{name}"), *TINY, *BATCH,
                      *ALTERNATIVES[name], "--json", "-q")
    assert done.returncode == 0, done.stderr[-3000:] + ray_cluster.logs()
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["ray_workers"] == 2
    assert comparable(report) == comparable(plain[0])
    assert_same_index(snapshot(settings_for(chroma_server.url, f"ray-{name}")), plain[1])
    if name == "worker-writes":  # every image and caption went from a worker to the server
        assert report["ray_records_written"] == PHOTOS + plain[0]["captions"]
        assert report["ray_write_records_per_second"] > 0
    else:
        assert "ray_records_written" not in report


def test_workers_never_write_an_embedded_index(tmp_path: Path) -> None:
    from multimodal.config import Settings
    from multimodal.errors import ConfigError
    from multimodal.model_spec import ModelSpec
    from multimodal.ray_engine import make_loader
    from multimodal.ray_options import RayOptions

    options = RayOptions(f"127.0.0.1:{free_port()}", writes="workers")
    with pytest.raises(ConfigError, match="--chroma-url"):  # refused before any cluster is joined
        make_loader(options, Settings.resolve(index_dir=tmp_path / "idx"), ModelSpec("mm-tiny", "none"))


def test_the_data_engine_without_ray_data_installed_is_one_line_naming_the_extra(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from multimodal.config import Settings
    from multimodal.errors import ConfigError
    from multimodal.model_spec import ModelSpec
    from multimodal.ray_engine import make_loader
    from multimodal.ray_options import RayOptions

    monkeypatch.setitem(sys.modules, "ray.data", None)  # as without pyarrow: `import ray.data` fails
    options = RayOptions(f"127.0.0.1:{free_port()}", engine="data")
    with pytest.raises(ConfigError, match=r"pip install 'ray\[data\]'"):  # before any cluster is joined
        make_loader(options, Settings.resolve(index_dir=tmp_path / "idx"), ModelSpec("mm-tiny", "none"))


@pytest.mark.ray
@pytest.mark.slow
def test_a_local_cluster_starts_no_dashboard_and_sends_no_usage_stats() -> None:
    """`--ray local` as the CLI starts it (ray_ingest.connect), asked from inside: no dashboard URL, stats off."""
    probe = (
        "import json, ray\n"
        "from multimodal.ray_ingest import connect\n"
        "from multimodal.ray_options import RayOptions\n"
        "connect(RayOptions('local'), 5)\n"
        "from ray._common.usage import usage_lib\n"
        "from ray._private.worker import get_dashboard_url\n"
        "print(json.dumps({'dashboard': get_dashboard_url(), 'usage': usage_lib.usage_stats_enabled()}))\n"
        "ray.shutdown()\n"
    )
    env = {k: v for k, v in cli_env().items() if not k.startswith("RAY_")}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env,
                          timeout=RUN_TIMEOUT, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"dashboard": "", "usage": False} or seen == {"dashboard": None, "usage": False}, seen
