"""The plain REST API (/api/v1) on a live server, through httpx: results, uploads, errors as JSON, login."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from multimodal.index import Index
from tests.fixtures.images import write_image
from tests.fixtures.processes import free_port
from tests.fixtures.ui_app import MAX_UPLOAD_BYTES, bomb_png, small_index
from ui import RunningUI, launch

pytestmark = pytest.mark.slow  # starting a Gradio server takes seconds
WEB_UI_DOC = (Path(__file__).resolve().parents[1] / "docs" / "web-ui.md").read_text()
MAX_BYTES = MAX_UPLOAD_BYTES


@pytest.fixture(scope="module")
def http(served_ui: tuple[RunningUI, Index, Path]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served_ui[0].url.rstrip("/") + "/api/v1", timeout=60) as client:
        yield client


def test_text_search_returns_what_the_library_returns(served_ui, http: httpx.Client) -> None:
    _, index, _ = served_ui
    reply = http.get("/search", params={"q": "a green square", "k": 5})
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("application/json")
    expected = index.searcher.search_text("a green square", 5)
    hits = reply.json()
    assert [h["id"] for h in hits] == [h.id for h in expected]
    assert [h["file"] for h in hits] == [h.path for h in expected]
    assert hits[0]["score"] == pytest.approx(expected[0].score, abs=1e-5)
    assert {"image_id", "match", "kind", "caption"} <= set(hits[0])


def test_filters_target_and_min_score_are_applied(served_ui, http: httpx.Client) -> None:
    _, _, base = served_ui
    photos = http.get("/search", params={"q": "photo", "k": 20, "folder": str(base / "pics" / "photos")}).json()
    assert len(photos) == 4 and all("/photos/" in h["file"] for h in photos)
    captions = http.get("/search", params={"q": "a red square", "k": 3, "target": "captions"}).json()
    assert [h["kind"] for h in captions] == ["caption"] * 3
    everything = http.get("/search", params={"q": "a red square", "k": 20}).json()
    cut = everything[3]["score"]
    above = http.get("/search", params={"q": "a red square", "k": 20, "min_score": cut}).json()
    assert above and len(above) < len(everything) and all(h["score"] >= cut - 1e-6 for h in above)


def test_image_upload_finds_its_twin(served_ui, http: httpx.Client) -> None:
    _, _, base = served_ui
    query = write_image(base / "query.png", color=(31, 171, 59), size=(96, 64))
    with query.open("rb") as f:
        reply = http.post("/search", files={"image": ("query.png", f, "image/png")}, data={"k": "3"})
    assert reply.status_code == 200, reply.text
    hits = reply.json()
    assert len(hits) == 3 and Path(hits[0]["file"]).name == "green.png"


def test_similar_leaves_out_the_image_itself_and_info_counts(http: httpx.Client) -> None:
    first = http.get("/search", params={"q": "photo", "k": 1}).json()[0]
    similar = http.get(f"/images/{first['image_id']}/similar", params={"k": 4}).json()
    assert len(similar) == 4 and first["image_id"] not in {h["image_id"] for h in similar}
    info = http.get("/info").json()
    assert info["images"] == 8 and info["captions"] == 4 and info["dim"]


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "says"), [
    ("GET", "/search", {"params": {"q": ""}}, 422, "q"),
    ("GET", "/search", {}, 422, "q"),
    ("GET", "/search", {"params": {"q": "x", "k": 0}}, 422, "k"),
    ("GET", "/search", {"params": {"q": "x", "k": "many"}}, 422, "k"),
    ("GET", "/search", {"params": {"q": "x", "target": "videos"}}, 422, "target"),
    ("GET", "/search", {"params": {"q": "   "}}, 400, "type something"),
    ("GET", "/images/no-such-id/similar", {}, 404, "no-such-id"),
    ("POST", "/search", {}, 422, "image"),
    ("POST", "/search", {"files": {"image": ("x.jpg", b"not an image", "image/jpeg")}}, 422, "cannot use"),
    ("GET", "/nothing-here", {}, 404, "Not Found"),
])
def test_bad_input_is_a_4xx_with_a_json_error(http: httpx.Client, method: str, path: str, kwargs: dict,
                                              status: int, says: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="ui.rest"):
        reply = http.request(method, path, **kwargs)
    assert reply.status_code == status, reply.text
    assert says.lower() in reply.json()["error"].lower()
    assert "Traceback" not in reply.text
    assert not [r for r in caplog.records if r.exc_info], "a person's mistake must not log a traceback"


def test_oversized_and_bomb_uploads_are_refused(served_ui, http: httpx.Client) -> None:
    _, _, base = served_ui
    big = http.post("/search", files={"image": ("big.jpg", b"\xff" * (MAX_BYTES + 10), "image/jpeg")})
    assert big.status_code == 413 and "bytes" in big.json()["error"]
    bomb = bomb_png(base / "bomb.png")
    reply = http.post("/search", files={"image": ("bomb.png", bomb.read_bytes(), "image/png")})
    assert reply.status_code == 422 and "pixels" in reply.json()["error"]


def test_openapi_docs_are_served(http: httpx.Client) -> None:
    schema = http.get("/openapi.json").json()
    assert {"/search", "/images/{image_id}/similar", "/info"} <= set(schema["paths"])
    assert set(schema["paths"]["/search"]) == {"get", "post"}
    assert "swagger" in http.get("/docs").text.lower()


def test_with_auth_the_api_needs_the_ui_password(tmp_path: Path) -> None:
    index = small_index(tmp_path / "pics", tmp_path / "index")
    running = launch(index, port=free_port(), auth="me:secret", block=False, quiet=True,
                     thumbnail_dir=tmp_path / "thumbs")
    try:
        url = running.url.rstrip("/") + "/api/v1/info"
        anonymous = httpx.get(url, timeout=30)
        assert anonymous.status_code == 401 and "error" in anonymous.json()
        assert httpx.get(url, auth=("me", "wrong"), timeout=30).status_code == 401
        assert httpx.get(url, auth=("me", "secret"), timeout=30).json()["images"] == 8
    finally:
        running.close()


def test_the_readme_curl_examples_name_real_routes(http: httpx.Client) -> None:
    section = re.search(r"### REST API.*?```(?:bash|sh)\n(.*?)```", WEB_UI_DOC, re.S)
    assert section is not None, "docs/web-ui.md must show curl examples for the REST API"
    commands = [line for line in section.group(1).splitlines() if line.startswith("curl")]
    assert len(commands) >= 3
    schema = http.get("/openapi.json").json()
    for command in commands:
        path = re.search(r"/api/v1(/[^?\s'\"]*)", command)
        assert path is not None, command
        route = re.sub(r"/images/[^/]+/", "/images/{image_id}/", path.group(1))
        assert route in schema["paths"], command


def test_a_bug_is_a_500_with_one_line_of_json_and_the_traceback_only_in_the_log(
        served_ui, http: httpx.Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    service = served_ui[0].app.service
    monkeypatch.setattr(service, "search_text", lambda *_: 1 / 0)
    with caplog.at_level(logging.INFO, logger="ui.rest"):
        reply = http.get("/search", params={"q": "x"})
    assert reply.status_code == 500 and "ZeroDivisionError" in reply.json()["error"]
    assert "Traceback" not in reply.text and "1 / 0" not in reply.text
    assert [bool(r.exc_info) for r in caplog.records] == [True]
