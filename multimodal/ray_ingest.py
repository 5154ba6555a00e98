"""Ingest on a Ray cluster: the driver walks, plans and writes; Ray actors read, decode and encode.

`ray_loader(...)` returns an `ingest.Loader` (the seam in `ingest_folder`): everything cheap and stateful
(the diff against the index, reuse of stored vectors for renamed/copied/touched files, every write, the
report) stays on the driver exactly as in a plain ingest. Only the files that need reading go to a pool of
actors, one model load per actor, in batches of `batch_size` paths. Results come back as plain rows (the
digest, size, format, date and the vector), so the driver commits them batch by batch as today: a killed
driver resumes on rerun, a killed worker (process or node) only costs its in-flight batches, which the
pool sends to another actor.

Why an actor pool and not Ray Data's `map_batches` (multimodal/ray_data.py, `--ray-engine data`), and why the
driver writes and not the workers (multimodal/ray_writer.py, `--ray-writes workers`): measured with
benchmarks/scale.py --ray --ray-all, see docs/scaling.md. Ray is imported lazily; without it `--ray` is
a one-line `ConfigError` naming the extra.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from multimodal.config import Settings
from multimodal.errors import ConfigError, ImageLoadError, RayClusterError, first_line
from multimodal.images import LoadedImage, file_digest, load_image
from multimodal.ingest import _Loaded, _stored_image, _Work
from multimodal.model_spec import ModelSpec
from multimodal.perceptual import PHASH_KEY, fingerprint
from multimodal.pipeline import DECODE_NICE, ordered_map
from multimodal.ray_options import RayOptions
from multimodal.ray_writer import WorkerWriter

EXTRA_HINT = "--ray needs Ray: pip install 'multimodal[ray]'"
READY_TIMEOUT = 120.0  # seconds the pool waits for a first (or replacement) worker to load its model
START_GRACE = 30.0  # seconds the first ready worker waits for the others to load their model: an even start
_POLL = 0.5  # seconds between checks for finished batches and for lost or recovered workers


def _import_ray() -> Any:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no phone home
    try:
        import ray
    except ImportError as e:
        raise ConfigError(EXTRA_HINT) from e
    return ray


def check_available() -> None:
    """Raise ConfigError (one line naming the extra) when Ray is not installed."""
    _import_ray()


def connect(options: RayOptions, retry_seconds: float) -> Any:
    """ray.init() on the cluster at `options.address`; RayClusterError within `retry_seconds` if unreachable."""
    ray = _import_ray()
    if ray.is_initialized():
        return ray
    quiet = {"log_to_driver": False, "logging_level": "ERROR"}
    if options.address == "local":
        ray.init(include_dashboard=False, **quiet)
        return ray
    if options.address != "auto" and not options.address.startswith("ray://"):
        _wait_for_port(options.address, retry_seconds)
    try:
        ray.init(address=options.address, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise RayClusterError(f"cannot join the Ray cluster at {options.address}: {first_line(e)}") from e
    return ray


def _wait_for_port(address: str, retry_seconds: float) -> None:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--ray must be host:port, ray://host:port, auto or local, got {address!r}")
    deadline = time.monotonic() + retry_seconds
    delay = 0.2
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=min(2.0, max(0.1, retry_seconds))):
                return
        except OSError as e:
            if time.monotonic() + delay > deadline:
                raise RayClusterError(f"the Ray cluster at {address} is unreachable after {retry_seconds:g}s "
                                      f"({e.strerror or e}); is `ray start --head` running there?") from e
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def shutdown() -> None:
    ray = _import_ray()
    if ray.is_initialized():
        ray.shutdown()


# -- the worker (one per actor: one model load, reused for every batch) ---------------------------------------
class EncodeWorker:
    """Reads, decodes and encodes batches of files on a cluster node.

    Runs two batches at once (`max_concurrency=2`): one decodes while the other encodes, as the plain
    pipeline overlaps decoding with the model; a lock keeps the model to one batch at a time.
    """

    def __init__(self, spec: ModelSpec, device: str, precision: str, max_pixels: int, threads: int,
                 reusable: frozenset[str], write_to: Settings | None = None) -> None:
        import torch

        from multimodal.encoder import load_encoder

        torch.set_num_threads(max(1, threads))
        self.threads = max(1, threads)
        self.encoder = load_encoder(spec.model, spec.pretrained or None, device, precision=precision)
        self.max_pixels = max_pixels
        self.reusable = reusable
        self.model_lock = threading.Lock()
        self.writer = WorkerWriter(write_to) if write_to is not None else None

    def ready(self) -> str:
        return socket.gethostname() + f":{os.getpid()}"

    def encode(self, rows: list[dict[str, Any]], scope: str = "") -> list[dict[str, Any]]:
        """Each row's result; with a writer, the freshly encoded files are written here and come back
        `committed` (the rows then carry their `_Work` as "work")."""
        import torch

        out = [row for _, row in ordered_map(self._load, rows, workers=self.threads, in_flight=2 * len(rows),
                                             nice=DECODE_NICE)]
        todo = [r for r in out if "tensor" in r]
        if todo:
            batch = torch.stack([r.pop("tensor") for r in todo])
            with self.model_lock:
                vectors = self.encoder.encode_images(batch)
            for r, v in zip(todo, vectors, strict=True):
                r["vector"] = np.asarray(v, dtype=np.float32)
        if self.writer is not None:
            self.writer.write(out, {r["n"]: r["work"] for r in rows}, self.encoder, scope)
        return out

    def _load(self, row: dict[str, Any]) -> dict[str, Any]:
        path = Path(row["path"])
        out: dict[str, Any] = {"n": row["n"]}
        try:
            out["digest"] = digest = file_digest(path)
            if row.get("old_hash") == digest and row.get("old_phash"):
                out["same"] = True  # touched, or only captions changed: the stored vector and metadata stay
                return out
            loaded = load_image(path, max_pixels=self.max_pixels, min_side=self.encoder.image_size)
            out.update(width=loaded.width, height=loaded.height, format=loaded.format, taken=loaded.taken,
                       phash=fingerprint(loaded.image))  # from the pixels, which stay on the worker
            if digest not in self.reusable:
                out["tensor"] = self.encoder.preprocess(loaded.image)
        except ImageLoadError as e:
            out["error"] = e.reason
        except OSError as e:
            out["error"] = f"unreadable: {e.strerror or e}"
        return out


# -- the driver's side ----------------------------------------------------------------------------------------
class RayLoader:
    """An `ingest.Loader` that fans the files out to a pool of EncodeWorker actors, re-sending lost batches."""

    def __init__(self, options: RayOptions, settings: Settings, spec: ModelSpec) -> None:
        self.options, self.settings, self.spec = options, settings, spec
        self.ray = connect(options, settings.retry_seconds)
        self.workers_started = 0  # actors that loaded a model in this run (replacements included)
        self.batches_resent = 0  # batches sent again because their worker was lost
        self.start_seconds = 0.0  # from the first file sent for until the first batch went out (model loads)
        self.tally = WriteTally()

    def worker_count(self) -> int:
        if self.options.workers:
            return self.options.workers
        resources = self.ray.cluster_resources()
        if self.options.gpus_per_worker > 0:
            return max(1, int(resources.get("GPU", 0) // self.options.gpus_per_worker))
        return max(1, int(resources.get("CPU", 1) // max(self.options.cpus_per_worker, 0.01)))

    def __call__(self, todo: list[_Work], reusable: frozenset[str], scope: str
                 ) -> Iterator[tuple[_Work, _Loaded | ImageLoadError]]:
        if not todo:
            return
        pool = _Pool(self, reusable, scope)
        began = time.monotonic()
        try:
            for batch, rows in pool.run(_batches(todo, self.settings.batch_size)):
                self.tally.add(rows)
                yield from _results(batch, rows)
        finally:
            self.workers_started = max(self.workers_started, pool.started)
            self.batches_resent += pool.resent
            self.start_seconds += round((pool.dispatched_at or time.monotonic()) - began, 3)
            pool.close()

    def new_actor(self, reusable_ref: Any) -> Any:
        cls = self.ray.remote(EncodeWorker).options(
            num_cpus=self.options.cpus_per_worker, num_gpus=self.options.gpus_per_worker, max_restarts=0,
            max_task_retries=0, max_concurrency=2,
        )
        return cls.remote(*worker_args(self.options, self.settings, self.spec, reusable_ref))


def worker_args(options: RayOptions, settings: Settings, spec: ModelSpec, reusable: Any) -> tuple[Any, ...]:
    """EncodeWorker's constructor arguments (the actor pool's and Ray Data's)."""
    threads = max(1, round(options.cpus_per_worker))
    device = settings.device if options.gpus_per_worker > 0 else "cpu"
    write_to = settings if options.writes == "workers" else None
    return spec, device, settings.precision, settings.max_pixels, threads, reusable, write_to


class WriteTally:
    """Records written by the workers and the seconds their upserts took (`--ray-writes workers`)."""

    def __init__(self) -> None:
        self.records = 0.0
        self.seconds = 0.0

    def add(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self.records += row.get("write_records", 0.0)
            self.seconds += row.get("write_s", 0.0)

    def report(self) -> dict[str, float]:
        """For the JSON report: records written from the workers, and their rate per worker while writing."""
        rate = self.records / self.seconds if self.seconds else 0.0
        return {"ray_records_written": round(self.records), "ray_write_records_per_second": round(rate, 1)}


class _Pool:
    """Actors, each with at most two batches in flight; a batch whose actor dies goes back to the queue."""

    def __init__(self, loader: RayLoader, reusable: frozenset[str], scope: str) -> None:
        self.loader, self.ray, self.scope = loader, loader.ray, scope
        self.with_work = loader.options.writes == "workers"
        self.target = loader.worker_count()
        self.reusable = self.ray.put(reusable)
        self.starting: dict[Any, Any] = {}  # ready() ref -> actor, until its model is loaded
        self.live: list[Any] = []
        self.inflight: dict[Any, tuple[Any, int]] = {}  # encode() ref -> (actor, batch number)
        self.started = 0
        self.resent = 0
        self.lonely_since: float | None = None
        self.first_ready: float | None = None
        self.dispatched_at: float | None = None

    def run(self, batches: list[list[_Work]]) -> Iterator[tuple[list[_Work], list[dict[str, Any]]]]:
        queue = deque(range(len(batches)))
        left = len(batches)
        for _ in range(self.target):
            self._start_actor()
        while left:
            self._check_alive()
            self._dispatch(queue, batches)
            refs = list(self.inflight) + list(self.starting)
            done, _ = self.ray.wait(refs, num_returns=1, timeout=_POLL)
            for ref in done:
                if ref in self.starting:
                    self._on_ready(ref)
                    continue
                actor, n = self.inflight.pop(ref)
                try:
                    rows = self.ray.get(ref)
                except self.ray.exceptions.RayActorError:
                    self._lost(actor)
                    queue.appendleft(n)
                    self.resent += 1
                    continue
                left -= 1
                yield batches[n], rows

    def _start_actor(self) -> None:
        actor = self.loader.new_actor(self.reusable)
        self.starting[actor.ready.remote()] = actor

    def _on_ready(self, ref: Any) -> None:
        actor = self.starting.pop(ref)
        try:
            self.ray.get(ref)
        except self.ray.exceptions.RayActorError:
            self._start_actor_later()
            return
        self.live.append(actor)
        self.started += 1
        self.first_ready = self.first_ready or time.monotonic()

    def _lost(self, actor: Any) -> None:
        """Its other in-flight batches fail too and are re-queued one by one; one replacement is started."""
        if actor in self.live:
            self.live.remove(actor)
            self._start_actor_later()

    def _start_actor_later(self) -> None:
        """A replacement, placed wherever the cluster has room (it waits if none); the run goes on meanwhile."""
        if len(self.starting) + len(self.live) < self.target:
            self._start_actor()

    def _check_alive(self) -> None:
        if self.live:
            self.lonely_since = None
            return
        self.lonely_since = self.lonely_since or time.monotonic()
        if time.monotonic() - self.lonely_since > READY_TIMEOUT:
            raise RayClusterError(f"no Ray worker could start for {READY_TIMEOUT:g}s (does the cluster have "
                                  f"{self.loader.options.cpus_per_worker:g} CPU and "
                                  f"{self.loader.options.gpus_per_worker:g} GPU free for one worker?)")

    def _dispatch(self, queue: deque[int], batches: list[list[_Work]]) -> None:
        if self.starting and self.started < self.target and self.first_ready is not None \
                and time.monotonic() - self.first_ready < START_GRACE:
            return  # the first workers of the run wait a little for the others (replacements never do)
        for actor in list(self.live):
            while queue and sum(1 for a, _ in self.inflight.values() if a is actor) < 2:
                n = queue.popleft()
                rows = [_row(k, w, self.with_work) for k, w in enumerate(batches[n])]
                self.inflight[actor.encode.remote(rows, self.scope)] = (actor, n)
                self.dispatched_at = self.dispatched_at or time.monotonic()

    def close(self) -> None:
        for actor in self.live + list(self.starting.values()):
            with contextlib.suppress(Exception):
                self.ray.kill(actor)


def _batches(todo: list[_Work], size: int) -> list[list[_Work]]:
    return [todo[i:i + size] for i in range(0, len(todo), size)]


def _row(n: int, work: _Work, with_work: bool = False) -> dict[str, Any]:
    old = work.old or {}
    row = {"n": n, "path": str(work.path), "old_hash": old.get("hash"), "old_phash": old.get(PHASH_KEY)}
    return {**row, "work": work} if with_work else row


def _results(batch: list[_Work], rows: list[dict[str, Any]]) -> Iterator[tuple[_Work, _Loaded | ImageLoadError]]:
    for row in rows:
        work = batch[row["n"]]
        if "error" in row:
            yield work, ImageLoadError(str(work.path), row["error"])
        elif row.get("committed"):  # written by the worker, captions included
            yield work, _Loaded(work, row["digest"], _stored_image({}), None, row["phash"], committed=True)
        elif row.get("same"):
            old = work.old or {}
            yield work, _Loaded(work, row["digest"], _stored_image(old), None, str(old[PHASH_KEY]))
        else:
            image = LoadedImage(image=_placeholder(), width=row["width"], height=row["height"],
                                format=row["format"], taken=row["taken"])
            yield work, _Loaded(work, row["digest"], image, None, row["phash"], row.get("vector"))


def _placeholder() -> Any:  # the pixels stay on the worker; the metadata only needs the sizes
    from PIL import Image

    return Image.new("RGB", (1, 1))
