"""Decode images in parallel, in order, with a bounded number in flight (flat memory on any folder).

Pillow releases the GIL while decoding and resizing, so threads keep both cores busy without the
cost of pickling tensors between processes; the encoder overlaps with decoding on the main thread.
(Measured on 2 cores: a fork-based process pool was slower than threads in every paired run.)

Decoding threads run at a lower priority (nice) than the encoder. The encoder's OpenMP threads meet
at a barrier after every operation, so a decoder that preempts one of them stalls both; at a lower
priority the decoders fill the gaps instead, and still get whole cores whenever the encoder waits for
images, so no core idles. (Paired runs on 2 cores: 1-18% more images/s than at equal priority.)
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

DECODE_NICE = 10  # how much lower the decoding threads' priority is than the encoder's (Linux only)


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def ordered_map(fn: Callable[[T], R], items: Iterable[T], *, workers: int, in_flight: int,
                nice: int = 0) -> Iterator[tuple[T, R]]:
    """Yield (item, fn(item)) in input order, running fn on `workers` threads, at most `in_flight` ahead.

    `fn` should not raise: return the error as a value instead, so one bad item never stops the rest.
    `nice` > 0 lowers the worker threads' scheduling priority by that much (Linux; ignored elsewhere).
    """
    workers = max(1, workers)
    in_flight = max(1, in_flight)
    window: deque[tuple[T, Future[R]]] = deque()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode",
                              initializer=_lower_priority, initargs=(nice,))
    try:
        for item in items:
            window.append((item, pool.submit(fn, item)))
            if len(window) >= in_flight:
                head, future = window.popleft()
                yield head, future.result()
        while window:
            head, future = window.popleft()
            yield head, future.result()
    finally:
        # On Ctrl-C (or a consumer that stops early) drop queued work instead of finishing it.
        pool.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def bulk_encoding(encoder: object) -> Iterator[None]:
    """The encoder's bulk mode for the duration (see `ClipEncoder.bulk`), if it has one."""
    bulk = getattr(encoder, "bulk", None)
    with bulk() if bulk is not None else contextlib.nullcontext():
        yield


def _lower_priority(nice: int) -> None:
    """Renice the calling thread only, `nice` steps below its current priority (at most to 19): on Linux a
    thread id names a schedulable task of its own. Relative, so a process that is already nice (`nice -n 15`)
    never gets decoding threads that outrank its encoder (as root, an absolute value would raise them).

    Elsewhere the same call would renice the whole process, encoder included, so it is skipped.
    """
    if nice > 0 and sys.platform.startswith("linux"):
        tid = threading.get_native_id()
        with contextlib.suppress(OSError):  # a sandbox may forbid it; decoding works all the same
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))


def thread_nice(tid: int | None = None) -> int:
    """The nice value of a thread (default: the calling one); for tests and diagnostics, Linux only."""
    return os.getpriority(os.PRIO_PROCESS, tid or threading.get_native_id())
