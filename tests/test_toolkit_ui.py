"""The toolkit's UI tabs without a browser: each action in, the values the widgets get out."""

from __future__ import annotations

import csv
import html
import json
import re
import shutil
from pathlib import Path

import gradio as gr
import pytest
from PIL import Image

from multimodal.config import Settings
from multimodal.devtools.browser import chromium_page
from multimodal.errors import ConfigError, EmptyIndexError, NotFoundError
from multimodal.index import Index
from multimodal.model_scores import write_last_eval
from multimodal.model_spec import ModelSpec
from tests.fixtures.colour_words import ColourWordEncoder, colour_folders, coloured_index
from ui.safety import Exposure
from ui.service import SearchService
from ui.thumbnails import Thumbnails
from ui.toolkit_tabs import Toolkit, add_toolkit_tabs
from ui.views import file_size


@pytest.fixture
def index(tmp_path: Path) -> Index:
    def a_copy_and_a_resized_copy(root: Path) -> None:
        shutil.copyfile(root / "red" / "red0.png", root / "red" / "red0-copy.png")
        Image.open(root / "blue" / "blue0.png").resize((64, 48)).save(root / "blue" / "blue0-big.png")

    return coloured_index(tmp_path, add=a_copy_and_a_resized_copy)


def _kit(index: Index, thumbs: Path, *, trusted: bool = True) -> Toolkit:
    exposure = Exposure() if trusted else Exposure(host="0.0.0.0", insecure_public=True)
    return Toolkit(SearchService(index, Thumbnails(thumbs), exposure=exposure))


@pytest.fixture
def kit(index: Index, tmp_path: Path) -> Toolkit:
    return _kit(index, tmp_path / "thumbs")


def test_duplicates_tab_lists_groups_and_shows_one_side_by_side(kit: Toolkit, tmp_path: Path) -> None:
    status, picker, found = kit.duplicates(0.0, "")
    assert "groups of near duplicates" in status and "typically" in status and "perceptual hashes" in status
    choices = picker["choices"]
    assert any(c.startswith("identical #1: 2 images") for c in choices)
    near = next(c for c in choices if c.startswith("near"))
    shown, rows = kit.group_images(near, found)
    assert {caption.split(" · ")[0] for _, caption in shown} >= {"blue0.png", "blue0-big.png"}  # names, not paths
    assert all(Path(thumb).is_file() and Path(thumb).is_relative_to(tmp_path / "thumbs") for thumb, _ in shown)
    big = next(row for row in rows if row[0] == "blue0-big.png")
    size = (tmp_path / "colours" / "blue" / "blue0-big.png").stat().st_size
    assert big[1:3] == [file_size(size), "64×48"] and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", big[3])
    assert big[4] == str(tmp_path / "colours" / "blue")


def test_duplicates_tab_exports_every_group_and_deletes_nothing(kit: Toolkit, tmp_path: Path) -> None:
    before = sorted(p for p in (tmp_path / "colours").rglob("*") if p.is_file())
    _, _, found = kit.duplicates(0.0, "")
    exported = Path(kit.export_duplicates(found))
    rows = list(csv.DictReader(exported.read_text(encoding="utf-8").splitlines()))
    listed = {(r["group"], r["path"]) for r in rows}
    groups = found.report.near + found.report.exact
    assert len(listed) == sum(len(g.paths) for g in groups) and {r["kind"] for r in rows} == {"near", "identical"}
    assert all(int(r["size (bytes)"]) == Path(r["path"]).stat().st_size for r in rows)  # exact, for a spreadsheet
    assert sorted(p for p in (tmp_path / "colours").rglob("*") if p.is_file()) == before
    with pytest.raises(ConfigError, match="Find duplicates first"):
        kit.export_duplicates(None)
    with pytest.raises(NotFoundError, match="no indexed images under /no/such"):
        kit.duplicates(0.0, "/no/such")  # not "0 groups among 0 images": nothing was looked at


def test_tags_tab_tags_when_trusted_and_refuses_on_a_public_ui(kit: Toolkit, index: Index, tmp_path: Path) -> None:
    assert kit.current_tags() == "The index has no tags yet."
    table = kit.tag("red, green, blue", "a {label} photo\n", 1, 0.0)
    assert "| red | 5 |" in table and "| blue | 5 |" in table
    assert kit.current_tags() == "Current tags: red, green, blue"
    with pytest.raises(ConfigError, match="public without a password"):
        _kit(index, tmp_path / "thumbs", trusted=False).tag("red", "", 1, 0.0)


def test_map_tab_embeds_the_standalone_page_in_an_iframe(kit: Toolkit) -> None:
    frame = kit.map("green\n", "tag", 100, False)
    page = html.unescape(re.search(r'srcdoc="(.*?)" style', frame, re.S).group(1))
    data = json.loads(re.search(r'type="application/json">(.*?)</script>', page, re.S).group(1))
    assert len(data["x"]) == 14 and data["colourBy"] == "tag" and data["queries"][0]["label"] == "green"


def test_probe_tab_reports_and_keeps_server_folders_for_trusted_uis(kit: Toolkit, index: Index,
                                                                    tmp_path: Path) -> None:
    targets = f"{tmp_path / 'colours' / 'red'},{tmp_path / 'colours' / 'blue'}"
    text = kit.probe(targets, "warm: red, fire", "cold: blue, ice", "{word}", 1000)
    assert "Effect size **+" in text and "1000 permutations" in text and "nearer the 'warm' words" in text
    with pytest.raises(ConfigError, match="tag:LABEL"):
        _kit(index, tmp_path / "thumbs", trusted=False).probe(targets, "warm: red", "cold: blue", "{word}", 1000)
    with pytest.raises(ConfigError, match="name two image groups"):
        kit.probe("  ", "warm: red", "cold: blue", "{word}", 1000)


def test_storage_tab_names_the_form_and_measures_recall(kit: Toolkit, tmp_path: Path) -> None:
    assert "stored as **none**: 32 numbers" in kit.storage()
    assert "Search recall@10: **1.000**" in kit.measure()
    empty = _kit(Index.open(Settings.resolve(index_dir=tmp_path / "empty"), encoder=ColourWordEncoder()),
                 tmp_path / "thumbs")
    assert "multimodal ingest" in empty.storage()
    with pytest.raises(EmptyIndexError):
        empty.measure()


def test_the_tabs_build_inside_an_app(index: Index) -> None:
    with gr.Blocks() as app, gr.Tabs():
        add_toolkit_tabs(SearchService(index, exposure=Exposure(host="0.0.0.0", insecure_public=True)))
    labels = {getattr(block, "label", None) for block in app.blocks.values()}
    assert {"Duplicates", "Tags", "Map", "Bias probe", "Storage"} <= labels


@pytest.mark.browser
@pytest.mark.slow
def test_live_app_draws_the_map_and_shows_a_duplicate_group_side_by_side(index: Index, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    from tests.fixtures.processes import free_port
    from ui import launch

    running = launch(index, port=free_port(), block=False, quiet=True, thumbnail_dir=tmp_path / "thumbs")
    try:
        with chromium_page() as page:
            page.goto(running.url)
            page.get_by_role("tab", name="Map").click()
            page.get_by_role("button", name="Draw the map").click()
            frame = page.frame_locator("iframe[title='map of the embedding space']")
            dots = frame.locator("svg#map circle[r='4']")
            expect(dots).to_have_count(14, timeout=30_000)
            dots.last.hover()  # drawn last, so on top (byte-identical copies share a position)
            expect(frame.locator("#tip img")).to_have_attribute("src", re.compile("^data:image/jpeg"))

            page.get_by_role("tab", name="Duplicates").click()
            page.get_by_role("button", name="Find duplicates").click()
            expect(page.get_by_text("groups of identical files")).to_be_visible(timeout=30_000)
            expect(page.locator("#mm-duplicates img").first).to_be_visible(timeout=30_000)  # the first group
            assert page.locator("#mm-duplicates img").count() >= 2
    finally:
        running.close()


@pytest.mark.browser
@pytest.mark.slow
def test_the_map_tab_draws_an_image_atlas_with_a_legend(index: Index, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    from tests.fixtures.processes import free_port
    from ui import launch

    running = launch(index, port=free_port(), block=False, quiet=True, thumbnail_dir=tmp_path / "thumbs")
    try:
        with chromium_page(viewport={"width": 1400, "height": 1000}) as page:
            page.goto(running.url)
            page.get_by_role("tab", name="Map").click()
            page.locator("#mm-map-draw").get_by_text("Thumbnails (image atlas)").click()
            page.get_by_role("button", name="Draw the map").click()
            frame = page.frame_locator("iframe[title='map of the embedding space']")
            tiles = frame.locator("svg#map #atlas image")
            expect(tiles).to_have_count(14, timeout=30_000)
            expect(tiles.first).to_be_visible()
            hrefs = tiles.evaluate_all("t => t.map(i => i.getAttribute('href'))")
            assert all(h.startswith("data:image/jpeg") for h in hrefs)
            places = tiles.evaluate_all("t => t.map(i => [+i.getAttribute('x') + i.getAttribute('width') / 2, "
                                        "+i.getAttribute('y') + i.getAttribute('height') / 2])")
            dots = frame.locator("svg#map circle[r='4']")
            assert dots.first.is_hidden()  # thumbnails replace the points
            centres = dots.evaluate_all("d => d.map(c => [+c.getAttribute('cx'), +c.getAttribute('cy')])")
            flat = [v for place in sorted(map(tuple, places)) for v in place]
            assert flat == pytest.approx([v for c in sorted(map(tuple, centres)) for v in c])  # each at its place
            assert len({(round(x), round(y)) for x, y in places}) >= 8  # spread over the plane, not stacked
            sizes = tiles.evaluate_all("t => t.map(i => i.getBoundingClientRect().width)")
            assert min(sizes) > 10  # drawn, not collapsed
            legend = frame.locator(".legend").inner_text()
            assert "Each thumbnail is an image at its place" in legend and "colour of its cluster:" in legend
            assert "cluster 1" in legend  # untagged: by default the colours are clusters of the space, not one folder
            shots = Path(__file__).resolve().parents[1] / "artifacts" / "ui"
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / "map-atlas.png"))  # to look at
            frame.locator("#draw").select_option("points")  # and back
            expect(dots.first).to_be_visible()
            expect(tiles.first).to_be_hidden()
            assert "Each dot is an image" in frame.locator(".legend").inner_text()
    finally:
        running.close()


def test_storage_tab_shows_the_models_last_eval_and_the_epoch_training_kept(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    encoder = ColourWordEncoder()
    encoder.spec = ModelSpec(f"local-dir:{model}", "")
    index = Index.open(Settings.resolve(index_dir=tmp_path / "idx2"), encoder=encoder)
    index.ingest(colour_folders(tmp_path / "colours2"))
    kit = _kit(index, tmp_path / "thumbs")
    assert "No measured numbers beside the model yet" in kit.storage()
    epoch = {"val": {"text_to_image": {"R@1": 0.25, "R@5": 0.5}, "n": 12}, "eval": None}
    (model / "training.json").write_text(json.dumps({"best_epoch": 2, "last_epoch": 3, "history": [
        {"epoch": 1, **epoch}, {"epoch": 2, **epoch, "val": {"text_to_image": {"R@1": 0.75, "R@5": 0.875}, "n": 12}},
        {"epoch": 3, **epoch}]}))
    write_last_eval(model, tmp_path / "colours2", {"text_to_image": {"R@1": 0.5, "R@5": 1.0}, "n": 6, "zero_shot": {
        "accuracy": 0.5, "classes": 2, "confusions": [{"true": "red", "predicted": "blue", "n": 3, "share": 1.0}]}})
    shown = kit.storage()
    assert "Training kept epoch 2 of 3, validation: text → image R@1 **0.750**, R@5 **0.875**" in shown
    assert "R@5 **1.000** (6 images); zero-shot accuracy **0.500** over 2 classes (most confused: red → blue" in shown
