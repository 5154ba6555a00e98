"""Every command works against a real Chroma server (--chroma-url / MULTIMODAL_CHROMA_URL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from multimodal.cli.main import build_parser
from multimodal.config import Settings
from multimodal.devtools.chroma_server import ChromaServer
from multimodal.duplicates import find_duplicates
from multimodal.store import Store
from tests.fixtures.ingest_runs import PHOTOS, TINY, CleanRun, cli_env, ingest_json, location, run_cli

SELF_CONTAINED = {"demo"}  # builds its own embedded sample index by design, never the user's


def test_every_command_with_an_index_also_takes_a_server() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    checked = 0
    for name, sub in subparsers.choices.items():
        flags = {s for a in sub._actions for s in a.option_strings}
        if "--index" in flags and name not in SELF_CONTAINED:
            assert {"--chroma-url", "--chroma-token", "--retry-seconds", "--collection"} <= flags, name
            checked += 1
    assert checked >= 3  # ingest, search, info at least


@pytest.mark.server
@pytest.mark.clip
@pytest.mark.slow
def test_ingest_search_info_against_a_server_match_the_embedded_index(
    chroma_server: ChromaServer, tmp_path: Path, shared_photos: Path, clean_run: CleanRun
) -> None:
    folder = shared_photos  # clean_run ingested it into the server with --chroma-url
    served = location(chroma_server.url, clean_run.collection)
    embedded = location(tmp_path / "index", "cli-e2e")
    assert ingest_json(str(folder), *embedded, *TINY)["added"] == PHOTOS

    env = {**cli_env(), "MULTIMODAL_CHROMA_URL": chroma_server.url}
    by_env = run_cli("search", "photo number 4", "--collection", clean_run.collection, "-k", "5", "--json", env=env)
    local = run_cli("search", "photo number 4", *embedded, "-k", "5", "--json")
    assert by_env.returncode == 0 and local.returncode == 0, by_env.stderr + local.stderr
    hits, local_hits = json.loads(by_env.stdout), json.loads(local.stdout)
    assert [h["path"] for h in hits] == [h["path"] for h in local_hits]
    assert [h["score"] for h in hits] == pytest.approx([h["score"] for h in local_hits], abs=1e-4)
    assert all(Path(h["path"]).is_relative_to(folder) for h in hits) and len(hits) == 5

    info = run_cli("info", *served, "--json")
    assert info.returncode == 0, info.stderr
    data = json.loads(info.stdout)
    assert (data["location"], data["images"], data["captions"]) == (chroma_server.url, PHOTOS, PHOTOS)  # half x 2
    assert data["model"]["model"] == "mm-tiny"


@pytest.mark.server
def test_an_unreachable_server_is_one_line_and_exit_code_1(tmp_path: Path) -> None:
    from tests.fixtures.processes import free_port

    done = run_cli("info", "--chroma-url", f"http://localhost:{free_port()}")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("multimodal info: error:") and "chroma run" in lines[0]


@pytest.mark.server
@pytest.mark.clip
@pytest.mark.slow
def test_toolkit_commands_read_a_server_index(clean_run: CleanRun, tmp_path: Path) -> None:
    env = {**cli_env(), "MULTIMODAL_CHROMA_URL": clean_run.url}
    served = ["--collection", clean_run.collection]
    dupes = run_cli("duplicates", *served, "--json", env=env)
    assert dupes.returncode == 0, dupes.stderr
    served_store = Store.open(Settings.resolve(chroma_url=clean_run.url, collection=clean_run.collection))
    assert json.loads(dupes.stdout) == [list(g.paths) for g in find_duplicates(served_store).near]

    page = tmp_path / "map.html"
    mapped = run_cli("map", *served, "--out", str(page), env=env)
    assert mapped.returncode == 0 and page.stat().st_size > 0, mapped.stderr
    assert f"{PHOTOS} of {PHOTOS} images" in mapped.stdout + mapped.stderr

    evaluated = run_cli("eval", "--chroma-url", clean_run.url, *served, "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["ann"]["vectors"] == PHOTOS
    by_env = run_cli("eval", *served, "--json", env=env)  # the server named only by MULTIMODAL_CHROMA_URL
    assert by_env.returncode == 0, by_env.stderr
    assert json.loads(by_env.stdout)["ann"]["vectors"] == PHOTOS

