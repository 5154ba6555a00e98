"""Record identity: the two kinds of record one collection holds, their ids, and what a caption's metadata
carries over from its image.

An image's id is a hash of its absolute path (so shards, reruns and other machines agree); its captions are
`<image id>:c<n>`, with `image_id` in their metadata pointing back. Search, tagging, ingest and the store all
name records through this module; it depends on nothing in the project.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

IMAGE = "image"  # metadata["kind"] of an image record
CAPTION = "caption"  # metadata["kind"] of a caption record
KIND = "kind"
IMAGE_ID = "image_id"  # a caption's metadata: the id of its image
# What a caption's metadata copies from its image's, so filters (folder, date, size) apply to captions too.
CAPTION_INHERITS = ("path", "name", "folder", "folders", "root", "format", "date", "taken", "width", "height",
                    "precision")


def image_id(path: Path) -> str:
    """Stable id of an image: a hash of its absolute path (so shards and reruns agree)."""
    return hashlib.blake2b(str(path).encode("utf-8", "surrogateescape"), digest_size=12).hexdigest()


def caption_id(img_id: str, n: int) -> str:
    """The id of the `n`th caption of the image `img_id`."""
    return f"{img_id}:c{n}"


def image_id_of(record_id: str, metadata: dict[str, Any]) -> str:
    """The image a record belongs to: its own id for an image, its image's for a caption."""
    return str(metadata.get(IMAGE_ID, record_id))


def caption_metadata(image_meta: dict[str, Any], img_id: str, n: int) -> dict[str, Any]:
    """The metadata of caption `n` of the image `img_id` whose metadata is `image_meta`."""
    return {KIND: CAPTION, IMAGE_ID: img_id, "caption_index": n, **{k: image_meta[k] for k in CAPTION_INHERITS}}
