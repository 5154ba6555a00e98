"""Talking to Chroma: build the client (embedded folder or server), sort its errors into the few kinds the
store acts on, and retry a call while the server is unreachable.

chromadb's errors differ between versions and between the embedded and the HTTP client (a missing collection
is `NotFoundError` in 1.x, a `ValueError` before; an existing name is an `InternalError` or a
`UniqueConstraintError`; a lost server surfaces as httpx's or the standard library's connection errors,
often as the cause of another; a query that meets a collection whose first writes have not reached its vector
index yet is an `InternalError` saying "Error creating hnsw segment reader: Nothing found on disk").
`classify` is the one place that knows these shapes.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from multimodal.config import Settings
from multimodal.errors import ConfigError, StoreUnavailableError, first_line

FIRST_BACKOFF = 0.5  # seconds before the first retry of a call that found the server unreachable
MAX_BACKOFF = 8.0  # retries back off exponentially up to this interval
NOT_READY_GRACE = 10.0  # seconds a call waits for a collection's first writes to become readable
NOT_READY_BACKOFF = 0.05  # first wait for that (doubling up to MAX_BACKOFF)
_log = logging.getLogger(__name__)
T = TypeVar("T")

_UNREACHABLE = frozenset({"ConnectError", "ConnectionError", "ConnectTimeout", "ReadTimeout", "RemoteProtocolError",
                          "ConnectionRefusedError", "ReadError", "WriteError"})
_DENIED = frozenset({"ChromaAuthError", "AuthorizationError"})
_NOT_FOUND = frozenset({"NotFoundError"})
_EXISTS = frozenset({"UniqueConstraintError", "IDAlreadyExistsError"})
_NOT_READY = ("nothing found on disk",)  # Chroma's vector index has not received the collection's first writes


class Failure(enum.Enum):
    """What a Chroma error means for the caller."""

    UNREACHABLE = "unreachable"  # the server is away (or the connection dropped): retry, then give up
    DENIED = "denied"  # the server refused our credentials
    NOT_FOUND = "not found"  # the collection asked for does not exist
    EXISTS = "exists"  # a collection of that name exists already (a lost creation race)
    NOT_READY = "not ready"  # written, but not yet readable (a query racing the first writes): wait a moment
    OTHER = "other"  # anything else: a real error, never read as "empty" or "absent"


def classify(e: BaseException) -> Failure:
    """The kind of a Chroma error (see the module docstring for the shapes it knows)."""
    for cause in _chain(e):
        if type(cause).__name__ in _UNREACHABLE:
            return Failure.UNREACHABLE
        status = getattr(getattr(cause, "response", None), "status_code", None)
        if type(cause).__name__ in _DENIED or status in (401, 403):
            return Failure.DENIED
    name, text = type(e).__name__, str(e).lower()
    if name in _NOT_FOUND or (name in ("ValueError", "InvalidCollectionException") and "does not exist" in text):
        return Failure.NOT_FOUND
    if name in _EXISTS or "already exists" in text or "unique constraint" in text:
        return Failure.EXISTS
    if name == "InternalError" and any(sign in text for sign in _NOT_READY):
        return Failure.NOT_READY
    return Failure.OTHER


def location(settings: Settings) -> str:
    """Where the index lives, for messages: the server's URL or the embedded folder."""
    return settings.chroma_url or str(settings.index_dir)


def call(budget: float, where: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)`; while Chroma is unreachable, retried with backoff for `budget` seconds (`where`:
    the store's location, for the message). Positional-only, so Chroma's own `where=` passes through. A
    collection whose first writes are not readable yet (a query racing an ingest that just began) is waited
    for up to `NOT_READY_GRACE` seconds, whatever the budget: that is Chroma catching up, not an outage.

    Every call the store makes can be repeated safely (reads, and writes by id), so a call whose answer was
    lost with the connection may be sent again.

    Raises:
        StoreUnavailableError: still unreachable after `budget` seconds, or still not readable after the grace.
    """
    start = time.monotonic()
    deadline = start + budget
    delay, settle = FIRST_BACKOFF, NOT_READY_BACKOFF
    while True:
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            kind = classify(e)
            if kind is Failure.NOT_READY:
                waited = time.monotonic() - start
                if waited >= NOT_READY_GRACE:
                    raise StoreUnavailableError(
                        f"the Chroma store at {where} is not readable yet ({first_line(e)}) after "
                        f"{waited:.0f}s; an ingest may have just begun: retry in a moment") from e
                time.sleep(min(settle, NOT_READY_GRACE - waited))
                settle = min(2 * settle, MAX_BACKOFF)
                continue
            if kind is not Failure.UNREACHABLE:
                raise
            left = deadline - time.monotonic()
            if left <= 0:
                raise StoreUnavailableError(
                    f"lost the Chroma store at {where} ({first_line(e)}) and it did not come back "
                    f"within {budget:g}s (--retry-seconds); rerun the same command to resume once it is up"
                ) from e
            _log.warning("Chroma at %s unreachable (%s); retrying in %.1fs", where, first_line(e), min(delay, left))
            time.sleep(min(delay, left))
            delay = min(2 * delay, MAX_BACKOFF)


def unavailable(e: BaseException, settings: Settings) -> StoreUnavailableError:
    """The user-facing error for a failure to reach or open the store."""
    where = location(settings)
    if classify(e) is Failure.DENIED:
        return StoreUnavailableError(f"the Chroma server at {where} refused access ({first_line(e)}); "
                                     "check --chroma-token")
    if classify(e) is Failure.UNREACHABLE:
        return StoreUnavailableError(f"cannot reach Chroma at {where}: {first_line(e)}")
    return StoreUnavailableError(f"cannot open the collection {settings.collection!r} at {where}: {first_line(e)}")


def connect(settings: Settings) -> Any:
    """A chromadb client for `settings`: the embedded index folder, or the server (checked with a heartbeat).

    Raises:
        StoreUnavailableError: the folder cannot be made, or the server cannot be reached or refuses us.
        ConfigError: the server URL has no host.
    """
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if not settings.chroma_url:
        try:
            settings.index_dir.mkdir(parents=True, exist_ok=True)
            # Absolute: Chroma caches clients by the path string, so a relative "my-index" opened again from
            # another working directory would silently reuse the first folder's client.
            path = settings.index_dir.expanduser().absolute()
            return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
        except OSError as e:
            raise StoreUnavailableError(f"cannot open the index folder {settings.index_dir}: {e}") from e
    from urllib.parse import urlparse

    url = urlparse(settings.chroma_url)
    if not url.hostname:
        raise ConfigError(f"--chroma-url must look like http://host:port, got {settings.chroma_url!r}")
    headers = {"Authorization": f"Bearer {settings.chroma_token}"} if settings.chroma_token else None
    try:
        client = chromadb.HttpClient(
            host=url.hostname, port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https", headers=headers, settings=chroma_settings,
        )
        client.heartbeat()
    except Exception as e:
        if classify(e) is Failure.DENIED:
            raise unavailable(e, settings) from e
        raise StoreUnavailableError(
            f"cannot reach the Chroma server at {settings.chroma_url}: {first_line(e)}; "
            "start it with `chroma run --path DIR --port PORT` or check --chroma-url/--chroma-token"
        ) from e
    return client


def _chain(e: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__
