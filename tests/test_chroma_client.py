"""Chroma's errors sorted into the kinds the store acts on, retries while unreachable, and `Store.open`
reading only a real not-found as an empty index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import chromadb
import httpx
import pytest

from multimodal import chroma_client
from multimodal.chroma_client import Failure, classify
from multimodal.config import Settings
from multimodal.errors import EmptyIndexError, StoreUnavailableError
from multimodal.store import Store


def raised(fn: Any) -> BaseException:
    with pytest.raises(Exception) as info:
        fn()
    return info.value


def test_real_chromadb_errors_are_classified_by_what_they_mean(tmp_path: Path) -> None:
    client = chromadb.PersistentClient(path=str(tmp_path / "db"))
    client.create_collection("first")
    client.create_collection("second")
    assert classify(raised(lambda: client.get_collection("absent"))) is Failure.NOT_FOUND
    assert classify(raised(lambda: client.delete_collection("absent"))) is Failure.NOT_FOUND
    assert classify(raised(lambda: client.create_collection("first"))) is Failure.EXISTS
    assert classify(raised(lambda: client.get_collection("second").modify(name="first"))) is Failure.EXISTS


def test_a_lost_connection_is_seen_through_the_error_that_wraps_it() -> None:
    try:
        try:
            raise httpx.ConnectError("connection refused")
        except httpx.ConnectError as inner:
            raise RuntimeError("request failed") from inner
    except RuntimeError as outer:
        assert classify(outer) is Failure.UNREACHABLE


def test_a_refusal_and_an_unknown_failure_are_neither_empty_nor_absent() -> None:
    class Response:
        status_code = 401

    refused = RuntimeError("Unauthorized")
    refused.response = Response()  # type: ignore[attr-defined]
    assert classify(refused) is Failure.DENIED
    assert classify(RuntimeError("database disk image is malformed")) is Failure.OTHER
    assert classify(ValueError("bad where clause")) is Failure.OTHER


def test_a_call_is_retried_while_unreachable_and_gives_up_after_its_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chroma_client.time, "sleep", lambda _: None)
    failures = [httpx.ConnectError("down"), httpx.ConnectError("down")]

    def flaky() -> str:
        if failures:
            raise failures.pop()
        return "answer"

    assert chroma_client.call(60, "here", flaky) == "answer"
    assert chroma_client.call(60, "here", lambda where: where, where={"kind": "image"}) == {"kind": "image"}
    with pytest.raises(StoreUnavailableError, match="did not come back within 0s"):
        chroma_client.call(0, "here", lambda: (_ for _ in ()).throw(httpx.ConnectError("down")))
    with pytest.raises(ValueError, match="not a connection problem"):  # other errors are not retried
        chroma_client.call(60, "here", lambda: (_ for _ in ()).throw(ValueError("not a connection problem")))


def test_a_query_racing_the_first_writes_waits_for_them_then_says_what_happened(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Chroma answers a query that meets a collection whose first writes have not reached its vector index
    with an InternalError (seen in CI while an ingest wrote to a server); that is waited out, never a traceback."""
    clock = [0.0]
    monkeypatch.setattr(chroma_client.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(chroma_client.time, "sleep", lambda s: clock.__setitem__(0, clock[0] + s))
    not_ready = chromadb.errors.InternalError(
        "Error executing plan: Internal error: Error creating hnsw segment reader: Nothing found on disk")
    assert classify(not_ready) is Failure.NOT_READY
    assert classify(chromadb.errors.InternalError("Error executing plan: disk full")) is Failure.OTHER
    failures = [not_ready, not_ready, not_ready]

    def catching_up() -> str:
        if failures:
            raise failures.pop()
        return "answer"

    assert chroma_client.call(0, "here", catching_up) == "answer"  # even with no budget for outages
    assert 0 < clock[0] < 1.0
    clock[0] = 0.0
    with pytest.raises(StoreUnavailableError, match=r"not readable yet .* after 10s; an ingest may have just begun"):
        chroma_client.call(60, "here", lambda: (_ for _ in ()).throw(not_ready))
    assert clock[0] == pytest.approx(chroma_client.NOT_READY_GRACE)


class BrokenClient:
    """A client whose collection lookup fails with `error`."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_collection(self, *_: Any, **__: Any) -> Any:
        raise self.error

    def get_max_batch_size(self) -> int:
        return 100


def test_open_reads_only_a_real_not_found_as_an_empty_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings.resolve(index_dir=tmp_path / "index")
    fresh = Store.open(settings)
    assert not fresh.exists
    with pytest.raises(EmptyIndexError, match="multimodal ingest"):
        fresh.require_ingested()

    monkeypatch.setattr("multimodal.store.connect", lambda _: BrokenClient(RuntimeError("disk I/O error")))
    with pytest.raises(StoreUnavailableError, match="disk I/O error"):
        Store.open(settings)
    monkeypatch.setattr("multimodal.store.connect",
                        lambda _: BrokenClient(chromadb.errors.NotFoundError("Collection [x] does not exist")))
    assert not Store.open(settings).exists
