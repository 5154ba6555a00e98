"""GPU check: half precision is accurate enough, and how fast the encoder runs on CUDA.

    python benchmarks/gpu_check.py [--device cuda] [--batches 32,64,128,256] [--json FILE]

Needs only torch, open_clip_torch, pillow and numpy (chromadb need not be installed), and runs in well
under 3 minutes on one GPU. It loads ViT-B-32 with seeded random weights through the project's own
encoder (`multimodal.encoder.load_encoder`), then:
  1. compares the project's CUDA path (fp16 autocast, pinned upload) with the same model in float32 on
     the same batch of generated photos: every image's cosine must be >= 0.999 (exit 1 otherwise);
  2. measures images/s of the encoder alone (host tensor in, unit vectors back on the host) at a few
     batch sizes, fp16 vs fp32, and pinned vs pageable upload at the largest batch;
  3. measures one CPU core's decode + preprocessing of a 12-MP JPEG, to show which side bounds a GPU ingest.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import torch

sys.modules.setdefault("chromadb", None)  # type: ignore[arg-type]  # never needed here; fail fast if touched
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import make_photo  # noqa: E402

from multimodal.encoder import cpu_has_bf16, load_encoder  # noqa: E402
from multimodal.images import load_image  # noqa: E402

MIN_COSINE = 0.999


def photos(encoder, n: int) -> torch.Tensor:
    """`n` preprocessed generated photos (made at 1/4 size: preprocessing only needs 224 px)."""
    tensors = [encoder.preprocess(make_photo(seed, (1008, 756))) for seed in range(n)]
    return torch.stack(tensors)


def accuracy(half, full, batch: torch.Tensor) -> dict[str, float]:
    """Cosine of the reduced-precision encoder's vectors (the product's default on CUDA) with float32's."""
    cos = (half.encode_images(batch) * full.encode_images(batch)).sum(axis=1)  # both are unit vectors
    return {"min_cosine": float(cos.min()), "mean_cosine": float(cos.mean())}


def throughput(encoder, batch: torch.Tensor, *, pinned: bool, seconds: float = 3.0) -> float:
    """Images/s of encode_images on host tensors (upload, forward, normalise, download)."""
    cuda = encoder.device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    host = batch.pin_memory() if pinned and cuda else batch.clone()
    if not pinned:
        # Pageable upload: bypass the encoder's own pinning for this comparison (inputs in the weights' dtype,
        # as the encoder does: float32 under CUDA autocast, bfloat16 for a CPU's bf16 weights).
        weights_dtype = next(encoder.model.parameters()).dtype
        def run() -> None:
            with torch.inference_mode(), encoder._amp():
                features = encoder.model.encode_image(host.to(encoder.device, dtype=weights_dtype))
            features.float().cpu()
    else:
        def run() -> None:
            encoder.encode_images(host)
    for _ in range(3):
        run()
    sync()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run()
        done += len(host)
    sync()
    return done / (time.perf_counter() - start)


def decode_cost(n: int = 4) -> float:
    """CPU-seconds of one core to load + preprocess one 12-MP JPEG with the project's loader."""
    import tempfile

    encoder_pre = load_encoder("ViT-B-32", "none", "cpu").preprocess
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for seed in range(n):
            buf = io.BytesIO()
            make_photo(1000 + seed).save(buf, format="JPEG", quality=90)
            paths.append(Path(tmp) / f"{seed}.jpg")
            paths[-1].write_bytes(buf.getvalue())
        torch.set_num_threads(1)
        start = time.thread_time()
        for path in paths:
            encoder_pre(load_image(path, max_pixels=10**9, min_side=224).image)
        return (time.thread_time() - start) / n


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda")
    p.add_argument("--batches", default="32,64,128,256")
    p.add_argument("--json", metavar="FILE", help="write the measurements to FILE")
    p.add_argument("--from-json", metavar="FILE", help="only rewrite benchmarks/README.md's GPU section from FILE")
    args = p.parse_args()
    if args.from_json:
        from _common import write_section

        write_section("gpu", table(json.loads(Path(args.from_json).read_text())))
        return 0
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA GPU visible (--device cpu runs the same steps, for a dry run)", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    # On CUDA the product's default (--precision auto) is fp16 autocast; a CPU dry run uses bf16 where it can.
    low = "fp16" if args.device.startswith("cuda") else ("bf16" if cpu_has_bf16() else "fp32")
    encoders = {low: load_encoder("ViT-B-32", "none", args.device, precision=low),
                "fp32": load_encoder("ViT-B-32", "none", args.device, precision="fp32")}
    encoder = encoders[low]
    sizes = [int(b) for b in args.batches.split(",")]
    name = torch.cuda.get_device_name(encoder.device) if encoder.device.type == "cuda" else "cpu"
    print(f"device: {name}, torch {torch.__version__}", flush=True)
    base = photos(encoder, 64)
    acc = {**accuracy(encoder, encoders["fp32"], base), "precision": low}
    ok = acc["min_cosine"] >= MIN_COSINE
    print(f"{low} vs fp32 on 64 photos: min cosine {acc['min_cosine']:.6f}, mean {acc['mean_cosine']:.6f} "
          f"-> {'OK' if ok else 'FAIL'} (need >= {MIN_COSINE})"
          + (" (this CPU has no bf16: float32 against itself, a dry run of the steps only)" if low == "fp32" else ""),
          flush=True)
    rates: dict[str, float] = {}
    for size in sizes:
        batch = base.repeat((size + len(base) - 1) // len(base), 1, 1, 1)[:size].contiguous()
        for label, enc in encoders.items():
            key = f"batch {size} {label} pinned"
            rates[key] = throughput(enc, batch, pinned=True)
            print(f"{key}: {rates[key]:.0f} img/s", flush=True)
    key = f"batch {sizes[-1]} {low} pageable"
    big = base.repeat((sizes[-1] + len(base) - 1) // len(base), 1, 1, 1)[: sizes[-1]].contiguous()
    rates[key] = throughput(encoder, big, pinned=False)
    print(f"{key}: {rates[key]:.0f} img/s", flush=True)
    decode = decode_cost()
    best = max(rates.values())
    print(f"decode + preprocess of a 12-MP JPEG: {1000 * decode:.1f} CPU-ms on one core -> one GPU at "
          f"{best:.0f} img/s needs ~{best * decode:.0f} decoding cores to be kept busy", flush=True)
    print(f"total {time.perf_counter() - t0:.0f} s", flush=True)
    result = {"device": name, "torch": torch.__version__, "accuracy": acc, "images_per_second": rates,
              "decode_cpu_s": decode, "ok": ok}
    print(table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0 if ok else 1


def table(result: dict) -> str:
    """The README section: accuracy verdict and images/s per configuration."""
    acc, rates = result["accuracy"], result["images_per_second"]
    best = max(rates.values())
    low = acc.get("precision", "fp16")
    lines = [f"{result['device']}, torch {result['torch']}, ViT-B-32 (random weights). {low} vs float32 on "
             f"64 photos: min cosine **{acc['min_cosine']:.5f}** (mean {acc['mean_cosine']:.5f}; required ≥ "
             f"{MIN_COSINE}): {'pass' if result['ok'] else 'FAIL'}.", "",
             "| encoder configuration (host tensor in, unit vectors out) | images/s |", "| --- | ---: |"]
    lines += [f"| {key} | {rate:.0f} |" for key, rate in rates.items()]
    lines += ["", f"Decoding + preprocessing a 12-MP JPEG costs {1000 * result['decode_cpu_s']:.1f} CPU-ms on one "
              f"core there, so one GPU at {best:.0f} images/s needs ~{best * result['decode_cpu_s']:.0f} "
              "decoding cores: a GPU ingest is bound by JPEG decoding, not by the model."]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
