"""`multimodal ui`: the web UI (Gradio) over the index, on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from multimodal.cli.common import add_index_options, add_model_options, settings_from
from multimodal.errors import ConfigError
from multimodal.index import Index, resolve_model


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "ui", help="open the web UI: search by text, image or both, browse, ingest",
        description="Serve the web UI. It listens on 127.0.0.1 only; --host 0.0.0.0 (or any non-loopback "
        "address) also needs --auth USER:PASSWORD, or --insecure-public on a network you trust.",
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--auth", metavar="USER:PASSWORD", help="require this login (env MULTIMODAL_UI_AUTH, which "
                   "keeps the password out of the process list)")
    p.add_argument("--insecure-public", action="store_true", help="allow a non-loopback --host without --auth; "
                   "browsing is open to the network, adding folders and server paths are then off")
    p.add_argument("--open", action="store_true", dest="open_browser", help="open the page in a browser")
    p.add_argument("--max-upload-mb", type=float, default=25, metavar="MB", help="largest upload (default 25)")
    p.add_argument("--max-upload-megapixels", type=float, default=60, metavar="MP",
                   help="largest query image in megapixels, refused before decoding (default 60)")
    p.add_argument("--thumbnail-dir", metavar="DIR", help="thumbnail cache (default: the per-user cache folder)")
    add_index_options(p)
    add_model_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    from ui import launch

    if args.max_upload_mb <= 0 or args.max_upload_megapixels <= 0:
        raise ConfigError("--max-upload-mb and --max-upload-megapixels must be positive")
    index = Index.open(settings_from(args))
    if index.store.model_spec() is not None:  # a --model that disagrees with the index: say so now, not per query
        resolve_model(index.settings, index.store.model_spec())
    launch(index, host=args.host, port=args.port, auth=args.auth or os.environ.get("MULTIMODAL_UI_AUTH") or None,
           insecure_public=args.insecure_public, open_browser=args.open_browser,
           thumbnail_dir=Path(args.thumbnail_dir).expanduser() if args.thumbnail_dir else None,
           max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
           max_upload_pixels=int(args.max_upload_megapixels * 1_000_000))
    return 0
