"""Scaling out: sharded ingest into one `chroma run` server, queries during ingest, the store's add rate.

    .venv/bin/python benchmarks/scale.py                      # 96 12-MP photos, ViT-B-32, 10k vectors
    .venv/bin/python benchmarks/scale.py --n 32 --vectors 5000 --model mm-tiny

All in one run, on one machine, against one local server started here (`chroma run`):
  1. ingest images/s with 1 shard, then with 2 shards in parallel (two CLI processes, `--shard I/2`),
     with default threads and with 1 torch thread + 1 decoder each, each run into a fresh collection;
     images/s = images encoded / wall time of the ingest itself (the CLI's own report; model loading
     excluded), for 2 shards the total over the slower shard's time;
  2. store query latency (k=10, one random vector) p50/p95 while the 1-shard ingest runs, and on the
     same collection once it is idle;
  3. the store's add throughput: precomputed 512-d unit vectors, with only the record kind or with the
     ~20 metadata fields ingest stores per image, written through `Store.upsert` in batches of 1000,
     into the server and into an embedded index.
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
from _common import REPO, machine, percentile, photo_folder

from multimodal.config import Settings
from multimodal.encoder import ModelSpec
from multimodal.store import IMAGE, Record, Store

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
                   threads: int | None = None) -> dict[str, Any]:
    """Ingest `folder` with `shards` parallel processes; with `queries`, time queries while it runs.
    `threads` caps each process's torch threads and decoding workers (None: their defaults)."""
    collection = f"bench-{shards}shard-{threads or 'auto'}"
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


def add_throughput(settings: Settings, n: int, *, full: bool, dim: int = 512, batch: int = 1000) -> float:
    """Vectors/s of `Store.upsert` for `n` precomputed unit vectors, with ingest's image metadata (`full`)
    or only the record kind."""
    store = Store.open(settings)
    store.ensure_collection(ModelSpec("bench", "none"), dim)
    rng = np.random.default_rng(2)
    elapsed = 0.0
    for start in range(0, n, batch):
        vectors = rng.standard_normal((min(batch, n - start), dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        records = [Record(f"v{start + i}", image_metadata(start + i) if full else {"kind": IMAGE}, v)
                   for i, v in enumerate(vectors)]
        t = time.perf_counter()
        store.upsert(records)
        elapsed += time.perf_counter() - t
    assert store.count() == n
    return n / elapsed


def ms(values: list[float], q: float) -> float:
    return percentile(values, q) * 1000 if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=96, help="photos to ingest (generated 12-MP JPEGs)")
    parser.add_argument("--model", default="ViT-B-32", help="architecture, random weights (default ViT-B-32)")
    parser.add_argument("--vectors", type=int, default=10_000, help="vectors for the add-throughput test")
    parser.add_argument("--photos", type=Path, help="ingest this folder instead of N generated photos")
    parser.add_argument("--port", type=int, default=18_555)
    args = parser.parse_args()
    model = ["--model", args.model, "--pretrained", "none"]
    folder = args.photos or photo_folder(args.n)
    args.n = sum(1 for _ in folder.iterdir()) if args.photos else args.n
    work = Path(tempfile.mkdtemp(prefix="mm-scale-"))
    server = Server(work / "server", args.port)
    try:
        one = sharded_ingest(folder, server.url, model, 1, queries=True)
        two = sharded_ingest(folder, server.url, model, 2, queries=False)
        two_lean = sharded_ingest(folder, server.url, model, 2, queries=False, threads=1)
        idle = idle_latency(server.url, one["collection"], max(50, len(one["during"])))
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
    print(f"machine: {machine()}")
    print(f"ingest ({args.n} photos, {args.model} random weights, one local `chroma run` server):")
    for r in (one, two, two_lean):
        print(f"  {r['shards']} shard(s), threads {r['threads']}: {r['images_per_s']:.1f} images/s "
              f"({r['encoded']} in {r['seconds']:.1f} s; {r['images_per_s'] / one['images_per_s']:.2f}x 1 shard)")
    print(f"store query latency, k=10 ({len(one['during'])} during ingest, {len(idle)} idle):")
    print(f"  during ingest: p50 {ms(one['during'], 50):.1f} ms, p95 {ms(one['during'], 95):.1f} ms")
    print(f"  idle:          p50 {ms(idle, 50):.1f} ms, p95 {ms(idle, 95):.1f} ms")
    print(f"store add throughput ({args.vectors} x 512-d vectors, batches of 1000, Store.upsert):")
    for (where, full), rate in adds.items():
        label = f"{where}, {'ingest metadata' if full else 'kind only'}"
        print(f"  {label:28s} {rate:7,.0f} vectors/s -> 1M in {1e6 / rate / 60:4.0f} min, "
              f"100M in {1e8 / rate / 3600:5.1f} h")


if __name__ == "__main__":
    main()
