"""The web UI served for real: named API endpoints through gradio_client, the docs/web-ui.md example, what the file
route refuses, upload caps, and the login."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file

from multimodal.errors import ConfigError
from multimodal.index import Index
from tests.fixtures.images import write_image
from tests.fixtures.processes import free_port
from tests.fixtures.ui_app import MAX_UPLOAD_BYTES, bomb_png
from ui import RunningUI, launch

pytestmark = pytest.mark.slow  # starting a Gradio server takes seconds
WEB_UI_DOC = (Path(__file__).resolve().parents[1] / "docs" / "web-ui.md").read_text()
MAX_BYTES = MAX_UPLOAD_BYTES


@pytest.fixture(scope="module")
def client(served_ui: tuple[RunningUI, Index, Path]) -> Client:
    return Client(served_ui[0].url, verbose=False)


def test_search_text_endpoint_returns_what_the_library_returns(served_ui, client: Client) -> None:
    _, index, _ = served_ui
    hits = client.predict("a green square", 5, api_name="/search_text")
    expected = index.searcher.search_text("a green square", 5)
    assert [h["id"] for h in hits] == [h.id for h in expected]
    assert [h["file"] for h in hits] == [h.path for h in expected]
    assert hits[0]["score"] == pytest.approx(expected[0].score, abs=1e-5)


def test_search_image_endpoint_takes_an_upload_and_finds_its_twin(served_ui, client: Client) -> None:
    _, index, base = served_ui
    query = write_image(base / "query.png", color=(31, 171, 59), size=(96, 64))
    hits = client.predict(handle_file(str(query)), 3, api_name="/search_image")
    assert len(hits) == 3 and Path(hits[0]["file"]).name == "green.png"
    captions = client.predict(handle_file(str(query)), 2, api_name="/nearest_captions")
    expected = index.searcher.nearest_captions(str(query), 2)
    assert [c["kind"] for c in captions] == ["caption", "caption"]
    assert [c["caption"] for c in captions] == [h.caption for h in expected]


def test_more_like_this_and_recommend_endpoints_leave_out_their_inputs(client: Client) -> None:
    first, second = client.predict("photo", 2, api_name="/search_text")
    similar = client.predict(first["id"], 4, api_name="/more_like_this")
    assert len(similar) == 4 and first["id"] not in {h["id"] for h in similar}
    recs = client.predict([first["id"]], [second["id"]], 10, api_name="/recommend")
    assert len(recs) == 6 and not {first["id"], second["id"]} & {h["id"] for h in recs}
    assert client.predict(api_name="/info")["images"] == 8


def test_the_readme_gradio_client_example_runs_against_a_live_app(served_ui, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    block = re.search(r"## API.*?```python\n(.*?)```", WEB_UI_DOC, re.S)
    assert block is not None, "docs/web-ui.md must show a gradio_client example"
    code = block.group(1)
    assert len([line for line in code.splitlines() if line.strip()]) <= 6
    write_image(tmp_path / "query.jpg", seed=2, size=(300, 200))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code.replace("http://127.0.0.1:7860/", served_ui[0].url), "docs/web-ui.md", "exec"), namespace)
    printed = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("Loaded as API")]
    assert len(printed) == 5 and all(re.match(r"-?\d\.\d{3}  /.*\.(png|jpg)$", line) for line in printed)
    assert len(namespace["similar"]) == 5


def test_the_file_route_serves_indexed_files_and_refuses_everything_else(served_ui) -> None:
    running, _, base = served_ui
    secret = write_image(base.parent / "outside-the-roots" / "secret.jpg", seed=9)
    indexed = base / "pics" / "photos" / "photo0.jpg"

    def status(path: Path | str) -> int:
        return httpx.get(f"{running.url}gradio_api/file={path}").status_code

    assert status(indexed) == 200  # the route works, so the refusals below are real refusals
    assert status("/etc/passwd") == 403
    assert status(secret) == 403
    assert status(f"{base}/pics/../outside-the-roots/secret.jpg") == 403
    assert status(base / "index" / "chroma.sqlite3") == 403


def test_uploads_above_the_byte_cap_are_refused(served_ui) -> None:
    running, _, base = served_ui
    big = base / "big.bin"
    big.write_bytes(b"\0" * (MAX_BYTES + 1))
    with big.open("rb") as f:
        response = httpx.post(f"{running.url}gradio_api/upload", files={"files": ("big.png", f, "image/png")})
    assert response.status_code == 413


def test_decompression_bombs_and_oversized_images_are_refused_with_a_message(served_ui, client: Client) -> None:
    _, _, base = served_ui
    bomb = bomb_png(base / "bomb.png")
    with pytest.raises(Exception, match="decompression bomb"):
        client.predict(handle_file(str(bomb)), 3, api_name="/search_image")
    wide = write_image(base / "wide.png", color=(5, 5, 5), size=(1200, 1000))  # 1.2 MP > the 1 MP cap here
    with pytest.raises(Exception, match="above the 1 MP limit"):
        client.predict(handle_file(str(wide)), 3, api_name="/search_image")


def test_a_public_host_without_auth_is_refused_before_serving(index: Index) -> None:
    with pytest.raises(ConfigError, match="--auth"):
        launch(index, host="0.0.0.0", port=free_port(), block=False)


def test_with_auth_nothing_is_served_without_logging_in(served_ui, tmp_path: Path) -> None:
    _, index, base = served_ui
    indexed = base / "pics" / "photos" / "photo0.jpg"
    running = launch(index, port=free_port(), auth="me:secret", block=False, quiet=True,
                     thumbnail_dir=tmp_path / "thumbs")
    try:
        for route in ("config", "gradio_api/info", f"gradio_api/file={indexed}"):
            assert httpx.get(f"{running.url}{route}").status_code == 401, route
        session = httpx.Client()
        assert session.post(f"{running.url}login", data={"username": "me", "password": "wrong"}).status_code == 400
        assert session.post(f"{running.url}login", data={"username": "me", "password": "secret"}).status_code == 200
        assert session.get(f"{running.url}gradio_api/file={indexed}").status_code == 200
        assert Client(running.url, auth=("me", "secret"), verbose=False).predict(api_name="/info")["images"] == 8
    finally:
        running.close()
