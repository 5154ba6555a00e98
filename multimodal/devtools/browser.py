"""Headless Chromium through Playwright, for the browser tests and benchmarks/ui.py: the system's Chromium
(Debian's /usr/bin/chromium in CI, where Playwright downloads nothing), else Playwright's own."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TIMEOUT_MS = 60_000  # a busy 2-core CI box


@contextmanager
def chromium_page(*, timeout_ms: int = TIMEOUT_MS, executable: str | None = None,
                  **page_options: Any) -> Iterator[Any]:
    """A new page in a headless Chromium, closed on exit; `page_options` go to `new_page` (default viewport
    1440 × 900), `timeout_ms` is the page's default timeout, `executable` the browser (default: `chromium` on
    PATH, else Playwright's own)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable or shutil.which("chromium") or None, args=ARGS)
        try:
            page = browser.new_page(**{"viewport": {"width": 1440, "height": 900}, **page_options})
            page.set_default_timeout(timeout_ms)
            yield page
        finally:
            browser.close()
