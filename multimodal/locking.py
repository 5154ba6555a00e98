"""One ingest at a time per index: a second one is refused with a clear message, never interleaved."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from multimodal.errors import IndexBusyError

if TYPE_CHECKING:
    from multimodal.ingest import Shard
    from multimodal.store import Store

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


@contextlib.contextmanager
def ingest_lock(store: Store, shard: Shard | None = None) -> Iterator[None]:
    """Hold the index's ingest lock for the duration of the block.

    Embedded indexes use an OS file lock in the index folder: it is released by the kernel when the
    process dies (kill -9 included), so a crashed ingest never leaves a stale lock behind.
    """
    if store.settings.chroma_url or fcntl is None:
        yield  # a server serialises writes itself; shards write disjoint ids
        return
    # Shards too: an embedded index has one writer at a time (use a Chroma server for parallel shards).
    path = store.settings.index_dir / ".ingest.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            f.seek(0)
            owner = f.read().strip() or "another process"
            raise IndexBusyError(
                f"another ingest ({owner}) is writing to {store.settings.index_dir}; wait for it to "
                "finish, or ingest into another --index"
            ) from e
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
