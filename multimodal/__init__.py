"""multimodal: images and captions in one OpenCLIP embedding space, stored in Chroma, searchable by
text, by image, or both.

    from multimodal import open_index
    index = open_index(pretrained="none")          # or the defaults: ViT-B-32 / laion2b_s34b_b79k
    index.ingest("~/Pictures")
    for hit in index.search("a dog on a beach", k=5):
        print(hit.score, hit.path)
"""

from __future__ import annotations

__version__ = "0.1.0"

from multimodal.index import Index, open_index
from multimodal.search import Filters, Term

__all__ = ["Filters", "Index", "Term", "open_index"]
