"""The README's screenshot script (ui/screenshot.py) on the demo, in headless Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from ui.screenshot import DEFAULT_QUERY, take

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_screenshot_shows_the_demo_query_with_a_matching_first_result(tmp_path: Path) -> None:
    shot = take(tmp_path / "ui.png", root=tmp_path / "demo")
    with Image.open(shot.path) as image:
        assert image.size == (1400, 900) and image.mode == "P"  # a palette image: small enough to commit
    assert shot.path.stat().st_size < 400_000
    assert shot.query == DEFAULT_QUERY and shot.first.endswith(".jpg")
    words = shot.caption.split()
    assert {"large", "yellow", "star", "top"} <= set(words), shot.caption  # every attribute the query names
