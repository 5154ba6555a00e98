"""Scaling out: sharded ingest into one `chroma run` server, queries during ingest, the store's add rate.

    .venv/bin/python benchmarks/scale.py                      # 96 12-MP photos, ViT-B-32, 20k vectors
    .venv/bin/python benchmarks/scale.py --n 32 --vectors 5000 --model mm-tiny

All in one run, on one machine, against one local server started here (`chroma run`):
  1. ingest images/s with 1 shard, then with 2 shards in parallel (two CLI processes, `--shard I/2`),
     with default threads and with 1 torch thread + 1 decoder each, each run into a fresh collection;
     images/s = images encoded / wall time of the ingest itself (the CLI's own report; model loading
     excluded), for 2 shards the total over the slower shard's time;
  2. store query latency (k=10, one random vector) p50/p95 while the 1-shard ingest runs, and on the
     same collection once it is idle;
  3. the store's add throughput: precomputed, clustered 512-d unit vectors, with only the record kind or
     with the ~20 metadata fields ingest stores per image, written through `Store.upsert` in batches of
     1000, into the server and into an embedded index (the project's HNSW defaults).

With `--ray` it measures only `ingest --ray` against a plain ingest instead (same files, same server,
interleaved repeats: every configuration once per repeat), on a real two-node Ray cluster started here (one
CPU per node, as in the tests):
  - plain ingest on 1 core vs `--ray` with 1 worker (one node), plain on 2 cores vs 2 workers (two nodes);
  - the two ways to run the workers: the actor pool (the default) and Ray Data `map_batches` with a callable
    class (`--ray-engine data`), each with 1 and 2 workers;
  - the two ways to write to the server: through the driver (the default) and from the workers
    (`--ray-writes workers`), with 2 workers; the workers' own write rate (records/s while upserting).
images/s are end to end (the CLI's `seconds`: walk, model loads on the workers, encoding, writes) and steady
(`ray_start_seconds` taken out: for the pool the workers' model load, for Ray Data until its first results).
Ray's overhead per image = plain 1-core steady images/s / `--ray` 1-worker steady images/s - 1.

    .venv/bin/python benchmarks/scale.py --ray --n 200 --photo-size 1024x768 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import REPO, cache_dir, machine, median, percentile, photo_folder

from multimodal.config import Settings
from multimodal.devtools.chroma_server import ChromaServer
from multimodal.devtools.processes import child_env
from multimodal.devtools.ray_cluster import RayCluster
from multimodal.model_spec import ModelSpec
from multimodal.records import IMAGE
from multimodal.store import Record, Store

ENV = child_env(PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))


def ingest_cmd(folder: Path, url: str, collection: str, model: list[str], shard: str | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "multimodal", "ingest", str(folder), "--chroma-url", url,
           "--collection", collection, *model, "--json", "-q"]
    return cmd + (["--shard", shard] if shard else [])


def report_of(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"ingest failed: {err[-2000:]}")
    return json.loads(out.strip().splitlines()[-1])


def sharded_ingest(folder: Path, url: str, model: list[str], shards: int, queries: bool,
                   threads: int | None = None, repeat: int = 0) -> dict[str, Any]:
    """Ingest `folder` with `shards` parallel processes; with `queries`, time queries while it runs.
    `threads` caps each process's torch threads and decoding workers (None: their defaults)."""
    collection = f"bench-{shards}shard-{threads or 'auto'}-r{repeat}"
    env = {**ENV, "OMP_NUM_THREADS": str(threads)} if threads else ENV
    extra = ["--workers", str(threads)] if threads else []
    procs = [subprocess.Popen(ingest_cmd(folder, url, collection, model + extra,
                                         f"{i}/{shards}" if shards > 1 else None),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
             for i in range(shards)]
    latencies: list[float] = []
    if queries:
        busy = threading.Thread(target=_query_while, args=(url, collection, procs[0], latencies))
        busy.start()
    reports = [report_of(p) for p in procs]
    if queries:
        busy.join()
    encoded = sum(r["encoded"] for r in reports)
    seconds = max(r["seconds"] for r in reports)
    return {"shards": shards, "threads": threads or "auto", "encoded": encoded, "seconds": seconds,
            "images_per_s": encoded / seconds, "during": latencies, "collection": collection}


def _query_while(url: str, collection: str, proc: subprocess.Popen[str], out: list[float]) -> None:
    """Query every 20 ms while `proc` runs, from the moment the collection holds images."""
    settings = Settings.resolve(chroma_url=url, collection=collection)
    rng = np.random.default_rng(0)
    store = Store.open(settings)
    while proc.poll() is None:
        time.sleep(0.02)
        if store.dim() is None or store.count() == 0:
            store = Store.open(settings)
            continue
        vector = rng.standard_normal((1, store.dim() or 0)).astype(np.float32)
        start = time.perf_counter()
        store.query(vector, k=10, where={"kind": IMAGE})
        out.append(time.perf_counter() - start)


def idle_latency(url: str, collection: str, n: int) -> list[float]:
    store = Store.open(Settings.resolve(chroma_url=url, collection=collection))
    rng = np.random.default_rng(1)
    out = []
    for _ in range(n):
        vector = rng.standard_normal((1, store.dim() or 0)).astype(np.float32)
        start = time.perf_counter()
        store.query(vector, k=10, where={"kind": IMAGE})
        out.append(time.perf_counter() - start)
    return out


def image_metadata(i: int) -> dict[str, Any]:
    """The fields ingest stores for an image (see ingest._Run._image_metadata), with plausible values."""
    folder = f"/home/me/photos/{i // 1000}"
    return {"kind": IMAGE, "path": f"{folder}/IMG_{i:07d}.jpg", "name": f"IMG_{i:07d}.jpg", "folder": folder,
            "folders": [folder, "/home/me/photos", "/home/me", "/home", "/"], "root": "/home/me/photos",
            "size": 3_000_000 + i, "mtime": 1.7e9 + i, "mtime_ns": 1_700_000_000_000_000_000 + i, "width": 4032,
            "height": 3024, "format": "JPEG", "hash": f"{i:032x}", "taken": 1.6e9 + i, "date": 1.6e9 + i,
            "n_captions": 0, "caption_hash": "0" * 16, "ingested_at": time.time()}


def clustered_vectors(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """Unit vectors around 64 centres. Image embeddings are clustered like this; uniformly random
    vectors are HNSW's worst case (here they inserted 3-5x slower once the graph held a few thousand)."""
    centres = np.random.default_rng(5).standard_normal((64, dim)).astype(np.float32)
    x = centres[rng.integers(0, len(centres), n)] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def add_throughput(settings: Settings, n: int, *, full: bool, dim: int = 512, batch: int = 1000) -> tuple[float, float]:
    """Vectors/s of `Store.upsert` for `n` precomputed vectors, with ingest's image metadata (`full`) or
    only the record kind: over the whole run, and over its second half (inserts slow as the graph grows)."""
    store = Store.open(settings)
    store.ensure_collection(ModelSpec("bench", "none"), dim)
    rng = np.random.default_rng(2)
    times: list[float] = []
    for start in range(0, n, batch):
        vectors = clustered_vectors(rng, min(batch, n - start), dim)
        records = [Record(f"v{start + i}", image_metadata(start + i) if full else {"kind": IMAGE}, v)
                   for i, v in enumerate(vectors)]
        t = time.perf_counter()
        store.upsert(records)
        times.append(time.perf_counter() - t)
    assert store.count() == n
    late = times[len(times) // 2:]
    return n / sum(times), len(late) * batch / sum(late)


def ms(values: list[float], q: float) -> float:
    return percentile(values, q) * 1000 if values else float("nan")


RAY_CONFIGS: dict[str, tuple[int, list[str]]] = {  # name -> (Ray workers, 0 = plain; extra flags)
    "plain, 1 core": (0, ["--workers", "1"]),
    "pool, 1 worker": (1, []),
    "Ray Data, 1 worker": (1, ["--ray-engine", "data"]),
    "plain, 2 cores": (0, []),
    "pool, 2 workers": (2, []),
    "Ray Data, 2 workers": (2, ["--ray-engine", "data"]),
    "pool, 2 workers, worker writes": (2, ["--ray-writes", "workers"]),
}
BASIC = ("plain, 1 core", "pool, 1 worker", "plain, 2 cores", "pool, 2 workers")  # without --ray-all


def ray_ingest(folder: Path, url: str, model: list[str], cluster: RayCluster, workers: int, extra: list[str],
               collection: str) -> dict:
    """One ingest into a fresh collection: plain (`workers` 0; 1 core with --workers 1) or `--ray` with `workers`."""
    cmd = ingest_cmd(folder, url, collection, model + extra)
    env = {**ENV, "OMP_NUM_THREADS": "1"} if extra == ["--workers", "1"] else ENV
    if workers:
        cmd += ["--ray", cluster.address, "--ray-workers", str(workers)]
        env = {**ENV, **cluster.env}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    try:
        report = report_of(proc)
    finally:
        if proc.poll() is None:  # the benchmark was stopped mid-run
            proc.kill()
    start = report.get("ray_start_seconds", 0.0)
    return {**report, "per_s": report["encoded"] / report["seconds"],
            "steady_per_s": report["encoded"] / (report["seconds"] - start), "start": start}


def ray_main(args: argparse.Namespace, folder: Path, model: list[str]) -> None:
    work = Path(tempfile.mkdtemp(prefix="mmray-", dir="/tmp"))
    server = ChromaServer(work / "server", args.port)
    server.start()
    cluster = RayCluster(work)
    started = machine()
    configs = {k: v for k, v in RAY_CONFIGS.items() if args.ray_all or k in BASIC}
    raw = cache_dir() / "scale-ray-last.json"  # every run's report so far, kept if the benchmark is stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a `timeout` still stops the cluster and server
    runs: dict[str, list[dict]] = {name: [] for name in configs}
    try:
        cluster.start(nodes=2)
        for r in range(args.repeats):  # interleaved: a change in the machine's load hits every configuration
            order = list(enumerate(configs.items()))  # odd repeats run backwards: no configuration is always last
            for k, (name, (workers, extra)) in order[::-1] if r % 2 else order:
                runs[name].append(ray_ingest(folder, server.url, model, cluster, workers, extra, f"b-{k}-r{r}"))
                raw.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "runs": runs}))
                print(f"  repeat {r}, {name}: {runs[name][-1]['steady_per_s']:.2f} images/s steady", file=sys.stderr)
    finally:
        cluster.stop()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"machine: {started}; at the end: {machine()}")
    print(f"ingest --ray vs plain ({args.n} photos of {args.photo_size}, {args.model} random weights, one local "
          f"`chroma run`, a local 2-node Ray cluster of 1 CPU per node, median of {args.repeats} interleaved repeats):")
    print(f"  {'configuration':32s} {'end to end':>10s} {'steady':>8s}  start")
    for name, rs in runs.items():
        listed = ", ".join(f"{x['steady_per_s']:.2f}" for x in rs)
        print(f"  {name:32s} {median([x['per_s'] for x in rs]):10.2f} {median([x['steady_per_s'] for x in rs]):8.2f}"
              f"  {median([x['start'] for x in rs]):4.1f} s   (steady runs: {listed})")
    print_ray_ratios(runs)
    if args.ray_all:
        print_alternatives(runs)


def _rate(runs: dict[str, list[dict]], name: str, key: str = "steady_per_s") -> float:
    return median([x[key] for x in runs[name]])


def _paired(runs: dict[str, list[dict]], a: str, b: str, key: str = "per_s") -> float:
    """Median over repeats of run a / run b (the runs of one repeat were back to back)."""
    return median([x[key] / y[key] for x, y in zip(runs[a], runs[b], strict=True)])


def print_ray_ratios(runs: dict[str, list[dict]]) -> None:
    plain1, pool1 = _rate(runs, "plain, 1 core"), _rate(runs, "pool, 1 worker")
    print(f"  Ray's overhead per image on one node (pool): {plain1 / pool1 - 1:+.0%} steady (target <= 15%), "
          f"{_paired(runs, 'plain, 1 core', 'pool, 1 worker') - 1:+.0%} end to end")
    print(f"  2 workers / 1 worker (pool, steady): {_rate(runs, 'pool, 2 workers') / pool1:.2f}x; "
          f"plain 2 cores / 1 core: {_rate(runs, 'plain, 2 cores') / plain1:.2f}x")
    print(f"  at one 1-CPU worker's steady rate ({pool1:.2f} images/s): 1M images = {1e6 / pool1 / 3600:,.0f} "
          f"worker-hours, 100M = {1e8 / pool1 / 3600:,.0f} worker-hours (divide by the workers)")


def print_alternatives(runs: dict[str, list[dict]]) -> None:
    print(f"  Ray Data / pool, end to end: 1 worker {_paired(runs, 'Ray Data, 1 worker', 'pool, 1 worker'):.2f}x, "
          f"2 workers {_paired(runs, 'Ray Data, 2 workers', 'pool, 2 workers'):.2f}x")
    writes = runs["pool, 2 workers, worker writes"]
    print(f"  worker writes / driver writes, end to end: "
          f"{_paired(runs, 'pool, 2 workers, worker writes', 'pool, 2 workers'):.2f}x; the workers wrote "
          f"{median([x['ray_records_written'] for x in writes]):.0f} records at "
          f"{median([x['ray_write_records_per_second'] for x in writes]):.0f} records/s per worker while upserting")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=96, help="photos to ingest (generated 12-MP JPEGs)")
    parser.add_argument("--model", default="ViT-B-32", help="architecture, random weights (default ViT-B-32)")
    parser.add_argument("--vectors", type=int, default=20_000, help="vectors for the add-throughput test")
    parser.add_argument("--photos", type=Path, help="ingest this folder instead of N generated photos")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats of the ingest configurations")
    parser.add_argument("--port", type=int, default=18_555)
    parser.add_argument("--ray-all", action="store_true", help="with --ray: also Ray Data and worker writes")
    parser.add_argument("--photo-size", default="4032x3024", help="generated photos' size, WxH (default 12 MP)")
    parser.add_argument("--ray", action="store_true", help="only: plain ingest vs ingest --ray (1 and 2 nodes)")
    args = parser.parse_args()
    model = ["--model", args.model, "--pretrained", "none"]
    size = tuple(int(x) for x in args.photo_size.lower().split("x"))
    folder = args.photos or photo_folder(args.n, size=(size[0], size[1]))
    args.n = sum(1 for _ in folder.iterdir()) if args.photos else args.n
    if args.ray:
        ray_main(args, folder, model)
        return
    work = Path(tempfile.mkdtemp(prefix="mm-scale-"))
    server = ChromaServer(work / "server", args.port)
    server.start()
    started = machine()
    configs = {"1 shard": (1, None), "2 shards": (2, None), "2 shards, 1 thread each": (2, 1)}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in configs}
    try:
        for r in range(args.repeats):  # interleaved, so a change in the machine's load hits every configuration
            for name, (shards, threads) in configs.items():
                runs[name].append(sharded_ingest(folder, server.url, model, shards, queries=shards == 1,
                                                 threads=threads, repeat=r))
        during = [t for run in runs["1 shard"] for t in run["during"]]
        idle = idle_latency(server.url, runs["1 shard"][-1]["collection"], max(50, len(during)))
        adds = {}
        for full in (False, True):
            tag = "full" if full else "bare"
            adds["server", full] = add_throughput(
                Settings.resolve(chroma_url=server.url, collection=f"bench-add-{tag}"), args.vectors, full=full)
            adds["embedded", full] = add_throughput(
                Settings.resolve(index_dir=work / "embedded", collection=f"bench-add-{tag}"), args.vectors, full=full)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"machine: {started}; at the end: {machine()}")
    print(f"ingest ({args.n} photos, {args.model} random weights, one local `chroma run` server, "
          f"median of {args.repeats} interleaved repeats):")
    base = runs["1 shard"]
    for name, rs in runs.items():
        rates = [r["images_per_s"] for r in rs]
        ratios = [r / b["images_per_s"] for r, b in zip(rates, base, strict=True)]
        listed = ", ".join(f"{x:.1f}" for x in rates)
        print(f"  {name:24s} {median(rates):5.1f} images/s (runs: {listed}); {median(ratios):.2f}x 1 shard")
    print(f"store query latency, k=10 ({len(during)} during ingest, {len(idle)} idle):")
    print(f"  during ingest: p50 {ms(during, 50):.1f} ms, p95 {ms(during, 95):.1f} ms")
    print(f"  idle:          p50 {ms(idle, 50):.1f} ms, p95 {ms(idle, 95):.1f} ms")
    print(f"store add throughput ({args.vectors} clustered 512-d unit vectors, batches of 1000, Store.upsert):")
    for (where, full), (rate, late) in adds.items():
        label = f"{where}, {'ingest metadata' if full else 'kind only'}"
        print(f"  {label:28s} {rate:7,.0f} vectors/s ({late:,.0f} over the 2nd half) -> at the 2nd-half rate "
              f"1M in {1e6 / late / 60:4.0f} min, 100M in {1e8 / late / 3600:5.1f} h")


if __name__ == "__main__":
    main()
