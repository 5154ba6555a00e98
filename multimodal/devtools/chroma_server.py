"""A local Chroma server: `chroma run --path DIR --port PORT`, the CLI in the chromadb wheel.

The tests' `chroma_server` fixtures (tests/fixtures/chroma_server.py) and benchmarks/scale.py start it.
"""

from __future__ import annotations

import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from multimodal.devtools.processes import cli_env, executable, free_port

START_TIMEOUT = 60.0  # seconds to wait for the first heartbeat (a cold start on a busy CI box)


def chroma_executable() -> str:
    """The `chroma` CLI next to this Python (the venv's), else the one on PATH."""
    return executable("chroma", "it comes with the chromadb wheel (pip install chromadb)")


class ChromaServer:
    """One `chroma run` process on a fixed data folder and port; stop() and start() keep both."""

    def __init__(self, path: Path, port: int | None = None) -> None:
        self.path = path
        self.port = port or free_port()
        self.log = path.parent / f"{path.name}-server.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the server and wait until its heartbeat answers.

        Raises:
            RuntimeError: the server exited, or gave no heartbeat within START_TIMEOUT (with its log's tail).
        """
        if self.running:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self._proc = subprocess.Popen(
                [chroma_executable(), "run", "--path", str(self.path), "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=cli_env(),
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"chroma run exited with {self._proc.returncode}:\n{self._log_tail()}")
            if heartbeat(self.url):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"chroma run gave no heartbeat within {START_TIMEOUT}s:\n{self._log_tail()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server (SIGTERM, or e.g. SIGKILL to crash it) and wait for the process to end."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(sig)
            try:
                self._proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"


def heartbeat(url: str) -> bool:
    """Whether a Chroma server answers its heartbeat at `url`."""
    try:
        with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False
