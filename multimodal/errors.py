"""Typed errors raised by the library.

Only the CLI and the UI turn these into messages for people; library code never prints or exits.
Every error carries a one-line, human-readable message that says what to do next.
"""

from __future__ import annotations


class MultimodalError(Exception):
    """Base class for every error this package raises on purpose."""


class ConfigError(MultimodalError):
    """A flag, environment variable or argument has a value that cannot work."""


class NoPositiveTermError(ConfigError):
    """A query whose terms all push away (no term with a positive weight): there is nothing to search toward."""


class WeightsUnavailableError(MultimodalError):
    """The model's pretrained weights are not on this machine and cannot be fetched."""


class StateConflictError(MultimodalError):
    """What is already stored was made differently from what is asked now (another model, another vector form):
    not a mistyped flag, but a conflict with existing state. The CLI exits 1 for it, as for any failed run."""


class ModelMismatchError(StateConflictError):
    """The index was built with one model and is being used with another."""


class StoreUnavailableError(MultimodalError):
    """The Chroma store cannot be opened or reached."""


class IndexBusyError(MultimodalError):
    """Another ingest holds the index."""


class EmptyIndexError(MultimodalError):
    """The index holds nothing to search yet."""


class NotFoundError(MultimodalError):
    """An id, path or folder that was asked for does not exist."""


class ImageLoadError(MultimodalError):
    """One image cannot be used; `reason` says why. Ingest reports it and carries on."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class RayClusterError(MultimodalError):
    """`ingest --ray`: the Ray cluster cannot be reached, or no worker could start on it."""


def first_line(e: BaseException, limit: int = 200) -> str:
    """An underlying error in one short line, for the message of the error that wraps it."""
    lines = str(e).strip().splitlines()
    return lines[0][:limit] if lines else type(e).__name__
