"""The library view, the results' sort switch and the toolkit tabs' errors, in headless Chromium."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from multimodal.devtools.browser import chromium_page
from tests.fixtures.processes import free_port
from tests.fixtures.ui_app import dated_index, shown_names
from ui import RunningUI, launch

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "ui"
PAGE_SIZE = 3  # small pages, so 8 images take three


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[RunningUI, list[str], Path]]:
    """A live UI over 8 images one day apart: (the UI, file names newest first, the pictures' folder)."""
    index, newest = dated_index(tmp_path / "pics", tmp_path / "index")
    running = launch(index, port=free_port(), block=False, quiet=True, thumbnail_dir=tmp_path / "thumbs")
    running.app.service.page_size = PAGE_SIZE
    yield running, newest, tmp_path / "pics"
    running.close()


@pytest.fixture
def page() -> Iterator[Page]:
    with chromium_page() as page:
        yield page


def _status_has(page: Page, text: str) -> None:
    page.wait_for_function(f"document.querySelector('#mm-status')?.innerText.includes({text!r})")


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_the_landing_page_shows_the_library_newest_first_and_pages_on(served: tuple[RunningUI, list[str], Path],
                                                                      page: Page) -> None:
    running, newest, pics = served
    page.goto(running.url)
    assert shown_names(page, 3) == newest[:3]  # before anything was typed
    assert page.locator("#mm-results .caption-label").first.inner_text().startswith("2023-11-21 · ")  # a date
    assert "Library · 8 images, newest first · showing 3" in page.locator("#mm-status").inner_text()
    assert not page.locator("#mm-sort").is_visible()  # the library has one order
    _shot(page, "library.png")
    more = page.locator("#mm-more-pages")
    assert more.inner_text() == "Show more (5 left)"
    more.click()
    assert shown_names(page, 6) == newest[:6]
    more.click()
    assert shown_names(page, 8) == newest and not more.is_visible()

    colours = str(pics / "colours")
    page.locator("#mm-folder input").click()
    page.get_by_role("option", name=colours).click()  # the folders come from the index
    _status_has(page, "4 images")
    assert shown_names(page, 3) == [n for n in newest if n.endswith(".png")][:3]
    page.locator("#mm-to input").fill("2023-11-15")  # the two oldest colours: days 0 and 1
    page.locator("#mm-to input").press("Enter")
    _status_has(page, "2 images")
    assert shown_names(page, 2) == ["green.png", "blue.png"]
    assert "to 2023-11-15" in page.locator("#mm-status").inner_text()


def test_results_switch_between_relevance_and_date_and_the_library_comes_back(
        served: tuple[RunningUI, list[str], Path], page: Page) -> None:
    running, newest, _ = served
    page.goto(running.url)
    shown_names(page, 3)
    page.locator("#mm-query textarea").fill("a red square")
    page.locator("#mm-query textarea").press("Enter")
    _status_has(page, "8 results")
    ranked = shown_names(page, 8)
    scores = [float(t.split(" · ")[0]) for t in page.locator("#mm-results .caption-label").all_inner_texts()]
    assert scores == sorted(scores, reverse=True) and ranked != newest
    sort = page.locator("#mm-sort")
    sort.get_by_text("date").click()
    page.wait_for_function(f"document.querySelector('#mm-results .caption-label')?.innerText.includes({newest[0]!r})")
    assert shown_names(page, 8) == newest
    _shot(page, "sorted-by-date.png")
    sort.get_by_text("relevance").click()
    page.wait_for_function(f"document.querySelector('#mm-results .caption-label')?.innerText.includes({ranked[0]!r})")
    assert shown_names(page, 8) == ranked

    page.locator("#mm-library").click()
    _status_has(page, "Library")
    assert shown_names(page, 3) == newest[:3] and not sort.is_visible()


def _slow_landing(running: RunningUI) -> threading.Event:
    """Make the page's first library read (the landing library) answer 2 s late, later ones at once; the event is
    set once that late answer has been computed."""
    service, arrived = running.app.service, threading.Event()
    browse, calls = service.browse, []

    def slow_first_browse(*args: object, **kwargs: object) -> object:
        calls.append(args)
        if len(calls) > 1:
            return browse(*args, **kwargs)
        time.sleep(2.0)
        try:
            return browse(*args, **kwargs)
        finally:
            arrived.set()

    service.browse = slow_first_browse  # type: ignore[method-assign]
    return arrived


def test_a_query_run_before_the_library_arrives_keeps_its_results(served: tuple[RunningUI, list[str], Path],
                                                                   page: Page) -> None:
    running, newest, _ = served
    arrived = _slow_landing(running)  # the landing library answers after the query typed at once
    page.goto(running.url)
    page.locator("#mm-query textarea").fill("a red square")
    page.locator("#mm-query textarea").press("Enter")
    _status_has(page, "8 results")
    ranked = shown_names(page, 8)
    assert not arrived.is_set(), "the query must have been answered before the library"
    assert arrived.wait(30)
    page.wait_for_timeout(1500)  # time for the library's late answer to reach the page (and, wrongly, replace)
    status = page.locator("#mm-status").inner_text()
    assert "a red square" in status and "Library" not in status
    assert shown_names(page, 8) == ranked and ranked != newest
    page.locator("#mm-library").click()  # the library is still there on demand
    _status_has(page, "Library")
    assert shown_names(page, 3) == newest[:3]


def test_a_filter_set_before_the_library_arrives_keeps_the_filtered_library(
        served: tuple[RunningUI, list[str], Path], page: Page) -> None:
    running, _, _ = served
    arrived = _slow_landing(running)  # the landing library answers after the filter set at once
    page.goto(running.url)
    page.locator("#mm-to input").fill("2023-11-15")
    page.locator("#mm-to input").press("Enter")
    _status_has(page, "to 2023-11-15")
    assert not arrived.is_set(), "the filter must have been applied before the landing library arrived"
    assert arrived.wait(30)
    page.wait_for_timeout(1500)  # time for the landing library's late answer to reach the page (and, wrongly, replace)
    assert "to 2023-11-15" in page.locator("#mm-status").inner_text()


def _one_toast(page: Page, says: str) -> None:
    toasts = page.locator("[data-testid='toast-body']")
    toasts.first.wait_for()
    page.wait_for_timeout(500)  # give a late update (a second toast, an error pill) time to land
    assert toasts.count() == 1 and says in toasts.inner_text()
    assert page.get_by_text("Error", exact=True).count() == 0, "no Error title or pill"
    page.locator("[data-testid='toast-close']").click()
    page.wait_for_function("!document.querySelector(\"[data-testid='toast-body']\")")


def test_toolkit_errors_show_one_toast_and_keep_what_the_tab_showed(served: tuple[RunningUI, list[str], Path],
                                                                   page: Page, caplog: pytest.LogCaptureFixture,
                                                                   capfd: pytest.CaptureFixture[str]) -> None:
    running, _, _ = served
    page.goto(running.url)
    shown_names(page, 3)
    page.get_by_role("tab", name="Duplicates").click()
    page.get_by_role("button", name="Find duplicates").click()
    found = page.get_by_text("groups of near duplicates")
    found.wait_for()
    before = found.inner_text()
    capfd.readouterr()
    caplog.set_level(logging.WARNING)
    caplog.clear()

    page.get_by_label("Folder").last.fill("/no/such/folder")
    page.get_by_role("button", name="Find duplicates").click()
    _one_toast(page, "no indexed images under /no/such/folder")
    assert found.inner_text() == before  # the previous answer stays
    _shot(page, "duplicates-error.png")

    page.get_by_role("tab", name="Bias probe").click()
    page.get_by_role("button", name="Run the probe").click()
    _one_toast(page, "name two image groups")

    logged = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(logged) == 2 and not any(r.exc_info for r in logged)  # one line each, no traceback
    assert "no indexed images" in logged[0].getMessage() and "two image groups" in logged[1].getMessage()
    assert "Traceback" not in capfd.readouterr().err
