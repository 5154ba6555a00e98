"""One ingest at a time per index part: a second one is refused with a clear message, never interleaved.

Embedded index: an OS file lock in the index folder (the kernel drops it when the process dies).

Chroma server: a lease that works across machines, one per (collection, folder, shard), so the shards
of one folder still run in parallel. Chroma has no compare-and-swap on records, but creating a
collection is atomic: of several clients creating the same name, exactly one succeeds. A lease is
therefore an empty marker collection `mmlock-<key>-<generation>` whose metadata names its owner and
when it lapses. The holder is the owner of the highest generation; it renews the lapse time while it
works, and on release marks the marker released (the marker stays, so the generation never goes
back). To take a free, lapsed or released lease a client creates the next generation: racing
clients collide on that one name and only one wins. A client whose create succeeded but that then
sees a higher generation (it acted on an old listing) withdraws. A lease lapses when not renewed for
`LEASE_SECONDS`; on the same host a holder whose process is gone (kill -9) frees it at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multimodal.errors import IndexBusyError

if TYPE_CHECKING:
    from multimodal.store import Store

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LEASE_SECONDS = 60.0  # a server lease not renewed for this long is free (clock skew between hosts must be less)
_ROUNDS = 8  # create attempts before giving up when other clients keep winning the race


@contextlib.contextmanager
def ingest_lock(store: Store, root: Path | None = None, part: str | None = None) -> Iterator[None]:
    """Hold the ingest lock for `root` (and `part` of it: a shard's "I/N") in `store` for the block.

    Raises:
        IndexBusyError: another ingest holds it.
    """
    if store.settings.chroma_url:
        lease = ServerLease(store, root or Path("/"), part)
        lease.acquire()
        try:
            yield
        finally:
            lease.release()
        return
    with _file_lock(store):
        yield


@contextlib.contextmanager
def _file_lock(store: Store) -> Iterator[None]:
    # Shards too: an embedded index has one writer at a time (use a Chroma server for parallel shards).
    if fcntl is None:
        yield
        return
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


class ServerLease:
    """The lease on one (collection, folder, shard) of a Chroma server; see the module docstring."""

    def __init__(self, store: Store, root: Path, part: str | None, lease_seconds: float = LEASE_SECONDS) -> None:
        """`part`: which part of `root` this lease covers (a shard's "I/N"); None for all of it."""
        self.store = store
        self.lease_seconds = lease_seconds
        self.what = f"{root}" + (f" (shard {part})" if part else "")
        key_text = f"{store.settings.collection}\0{root}\0{part or 'all'}"
        key = hashlib.blake2b(key_text.encode(), digest_size=8).hexdigest()
        self.prefix = f"mmlock-{key}-"
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.generation: int | None = None
        self.lost = False  # set when another client took the lease over (ours lapsed)
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    # -- taking and giving back ------------------------------------------------------------
    def acquire(self) -> None:
        """Take the lease or raise IndexBusyError naming its holder."""
        for _ in range(_ROUNDS):
            held = self._generations()
            top = max(held, default=-1)
            if top >= 0 and held[top].get("owner") == self.owner:
                return self._won(top, held)  # our create went through but its answer was lost
            if top >= 0 and _active(held[top]):
                raise IndexBusyError(_busy_message(self, held[top]))
            mine = top + 1
            if self.store.create_marker(self._name(mine), self._metadata()):
                held = self._generations()
                if max(held) == mine:
                    return self._won(mine, held)
                self.store.drop_marker(self._name(mine))  # we acted on an old listing; a newer holder exists
        raise IndexBusyError(f"other ingests keep taking the lock on {self.what}; retry in a moment")

    def release(self) -> None:
        """Stop renewing and mark the lease released (it lapses by itself if the server is gone)."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        if self.generation is None or self.lost:
            return
        with contextlib.suppress(Exception):  # best effort: an unreleased lease lapses by itself
            self.store.set_marker(self._name(self.generation), {**self._metadata(), "released": True}, retry=False)

    # -- internals -------------------------------------------------------------------------
    def _won(self, generation: int, held: dict[int, dict[str, Any]]) -> None:
        self.generation = generation
        for old in held:
            if old < generation:  # the newest marker alone keeps the generation count
                self.store.drop_marker(self._name(old))
        self._renewer = threading.Thread(target=self._renew, name="ingest-lease", daemon=True)
        self._renewer.start()

    def _renew(self) -> None:
        while not self._stop.wait(self.lease_seconds / 4):
            try:
                held = self._generations(retry=False)
                if max(held, default=-1) != self.generation or held[self.generation].get("owner") != self.owner:
                    self.lost = True
                    return
                self.store.set_marker(self._name(self.generation), self._metadata(), retry=False)
            except Exception:  # server away or marker gone: the next beat decides; never crash the ingest
                continue

    def _generations(self, retry: bool = True) -> dict[int, dict[str, Any]]:
        found = self.store.markers(self.prefix, retry=retry)
        out: dict[int, dict[str, Any]] = {}
        for name, meta in found.items():
            suffix = name[len(self.prefix):]
            if suffix.isdigit():
                out[int(suffix)] = meta
        return out

    def _name(self, generation: int) -> str:
        return f"{self.prefix}{generation:08d}"

    def _metadata(self) -> dict[str, Any]:
        host, pid, _ = self.owner.split(":")
        return {"owner": self.owner, "host": host, "pid": int(pid), "what": self.what[:400],
                "expires": time.time() + self.lease_seconds, "released": False}


def _active(meta: dict[str, Any]) -> bool:
    """Whether a marker's holder may still be working."""
    if meta.get("released") or float(meta.get("expires", 0)) < time.time():
        return False
    return not (meta.get("host") == socket.gethostname() and not _pid_alive(int(meta.get("pid", 0))))


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _busy_message(lease: ServerLease, meta: dict[str, Any]) -> str:
    lapse = time.strftime("%H:%M:%S", time.localtime(float(meta.get("expires", 0))))
    return (f"another ingest (pid {meta.get('pid')} on {meta.get('host')}) is writing {lease.what} into "
            f"{lease.store.settings.collection} at {lease.store.location}; wait for it to finish (if it died on "
            f"another machine, its lock lapses at {lapse})")
