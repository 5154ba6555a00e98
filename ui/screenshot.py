"""The README's screenshot of the web UI, made from the demo so it never goes stale.

    python -m ui.screenshot                      # writes data/screenshot.png (the README shows it)
    python -m ui.screenshot --out /tmp/ui.png --query "a small red shape on the left"

It prepares the demo (its sample data, the shipped model, its own index: `multimodal demo` does the same),
serves the UI on a free loopback port, and drives headless Chromium (Playwright; Debian's /usr/bin/chromium by
default): one text query, the first result selected. The PNG is reduced to a 256-colour palette to stay small.
Needs the `dev` extra (playwright).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "data" / "screenshot.png"
# A query the shipped demo model answers right (docs/training.md: its scores, unseen colour × shape pairs too)
DEFAULT_QUERY = "a large yellow star at the top"


@dataclass(frozen=True)
class Shot:
    path: Path
    query: str
    first: str  # the file name of the selected (first) result
    caption: str  # its caption, as the preview panel shows it
    size: tuple[int, int]


def take(out: Path = DEFAULT_OUT, query: str = DEFAULT_QUERY, *, root: Path | None = None,
         chromium: str = "/usr/bin/chromium", width: int = 1400, height: int = 900) -> Shot:
    """Serve the demo's index and save a screenshot of `query`'s results with the first one selected."""
    from multimodal import demo
    from multimodal.devtools.browser import chromium_page
    from multimodal.devtools.processes import free_port
    from ui import launch

    assets = demo.prepare(root)
    index = demo.open_demo_index(assets, root=root)
    demo.ingest_gallery(index, assets)
    with tempfile.TemporaryDirectory(prefix="mm-shot-") as thumbs:
        running = launch(index, port=free_port(), block=False, quiet=True, thumbnail_dir=Path(thumbs),
                         examples=list(demo.EXAMPLE_QUERIES))
        try:
            with chromium_page(timeout_ms=120_000, executable=chromium,
                               viewport={"width": width, "height": height}) as page:
                first, caption = _search_and_select(page, running.url, query)
                page.screenshot(path=str(out))
        finally:
            running.close()
    with Image.open(out) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        small.save(out, optimize=True)
        return Shot(out, query, first, caption, image.size)


def _search_and_select(page, url: str, query: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    page.goto(url)
    page.wait_for_function("document.querySelector('#mm-status')?.innerText.includes('Library')")
    page.locator("#mm-query textarea").fill(query)
    page.locator("#mm-query textarea").press("Enter")
    page.wait_for_function(f"document.querySelector('#mm-status')?.innerText.includes({query!r})")
    page.wait_for_function("(() => { const l = Array.from(document.querySelectorAll('#mm-results .caption-label'));"
                           " const i = Array.from(document.querySelectorAll('#mm-results img'));"
                           " return l.length > 0 && l.every(x => /^-?\\d+\\.\\d{3} · /.test(x.innerText))"
                           " && i.every(x => x.complete && x.naturalWidth > 0); })()")
    page.locator("#mm-results img").first.click()
    page.wait_for_function("document.querySelector('#mm-preview img')?.complete && "
                           "document.querySelector('#mm-detail-text strong')")
    page.mouse.move(0, 0)  # no hover state on a tile
    page.wait_for_timeout(500)  # let the preview's fade finish
    return (page.locator("#mm-detail-text strong").first.inner_text(),
            page.locator("#mm-detail-text blockquote").first.inner_text().strip())


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m ui.screenshot", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"the PNG to write (default {DEFAULT_OUT})")
    p.add_argument("--query", default=DEFAULT_QUERY, help=f"the text query shown (default {DEFAULT_QUERY!r})")
    p.add_argument("--root", type=Path, help="the demo's folder (default: the per-user one `multimodal demo` uses)")
    p.add_argument("--chromium", default="/usr/bin/chromium", help="the Chromium binary (default /usr/bin/chromium)")
    args = p.parse_args()
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    shot = take(args.out, args.query, root=args.root, chromium=args.chromium)
    kb = shot.path.stat().st_size / 1024
    print(f"{shot.path}: {shot.size[0]}×{shot.size[1]}, {kb:.0f} KB; “{shot.query}”, "
          f"first result {shot.first} ({shot.caption})")


if __name__ == "__main__":
    main()
