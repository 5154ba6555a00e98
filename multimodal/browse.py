"""Browsing the library: the indexed images, newest first, a page at a time, under the same filters as search.

    listing = list_images(store, Filters(folder="~/Pictures/2024"))
    first = page(store, listing, 0, 48)     # Hits without a score (nothing was asked)

Listing reads every matching image's metadata once (no vectors) and keeps only (date, path, id), so later
pages cost one `get` of their own ids.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from multimodal.records import IMAGE
from multimodal.search import Filters
from multimodal.store import Hit, Store

NO_SCORE = math.nan  # a browsed image's score: it answers no query


@dataclass(frozen=True)
class Entry:
    """One image in a listing."""

    date: float  # capture time (EXIF), else the file's modification time; Unix seconds
    path: str
    id: str


@dataclass(frozen=True)
class Listing:
    """The images under `filters`, newest first, and the folders they sit in."""

    filters: Filters
    entries: tuple[Entry, ...]
    folders: tuple[str, ...]  # the folders holding them, sorted

    def __len__(self) -> int:
        return len(self.entries)


def list_images(store: Store, filters: Filters | None = None) -> Listing:
    """Every indexed image matching `filters`, newest first (ties by path). Empty for an empty index."""
    filters = filters or Filters()
    clauses = [{"kind": IMAGE}, *filters.clauses()]
    where = clauses[0] if len(clauses) == 1 else {"$and": clauses}
    entries, folders = [], set()
    for record in store.iter_records(where=where):
        meta = record.metadata
        entries.append(Entry(float(meta.get("date") or 0.0), str(meta.get("path", "")), record.id))
        if meta.get("folder"):
            folders.add(str(meta["folder"]))
    entries.sort(key=lambda e: (-e.date, e.path))
    return Listing(filters, tuple(entries), tuple(sorted(folders)))


def page(store: Store, listing: Listing, offset: int, limit: int) -> list[Hit]:
    """Images `offset` to `offset + limit` of `listing`, as hits with no score (`NO_SCORE`); images removed
    from the index since the listing was made are left out."""
    chosen = listing.entries[max(0, offset): max(0, offset) + max(0, limit)]
    records = store.get([e.id for e in chosen])
    return [Hit(id=r.id, path=str(r.metadata.get("path", "")), score=NO_SCORE, kind=IMAGE,
                caption=r.metadata.get("caption") or None, metadata=dict(r.metadata)) for r in records]


def newest_first(hits: list[Hit]) -> list[Hit]:
    """`hits` re-ordered by date, newest first (a result list's "sort by date"); stable for equal dates."""
    return sorted(hits, key=lambda h: -float(h.metadata.get("date") or 0.0))


def by_relevance(hits: list[Hit]) -> list[Hit]:
    """`hits` by score, best first (undoes `newest_first`); stable for equal scores."""
    return sorted(hits, key=lambda h: -h.score)
