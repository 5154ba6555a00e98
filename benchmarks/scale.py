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
interleaved repeats), on a real two-node Ray cluster started here (one CPU per node, as in the tests):
plain ingest on 1 core vs `--ray` with 1 worker (one node), and plain on 2 cores vs `--ray` with 2
workers (two nodes). images/s are steady-state (the workers' model load, `ray_start_seconds`, is taken
out and listed apart); Ray's overhead per image = plain images/s / Ray images/s - 1 on one node.

    .venv/bin/python benchmarks/scale.py --ray --n 16 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
from _common import REPO, machine, median, percentile, photo_folder

from multimodal.config import Settings
from multimodal.model_spec import ModelSpec
from multimodal.records import IMAGE
from multimodal.store import Record, Store

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
       "ANONYMIZED_TELEMETRY": "False", "HF_HUB_OFFLINE": "1"}


class Server:
    """A `chroma run` process on a free port for the length of the benchmark."""

    def __init__(self, path: Path, port: int) -> None:
        beside = Path(sys.executable).parent / "chroma"
        chroma = beside if beside.exists() else shutil.which("chroma") or "chroma"
        self.url = f"http://localhost:{port}"
        self.proc = subprocess.Popen([str(chroma), "run", "--path", str(path), "--port", str(port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("chroma run did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


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


def ray_ingest(folder: Path, url: str, model: list[str], cluster: Any, workers: int | None, collection: str,
               env: dict[str, str] = ENV) -> dict:
    """One ingest into a fresh collection: plain (`workers` None) or `--ray` with `workers` Ray workers."""
    cmd = ingest_cmd(folder, url, collection, model)
    if workers:
        cmd += ["--ray", cluster.address, "--ray-workers", str(workers)]
        env = {**ENV, **cluster.env}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    report = report_of(proc)
    steady = report["seconds"] - report.get("ray_start_seconds", 0.0)
    return {**report, "steady_per_s": report["encoded"] / steady, "start": report.get("ray_start_seconds", 0.0)}


def ray_main(args: argparse.Namespace, folder: Path, model: list[str]) -> None:
    sys.path.insert(0, str(REPO))
    from tests.fixtures.ray_cluster import RayCluster

    work = Path(tempfile.mkdtemp(prefix="mmray-", dir="/tmp"))
    server = Server(work / "server", args.port)
    cluster = RayCluster(work)
    started = machine()
    one_core = {**ENV, "OMP_NUM_THREADS": "1"}
    runs: dict[str, list[dict]] = {"plain, 1 core": [], "--ray, 1 node (1 worker)": [], "plain, 2 cores": [],
                                   "--ray, 2 nodes (2 workers)": []}
    try:
        cluster.start(nodes=2)
        for r in range(args.repeats):
            runs["plain, 1 core"].append(
                ray_ingest(folder, server.url, [*model, "--workers", "1"], None, None, f"b-plain1-{r}", one_core))
            runs["--ray, 1 node (1 worker)"].append(ray_ingest(folder, server.url, model, cluster, 1, f"b-ray1-{r}"))
            runs["plain, 2 cores"].append(ray_ingest(folder, server.url, model, None, None, f"b-plain2-{r}"))
            runs["--ray, 2 nodes (2 workers)"].append(ray_ingest(folder, server.url, model, cluster, 2, f"b-ray2-{r}"))
    finally:
        cluster.stop()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"machine: {started}; at the end: {machine()}")
    print(f"ingest --ray vs plain ({args.n} photos, {args.model} random weights, one local `chroma run`, a local "
          f"2-node Ray cluster of 1 CPU per node, median of {args.repeats} interleaved repeats):")
    for name, rs in runs.items():
        rates = [x["steady_per_s"] for x in rs]
        starts = [x["start"] for x in rs]
        listed = ", ".join(f"{x:.2f}" for x in rates)
        print(f"  {name:28s} {median(rates):6.2f} images/s (runs: {listed}); workers' start {median(starts):.1f} s")
    plain1 = median([x["steady_per_s"] for x in runs["plain, 1 core"]])
    ray1 = median([x["steady_per_s"] for x in runs["--ray, 1 node (1 worker)"]])
    ray2 = median([x["steady_per_s"] for x in runs["--ray, 2 nodes (2 workers)"]])
    print(f"  Ray's overhead per image on one node: {plain1 / ray1 - 1:+.0%} (target <= 15%); "
          f"2 nodes / 1 node: {ray2 / ray1:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=96, help="photos to ingest (generated 12-MP JPEGs)")
    parser.add_argument("--model", default="ViT-B-32", help="architecture, random weights (default ViT-B-32)")
    parser.add_argument("--vectors", type=int, default=20_000, help="vectors for the add-throughput test")
    parser.add_argument("--photos", type=Path, help="ingest this folder instead of N generated photos")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats of the ingest configurations")
    parser.add_argument("--port", type=int, default=18_555)
    parser.add_argument("--ray", action="store_true", help="only: plain ingest vs ingest --ray (1 and 2 nodes)")
    args = parser.parse_args()
    model = ["--model", args.model, "--pretrained", "none"]
    folder = args.photos or photo_folder(args.n)
    args.n = sum(1 for _ in folder.iterdir()) if args.photos else args.n
    if args.ray:
        ray_main(args, folder, model)
        return
    work = Path(tempfile.mkdtemp(prefix="mm-scale-"))
    server = Server(work / "server", args.port)
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
