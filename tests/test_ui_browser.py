"""The web UI in a real browser: headless Chromium (Debian's /usr/bin/chromium) driven by Playwright."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page

from multimodal.devtools.browser import chromium_page
from tests.fixtures.processes import free_port
from tests.fixtures.ui_app import shown_names, small_index
from ui import RunningUI, launch

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "ui"
SCORED = ("Array.from(document.querySelectorAll('#mm-results .caption-label'))"
          ".every(l => /^-?\\d+\\.\\d{3} · /.test(l.innerText))")  # results, not the library's dated tiles


@pytest.fixture
def served(tmp_path: Path) -> Iterator[RunningUI]:
    index = small_index(tmp_path / "pics", tmp_path / "index")
    running = launch(index, port=free_port(), block=False, quiet=True, thumbnail_dir=tmp_path / "thumbs")
    yield running
    running.close()


@pytest.fixture
def page(served: RunningUI) -> Iterator[Page]:
    with chromium_page() as page:
        yield page


def _open(page: Page, url: str) -> None:
    """Load the page and wait for its landing view, the library (a query typed earlier could be overtaken)."""
    page.goto(url)
    page.wait_for_function("document.querySelector('#mm-status')?.innerText.includes('Library')")


def test_search_click_and_more_like_this_in_a_real_browser(served: RunningUI, page: Page) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    _open(page, served.url)
    page.locator("#mm-query textarea").fill("a red square")
    page.locator("#mm-query textarea").press("Enter")
    _status_has(page, "a red square")
    page.wait_for_function(SCORED)
    names = shown_names(page, 8)  # all 8 indexed images (k defaults to 24), each thumbnail really decoded
    assert sorted(names) == sorted([f"{c}.png" for c in ("red", "green", "blue", "yellow")]
                                   + [f"photo{n}.jpg" for n in range(4)])
    assert "8 results" in page.locator("#mm-status").inner_text()

    page.locator("#mm-results img").nth(2).click()
    chosen = names[2]
    page.wait_for_function(f"document.querySelector('#mm-detail-text').innerText.includes('{chosen}')")
    page.locator("#mm-more").click()
    page.wait_for_function(f"document.querySelector('#mm-status').innerText.includes('like {chosen}')")
    similar = shown_names(page, 7)
    assert chosen not in similar and len(set(similar)) == 7  # the stored vector's own image is left out

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "more-like-this.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    hosts = {urlparse(u).hostname for u in requests if u.startswith("http")}
    assert hosts == {"127.0.0.1"}, f"the page fetched from elsewhere: {hosts}"  # no fonts, CDNs or analytics


def _search(page: Page, text: str, count: int) -> list[str]:
    page.locator("#mm-query textarea").fill(text)
    page.locator("#mm-query textarea").press("Enter")
    _status_has(page, text)  # the landing page's library is a grid too: wait for this query's
    page.wait_for_function(SCORED)  # the grid can lag the status line by a frame: wait for scored tiles
    return shown_names(page, count)


def _status_has(page: Page, text: str) -> None:
    page.wait_for_function(f"document.querySelector('#mm-status')?.innerText.includes({text!r})")


def _shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / name
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    return shot


def test_a_bad_compose_line_shows_one_toast_and_keeps_the_results(served: RunningUI, page: Page,
                                                                  caplog: pytest.LogCaptureFixture,
                                                                  capfd: pytest.CaptureFixture[str]) -> None:
    _open(page, served.url)
    names = _search(page, "a red square", 8)
    status = page.locator("#mm-status").inner_text()
    capfd.readouterr()
    caplog.set_level(logging.WARNING)
    caplog.clear()
    page.get_by_role("tab", name="Compose").click()
    page.locator("#mm-terms textarea").fill("image: /nonexistent.jpg")
    page.locator("#mm-compose-search").click()
    toast = page.locator("[data-testid='toast-body']")
    toast.first.wait_for()
    assert toast.count() == 1 and "nonexistent.jpg" in toast.inner_text()
    page.wait_for_timeout(500)  # give a late update time to land
    _shot(page, "compose-error.png")
    assert page.get_by_text("Error", exact=True).count() == 0, "no Error pill over the outputs"
    assert shown_names(page, 8) == names and page.locator("#mm-status").inner_text() == status
    logged = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(logged) == 1 and "nonexistent.jpg" in logged[0].getMessage() and not logged[0].exc_info
    assert "Traceback" not in capfd.readouterr().err  # the server prints no traceback for a person's mistake


def test_a_bad_folder_in_the_index_tab_leaves_no_error_pill(served: RunningUI, page: Page) -> None:
    _open(page, served.url)
    page.wait_for_function("document.querySelector('#mm-summary')?.innerText.includes('8 images')")
    page.get_by_role("tab", name="Index").click()
    page.get_by_label("Add or update a folder").fill("/no/such/folder")
    page.get_by_role("button", name="Ingest").click()
    page.locator("[data-testid='toast-body']").first.wait_for()
    assert "does not exist" in page.locator("[data-testid='toast-body']").inner_text()
    page.wait_for_timeout(500)
    _shot(page, "ingest-error.png")
    assert page.get_by_text("Error", exact=True).count() == 0
    assert "8 images" in page.locator("#mm-summary").inner_text()


def test_tiles_show_captions_the_preview_fills_its_panel_and_chips_come_from_the_index(
        served: RunningUI, page: Page) -> None:
    _open(page, served.url)
    placeholder = page.locator("#mm-query textarea").get_attribute("placeholder") or ""
    assert placeholder.startswith("e.g. a ") and placeholder.endswith(" square") and "dog" not in placeholder
    chips = page.locator("#mm-examples button")
    assert sorted(chips.all_inner_texts()) == [f"a {c} square" for c in ("blue", "green", "red", "yellow")]
    chips.filter(has_text="a green square").click()  # a chip fills the box and searches
    _status_has(page, "a green square")
    page.wait_for_function(SCORED)
    shown_names(page, 8)
    assert page.locator("#mm-query textarea").input_value() == "a green square"
    assert "a green square" in page.locator("#mm-status").inner_text()

    label = page.locator("#mm-results .caption-label").filter(has_text="green.png")
    assert label.inner_text().splitlines() == [label.inner_text().splitlines()[0], "a green square"]
    line = float(label.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)"))
    assert label.bounding_box()["height"] >= 1.9 * line  # two lines: the caption is shown, not cut off

    label.click()
    page.wait_for_function("document.querySelector('#mm-preview img')?.complete")
    shown = page.locator("#mm-preview img").bounding_box()
    panel = page.locator("#mm-preview").bounding_box()
    natural = page.locator("#mm-preview img").evaluate("i => i.naturalWidth")
    assert shown["width"] >= 0.9 * panel["width"] and shown["width"] > 2 * natural  # scaled up to the panel
    _shot(page, "captions-and-preview.png")


RING = "b => { const s = getComputedStyle(b); return [s.boxShadow, s.borderColor].join(' | ') }"


def _selection_cleared(page: Page) -> None:
    assert page.locator("#mm-preview img").count() == 0 and page.locator("#mm-more").is_disabled()
    tiles = page.locator("#mm-results button.thumbnail-item")
    looks = {tiles.nth(i).evaluate(RING) for i in range(tiles.count())}
    assert len(looks) == 1, f"a tile still looks selected while the preview is empty: {looks}"


def test_more_like_this_and_recommend_show_their_reference_and_clear_the_selection(
        served: RunningUI, page: Page) -> None:
    _open(page, served.url)
    names = _search(page, "a red square", 8)
    page.locator("#mm-results img").nth(2).click()
    page.wait_for_function("document.querySelector('#mm-preview img')")
    page.locator("#mm-more").click()
    page.wait_for_function(f"document.querySelector('#mm-status').innerText.includes('like {names[2]}')")
    shown_names(page, 7)
    reference = page.locator("#mm-status .mm-ref")
    assert reference.inner_text().strip() == f"Like {names[2]}"
    page.wait_for_function("document.querySelector('#mm-status .mm-ref img')?.naturalWidth > 0")  # its thumbnail
    _selection_cleared(page)
    _shot(page, "more-like-this-reference.png")

    liked: list[str] = []
    for n in (0, 3):
        page.locator("#mm-results img").nth(n).click()
        shown = "document.querySelector('#mm-detail-text strong')?.innerText"
        page.wait_for_function(f"document.querySelector('#mm-preview img') && !document.querySelector('#mm-like')"
                               f".disabled && {shown} && {shown} !== {(liked[-1] if liked else '')!r}")
        liked.append(page.locator("#mm-detail-text strong").first.inner_text())
        page.locator("#mm-like").click()
        page.wait_for_function(f"document.querySelector('#mm-feedback').innerText.includes('{liked[-1]}')")
    page.get_by_role("button", name="Recommend from likes").click()
    page.wait_for_function("document.querySelector('#mm-status').innerText.includes('your likes')")
    assert page.locator("#mm-status .mm-ref").inner_text().strip() == f"Like {liked[0]}, {liked[1]}"
    page.wait_for_function("Array.from(document.querySelectorAll('#mm-status .mm-ref img'))"
                           ".filter(i => i.naturalWidth > 0).length === 2")
    _selection_cleared(page)


def _previewed(page: Page) -> str:
    """The file name the preview panel shows (waits for a selection)."""
    page.wait_for_function("document.querySelector('#mm-preview img') && "
                           "document.querySelector('#mm-detail-text strong')")
    return page.locator("#mm-detail-text strong").first.inner_text()


def test_keyboard_moves_through_results_runs_more_like_this_and_closes(served: RunningUI, page: Page) -> None:
    _open(page, served.url)
    names = _search(page, "a red square", 8)
    page.locator("#mm-results img").nth(1).click()
    assert _previewed(page) == names[1]
    for key, expected in (("ArrowRight", names[2]), ("ArrowRight", names[3]), ("ArrowLeft", names[2])):
        page.keyboard.press(key)
        page.wait_for_function(f"document.querySelector('#mm-detail-text strong')?.innerText === '{expected}'")
    page.locator("#mm-query textarea").focus()
    page.keyboard.press("ArrowRight")  # typing in the search box moves the caret, not the selection
    page.wait_for_timeout(700)
    assert _previewed(page) == names[2]

    page.locator("#mm-results button.thumbnail-item").nth(2).focus()
    page.keyboard.press("Enter")
    page.wait_for_function(f"document.querySelector('#mm-status').innerText.includes('like {names[2]}')")
    assert names[2] not in shown_names(page, 7)

    page.locator("#mm-results img").nth(0).click()
    _previewed(page)
    page.keyboard.press("Escape")
    page.wait_for_function("!document.querySelector('#mm-preview img')")
    _selection_cleared(page)


def test_a_phone_wide_page_stacks_the_panels_and_shows_results_in_two_columns(served: RunningUI,
                                                                             page: Page) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    _open(page, served.url)
    _search(page, "a red square", 8)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing sideways
    tiles = [page.locator("#mm-results button.thumbnail-item").nth(i).bounding_box() for i in range(8)]
    assert len({round(t["x"]) for t in tiles}) == 2 and all(t["width"] > 120 for t in tiles)
    bottom = max(t["y"] + t["height"] for t in tiles)
    results = page.locator("#mm-results").bounding_box()
    assert bottom <= results["y"] + results["height"] + 1, "every result shows; none hidden in an inner scroll"
    page.locator("#mm-results img").nth(0).click()
    _previewed(page)
    query, results, preview = (page.locator(s).bounding_box() for s in ("#mm-query", "#mm-results", "#mm-preview"))
    assert query["y"] + query["height"] <= results["y"] and results["y"] + results["height"] <= preview["y"] + 1
    assert preview["width"] > 300
    _shot(page, "phone.png")


def test_open_the_original_in_a_new_tab_and_copy_its_path(served: RunningUI, page: Page) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    _open(page, served.url)
    names = _search(page, "a red square", 8)
    page.locator("#mm-results img").nth(0).click()
    assert _previewed(page) == names[0]
    path = page.locator("#mm-detail-text code").inner_text()
    assert path.endswith("/" + names[0])
    with page.context.expect_page() as opened:
        page.locator("#mm-detail-text a.mm-open").click()
    tab = opened.value
    tab.wait_for_load_state()
    original = page.request.get(tab.url)
    assert original.status == 200 and original.body() == Path(path).read_bytes()  # the file itself, not a thumbnail
    assert page.request.get(tab.url.split("file=")[0] + "file=/etc/passwd").status == 403  # same allowed-paths rule
    tab.close()
    page.locator("#mm-copy").click()
    page.wait_for_function("document.querySelector('#mm-copy').innerText === 'Copied'")
    assert page.evaluate("navigator.clipboard.readText()") == path


def test_likes_survive_a_reload(served: RunningUI, page: Page) -> None:
    _open(page, served.url)
    _search(page, "a red square", 8)
    page.locator("#mm-results img").nth(1).click()
    liked = _previewed(page)
    page.locator("#mm-like").click()
    page.wait_for_function(f"document.querySelector('#mm-feedback').innerText.includes('{liked}')")
    page.reload()
    page.wait_for_function(f"document.querySelector('#mm-feedback')?.innerText.includes('Liked: {liked}')")
    shown = page.locator("#mm-feedback img")  # likes show as thumbnails, after a reload too
    assert shown.count() == 1 and shown.get_attribute("alt") == liked
    page.wait_for_function("document.querySelector('#mm-feedback img').naturalWidth > 0")
    page.get_by_role("button", name="Recommend from likes").click()
    page.wait_for_function("document.querySelector('#mm-status').innerText.includes('your likes')")
    assert liked not in shown_names(page, 7)
    page.get_by_role("button", name="Clear").click()
    page.reload()
    page.wait_for_function("document.querySelector('#mm-feedback')?.innerText.includes('click results and mark')")
