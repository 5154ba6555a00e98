"""Serve the UI with safe defaults: loopback, password for anything else, only indexed files, capped uploads."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multimodal.errors import ConfigError
from multimodal.index import Index
from ui.safety import DEFAULT_HOST, DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_MAX_UPLOAD_PIXELS, check_exposure, parse_auth
from ui.service import Limits
from ui.thumbnails import Thumbnails

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no phone-home, whoever imports us first

DEFAULT_PORT = 7860


@dataclass
class RunningUI:
    """A UI served in the background (`launch(..., block=False)`); `close()` stops it."""

    app: Any  # ui.app.App (a gr.Blocks; gradio loads only when the app is built)
    url: str

    def close(self) -> None:
        self.app.close()
        self.app.service.thumbnails.close()


def launch(index: Index, host: str = DEFAULT_HOST, port: int | None = DEFAULT_PORT,
           auth: str | tuple[str, str] | None = None, insecure_public: bool = False, open_browser: bool = False, *,
           block: bool = True, thumbnail_dir: Path | None = None, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
           max_upload_pixels: int = DEFAULT_MAX_UPLOAD_PIXELS, quiet: bool = False,
           examples: Sequence[str] | None = None) -> RunningUI:
    """Build the app over `index` and serve it.

    Args:
        index: the index to search.
        host: interface to listen on; anything but loopback needs `auth` or `insecure_public`.
        port: TCP port (None: Gradio picks a free one from 7860 up).
        auth: "USER:PASS" or (user, pass): a login page guards the whole app.
        insecure_public: listen on a public interface without a password (server-path features then turn off).
        open_browser: open the page in the default browser once it is served.
        block: serve until interrupted (the CLI); False returns at once with a `RunningUI` (tests, the demo).
        thumbnail_dir: thumbnail cache folder (default: the per-user cache folder).
        max_upload_bytes: larger uploads are refused by the upload route.
        max_upload_pixels: larger query images are refused before decoding.
        quiet: do not print the URL.
        examples: the search box's example queries (default: drawn from the index).

    Raises:
        ConfigError: a public host without auth or `insecure_public`, or a malformed `auth`.
    """
    credentials = parse_auth(auth) if isinstance(auth, str) or auth is None else auth
    exposure = check_exposure(host, credentials, insecure_public)  # refuse before seconds of imports
    check_port_free(host, port)
    from multimodal.openmp import passive_wait_policy
    from ui import rest

    passive_wait_policy()  # before the model (and torch) loads, unless the program chose a policy
    from ui.app import build_app

    thumbnails = Thumbnails(thumbnail_dir, max_pixels=index.settings.max_pixels)
    app = build_app(index, thumbnails=thumbnails, exposure=exposure,
                    limits=Limits(max_upload_bytes=max_upload_bytes, max_upload_pixels=max_upload_pixels),
                    examples=examples)
    service = app.service
    allowed = [str(thumbnails.folder), *(str(r) for r in service.roots())]
    service.on_new_root = lambda root: _allow(app, root)
    threading.Thread(target=service.warm_up, name="warm-up", daemon=True).start()
    app.queue(default_concurrency_limit=4)
    try:
        _, url, _ = app.launch(
            server_name=host, server_port=port, auth=credentials, inbrowser=open_browser, prevent_thread_lock=True,
            allowed_paths=allowed, max_file_size=max_upload_bytes, show_error=True, quiet=True, ssr_mode=False,
            footer_links=["api"], share=False, mcp_server=False,  # theme and CSS: App.launch
        )
    except OSError as e:  # taken since check_port_free looked (Gradio says "Cannot find empty port")
        service.thumbnails.close()
        raise ConfigError(_port_taken(host, port, str(e))) from e
    rest.mount(app.server_app, service, credentials)
    running = RunningUI(app, url)
    if not quiet:
        print(f"multimodal UI on {url}  ({'login required' if credentials else 'no login'}; Ctrl-C to stop)\n"
              f"REST API: {url.rstrip('/')}{rest.PREFIX}/docs", flush=True)
    if block:
        try:
            app.block_thread()
        finally:
            running.close()
    return running


def check_port_free(host: str, port: int | None) -> None:
    """Refuse a port something already listens on, before the model loads (None: Gradio picks a free one).

    Raises:
        ConfigError: the port is taken or cannot be bound on `host`; the message says what to do.
    """
    if port is None:
        return
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: TIME_WAIT is no conflict
            s.bind((host, port))
    except OSError as e:
        raise ConfigError(_port_taken(host, port, e.strerror or str(e))) from e


def _port_taken(host: str, port: int | None, why: str) -> str:
    return f"cannot serve on {host}:{port} ({why}): choose another port with --port N, or stop what uses it"


def _allow(app: Any, root: Path) -> None:
    """A folder ingested from the browser joins the served roots (the operator chose to index it)."""
    if str(root) not in app.allowed_paths:
        app.allowed_paths.append(str(root))
