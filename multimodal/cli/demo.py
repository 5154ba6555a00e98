"""`multimodal demo`: sample data + the shipped tiny model (or one retrained here) + an index + the UI, offline."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multimodal.cli.common import env
from multimodal.config import Settings
from multimodal.errors import MultimodalError

if TYPE_CHECKING:  # the library loads in run(): `demo --help` imports none of it
    from multimodal import demo


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "demo", help="see it work offline: sample images, a tiny model trained on them, search UI",
        description="Generates a captioned sample set (coloured shapes, captions in English and French), loads "
        "the tiny model that ships with the project (trained on such a set by `multimodal train`; "
        "data/demo-model/recipe.json records how), ingests the sample gallery into the demo's own index, then "
        "opens the web UI. Nothing is downloaded; your own index is not touched. From an empty data folder it is "
        "ready in about 14 s (measured on a shared 2-core machine).",
    )
    p.add_argument("--retrain", action="store_true", help="train the demo model here with the recorded recipe "
                   "instead of using the shipped one (tens of minutes on two cores; cached afterwards)")
    p.add_argument("--no-ui", action="store_true", help="print a few example searches instead of opening the UI")
    p.add_argument("--data", metavar="DIR", help="where the sample data goes (default: the per-user data "
                   "folder, .../multimodal/demo/data)")
    p.add_argument("--index", metavar="DIR", help="the demo's index folder (default: .../multimodal/demo/index)")
    p.add_argument("--port", type=int, default=7860, help="UI port (default 7860)")
    p.add_argument("--open", action="store_true", dest="open_browser", help="open the page in a browser")
    p.add_argument("--device", help=f"cpu, cuda, cuda:N or auto (default: env {env('device')}, else auto)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    return p


def run(args: argparse.Namespace) -> int:
    from multimodal import demo
    from multimodal.cli.progress import TrainingBars

    started = time.monotonic()
    launch = None if args.no_ui else _ui_launcher()  # a missing UI is reported before minutes of training
    root = demo.demo_root()
    data_dir = Path(args.data).expanduser() if args.data else None
    _say(f"sample data in {data_dir or root / 'data'}")
    bars = TrainingBars(disabled=args.quiet)
    try:
        assets = demo.prepare(root, data_dir, retrain=args.retrain, on_step=bars.step, on_epoch=bars.epoch,
                              on_load=bars.load, on_stage=_say, device=Settings.resolve(device=args.device).device)
    finally:
        bars.close()
    if assets.shipped:
        _say(f"using the shipped demo model {assets.model} (a toy trained on coloured shapes; "
             "`--retrain` reproduces it)")
    else:
        _say(("trained" if assets.trained else "reusing cached") + f" tiny model {assets.model}")
    index = demo.open_demo_index(assets, Path(args.index).expanduser() if args.index else None, root)
    report = demo.ingest_gallery(index, assets)
    _say(f"index {index.store.location}: {report.added} added, {report.unchanged} unchanged "
         f"({time.monotonic() - started:.0f}s since start)")
    if launch is None:
        _print_examples(demo.example_searches(index, assets))
        _say(f"try: multimodal search \"a green star\" --index {index.store.location}")
        return 0
    launch(index, port=args.port, open_browser=args.open_browser, examples=list(demo.EXAMPLE_QUERIES))
    return 0


def _ui_launcher() -> Any:
    try:
        from ui import launch  # type: ignore[attr-defined,unused-ignore]
    except ImportError as e:
        raise MultimodalError(f"the web UI cannot be loaded ({e}); run `multimodal demo --no-ui` to see example "
                              "searches instead") from e
    return launch


def _print_examples(examples: list[demo.Example]) -> None:
    for example in examples:
        where = f"  [{example.query_path}]" if example.query_path else ""
        print(f"\n{example.kind}: {example.query!r}{where}")
        for hit in example.hits:
            label = hit.caption or ""
            print(f"  {hit.score:.3f}  {label:<40}  {hit.path}")


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
