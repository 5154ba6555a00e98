"""Compressed storage: recall@10 against full precision, index size on disk and query latency, per setting.

    .venv/bin/python benchmarks/compression.py                          # ViT-B-32 (random weights), 3,000 images
    .venv/bin/python benchmarks/compression.py --model local-dir:/path/to/trained --per-combination 4 --no-readme

One captioned synthetic set (multimodal/synthetic.py, shapes × colours × sizes × positions, with short
caption variants) is encoded once. Each setting (none, float16, pca D/4, pca D/8) then gets its own
embedded index, written through `Store` exactly as ingest writes (the codec applied in `Store.upsert`, a
PCA fitted as `--compress` fits it: on a sample of images plus their captions). Queries are 200 captions
(text → image) and 200 images (image → image); recall@10 is the share of the exact full-precision top 10
(brute force over the float32 vectors) that the setting's index returns, so the "none" row shows what HNSW
alone loses. Size is every file under the index folder; latency is one `Store.query` (k=10), warm.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import machine, median, percentile, write_section

from multimodal.batch_encode import encode_images, encode_texts
from multimodal.codec_fit import FIT_SAMPLE
from multimodal.compression import Codec, fit_pca
from multimodal.config import Settings
from multimodal.encoder import load_encoder
from multimodal.evaluate import load_captioned
from multimodal.model_spec import split_pair
from multimodal.records import CAPTION, IMAGE
from multimodal.store import Record, Store
from multimodal.synthetic import generate

QUERIES = 200
K = 10


def encode_set(model: str, per_combination: int, work: Path) -> tuple[Any, np.ndarray, list[list[str]], np.ndarray]:
    name, weights = split_pair(model)
    encoder = load_encoder(name, weights, "auto", precision="fp32")  # as measured before auto meant bf16
    generate(work / "data", split="all", per_combination=per_combination, captions="varied")
    data = load_captioned(work / "data")
    images, kept, _ = encode_images(encoder, data.paths, batch_size=32)
    captions = [data.captions[n] for n in kept]
    texts = list(dict.fromkeys(c for caps in captions for c in caps))
    return encoder, images, captions, encode_texts(encoder, texts)


def codec_for(setting: str, images: np.ndarray, captions: list[list[str]], texts: np.ndarray,
              text_index: dict[str, int]) -> Codec:
    if not setting.startswith("pca"):
        return Codec(setting)
    rng = np.random.default_rng(0)
    picked = rng.choice(len(images), size=min(FIT_SAMPLE, len(images)), replace=False)
    sample_texts = sorted({text_index[c] for i in picked for c in captions[i]})
    return fit_pca(np.concatenate([images[picked], texts[sample_texts]]), int(setting[3:]))


def build(path: Path, encoder: Any, codec: Codec, images: np.ndarray, texts: np.ndarray) -> tuple[Store, float]:
    store = Store.open(Settings.resolve(index_dir=path))
    store.ensure_collection(encoder.spec, encoder.dim)
    store.set_codec(codec)
    records = [Record(f"i{n}", {"kind": IMAGE, "path": f"i{n}"}, v) for n, v in enumerate(images)]
    records += [Record(f"t{n}", {"kind": CAPTION}, v) for n, v in enumerate(texts)]
    started = time.perf_counter()
    store.upsert(records)
    return store, time.perf_counter() - started


def measure(store: Store, queries: np.ndarray, truth: np.ndarray) -> tuple[float, list[float]]:
    recalls, times = [], []
    for q, expected in zip(queries, truth, strict=True):
        started = time.perf_counter()
        hits = store.query(q[None, :], K, where={"kind": IMAGE})[0]
        times.append(time.perf_counter() - started)
        recalls.append(len({int(h.id[1:]) for h in hits} & set(expected.tolist())) / K)
    return float(np.mean(recalls)), times


def run(model: str, per_combination: int, work: Path) -> list[dict[str, Any]]:
    encoder, images, captions, texts = encode_set(model, per_combination, work)
    text_index = {t: n for n, t in enumerate(dict.fromkeys(c for caps in captions for c in caps))}
    rng = np.random.default_rng(1)
    text_q = texts[rng.choice(len(texts), size=min(QUERIES, len(texts)), replace=False)]
    image_q = images[rng.choice(len(images), size=min(QUERIES, len(images)), replace=False)]
    truth = {name: np.argsort(-(q @ images.T), axis=1, kind="stable")[:, :K]
             for name, q in (("text", text_q), ("image", image_q))}
    dim = encoder.dim
    rows = []
    for setting in ("none", "float16", f"pca{dim // 4}", f"pca{dim // 8}"):
        path = work / f"index-{setting}"
        codec = codec_for(setting, images, captions, texts, text_index)
        store, write_s = build(path, encoder, codec, images, texts)
        text_recall, text_times = measure(store, text_q, truth["text"])
        image_recall, image_times = measure(store, image_q, truth["image"])
        del store
        times = text_times + image_times
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        rows.append({"model": model, "setting": setting, "dim": dim, "images": len(images), "texts": len(texts),
                     "text_recall": text_recall, "image_recall": image_recall, "size_mb": size / 2**20,
                     "median_ms": 1000 * median(times), "p95_ms": 1000 * percentile(times, 95),
                     "write_s": write_s})
        print(rows[-1], flush=True)
        shutil.rmtree(path, ignore_errors=True)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [f"Machine: {machine()}. Recall@{K} against exact full-precision search; {QUERIES} text and "
             f"{QUERIES} image queries.", "",
             "| model | vectors (images + captions) | setting | stored dim | recall@10 text→image | "
             "recall@10 image→image | index on disk | query median / p95 |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        stored = int(r["setting"][3:]) if r["setting"].startswith("pca") else r["dim"]
        lines.append(f"| {r['model']} | {r['images']} + {r['texts']} | {r['setting']} | {stored} "
                     f"| {r['text_recall']:.3f} | {r['image_recall']:.3f} | {r['size_mb']:.1f} MB "
                     f"| {r['median_ms']:.2f} / {r['p95_ms']:.2f} ms |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="MODEL[:WEIGHTS], repeatable (default ViT-B-32:none)")
    parser.add_argument("--per-combination", type=int, default=10,
                        help="images per attribute combination (300 combinations; default 10)")
    parser.add_argument("--no-readme", action="store_true", help="print only; leave benchmarks/README.md alone")
    args = parser.parse_args()
    rows = []
    for model in args.model or ["ViT-B-32:none"]:
        work = Path(tempfile.mkdtemp(prefix="mm-compress-"))
        try:
            rows += run(model, args.per_combination, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    text = table(rows)
    print(text)
    if not args.no_readme:
        write_section("compression", text)


if __name__ == "__main__":
    main()
