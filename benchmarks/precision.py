"""The optional `--precision bf16` CPU mode against float32: agreement, retrieval quality and speed.

    .venv/bin/python benchmarks/precision.py      # ~2 min (+3 min the first time, to train the demo model)

On a CPU with native bfloat16 (AVX512-BF16 or AMX), for ViT-B-32 (seeded random weights, the ingest
benchmark's model) and for the demo's tiny model trained on synthetic shapes (trained into the benchmark
cache on first use):
  - cosine of each bf16 embedding with the float32 one, images and texts (min and median);
  - recall@10 of bf16 search against float32 search on the same set: the share of float32's top 10 that
    bf16 also returns, for text→image and image→image queries;
  - retrieval quality itself (trained model only): Recall@1/5 both ways on the held-out captioned set;
  - the model's cost per image on one thread at batch 16, float32 vs bf16.
The issue's bar for a faster CPU mode is cosine ≥ 0.99 of float32.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import cache_dir, machine, median, write_section

from multimodal.batch_encode import encode_images, encode_texts
from multimodal.demo import prepare
from multimodal.encoder import ClipEncoder, cpu_has_bf16, load_encoder
from multimodal.evaluate import evaluate_folder, load_captioned

K = 10


def top_k_overlap(reference: np.ndarray, candidate: np.ndarray, k: int = K) -> float:
    """Mean share of each row's top-k columns under `reference` scores that `candidate` scores also rank top-k."""
    ref = np.argpartition(-reference, k, axis=1)[:, :k]
    cand = np.argpartition(-candidate, k, axis=1)[:, :k]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(ref, cand, strict=True)]))


def agreement(fp32: ClipEncoder, bf16: ClipEncoder, paths: list[Path], texts: list[str]) -> dict[str, float]:
    ia, _, _ = encode_images(fp32, paths, batch_size=32)
    ib, _, _ = encode_images(bf16, paths, batch_size=32)
    ta, tb = encode_texts(fp32, texts), encode_texts(bf16, texts)
    image_cos, text_cos = (ia * ib).sum(axis=1), (ta * tb).sum(axis=1)
    self_a, self_b = ia @ ia.T, ib @ ib.T
    np.fill_diagonal(self_a, -np.inf)  # an image is not its own neighbour
    np.fill_diagonal(self_b, -np.inf)
    return {
        "images": len(ia), "texts": len(ta),
        "image_cos_min": float(image_cos.min()), "image_cos_median": float(np.median(image_cos)),
        "text_cos_min": float(text_cos.min()), "text_cos_median": float(np.median(text_cos)),
        "recall10_text_image": top_k_overlap(ta @ ia.T, tb @ ib.T),
        "recall10_image_image": top_k_overlap(self_a, self_b),
    }


def model_ms(encoder: ClipEncoder, batch: int = 16) -> float:
    """CPU-ms per image of the forward pass on one thread (best of 3 passes, after a warm-up)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        x = torch.rand(batch, 3, encoder.image_size, encoder.image_size)
        encoder.encode_images(x)
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            encoder.encode_images(x)
            best = min(best, time.perf_counter() - start)
        return 1000 * best / batch
    finally:
        torch.set_num_threads(threads)


def quality(encoder: ClipEncoder, heldout: Path) -> dict[str, float]:
    r = evaluate_folder(heldout, encoder, batch_size=32).retrieval
    assert r is not None
    return {"t2i_r1": r.text_to_image[1], "t2i_r5": r.text_to_image[5],
            "i2t_r1": r.image_to_text[1], "i2t_r5": r.image_to_text[5]}


def measure(name: str, model: str, weights: str | None, gallery: Path, heldout: Path | None) -> dict[str, Any]:
    fp32 = load_encoder(model, weights, "cpu", precision="fp32")
    bf16 = load_encoder(model, weights, "cpu", precision="bf16")
    data = load_captioned(gallery)
    texts = list(dict.fromkeys(c for caps in data.captions for c in caps))
    row: dict[str, Any] = {"model": name, **agreement(fp32, bf16, data.paths, texts)}
    speeds = [(model_ms(fp32), model_ms(bf16)) for _ in range(3)]
    row["fp32_ms"], row["bf16_ms"] = median([a for a, _ in speeds]), median([b for _, b in speeds])
    if heldout is not None:
        row["fp32"], row["bf16"] = quality(fp32, heldout), quality(bf16, heldout)
    return row


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"Machine: {machine()}. Cosine and recall@10 compare each bf16 result with the float32 one on the demo's "
        f"gallery ({rows[0]['images']} synthetic images, {rows[0]['texts']} distinct captions); model cost is "
        "one thread at batch 16, median of 3.",
        "",
        "| model | image cosine min / median | text cosine min / median | recall@10 vs fp32 text→image / "
        "image→image | model CPU-ms per image fp32 → bf16 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['image_cos_min']:.5f} / {r['image_cos_median']:.5f} | {r['text_cos_min']:.5f} / "
            f"{r['text_cos_median']:.5f} | {r['recall10_text_image']:.3f} / {r['recall10_image_image']:.3f} | "
            f"{r['fp32_ms']:.1f} → {r['bf16_ms']:.1f} ({r['fp32_ms'] / r['bf16_ms']:.2f}×) |")
    quality_rows = [r for r in rows if "fp32" in r]
    if quality_rows:
        lines += ["", "Retrieval quality on the held-out captioned set (colour × shape pairs never seen in training):",
                  "", "| model | precision | text→image R@1 | R@5 | image→text R@1 | R@5 |",
                  "| --- | --- | ---: | ---: | ---: | ---: |"]
        for r in quality_rows:
            for p in ("fp32", "bf16"):
                q = r[p]
                lines.append(f"| {r['model']} | {p} | {q['t2i_r1']:.3f} | {q['t2i_r5']:.3f} | {q['i2t_r1']:.3f} | "
                             f"{q['i2t_r5']:.3f} |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--no-readme", action="store_true", help="do not rewrite benchmarks/README.md")
    p.add_argument("--json", metavar="FILE", help="also write every measurement to FILE")
    args = p.parse_args()
    if not cpu_has_bf16():
        print("this CPU has no native bfloat16 (AVX512-BF16 or AMX): --precision bf16 is refused here", file=sys.stderr)
        return 1
    print(f"machine: {machine()}", flush=True)
    assets = prepare(root=cache_dir() / "demo")
    rows = [measure("ViT-B-32 (random weights)", "ViT-B-32", "none", assets.data.gallery, None),
            measure("demo model (mm-tiny, trained)", f"local-dir:{assets.model}", None, assets.data.gallery,
                    assets.data.heldout)]
    text = table(rows)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    if not args.no_readme:
        write_section("precision", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
