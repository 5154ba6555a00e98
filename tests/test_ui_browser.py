"""The web UI in a real browser: headless Chromium (Debian's /usr/bin/chromium) driven by Playwright."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page, sync_playwright

from tests.fixtures.ui_app import free_port, small_index
from ui import RunningUI, launch

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "ui"
LOADED_IMAGES = "Array.from(document.querySelectorAll('#mm-results img')).filter(i => i.complete && i.naturalWidth > 0)"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[RunningUI]:
    index = small_index(tmp_path / "pics", tmp_path / "index")
    running = launch(index, port=free_port(), block=False, quiet=True, thumbnail_dir=tmp_path / "thumbs")
    yield running
    running.close()


@pytest.fixture
def page(served: RunningUI) -> Iterator[Page]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.set_default_timeout(60_000)  # a busy 2-core CI box
        yield page
        browser.close()


def _loaded_names(page: Page, count: int) -> list[str]:
    """Wait until `count` result images have loaded; return their captions' file names."""
    page.wait_for_function(f"{LOADED_IMAGES}.length === {count} && "
                           f"document.querySelectorAll('#mm-results img').length === {count}")
    labels = page.locator("#mm-results .caption-label").all_inner_texts()
    return [label.split(" · ", 1)[1].split(" — ")[0] for label in labels]


def test_search_click_and_more_like_this_in_a_real_browser(served: RunningUI, page: Page) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(served.url)
    page.locator("#mm-query textarea").fill("a red square")
    page.locator("#mm-query textarea").press("Enter")
    names = _loaded_names(page, 8)  # all 8 indexed images (k defaults to 24), each thumbnail really decoded
    assert sorted(names) == sorted([f"{c}.png" for c in ("red", "green", "blue", "yellow")]
                                   + [f"photo{n}.jpg" for n in range(4)])
    assert "8 results" in page.locator("#mm-status").inner_text()

    page.locator("#mm-results img").nth(2).click()
    chosen = names[2]
    page.wait_for_function(f"document.querySelector('#mm-detail-text').innerText.includes('{chosen}')")
    page.locator("#mm-more").click()
    page.wait_for_function(f"document.querySelector('#mm-status').innerText.includes('like {chosen}')")
    similar = _loaded_names(page, 7)
    assert chosen not in similar and len(set(similar)) == 7  # the stored vector's own image is left out

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "more-like-this.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    hosts = {urlparse(u).hostname for u in requests if u.startswith("http")}
    assert hosts == {"127.0.0.1"}, f"the page fetched from elsewhere: {hosts}"  # no fonts, CDNs or analytics
