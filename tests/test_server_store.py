"""The store against a real Chroma server: bounded retry across an outage, and token auth headers."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

import numpy as np
import pytest

from multimodal.config import Settings
from multimodal.devtools.chroma_server import ChromaServer
from multimodal.errors import StoreUnavailableError
from multimodal.model_spec import ModelSpec
from multimodal.records import IMAGE
from multimodal.store import Record, Store

pytestmark = pytest.mark.server
SPEC = ModelSpec("fake", "none")


def _fill(store: Store, n: int = 12, dim: int = 8) -> np.ndarray:
    vectors = np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store.ensure_collection(SPEC, dim)
    store.upsert([Record(f"id{i}", {"kind": IMAGE, "path": f"/p/{i}.jpg"}, vectors[i]) for i in range(n)])
    return vectors


def test_a_call_during_an_outage_waits_for_the_server_and_then_answers(own_chroma_server: ChromaServer) -> None:
    store = Store.open(Settings.resolve(chroma_url=own_chroma_server.url, collection="retry", retry_seconds=60))
    _fill(store)
    own_chroma_server.stop()
    restart = threading.Timer(1.5, own_chroma_server.start)
    restart.start()
    try:
        assert store.count() == 12  # sent while the server was down; answered once it was back
    finally:
        restart.join()


def test_an_outage_longer_than_the_budget_is_one_clear_error(own_chroma_server: ChromaServer) -> None:
    store = Store.open(Settings.resolve(chroma_url=own_chroma_server.url, collection="giveup", retry_seconds=1))
    _fill(store)
    own_chroma_server.stop()
    with pytest.raises(StoreUnavailableError) as caught:
        store.count()
    message = str(caught.value)
    assert "\n" not in message and own_chroma_server.url in message and "--retry-seconds" in message
    own_chroma_server.start()
    assert store.count() == 12  # nothing was lost: a rerun carries on


class _TokenGate(BaseHTTPRequestHandler):
    """Forwards to the real server only requests carrying the token, as Chroma's token auth would.

    `chroma run` (the Rust server in chromadb 1.5.9) has no token auth, so this gate stands in for
    one in front of the real server: it answers 403 {"error": "AuthError"} like Chroma's own auth.
    """

    upstream: str = ""
    token: str = ""
    seen: list[str | None] = []  # noqa: RUF012 - shared by the handler instances of one test

    def _relay(self) -> None:
        auth = self.headers.get("Authorization")
        type(self).seen.append(auth)
        if not self.path.endswith("/heartbeat") and auth != f"Bearer {self.token}":
            body = json.dumps({"error": "AuthError", "message": "Forbidden"}).encode()
            self._answer(403, body, "application/json")
            return
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else None
        up = urlparse(self.upstream)
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host", "authorization"}}
        conn.request(self.command, self.path, body=data, headers=headers)
        resp = conn.getresponse()
        self._answer(resp.status, resp.read(), resp.getheader("Content-Type") or "application/json")
        conn.close()

    def _answer(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _relay

    def log_message(self, *args: object) -> None:
        pass


@dataclass
class Gate:
    url: str
    seen: list[str | None]  # the Authorization header of every request that reached the gate


@pytest.fixture
def token_gate(chroma_server: ChromaServer) -> Iterator[Gate]:
    handler = type("Handler", (_TokenGate,), {"upstream": chroma_server.url, "token": "s3cret", "seen": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield Gate(f"http://127.0.0.1:{httpd.server_address[1]}", handler.seen)
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_the_token_is_sent_as_a_bearer_header_on_every_call(token_gate: Gate, server_settings: Settings) -> None:
    settings = replace(server_settings, chroma_url=token_gate.url, chroma_token="s3cret")
    vectors = _fill(Store.open(settings))
    hits = Store.open(settings).query(vectors[:1], k=3)[0]
    assert hits[0].id == "id0" and hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert len(token_gate.seen) > 3 and set(token_gate.seen) == {"Bearer s3cret"}


def test_a_wrong_token_is_a_clear_error_not_an_empty_index(token_gate: Gate, server_settings: Settings) -> None:
    settings = replace(server_settings, chroma_url=token_gate.url, chroma_token="wrong")
    with pytest.raises(StoreUnavailableError, match=r"refused access.*--chroma-token"):
        Store.open(settings)
