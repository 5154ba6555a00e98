"""Decode images in parallel, in order, with a bounded number in flight (flat memory on any folder).

Pillow releases the GIL while decoding and resizing, so threads keep both cores busy without the
cost of pickling tensors between processes; the encoder overlaps with decoding on the main thread.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def ordered_map(fn: Callable[[T], R], items: Iterable[T], *, workers: int, in_flight: int) -> Iterator[tuple[T, R]]:
    """Yield (item, fn(item)) in input order, running fn on `workers` threads, at most `in_flight` ahead.

    `fn` should not raise: return the error as a value instead, so one bad item never stops the rest.
    """
    workers = max(1, workers)
    window: deque[tuple[T, Future[R]]] = deque()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode")
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
