"""Writes from the Ray workers straight to a Chroma server (`--ray-writes workers`; the default is the driver).

A worker that has just encoded a batch writes the new images with their captions (encoded on the worker, by the
same model) in one upsert, exactly the records the driver would write (`ingest.write_batch`), and hands back only
"committed" to the driver, which counts them. Whatever needs the plan stays with the driver: files whose stored
vector is reused (touched, renamed, copied) come back as plain rows. An embedded index is never written from a
worker (it is a folder on the driver's disk).
"""

from __future__ import annotations

import time
from typing import Any

from multimodal.config import Settings
from multimodal.images import LoadedImage
from multimodal.ingest import _Work, image_metadata, stored_copies, write_batch
from multimodal.store import Store


class WorkerWriter:
    """One per worker: a lazily opened client of the server, and how long its writes took."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: Store | None = None

    def store(self) -> Store:
        if self._store is None:
            self._store = Store.open(self.settings)
        return self._store

    def write(self, rows: list[dict[str, Any]], works: dict[int, _Work], encoder: Any, scope: str) -> None:
        """Write the rows that carry a fresh vector; they come back marked `committed` (vector dropped), with the
        seconds and records their batch's upsert took, shared out per row (`write_s`, `write_records`)."""
        fresh = [r for r in rows if "vector" in r and (works[r["n"]].old or {}).get("hash") != r["digest"]]
        if not fresh:
            return
        store = self.store()
        copies = stored_copies(store, [r["digest"] for r in fresh])
        fresh = [r for r in fresh if r["digest"] not in copies]  # the driver reuses the stored copy's vector
        if not fresh:
            return
        precision = str(getattr(encoder, "precision", "fp32"))
        items = [(works[r["n"]], image_metadata(works[r["n"]], _sizes(r), r["digest"], r["phash"], scope, precision),
                  r["vector"]) for r in fresh]
        began = time.perf_counter()
        write_batch(store, encoder, items)
        seconds = time.perf_counter() - began
        records = sum(1 + len(w.captions) for w, _, _ in items)
        for r in fresh:
            del r["vector"]
            r.update(committed=True, write_s=seconds / len(fresh), write_records=records / len(fresh))


def _sizes(row: dict[str, Any]) -> LoadedImage:
    from PIL import Image

    return LoadedImage(image=Image.new("RGB", (1, 1)), width=row["width"], height=row["height"],
                       format=row["format"], taken=row["taken"])
