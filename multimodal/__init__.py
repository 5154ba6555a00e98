"""multimodal: images and captions in one OpenCLIP embedding space, stored in Chroma, searchable by
text, by image, or both.

    from multimodal import open_index
    index = open_index(pretrained="none")          # or the defaults: ViT-B-32 / laion2b_s34b_b79k
    index.ingest("~/Pictures")
    for hit in index.search("a dog on a beach", k=5):
        print(hit.score, hit.path)

Importing the package loads neither torch nor Chroma: they load with the first model or index. On a machine
with few busy cores, call `multimodal.openmp.passive_wait_policy()` (or set OMP_WAIT_POLICY=PASSIVE) before
the first model loads; the CLI and the UI do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from multimodal.index import Index, open_index
    from multimodal.search import Filters, Term

__all__ = ["Filters", "Index", "Term", "open_index"]

_LAZY = {"Index": "multimodal.index", "open_index": "multimodal.index", "Filters": "multimodal.search",
         "Term": "multimodal.search"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'multimodal' has no attribute {name!r}")
