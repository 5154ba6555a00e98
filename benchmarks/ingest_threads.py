"""Where an ingest's CPU goes: per-thread CPU of `multimodal ingest`'s pipeline against its parts measured alone.

`benchmarks/ingest.py` compares the pipeline with a bound made of its parts' best costs. This script says why
they differ, in one process and one run, repeated `--repeats` times (medians):

  1. The parts alone, one thread each: decode + preprocess (the bound's decoding), the same plus the file's
     SHA-256 and perceptual fingerprint (what ingest adds for identity and duplicates), and the bf16/fp32
     model at the pipeline's part size; each also measured while the other part runs in another process on
     the other core (does a busy neighbour slow it?).
  2. An ingest of the same folder into a fresh embedded index with default flags, CPU per image of each thread
     family (read from /proc while it runs) and how busy it kept the cores.

Linux only (/proc). Usage: python benchmarks/ingest_threads.py [--n 192] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import cores, machine, photo_folder, write_section

MODEL, WEIGHTS, PART = "ViT-B-32", "none", 8  # PART: images per single-threaded forward pass (batch 16 / 2 cores)
PARTS_N = 48  # photos the parts are measured on (each pass over them is one sample)


def _encoder(precision: str) -> Any:
    from multimodal.encoder import load_encoder

    return load_encoder(MODEL, WEIGHTS, "cpu", precision=precision)


def decode_ms(encoder: Any, files: list[Path], identity: bool) -> tuple[float, list[Any]]:
    """Thread CPU-ms per image of load + preprocess (+ SHA-256 and fingerprint with `identity`)."""
    from multimodal.images import file_digest, load_image
    from multimodal.perceptual import fingerprint

    tensors, start = [], time.thread_time()
    for path in files:
        loaded = load_image(path, max_pixels=10**9, min_side=encoder.image_size)
        tensors.append(encoder.preprocess(loaded.image))
        if identity:
            file_digest(path)
            fingerprint(loaded.image)
    return 1000 * (time.thread_time() - start) / len(files), tensors


def encode_ms(encoder: Any, tensors: list[Any]) -> float:
    """Thread CPU-ms per image of one-threaded forward passes of PART images (after a warm-up pass)."""
    import torch

    stack = torch.stack(tensors[:PART])
    encoder._encode_images(stack)
    rounds, start = max(1, len(tensors) // PART), time.thread_time()
    for _ in range(rounds):
        encoder._encode_images(stack)
    return 1000 * (time.thread_time() - start) / (rounds * PART)


def _median_of(f: Callable[[], float], k: int = 3) -> float:
    return statistics.median(f() for _ in range(k))


def parts(folder: Path, precision: str) -> dict[str, float]:
    """Each part alone, then beside the other part running in a child process (`--neighbour`)."""
    import torch

    torch.set_num_threads(1)
    encoder, files = _encoder(precision), sorted(folder.glob("*.jpg"))
    _, tensors = decode_ms(encoder, files, False)
    out = {"decode": _median_of(lambda: decode_ms(encoder, files, False)[0]),
           "decode_identity": _median_of(lambda: decode_ms(encoder, files, True)[0]),
           "encode": _median_of(lambda: encode_ms(encoder, tensors))}
    for part in ("decode", "encode"):
        other = "encode" if part == "decode" else "decode"
        child = subprocess.Popen([sys.executable, __file__, "--neighbour", other, "--folder", str(folder),
                                  "--precision", precision], stderr=subprocess.DEVNULL)
        try:
            time.sleep(8)  # the neighbour loads its model and starts working
            if child.poll() is not None:
                raise SystemExit(f"the {other} neighbour process exited ({child.returncode}): rerun to see why")
            if part == "decode":
                out["decode_beside"] = _median_of(lambda: decode_ms(encoder, files, True)[0])
            else:
                out["encode_beside"] = _median_of(lambda: encode_ms(encoder, tensors))
        finally:
            child.kill()
            child.wait()
    torch.set_num_threads(cores())  # as a fresh process has it: the next ingest splits batches across cores
    return out


def neighbour(part: str, folder: Path, precision: str) -> None:
    import torch

    torch.set_num_threads(1)
    encoder, files = _encoder(precision), sorted(folder.glob("*.jpg"))
    _, tensors = decode_ms(encoder, files, False)
    while True:
        decode_ms(encoder, files, True) if part == "decode" else encode_ms(encoder, tensors)


def thread_cpu(stop: threading.Event, seen: dict[str, tuple[str, float]]) -> None:
    """Poll /proc for each thread's CPU seconds, keyed by native id (thread name from `threading`)."""
    tick = os.sysconf("SC_CLK_TCK")
    while not stop.is_set():
        names = {str(t.native_id): t.name for t in threading.enumerate()}
        for tid in os.listdir("/proc/self/task"):
            try:
                fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
                comm = Path(f"/proc/self/task/{tid}/comm").read_text().strip()
            except OSError:
                continue
            name = names.get(tid) or seen.get(tid, (comm, 0.0))[0]
            seen[tid] = (name, (int(fields[11]) + int(fields[12])) / tick)
        stop.wait(0.1)


def pipeline(folder: Path) -> dict[str, Any]:
    """An in-process ingest with default flags; CPU-ms per image by thread family, images/s, core use."""
    from multimodal.config import Settings
    from multimodal.encoder import load_encoder
    from multimodal.ingest import ingest_folder
    from multimodal.store import Store

    encoder = load_encoder(MODEL, WEIGHTS, "cpu")
    seen: dict[str, tuple[str, float]] = {}
    stop = threading.Event()
    sampler = threading.Thread(target=thread_cpu, args=(stop, seen), name="sampler", daemon=True)
    sampler.start()
    with tempfile.TemporaryDirectory(prefix="mm-bench-threads-") as tmp:
        settings = Settings(index_dir=Path(tmp))
        store = Store.open(settings)
        time.sleep(0.3)
        before = {tid: cpu for tid, (_, cpu) in seen.items()}
        wall, cpu = time.perf_counter(), time.process_time()
        report = ingest_folder(folder, store, encoder, settings)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        time.sleep(0.3)  # pool threads are gone by now; their last sample stands
        stop.set()
    n = report.encoded
    families: dict[str, float] = {}
    for tid, (name, total) in seen.items():
        family = name.rstrip("0123456789_")  # decode_0, encode_1 -> decode, encode
        families[family] = families.get(family, 0.0) + total - before.get(tid, 0.0)
    return {"images": n, "precision": encoder.precision, "images_per_second": n / wall,
            "cpu_ms": 1000 * cpu / n, "core_use": cpu / wall / cores(),
            "threads_ms": {k: 1000 * v / n for k, v in sorted(families.items(), key=lambda kv: -kv[1]) if v > 0.01}}


def table(runs: list[dict[str, Any]], n: int) -> str:
    def med(key: str, sub: str | None = None) -> float:
        return statistics.median((r[sub][key] if sub else r[key]) for r in runs)

    ingest_decode = statistics.median(r["ingest"]["threads_ms"].get("decode", 0.0) for r in runs)
    ingest_encode = statistics.median(r["ingest"]["threads_ms"].get("encode", 0.0) for r in runs)
    p = runs[0]["ingest"]["precision"]
    return "\n".join([
        f"Machine: {machine()}. Ingest of {n} photos (12 MP JPEG), the parts alone on the first {PARTS_N}; model "
        f"{MODEL} in {p}; medians of {len(runs)} runs.",
        "",
        "| CPU-ms per image | alone (one thread) | beside the other part | in `multimodal ingest` |",
        "|---|---|---|---|",
        f"| decode + preprocess | {med('decode', 'parts'):.1f} | | |",
        f"| … + SHA-256 + fingerprint | {med('decode_identity', 'parts'):.1f} | {med('decode_beside', 'parts'):.1f} "
        f"| {ingest_decode:.1f} (decoding threads) |",
        f"| model, {PART} images per pass | {med('encode', 'parts'):.1f} | {med('encode_beside', 'parts'):.1f} "
        f"| {ingest_encode:.1f} (encoding threads) |",
        "",
        f"Ingest: {med('images_per_second', 'ingest'):.2f} images/s, {med('cpu_ms', 'ingest'):.1f} CPU-ms per image "
        f"in all, cores kept {100 * med('core_use', 'ingest'):.0f} % busy. Bound from the parts alone: "
        f"{1000 * cores() / (med('decode', 'parts') + med('encode', 'parts')):.2f} images/s; with identity: "
        f"{1000 * cores() / (med('decode_identity', 'parts') + med('encode', 'parts')):.2f}.",
    ])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=192, help="photos to ingest (default 192)")
    p.add_argument("--repeats", type=int, default=3, help="runs; medians are reported (default 3)")
    p.add_argument("--no-readme", action="store_true", help="do not rewrite benchmarks/README.md")
    p.add_argument("--neighbour", choices=["decode", "encode"], help=argparse.SUPPRESS)
    p.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--precision", default="bf16", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.neighbour:
        neighbour(args.neighbour, args.folder, args.precision)
        return 0
    folder = photo_folder(args.n)
    runs = []
    for r in range(args.repeats):
        run = {"ingest": pipeline(folder)}
        run["parts"] = parts(photo_folder(PARTS_N), run["ingest"]["precision"])
        print(f"run {r + 1}/{args.repeats}: {run}", flush=True)
        runs.append(run)
    text = table(runs, args.n)
    print(text)
    if not args.no_readme:
        write_section("ingest-threads", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
