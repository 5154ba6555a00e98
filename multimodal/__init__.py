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

import os as _os

# The encoder's OpenMP threads sleep, rather than spin, while they wait for work. With few cores and
# other work competing for them (our decoding threads, other programs), spinning burns the time that
# work needs: on 2 busy cores a ViT-B-32 text query took 0.8-1.4 s spinning, 0.12-0.25 s passive.
# libgomp reads this once, when torch loads, so it is set before the first torch import; a user's value wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from multimodal.index import Index, open_index
from multimodal.search import Filters, Term

__all__ = ["Filters", "Index", "Term", "open_index"]
