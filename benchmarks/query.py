"""Query speed and ANN recall on a 100k-vector index, through the project's own Searcher.

    .venv/bin/python benchmarks/query.py             # 100k vectors, 3 repeats, rewrites benchmarks/README.md
    .venv/bin/python benchmarks/query.py --n 20000 --repeats 1 --no-readme

The index (built once, then cached under the benchmark cache folder, outside the repository) holds
`--n` synthetic vectors drawn from many clusters on the sphere around a shared mean direction (as
CLIP embeddings are), plus real ViT-B-32 (random weights) embeddings of generated photos, each with
image-like metadata. With the model warm, every repeat measures:
  - text query end to end (`Searcher.search_text`, fresh texts) against text encoding alone;
  - a repeated text query (served by the text-embedding cache);
  - "more like this" by id (reads the stored vector, no model call);
  - ANN recall@10 against exact search (numpy, all vectors), for several `ef_search` values.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import REPO, busy_cpu_seconds, cache_dir, machine, median, percentile, wait_for_quiet, write_section

from multimodal.config import HnswConfig, Settings
from multimodal.devtools.processes import child_env
from multimodal.index import Index
from multimodal.records import IMAGE
from multimodal.store import Record, Store

DIM = 512
REAL = 256  # real model embeddings of generated photos added to the synthetic ones
EF_SWEEP = (20, 50, 100, 200, 400)
ADJECTIVES = ("red", "blue", "green", "old", "small", "large", "wooden", "shiny", "broken", "happy", "quiet", "busy")
THINGS = ("dog", "cat", "car", "bicycle", "house", "tree", "boat", "bridge", "mountain", "child", "lamp", "guitar")
PLACES = ("at night", "in the rain", "on a beach", "in a city", "in the forest", "at sunset", "indoors", "by the sea")


# -- data -----------------------------------------------------------------------------------------------------
def clustered(n: int, seed: int = 0, clusters: int = 2000) -> np.ndarray:
    """Unit vectors in clusters of Zipf-like sizes and varied spread, around a shared mean direction."""
    rng = np.random.default_rng(seed)
    mean = rng.standard_normal(DIM)
    mean /= np.linalg.norm(mean)
    centres = 0.6 * mean + rng.standard_normal((clusters, DIM)) / np.sqrt(DIM)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    weights = 1.0 / np.arange(1, clusters + 1) ** 0.8
    label = rng.choice(clusters, size=n, p=weights / weights.sum())
    spread = rng.uniform(0.4, 1.0, clusters)[label, None]  # within-cluster cosine ~0.5-0.85
    x = centres[label] + spread * rng.standard_normal((n, DIM)) / np.sqrt(DIM)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def real_embeddings(index: Index, n: int) -> np.ndarray:
    import torch
    from _common import make_photo

    tensors = [index.encoder.preprocess(make_photo(10_000 + i, (672, 504))) for i in range(n)]
    return np.concatenate([index.encoder.encode_images(torch.stack(tensors[i : i + 32])) for i in range(0, n, 32)])


def build(n: int, hnsw: HnswConfig, rebuild: bool) -> tuple[Path, np.ndarray]:
    """The cached index folder and every stored vector (row i is id `v{i}`)."""
    folder = cache_dir() / f"query-{n}-ef{hnsw.ef_construction}-m{hnsw.max_neighbors}"
    done, vectors_file = folder / "COMPLETE", folder / "vectors.npy"
    if done.exists() and not rebuild:
        return folder, np.load(vectors_file)
    shutil.rmtree(folder, ignore_errors=True)
    index = _open(folder, hnsw)
    store = index.store
    store.ensure_collection(index.encoder.spec, index.encoder.dim)
    vectors = np.concatenate([clustered(n), real_embeddings(index, REAL)])
    start = time.perf_counter()
    for lo in range(0, len(vectors), 5000):
        store.upsert([_record(i, vectors[i]) for i in range(lo, min(lo + 5000, len(vectors)))])
        print(f"  stored {min(lo + 5000, len(vectors))}/{len(vectors)} vectors "
              f"({min(lo + 5000, len(vectors)) / (time.perf_counter() - start):.0f}/s)", flush=True)
    np.save(vectors_file, vectors)
    done.write_text(json.dumps({"n": len(vectors), "seconds": time.perf_counter() - start}))
    return folder, vectors


def _record(i: int, vector: np.ndarray) -> Record:
    meta = {"kind": IMAGE, "path": f"/photos/{i // 1000:03d}/IMG_{i:06d}.jpg", "name": f"IMG_{i:06d}.jpg",
            "folder": f"/photos/{i // 1000:03d}", "folders": [f"/photos/{i // 1000:03d}", "/photos", "/"],
            "format": "JPEG", "width": 4032, "height": 3024, "date": 1.6e9 + i, "n_captions": 0}
    return Record(f"v{i}", meta, vector)


def _open(folder: Path, hnsw: HnswConfig) -> Index:
    settings = Settings.resolve(index_dir=folder, model="ViT-B-32", pretrained="none", device="cpu", hnsw=hnsw)
    return Index.open(settings)


def texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [f"a photo of a {rng.choice(ADJECTIVES)} {rng.choice(THINGS)} {rng.choice(PLACES)} #{seed}-{i}"
            for i in range(n)]


# -- measurements ---------------------------------------------------------------------------------------------
def timed(fn: Any, items: list[Any]) -> list[float]:
    out = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        out.append(1000 * (time.perf_counter() - start))
    return out


def latencies(index: Index, vectors: np.ndarray, queries: int, seed: int) -> dict[str, float]:
    searcher, encoder = index.searcher, index.encoder
    for t in texts(5, seed + 1000):  # warm-up: model, tokenizer, oneDNN kernels, Chroma's caches
        searcher.search_text(t, k=10)
    inner = _TimedEncoder(encoder)
    searcher.encoder = inner  # type: ignore[assignment]
    try:
        # The overhead of a query is its time minus the text encoding inside that same call, so a change
        # in the machine's load between calls does not leak into it; encoding alone is timed interleaved.
        encode, e2e, overhead = [], [], []
        for a, b in zip(texts(queries, seed), texts(queries, seed + 500), strict=True):
            encode += timed(lambda t: encoder.encode_texts([t]), [a])
            e2e += timed(lambda t: searcher.search_text(t, k=10), [b])
            overhead.append(e2e[-1] - inner.last_ms)
    finally:
        searcher.encoder = encoder
    repeated = timed(lambda t: searcher.search_text(t, k=10), ["a photo of a dog on a beach"] * (queries + 1))[1:]
    ids = [f"v{i}" for i in np.random.default_rng(seed).choice(len(vectors), queries, replace=False)]
    by_id = timed(lambda i: searcher.more_like_this(i, k=10), ids)
    return {"encode_p50": median(encode), "encode_p95": percentile(encode, 95),
            "e2e_p50": median(e2e), "e2e_p95": percentile(e2e, 95),
            "overhead_p50": median(overhead), "overhead_p95": percentile(overhead, 95),
            "repeated_p50": median(repeated), "repeated_p95": percentile(repeated, 95),
            "by_id_p50": median(by_id), "by_id_p95": percentile(by_id, 95)}


class _TimedEncoder:
    """Passes calls to the encoder, remembering how long the last text encoding took (ms)."""

    def __init__(self, encoder: Any) -> None:
        self._encoder, self.last_ms = encoder, 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._encoder, name)

    def encode_texts(self, texts: Any) -> np.ndarray:
        start = time.perf_counter()
        out = self._encoder.encode_texts(texts)
        self.last_ms = 1000 * (time.perf_counter() - start)
        return out


def recall(folder: Path, vectors_file: Path, ef: int, probes: int, seed: int) -> dict[str, float]:
    """Recall@10 of the ANN index against exact search, and ANN query latency, at one ef_search.

    Runs in its own process: Chroma reads ef_search when it loads the index segment, so a change made
    after the first query of a process does not apply to that process.
    """
    vectors = np.load(vectors_file)
    settings = Settings.resolve(index_dir=folder)
    store = Store.open(settings)
    store.collection.modify(configuration={"hnsw": {"ef_search": ef}})
    store = Store.open(settings)
    q = _probes(vectors, probes, np.random.default_rng(seed))
    exact = np.argsort(-(q @ vectors.T), axis=1)[:, :10]
    store.query(q[:1], 10)  # load the segment
    found, ms = [], []
    for row in q:
        start = time.perf_counter()
        hits = store.query(row[None, :], 10)[0]
        ms.append(1000 * (time.perf_counter() - start))
        found.append({int(h.id[1:]) for h in hits})
    hit_rate = [len(f & set(e.tolist())) / 10 for f, e in zip(found, exact, strict=True)]
    return {"recall": float(np.mean(hit_rate)), "p50_ms": median(ms)}


def recall_sweep(folder: Path, seed: int, default_ef: int) -> dict[str, dict[str, float]]:
    out = {}
    for ef in EF_SWEEP:
        cmd = [sys.executable, __file__, "--stage-recall", str(ef), "--folder", str(folder), "--seed", str(seed)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=REPO,
                              env=child_env(PYTHONPATH=str(REPO)))
        out[str(ef)] = json.loads(done.stdout.strip().splitlines()[-1])
    Store.open(Settings.resolve(index_dir=folder)).collection.modify(configuration={"hnsw": {"ef_search": default_ef}})
    return out


def _probes(vectors: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Query vectors near stored ones (a perturbed copy of a random stored vector), unit length."""
    base = vectors[rng.choice(len(vectors), n, replace=False)]
    q = base + 0.5 * rng.standard_normal(base.shape).astype(np.float32) / np.sqrt(DIM)
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


# -- report ---------------------------------------------------------------------------------------------------
def table(n: int, hnsw: HnswConfig, runs: list[dict[str, Any]], note: str) -> str:
    def med(key: str) -> float:
        return median([r["latency"][key] for r in runs])

    efs = [str(e) for e in EF_SWEEP]
    rec = {e: median([r["recall"][e]["recall"] for r in runs]) for e in efs}
    lat = {e: median([r["recall"][e]["p50_ms"] for r in runs]) for e in efs}
    default = str(hnsw.ef_search)
    lines = [
        f"Machine: {machine()}. {n:,} stored vectors ({n - REAL:,} clustered synthetic + {REAL} ViT-B-32 "
        f"embeddings of generated photos), HNSW M={hnsw.max_neighbors}, ef_construction={hnsw.ef_construction}, "
        f"ef_search={hnsw.ef_search}; medians of {len(runs)} runs; other processes used "
        f"{median([r['others'] for r in runs]):.2f} cores meanwhile. {note}".rstrip(),
        "",
        "| measure | p50 ms | p95 ms | target |",
        "| --- | ---: | ---: | --- |",
        f"| text encode alone (ViT-B-32) | {med('encode_p50'):.1f} | {med('encode_p95'):.1f} | |",
        f"| text query end to end (`search_text`) | {med('e2e_p50'):.1f} | {med('e2e_p95'):.1f} | |",
        f"| **overhead over text encode** (same call) | **{med('overhead_p50'):.1f}** | {med('overhead_p95'):.1f} "
        "| ≤ 5 ms |",
        f"| repeated text query (cached embedding) | {med('repeated_p50'):.1f} | {med('repeated_p95'):.1f} | ≤ 5 ms |",
        f"| more like this, by id | {med('by_id_p50'):.1f} | {med('by_id_p95'):.1f} | ≤ 10 ms |",
        "",
        "| ef_search | " + " | ".join(efs) + " |",
        "| --- | " + " | ".join("---:" for _ in efs) + " |",
        "| recall@10 vs exact | " + " | ".join(f"{rec[e]:.3f}" for e in efs) + " |",
        "| ANN query p50 ms | " + " | ".join(f"{lat[e]:.1f}" for e in efs) + " |",
        "",
        f"Recall@10 at the default ef_search={default}: **{rec.get(default, float('nan')):.3f}** (target ≥ 0.98).",
    ]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=100_000, help="synthetic vectors (default 100000)")
    p.add_argument("--queries", type=int, default=100, help="queries per measurement (default 100)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--ef-construction", type=int, default=HnswConfig().ef_construction)
    p.add_argument("--max-neighbors", type=int, default=HnswConfig().max_neighbors)
    p.add_argument("--ef-search", type=int, default=HnswConfig().ef_search)
    p.add_argument("--rebuild", action="store_true", help="rebuild the cached index")
    p.add_argument("--no-readme", action="store_true")
    p.add_argument("--note", default="")
    p.add_argument("--json", metavar="FILE")
    p.add_argument("--wait-quiet", type=float, default=0.0, metavar="S",
                   help="before each repeat, wait up to S seconds for other processes to go quiet")
    p.add_argument("--stage-recall", type=int, metavar="EF", help=argparse.SUPPRESS)
    p.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.stage_recall:
        folder = args.folder
        print(json.dumps(recall(folder, folder / "vectors.npy", args.stage_recall, 200, args.seed)))
        return 0
    hnsw = HnswConfig(ef_search=args.ef_search, ef_construction=args.ef_construction,
                      max_neighbors=args.max_neighbors)
    print(f"machine: {machine()}", flush=True)
    folder, vectors = build(args.n, hnsw, args.rebuild)
    runs = []
    for r in range(args.repeats):
        if args.wait_quiet:
            print(f"waiting up to {args.wait_quiet:.0f}s for a quiet machine ...", flush=True)
            print(f"  others keep {wait_for_quiet(args.wait_quiet):.2f} cores busy", flush=True)
        swept = recall_sweep(folder, r, hnsw.ef_search)  # leaves the collection at the configured ef_search
        index = _open(folder, hnsw)
        busy, cpu, start = busy_cpu_seconds(), time.process_time(), time.perf_counter()
        latency = latencies(index, vectors, args.queries, seed=r)
        others = (busy_cpu_seconds() - busy - (time.process_time() - cpu)) / (time.perf_counter() - start)
        run = {"load": os.getloadavg()[0], "others": max(0.0, others), "latency": latency, "recall": swept}
        del index
        runs.append(run)
        lat = run["latency"]
        print(f"run {r + 1}/{args.repeats} (others used {run['others']:.2f} cores): "
              f"encode {lat['encode_p50']:.1f} ms, e2e "
              f"{lat['e2e_p50']:.1f} ms (overhead {lat['overhead_p50']:.1f}), repeated {lat['repeated_p50']:.1f} ms, "
              f"by id {lat['by_id_p50']:.1f} ms; recall@10 " +
              ", ".join(f"ef{e}={v['recall']:.3f}/{v['p50_ms']:.1f}ms" for e, v in run["recall"].items()), flush=True)
    text = table(len(vectors), hnsw, runs, args.note)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1))
    if not args.no_readme:
        write_section("query", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
