"""The Ray Data variant of `ingest --ray` (`--ray-engine data`): `map_batches` with a callable class.

Measured against the actor pool (multimodal/ray_ingest.py) with benchmarks/scale.py --ray and not chosen; kept
so the comparison can be rerun (docs/scaling.md). It does the same work with the same worker class: the paths go
into a dataset of one block per batch, `map_batches(EncodeBatches, concurrency=N)` keeps one model per actor
(an `EncodeWorker`), and the driver streams the finished batches out with `iter_batches`, into the same commit
loop as the pool. Retries of a lost actor's batches are Ray Data's own (its actors restart).
"""

from __future__ import annotations

import logging
import pickle
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from multimodal.errors import ImageLoadError
from multimodal.ingest import _Loaded, _Work
from multimodal.ray_ingest import EncodeWorker, RayLoader, _batches, _results, _row, worker_args


class EncodeBatches:
    """Ray Data's callable class: one EncodeWorker (one model load) per actor; pickled rows in and out."""

    def __init__(self, *args: Any, scope: str = "") -> None:
        self.worker = EncodeWorker(*args)
        self.scope = scope

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = [pickle.loads(blob) for blob in batch["row"]]
        out = self.worker.encode(rows, self.scope)
        return {"result": np.array([pickle.dumps(r) for r in out], dtype=object)}


class RayDataLoader(RayLoader):
    """An `ingest.Loader` on Ray Data; the same counters and report fields as the actor pool."""

    def __call__(self, todo: list[_Work], reusable: frozenset[str], scope: str
                 ) -> Iterator[tuple[_Work, _Loaded | ImageLoadError]]:
        if not todo:
            return
        data = _quiet_data(self.ray)
        with_work = self.options.writes == "workers"
        batches = _batches(todo, self.settings.batch_size)
        items = [{"row": pickle.dumps(_row(i, w, with_work))} for i, w in enumerate(todo)]
        workers = self.worker_count()
        ds = data.from_items(items, override_num_blocks=len(batches)).map_batches(
            EncodeBatches, fn_constructor_args=worker_args(self.options, self.settings, self.spec, reusable),
            fn_constructor_kwargs={"scope": scope}, batch_size=self.settings.batch_size, batch_format="numpy",
            concurrency=workers, num_cpus=self.options.cpus_per_worker, num_gpus=self.options.gpus_per_worker,
            max_concurrency=2,  # decode one batch while the other encodes, as the pool's actors do
        )
        began = time.monotonic()
        first = True
        for out in ds.iter_batches(batch_size=None, batch_format="numpy"):
            if first:
                self.start_seconds += round(time.monotonic() - began, 3)  # model loads and the first batch
                self.workers_started, first = workers, False
            rows = [pickle.loads(blob) for blob in out["result"]]
            self.tally.add(rows)
            yield from _results(todo, rows)


def _quiet_data(ray: Any) -> Any:
    """ray.data without its own progress bars and logs (the driver's bar counts the files)."""
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.enable_operator_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    return ray.data
