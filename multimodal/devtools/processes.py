"""Child processes: a free port to serve on, and the environment a child process of the CLI runs in."""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


QUIET = {"ANONYMIZED_TELEMETRY": "False", "GRADIO_ANALYTICS_ENABLED": "False",
         "PYTHONUNBUFFERED": "1"}  # no telemetry, output as it is written
OFFLINE = {"HF_HUB_OFFLINE": "1"}  # no downloads


def child_env(**extra: str) -> dict[str, str]:
    """This environment without telemetry, unbuffered, offline unless the caller set HF_HUB_OFFLINE; plus `extra`.
    The caller's MULTIMODAL_* settings stay (a benchmark's child runs as its user configured it, e.g.
    MULTIMODAL_DEVICE, or with a model hub it may reach)."""
    return {**OFFLINE, **os.environ, **QUIET, **extra}


def cli_env(**extra: str) -> dict[str, str]:
    """`child_env` offline and without the caller's MULTIMODAL_* settings (a test's child sees only the ones in
    `extra`)."""
    env = {k: v for k, v in child_env(**extra).items() if not k.startswith("MULTIMODAL_") or k in extra}
    return {**env, **OFFLINE, **{k: v for k, v in extra.items() if k in OFFLINE}}


def executable(name: str, hint: str) -> str:
    """The console script `name` next to this Python (the venv's), else the one on PATH.

    Raises:
        FileNotFoundError: neither exists; the message ends with `hint` (how to install it).
    """
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if not found:
        raise FileNotFoundError(f"the `{name}` CLI is not installed: {hint}")
    return found
