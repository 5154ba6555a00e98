"""The Gradio web UI: `build_app(index)` makes it, `launch(index, ...)` serves it safely.

    from multimodal import open_index
    from ui import launch
    launch(open_index(index_dir="my-index"))          # http://127.0.0.1:7860/
                                                      # REST API: http://127.0.0.1:7860/api/v1/docs (ui.rest)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ui.launcher import RunningUI, launch

if TYPE_CHECKING:
    from ui.app import build_app

__all__ = ["RunningUI", "build_app", "launch"]


def __getattr__(name: str) -> Any:
    if name == "build_app":  # importing gradio takes seconds; only when the app is really built
        from ui.app import build_app

        return build_app
    raise AttributeError(name)
