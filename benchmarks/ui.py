"""Web UI timings: `multimodal ui` → first page served, query round-trips through gradio_client and REST, and
query → rendered grid in a real browser.

    python benchmarks/ui.py                      # a stand-in index: 200 captioned images, mm-tiny (random weights)
    python benchmarks/ui.py --index ~/.local/share/multimodal/demo-index   # e.g. the demo's index
    python benchmarks/ui.py --browser            # headless Chromium on the demo index: query → grid drawn

Start-up is measured from spawning the process to the first 200 answer for `/` (and to the first answered
query, which includes loading the model); round-trips are medians of 20 distinct text queries through
`Client.predict(..., api_name="/search_text")`, next to the same queries called in-process, so the ratio
shows what HTTP + Gradio's queue add; the same queries through the plain REST API (`GET /api/v1/search`, httpx,
no queue) are interleaved with them. Nothing here is a test: timings depend on the machine and its load.

`--browser` serves the demo's index (the shipped model, 300 images; built in the benchmark cache if needed) with
`multimodal ui` and drives headless Chromium (Debian's /usr/bin/chromium) through Playwright: for each of N distinct
text queries it types the query, presses Enter and takes the time until the status line names the query and every
tile's thumbnail has decoded (k = 24, the UI's default). Each query is split into: the handler's own time (the
"N ms" the status line prints: search + thumbnails), the rest until the grid's HTML is in the page (event queue,
transport, rendering), and the thumbnails' fetch and decode after that; the thumbnails' bytes and count come from
the page's resource timings.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from multimodal.devtools.processes import child_env, free_port  # noqa: E402 - needs the repository on sys.path

TINY = ["--model", "mm-tiny", "--pretrained", "none"]
SHAPES = ("circle", "square", "triangle", "stripes")
COLOURS = {"red": (210, 40, 40), "green": (40, 160, 70), "blue": (40, 70, 210), "yellow": (235, 200, 40),
           "purple": (130, 60, 170), "orange": (240, 140, 30), "grey": (128, 128, 128), "black": (20, 20, 20)}
QUERIES = [f"a {c} {s}" for c in COLOURS for s in SHAPES]


def main() -> None:
    args = _parser().parse_args()
    env = child_env()
    if args.browser:
        _browser(Path(args.index).expanduser() if args.index else _demo_index(), args.queries, env)
        return
    index_dir = Path(args.index).expanduser() if args.index else _stand_in_index(args.images, env)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"index: {index_dir}")
    page, first_query = _startup(index_dir, args.runs, env)
    print(f"`multimodal ui` → first page served: median {statistics.median(page):.2f} s "
          f"(runs: {', '.join(f'{t:.2f}' for t in page)})")
    print(f"`multimodal ui` → first query answered (model loaded): median {statistics.median(first_query):.2f} s")
    _round_trips(index_dir, args.queries, env)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--index", help="an existing index folder (default: build a stand-in)")
    p.add_argument("--images", type=int, default=200, help="images in the stand-in index (default 200)")
    p.add_argument("--runs", type=int, default=3, help="start-ups to time (default 3)")
    p.add_argument("--queries", type=int, default=20, help="queries per round-trip measurement (default 20)")
    p.add_argument("--browser", action="store_true", help="only query → rendered grid in headless Chromium, on the "
                   "demo index unless --index is given")
    return p


def _stand_in_index(n: int, env: dict[str, str]) -> Path:
    """Captioned shape images ingested with mm-tiny: the demo's shape, without its training step."""
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "multimodal-bench" / f"ui-{n}"
    folder, index_dir = base / "images", base / "index"
    if not (index_dir / "chroma.sqlite3").exists():
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            colour, shape = list(COLOURS)[i % len(COLOURS)], SHAPES[(i // len(COLOURS)) % len(SHAPES)]
            _shape_image(COLOURS[colour], shape, i).save(folder / f"{i:04d}-{colour}-{shape}.jpg", quality=90)
            (folder / f"{i:04d}-{colour}-{shape}.txt").write_text(f"a {colour} {shape}\n")
        subprocess.run([sys.executable, "-m", "multimodal", "ingest", str(folder), "--index", str(index_dir),
                        "--quiet", *TINY], check=True, env=env, cwd=REPO)
    return index_dir


def _shape_image(colour: tuple[int, int, int], shape: str, seed: int) -> Image.Image:
    im = Image.new("RGB", (640, 480), (245 - seed % 30, 240, 235))
    draw = ImageDraw.Draw(im)
    x, y = 120 + seed * 37 % 240, 80 + seed * 53 % 160
    if shape == "circle":
        draw.ellipse([x, y, x + 220, y + 220], fill=colour)
    elif shape == "square":
        draw.rectangle([x, y, x + 220, y + 220], fill=colour)
    elif shape == "triangle":
        draw.polygon([(x, y + 220), (x + 110, y), (x + 220, y + 220)], fill=colour)
    else:
        for k in range(0, 640, 60):
            draw.rectangle([k, 0, k + 30, 480], fill=colour)
    return im


def _serve(index_dir: Path, env: dict[str, str], thumbs: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "multimodal", "ui", "--index", str(index_dir), "--port", str(port),
                             "--thumbnail-dir", thumbs], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, f"http://127.0.0.1:{port}/"


def _wait_for_page(url: str, proc: subprocess.Popen, limit: float = 120.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"`multimodal ui` exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    raise SystemExit(f"no page at {url} within {limit:.0f} s")


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _startup(index_dir: Path, runs: int, env: dict[str, str]) -> tuple[list[float], list[float]]:
    from gradio_client import Client

    page, first_query = [], []
    with tempfile.TemporaryDirectory() as thumbs:
        for _ in range(runs):
            started = time.perf_counter()
            proc, url = _serve(index_dir, env, thumbs)
            try:
                _wait_for_page(url, proc)
                page.append(time.perf_counter() - started)
                Client(url, verbose=False).predict(QUERIES[0], 10, api_name="/search_text")
                first_query.append(time.perf_counter() - started)
            finally:
                _stop(proc)
    return page, first_query


def _round_trips(index_dir: Path, n: int, env: dict[str, str]) -> None:
    from gradio_client import Client, handle_file

    from multimodal.index import Index

    queries = [QUERIES[i % len(QUERIES)] + ("" if i < len(QUERIES) else f" {i}") for i in range(1, n + 1)]
    index = Index.open(index_dir=index_dir)  # read-only beside the server: the same work, in-process
    index.searcher.search_text(QUERIES[0], 10)
    with tempfile.TemporaryDirectory() as thumbs:
        proc, url = _serve(index_dir, env, thumbs)
        try:
            _wait_for_page(url, proc)
            client = Client(url, verbose=False)
            for q in QUERIES[-3:]:  # warm: model loaded, queue started
                client.predict(q, 10, api_name="/search_text")
            http = httpx.Client(base_url=url + "api/v1", timeout=60)
            remote, local, rest = [], [], []
            for q in queries:  # interleaved, so all see the same machine load
                remote += _timed(lambda q: client.predict(q, 10, api_name="/search_text"), [q])
                rest += _timed(lambda q: http.get("/search", params={"q": q + " (rest)", "k": 10}).raise_for_status(),
                               [q])
                local += _timed(lambda q: index.searcher.search_text(q + " (local)", 10), [q])
            repeat = _timed(lambda q: client.predict(q, 10, api_name="/search_text"), queries)  # text cache hits
            query_image = _any_image(index_dir)
            image = _timed(lambda _: client.predict(handle_file(query_image), 10, api_name="/search_image"),
                           queries)
        finally:
            _stop(proc)
    print(f"gradio_client /search_text round-trip, {n} distinct queries: "
          f"median {1000 * statistics.median(remote):.1f} ms (p90 {1000 * _p90(remote):.1f})")
    print(f"  same queries again (text-embedding cache): median {1000 * statistics.median(repeat):.1f} ms")
    print(f"  in-process Searcher.search_text, same work, interleaved: median {1000 * statistics.median(local):.1f} ms"
          f" → HTTP + Gradio's queue add {1000 * (statistics.median(remote) - statistics.median(local)):.0f} ms")
    print(f"REST GET /api/v1/search round-trip, same queries, interleaved: "
          f"median {1000 * statistics.median(rest):.1f} ms (p90 {1000 * _p90(rest):.1f})")
    print(f"gradio_client /search_image round-trip (upload + decode + encode): "
          f"median {1000 * statistics.median(image):.1f} ms")


def _demo_index() -> Path:
    """The demo's index (shipped model, gallery ingested), kept in the benchmark cache."""
    from benchmarks._common import cache_dir
    from multimodal import demo

    root = cache_dir() / "ui-demo"
    assets = demo.prepare(root)
    index = demo.open_demo_index(assets, root=root)
    demo.ingest_gallery(index, assets)
    return Path(index.store.location)


BROWSER_QUERIES = [" ".join(f"a {size} {c} {s} {where}".split()) for where in ("", "on the left", "at the top")
                   for size in ("", "small", "large") for c in ("red", "blue", "green", "yellow", "purple")
                   for s in ("circle", "square", "star")]
_LABELS = "Array.from(document.querySelectorAll('#mm-results .caption-label')).map(l => l.innerText).join('|')"
_GRID_READY = """([q, before]) => {
  const status = document.querySelector('#mm-status');
  if (!status || !status.innerText.includes(q)) return false;
  const labels = Array.from(document.querySelectorAll('#mm-results .caption-label')).map(l => l.innerText);
  if (labels.join('|') === before) return false;  // still the previous grid (it can lag the status line)
  const imgs = Array.from(document.querySelectorAll('#mm-results img'));
  if (!window.__mmDom) window.__mmDom = performance.now();  // the grid's HTML arrived
  if (!imgs.length || !imgs.every(i => i.complete && i.naturalWidth > 0)) return false;
  return {done: performance.now(), dom: window.__mmDom, tiles: imgs.length, status: status.innerText};
}"""
_THUMBS = """(since) => performance.getEntriesByType('resource')
  .filter(e => e.startTime >= since && e.initiatorType === 'img')
  .map(e => ({bytes: e.transferSize || e.encodedBodySize, ms: e.duration, name: e.name}))"""


def _browser(index_dir: Path, n: int, env: dict[str, str]) -> None:
    """Query → rendered grid in headless Chromium (see the module's docstring)."""
    import re

    from multimodal.devtools.browser import chromium_page

    print(f"machine: {os.cpu_count()} cores, load {', '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"index: {index_dir}")
    rows = []
    with tempfile.TemporaryDirectory() as thumbs:
        proc, url = _serve(index_dir, env, thumbs)
        try:
            _wait_for_page(url, proc)
            with chromium_page(viewport={"width": 1400, "height": 1000}, timeout_ms=120_000) as page:
                page.goto(url)
                page.wait_for_function("document.querySelector('#mm-status')?.innerText.includes('Library')")
                page.evaluate("performance.setResourceTimingBufferSize(100000)")
                box = page.locator("#mm-query textarea")
                for i, query in enumerate(BROWSER_QUERIES[:n + 2]):  # the first two warm the model and caches
                    box.fill(query)
                    before = page.evaluate(f"() => {_LABELS}")
                    page.evaluate("window.__mmDom = 0")
                    started = page.evaluate("performance.now()")
                    box.press("Enter")
                    ready = page.wait_for_function(_GRID_READY, arg=[query, before], polling="raf").json_value()
                    thumbs_seen = page.evaluate(_THUMBS, started)
                    server = re.search(r"· (\d+) ms ·", ready["status"])
                    if i >= 2:
                        rows.append({"total": ready["done"] - started, "dom": ready["dom"] - started,
                                     "server": float(server[1]) if server else float("nan"),
                                     "images": ready["done"] - ready["dom"], "tiles": ready["tiles"],
                                     "fetched": len(thumbs_seen), "kb": sum(t["bytes"] for t in thumbs_seen) / 1024})
        finally:
            _stop(proc)
    _report_browser(rows)


def _report_browser(rows: list[dict[str, float]]) -> None:
    def med(key: str) -> float:
        return statistics.median(r[key] for r in rows)

    totals = [r["total"] for r in rows]
    print(f"query → rendered grid in Chromium, {len(rows)} distinct queries, {int(med('tiles'))} tiles: "
          f"p50 {statistics.median(totals):.0f} ms, p90 {_p90(totals):.0f} ms")
    print(f"  handler (search + thumbnails, as the status line says): median {med('server'):.0f} ms")
    print(f"  Enter → grid HTML in the page, beyond the handler (queue, transport, render): median "
          f"{med('dom') - med('server'):.0f} ms")
    print(f"  grid HTML → every thumbnail decoded: median {med('images'):.0f} ms; thumbnails fetched per query: "
          f"median {med('fetched'):.0f} ({med('kb'):.0f} KB)")


def _any_image(index_dir: Path) -> str:
    """An indexed image's path, uploaded as a query (a fresh upload: decoded and encoded each time)."""
    from multimodal.config import Settings
    from multimodal.records import IMAGE
    from multimodal.store import Store

    record = next(Store.open(Settings.resolve(index_dir=index_dir)).iter_records(where={"kind": IMAGE}))
    return str(record.metadata["path"])


def _timed(fn, items) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for item in items:
        started = time.perf_counter()
        fn(item)
        out.append(time.perf_counter() - started)
    return out


def _p90(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.9 * len(values)) - 1)]


if __name__ == "__main__":
    main()
