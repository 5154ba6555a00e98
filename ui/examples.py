"""Example queries drawn from the index itself (its tags, else its captions), for the search box's placeholder
and the "Try" chips: a demo of coloured shapes suggests "a red circle", not "a dog on a beach"."""

from __future__ import annotations

from itertools import islice

from multimodal.records import CAPTION
from multimodal.store import Store
from multimodal.tagging import known_tags

MAX_CHARS = 40  # a chip is a short phrase; long captions make poor examples
SCANNED = 500  # captions read to choose from (one page; no full scan of a large index)
GENERIC = "describe what you are looking for"


def example_queries(store: Store, n: int = 4) -> list[str]:
    """Up to `n` short, distinct queries this index can answer: its tags if it was tagged, else its captions
    (spread over the first few hundred, shortest phrasing kept). Empty for an empty index."""
    tags = known_tags(store)
    if tags:
        return _spread(tags, n)
    seen: dict[str, str] = {}
    for record in islice(store.iter_records(where={"kind": CAPTION}), SCANNED):
        text = " ".join((record.document or "").split())
        if 0 < len(text) <= MAX_CHARS:
            seen.setdefault(text.lower(), text)
    return _spread(list(seen.values()), n)


def placeholder(examples: list[str]) -> str:
    return f"e.g. {examples[0]}" if examples else GENERIC


def _spread(items: list[str], n: int) -> list[str]:
    """`n` items evenly spaced through `items` (neighbours in ingest order tend to be alike)."""
    if len(items) <= n:
        return items
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]
