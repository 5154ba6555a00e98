"""Ingest speed: this project vs Chroma's own OpenCLIP path vs the pipeline bound, in one run.

    .venv/bin/python benchmarks/ingest.py            # N=48, 3 repeats, rewrites benchmarks/README.md
    .venv/bin/python benchmarks/ingest.py --n 32 --repeats 1 --no-readme

Every repeat measures, on the same generated 12-MP JPEGs and the same model (ViT-B-32, seeded random
weights; speed does not depend on the weights):
  1. Chroma's path: `OpenCLIPEmbeddingFunction` + `ImageLoader`, `collection.add(uris=...)` 16 at a time.
  2. The bound: CPU-seconds per image of decoding + preprocessing (one thread, the project's loader) and
     of the model alone (best of batch sizes and thread counts); bound = cores / (sum).
  3. This project: `multimodal ingest FOLDER --json --precision fp32` as a subprocess (its real entry
     point), into a fresh index; images/s is the CLI's own report (model loading excluded, as for Chroma's).
  4. With the `onnx` extra: the peers' engine, ViT-B-32's image tower exported to ONNX and run by ONNX
     Runtime at batch 1 (immich) and 16 (rclip), as a bound with the same decoding cost.
Peak RSS of the CLI is measured at N/2 and N. Each stage runs in its own process, so none inherits
another's threads, caches or memory. On a CPU with native bfloat16, `multimodal ingest` with default flags
(`--precision auto`, which runs bf16 there after its self-check) is measured too, with its own bound (the
same decode cost, the bf16 model's cost).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    REPO,
    busy_cpu_seconds,
    cache_dir,
    cores,
    machine,
    median,
    photo_folder,
    wait_for_quiet,
    write_section,
)

from multimodal.devtools.processes import child_env

MODEL, WEIGHTS = "ViT-B-32", "none"
CHROMA_BATCH = 16  # uris per collection.add call on Chroma's path (one call with all would hold every full image)


# -- stages (each runs in a child process: `ingest.py --stage NAME --folder DIR`) -----------------------------
def stage_chroma(folder: Path) -> dict[str, Any]:
    """Chroma's own multimodal path, with the project's seeded ViT-B-32 swapped in (same weights, same speed)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from chromadb.utils.data_loaders import ImageLoader
    from chromadb.utils.embedding_functions import OpenCLIPEmbeddingFunction

    from multimodal.encoder import load_encoder

    # checkpoint=None makes open_clip build random weights instead of downloading laion2b; the model is then
    # replaced by the project's seeded one so both paths run the very same network and preprocessing.
    ef = OpenCLIPEmbeddingFunction(model_name=MODEL, checkpoint=None, device="cpu")  # type: ignore[arg-type]
    ours = load_encoder(MODEL, WEIGHTS, "cpu", precision="fp32")  # Chroma's path runs float32
    ef._model = ours.model
    files = sorted(str(p) for p in folder.glob("*.jpg"))
    with tempfile.TemporaryDirectory(prefix="mm-bench-chroma-") as tmp:
        client = chromadb.PersistentClient(path=tmp, settings=ChromaSettings(anonymized_telemetry=False))
        col = client.create_collection("bench", embedding_function=ef, data_loader=ImageLoader(),
                                       configuration={"hnsw": {"space": "cosine"}})
        start = time.perf_counter()
        for i in range(0, len(files), CHROMA_BATCH):
            chunk = files[i : i + CHROMA_BATCH]
            col.add(ids=[str(n) for n in range(i, i + len(chunk))], uris=chunk)
        seconds = time.perf_counter() - start
        assert col.count() == len(files)
    return {"images": len(files), "seconds": seconds, "images_per_second": len(files) / seconds}


def stage_bound(folder: Path) -> dict[str, Any]:
    """CPU-seconds per image of decode + preprocess (one thread) and of the model (best configuration)."""
    import torch

    from multimodal.encoder import cpu_has_bf16, load_encoder
    from multimodal.images import load_image

    encoder = load_encoder(MODEL, WEIGHTS, "cpu", precision="fp32")
    files = sorted(folder.glob("*.jpg"))
    torch.set_num_threads(1)
    tensors = []
    cpu = time.thread_time()
    for path in files:
        loaded = load_image(path, max_pixels=10**9, min_side=encoder.image_size)
        tensors.append(encoder.preprocess(loaded.image))
    decode = (time.thread_time() - cpu) / len(files)
    model, model_cpu = _model_grid(encoder, tensors)
    best = min(model, key=model.__getitem__)
    encode = model[best]
    result = {"decode_cpu_s": decode, "encode_cpu_s": encode, "best_model_config": best, "model_cpu_s": model,
              "encode_cpu_time_s": min(model_cpu.values()), "model_cpu_time_s": model_cpu,
              "cores": cores(), "images_per_second": cores() / (decode + encode)}
    if cpu_has_bf16():
        fast, _ = _model_grid(load_encoder(MODEL, WEIGHTS, "cpu", precision="bf16"), tensors)
        result["bf16"] = {"encode_cpu_s": min(fast.values()), "best_model_config": min(fast, key=fast.__getitem__),
                          "images_per_second": cores() / (decode + min(fast.values()))}
    return result


def _model_grid(encoder: Any, tensors: list[Any]) -> tuple[dict[str, float], dict[str, float]]:
    """`_model_cost` for each thread count and batch size, keyed `THREADSxBATCH`."""
    import torch

    model: dict[str, float] = {}
    model_cpu: dict[str, float] = {}
    for threads in sorted({1, cores()}):
        torch.set_num_threads(threads)
        for batch in (8, 16, 32):
            key = f"{threads}x{batch}"
            model[key], model_cpu[key] = _model_cost(encoder, tensors, threads, batch)
    torch.set_num_threads(cores())
    return model, model_cpu


def _model_cost(encoder: Any, tensors: list[Any], threads: int, batch: int) -> tuple[float, float]:
    """Per image of the forward pass, after a warm-up batch, from the faster of two passes: threads × wall
    seconds (what the bound uses), and the process's CPU-seconds (a diagnostic kept in the JSON)."""
    import torch

    stack = torch.stack([tensors[i % len(tensors)] for i in range(batch)])
    encoder.encode_images(stack)  # warm-up: oneDNN picks kernels for this shape
    rounds = max(1, 32 // batch)
    best = (float("inf"), float("inf"))
    for _ in range(2):
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(rounds):
            encoder.encode_images(stack)
        n = rounds * batch
        best = min(best, (threads * (time.perf_counter() - start) / n, (time.process_time() - cpu) / n))
    return best


def stage_onnx(folder: Path) -> dict[str, Any]:
    """The peers' engine: ViT-B-32's image tower exported to ONNX and run by ONNX Runtime on the CPU, at batch 1
    (immich) and batch 16 (rclip); model seconds per image as the bound counts them (cores × wall)."""
    import numpy as np
    import onnxruntime as ort
    import torch

    from multimodal.encoder import load_encoder
    from multimodal.images import load_image

    encoder = load_encoder(MODEL, WEIGHTS, "cpu", precision="fp32")
    files = sorted(folder.glob("*.jpg"))[:16]
    pixels = np.stack([encoder.preprocess(load_image(p, max_pixels=10**9, min_side=encoder.image_size).image).numpy()
                       for p in files])
    path = cache_dir() / f"{MODEL}-{WEIGHTS}-image-tower.onnx"
    if not path.exists():
        tower = _image_tower(encoder.model).eval()
        torch.backends.mha.set_fastpath_enabled(False)  # the fused attention kernel has no ONNX export
        with torch.no_grad():
            torch.onnx.export(tower, (torch.from_numpy(pixels[:2]),), str(path.with_suffix(".tmp")), dynamo=False,
                              opset_version=17, input_names=["pixels"], output_names=["features"],
                              dynamic_axes={"pixels": {0: "batch"}, "features": {0: "batch"}})
        path.with_suffix(".tmp").rename(path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = cores()
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    got = session.run(None, {"pixels": pixels})[0]
    got = got / np.linalg.norm(got, axis=1, keepdims=True)
    cosine = float((got * encoder.encode_images(torch.from_numpy(pixels))).sum(axis=1).min())
    result: dict[str, Any] = {"min_cosine_to_torch": cosine}
    for batch in (1, 16):
        x = np.stack([pixels[i % len(pixels)] for i in range(batch)])
        session.run(None, {"pixels": x})  # warm-up
        rounds, best = max(2, 32 // batch), float("inf")
        for _ in range(2):
            start = time.perf_counter()
            for _ in range(rounds):
                session.run(None, {"pixels": x})
            best = min(best, cores() * (time.perf_counter() - start) / (rounds * batch))
        result[f"batch{batch}_cpu_s"] = best
    return result


def _image_tower(model: Any) -> Any:
    """A module whose forward is `model.encode_image` (defined here: torch loads in the stage only)."""
    import torch

    class ImageTower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.clip = model

        def forward(self, pixels: torch.Tensor) -> torch.Tensor:
            return self.clip.encode_image(pixels)

    return ImageTower()


STAGES = {"chroma": stage_chroma, "bound": stage_bound, "onnx": stage_onnx}
ONNX = importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None


# -- driver ---------------------------------------------------------------------------------------------------
def run_stage(name: str, folder: Path) -> dict[str, Any]:
    out = _child([sys.executable, __file__, "--stage", name, "--folder", str(folder)])
    return {**json.loads(out["stdout"].strip().splitlines()[-1]), "peak_rss_mb": out["peak_rss_mb"],
            "others": out["others"]}


def run_ours(folder: Path, extra: list[str]) -> dict[str, Any]:
    """`multimodal ingest` into a fresh index; its JSON report plus the child's peak RSS."""
    with tempfile.TemporaryDirectory(prefix="mm-bench-ours-") as tmp:
        cmd = [sys.executable, "-m", "multimodal", "ingest", str(folder), "--index", tmp, "--model", MODEL,
               "--pretrained", WEIGHTS, "--json", "--quiet", *extra]
        out = _child(cmd)
        # Which precision made the vectors (the default flags' choice): `info` reads it without loading a model.
        info = subprocess.run([sys.executable, "-m", "multimodal", "info", "--index", tmp, "--json"], cwd=REPO,
                              env=child_env(PYTHONPATH=str(REPO)), capture_output=True, text=True, check=True)
    report = json.loads(out["stdout"].strip().splitlines()[-1])
    if report["failed"] or report["encoded"] != len(list(folder.glob("*.jpg"))):
        raise SystemExit(f"ingest did not encode every file: {report}")
    return {"images_per_second": report["images_per_second"], "seconds": report["seconds"],
            "peak_rss_mb": out["peak_rss_mb"], "others": out["others"], "cpu_s": out["cpu_s"],
            "precisions": json.loads(info.stdout)["precisions"]}


def _child(cmd: list[str]) -> dict[str, Any]:
    """Run `cmd`, return its stdout and its own peak RSS (os.wait4 gives that child's rusage alone)."""
    env = child_env(PYTHONPATH=str(REPO), MULTIMODAL_TEXT_TOWER="0")  # no text tower export after the timed ingest
    busy, start = busy_cpu_seconds(), time.perf_counter()
    with tempfile.TemporaryFile() as stdout:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=stdout, stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        text = stdout.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-3000:]}")
    others = (busy_cpu_seconds() - busy - usage.ru_utime - usage.ru_stime) / (time.perf_counter() - start)
    # ru_maxrss is in KiB on Linux; `others`: cores' worth of CPU used by other processes meanwhile.
    return {"stdout": text, "peak_rss_mb": usage.ru_maxrss / 1024, "others": max(0.0, others),
            "cpu_s": usage.ru_utime + usage.ru_stime}


def measure(n: int, repeats: int, extra: list[str], wait_quiet: float = 0.0,
            max_others: float | None = None, max_tries: int = 3) -> dict[str, Any]:
    """`repeats` runs; with `max_others`, a run during which other processes used more cores than that is
    discarded and redone (at most `max_tries` times per run; the last try is kept whatever it saw)."""
    folder, half = photo_folder(n), photo_folder(max(1, n // 2))
    runs: list[dict[str, Any]] = []
    discarded = 0
    while len(runs) < repeats:
        r = len(runs)
        if wait_quiet:
            print(f"waiting up to {wait_quiet:.0f}s for a quiet machine ...", flush=True)
            print(f"  others keep {wait_for_quiet(wait_quiet):.2f} cores busy", flush=True)
        load = os.getloadavg()[0]
        fp32 = [*extra, "--precision", "fp32"]  # the float32 rows; the default flags run bf16 on such a CPU
        chroma, bound, ours = run_stage("chroma", folder), run_stage("bound", folder), run_ours(folder, fp32)
        small = run_ours(half, fp32)
        fast = run_ours(folder, extra) if "bf16" in bound else None  # default flags: --precision auto
        onnx = run_stage("onnx", folder) if ONNX else None
        others = max(chroma["others"], bound["others"], ours["others"], small["others"],
                     fast["others"] if fast is not None else 0.0)
        # CPU-seconds per image of the CLI net of start-up (the N and N/2 runs differ by N/2 images): kept in the
        # JSON as a diagnostic only; start-up CPU varies by seconds between runs, so it is noisy at this N.
        marginal = (ours["cpu_s"] - small["cpu_s"]) / (n - n // 2)
        run = {"load": load, "others": others, "chroma": chroma, "bound": bound, "ours": ours,
               "rss_half_mb": small["peak_rss_mb"], "ours_cpu_per_image_s": marginal,
               "cpu_efficiency": (bound["decode_cpu_s"] + bound["encode_cpu_time_s"]) / marginal,
               "vs_chroma": ours["images_per_second"] / chroma["images_per_second"],
               "of_bound": ours["images_per_second"] / bound["images_per_second"]}
        if onnx is not None:
            run["onnx"] = {**onnx, **{f"batch{b}_images_per_second":
                                      cores() / (bound["decode_cpu_s"] + onnx[f"batch{b}_cpu_s"]) for b in (1, 16)}}
        if fast is not None:
            run["bf16"] = {**fast, "vs_chroma": fast["images_per_second"] / chroma["images_per_second"],
                           "of_bound": fast["images_per_second"] / bound["bf16"]["images_per_second"]}
        line = (f"(load {load:.2f}, others used up to {others:.2f} cores): "
                f"chroma {chroma['images_per_second']:.2f} img/s, "
                f"bound {bound['images_per_second']:.2f} img/s (decode {1000 * bound['decode_cpu_s']:.1f} + "
                f"model {1000 * bound['encode_cpu_s']:.1f} CPU-ms/img, {bound['best_model_config']}), "
                f"ours {ours['images_per_second']:.2f} img/s -> {run['vs_chroma']:.2f}x chroma, "
                f"{run['of_bound']:.2f} of bound; peak RSS {small['peak_rss_mb']:.0f} MB (N={n // 2}) / "
                f"{ours['peak_rss_mb']:.0f} MB (N={n})")
        if fast is not None:
            line += (f"; default flags (bf16): bound {bound['bf16']['images_per_second']:.2f}, "
                     f"ours {fast['images_per_second']:.2f} img/s -> {run['bf16']['vs_chroma']:.2f}x chroma, "
                     f"{run['bf16']['of_bound']:.2f} of its bound")
        if max_others is not None and others > max_others and discarded < max_tries * repeats:
            discarded += 1
            print(f"run {r + 1} discarded {line}", flush=True)
            continue
        runs.append(run)
        print(f"run {r + 1}/{repeats} {line}", flush=True)
    return {"n": n, "runs": runs, "discarded": discarded, "machine": machine()}


def summary(result: dict[str, Any]) -> dict[str, Any]:
    runs = result["runs"]

    def med(f: Any) -> float:
        return median([f(r) for r in runs])

    return {
        "chroma": med(lambda r: r["chroma"]["images_per_second"]),
        "bound": med(lambda r: r["bound"]["images_per_second"]),
        "decode_ms": med(lambda r: 1000 * r["bound"]["decode_cpu_s"]),
        "encode_ms": med(lambda r: 1000 * r["bound"]["encode_cpu_s"]),
        "ours": med(lambda r: r["ours"]["images_per_second"]),
        "vs_chroma": med(lambda r: r["vs_chroma"]),
        "of_bound": med(lambda r: r["of_bound"]),
        "rss_half": med(lambda r: r["rss_half_mb"]),
        "rss_full": med(lambda r: r["ours"]["peak_rss_mb"]),
        "rss_chroma": med(lambda r: r["chroma"]["peak_rss_mb"]),
        "load": med(lambda r: r["load"]),
        "others": med(lambda r: r["others"]),
        **_bf16_summary(runs),
        **({f"onnx_b{b}": median([r["onnx"][f"batch{b}_images_per_second"] for r in runs]) for b in (1, 16)}
           if runs and all("onnx" in r for r in runs) else {}),
        **({f"onnx_b{b}_ms": median([1000 * r["onnx"][f"batch{b}_cpu_s"] for r in runs]) for b in (1, 16)}
           if runs and all("onnx" in r for r in runs) else {}),
    }


def _bf16_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians for the optional bf16 mode, when every run measured it."""
    if not runs or not all("bf16" in r for r in runs):
        return {}
    return {
        "bf16_bound": median([r["bound"]["bf16"]["images_per_second"] for r in runs]),
        "bf16_encode_ms": median([1000 * r["bound"]["bf16"]["encode_cpu_s"] for r in runs]),
        "bf16_ours": median([r["bf16"]["images_per_second"] for r in runs]),
        "bf16_vs_chroma": median([r["bf16"]["vs_chroma"] for r in runs]),
        "bf16_of_bound": median([r["bf16"]["of_bound"] for r in runs]),
        "bf16_precisions": ", ".join(sorted({p for r in runs for p in r["bf16"].get("precisions", {})})) or "bf16",
    }


def table(result: dict[str, Any], s: dict[str, Any], note: str) -> str:
    n, k = result["n"], len(result["runs"])
    per_run = [f"- run {i}: other processes used up to {r['others']:.2f} cores; Chroma "
               f"{r['chroma']['images_per_second']:.2f}, bound {r['bound']['images_per_second']:.2f}, this project "
               f"{r['ours']['images_per_second']:.2f} images/s: {r['vs_chroma']:.2f}× Chroma, {r['of_bound']:.2f} of "
               "the bound" for i, r in enumerate(result["runs"], start=1)]
    per_run += [f"- run {i}, default flags (bf16): bound {r['bound']['bf16']['images_per_second']:.2f}, this project "
                f"{r['bf16']['images_per_second']:.2f} images/s: {r['bf16']['vs_chroma']:.2f}× Chroma, "
                f"{r['bf16']['of_bound']:.2f} of its bound"
                for i, r in enumerate(result["runs"], start=1) if "bf16" in r]
    return "\n".join([
        f"Machine: {result.get('machine') or machine()}. N = {n} generated 12-MP JPEGs (~3 MB each), "
        "ViT-B-32 (random weights), "
        f"medians of {k} runs; other processes used {s['others']:.2f} cores meanwhile (median of each run's "
        f"busiest stage; {result.get('discarded', 0)} busier runs discarded). {note}".rstrip(),
        "",
        "| path | images/s | ratio |",
        "| --- | ---: | ---: |",
        f"| Chroma's own (`OpenCLIPEmbeddingFunction` + `ImageLoader`) | {s['chroma']:.2f} | 1.00 |",
        f"| bound: {s['decode_ms']:.1f} CPU-ms decode + {s['encode_ms']:.1f} CPU-ms model per image "
        f"on {cores()} cores | {s['bound']:.2f} | {s['bound'] / s['chroma']:.2f} |",
        f"| this project, float32 (`multimodal ingest --precision fp32`) | {s['ours']:.2f} | {s['vs_chroma']:.2f} |",
        *_bf16_rows(s),
        *_onnx_rows(s),
        "",
        f"This project in float32 vs Chroma's path: **{s['vs_chroma']:.2f}×** (target ≥ 4.0); of the bound: "
        f"**{s['of_bound']:.2f}** (target ≥ 0.85) — ratios taken within each run, then the median.",
        *([f"Default flags (`--precision auto`: bf16 after its self-check on this CPU): "
           f"**{s['bf16_vs_chroma']:.2f}×** Chroma's path (target ≥ 6), **{s['bf16_of_bound']:.2f}** of the bf16 "
           "bound (target ≥ 0.9); its embeddings' agreement with float32 is in the Precision section."]
          if "bf16_ours" in s else []),
        *(["ONNX Runtime rows are bounds (the same decoding cost plus ONNX Runtime's model cost, perfectly "
           "overlapped), not end-to-end runs: the engine rclip (batch 16) and immich (batch 1) use."]
          if "onnx_b1" in s else []),
        f"Peak RSS of `multimodal ingest`: {s['rss_half']:.0f} MB at N = {n // 2}, {s['rss_full']:.0f} MB at "
        f"N = {n} (target ≤ 2500 MB and flat); Chroma's path: {s['rss_chroma']:.0f} MB at N = {n}.",
        "",
        *per_run,
    ])


def _bf16_rows(s: dict[str, Any]) -> list[str]:
    if "bf16_ours" not in s:
        return []
    return [f"| bound with the bf16 model: {s['decode_ms']:.1f} + {s['bf16_encode_ms']:.1f} CPU-ms per image | "
            f"{s['bf16_bound']:.2f} | {s['bf16_bound'] / s['chroma']:.2f} |",
            f"| **this project, default flags** (`multimodal ingest`: {s['bf16_precisions']} here) | "
            f"**{s['bf16_ours']:.2f}** | "
            f"**{s['bf16_vs_chroma']:.2f}** |"]


def _onnx_rows(s: dict[str, Any]) -> list[str]:
    if "onnx_b1" not in s:
        return []
    return [f"| bound with ONNX Runtime's float32 image tower, batch {b} ({peer}): {s['decode_ms']:.1f} + "
            f"{s[f'onnx_b{b}_ms']:.1f} CPU-ms per image | {s[f'onnx_b{b}']:.2f} | {s[f'onnx_b{b}'] / s['chroma']:.2f} |"
            for b, peer in ((1, "immich"), (16, "rclip"))]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=48, help="images (default 48)")
    p.add_argument("--repeats", type=int, default=3, help="runs; medians are reported (default 3)")
    p.add_argument("--no-readme", action="store_true", help="do not rewrite benchmarks/README.md")
    p.add_argument("--note", default="", help="a sentence added to the README table (e.g. what else was running)")
    p.add_argument("--ingest-args", default="", help="extra flags for `multimodal ingest` (e.g. '--batch-size 32')")
    p.add_argument("--json", metavar="FILE", help="also write every measurement to FILE")
    p.add_argument("--max-others", type=float, metavar="CORES",
                   help="redo a run during which other processes used more than CORES cores (up to 3 times each)")
    p.add_argument("--wait-quiet", type=float, default=0.0, metavar="S",
                   help="before each repeat, wait up to S seconds for other processes to go quiet")
    p.add_argument("--from-json", metavar="FILE", help="only rewrite the README section from a --json FILE")
    p.add_argument("--stage", choices=sorted(STAGES), help=argparse.SUPPRESS)
    p.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        write_section("ingest", table(saved, summary(saved), args.note))
        return 0
    if args.stage:
        print(json.dumps(STAGES[args.stage](args.folder)))
        return 0
    print(f"machine: {machine()}", flush=True)
    result = measure(args.n, args.repeats, args.ingest_args.split(), args.wait_quiet, args.max_others)
    s = summary(result)
    text = table(result, s, args.note)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    if not args.no_readme:
        write_section("ingest", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
