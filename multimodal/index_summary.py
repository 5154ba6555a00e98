"""What `multimodal info` shows, read straight from an embedded index's SQLite file, without chromadb.

Importing chromadb costs most of a second on a small CPU (about a third of `import torch` here), more
than everything else `info` does. An embedded Chroma index keeps its collections, their metadata and
every record's metadata in `chroma.sqlite3`, so counts, the model and the precisions can be read with
the standard library. This reads Chroma's own tables, which are not a public interface: any surprise
(another schema, a locked file, writes not yet applied to the metadata tables, a server index) returns
None and the caller asks Chroma itself (`Store.info`). `tests/test_index_summary.py` checks that both
ways agree.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass

from multimodal import model_notes
from multimodal.config import Settings
from multimodal.model_spec import ModelSpec
from multimodal.records import CAPTION, IMAGE
from multimodal.store import IndexInfo  # store.py imports chromadb only when a client opens

PRECISIONS = ("fp32", "bf16", "fp16")  # as counted by Store.precisions; anything else is "unrecorded"
_DATABASE = ("default_database", "default_tenant")  # where Store's clients keep their collections


@dataclass(frozen=True)
class Summary:
    """What `multimodal info` prints: `Store.info()` and `Store.precisions()`."""

    info: IndexInfo
    precisions: dict[str, int]


def read_summary(settings: Settings) -> Summary | None:
    """The index's summary from its SQLite file, or None when only Chroma itself can say (see module doc)."""
    path = settings.index_dir.expanduser().absolute() / "chroma.sqlite3"
    if settings.chroma_url or not path.is_file():
        return None
    try:
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=0.5)) as db:
            return _summary(db, settings)
    except (sqlite3.Error, ValueError, TypeError):
        return None


def _summary(db: sqlite3.Connection, settings: Settings) -> Summary | None:
    found = db.execute(
        "SELECT c.id FROM collections c JOIN databases d ON c.database_id = d.id "
        "WHERE c.name = ? AND d.name = ? AND d.tenant_id = ?", (settings.collection, *_DATABASE)).fetchone()
    if found is None:
        return None  # no collection yet: Chroma says so (and creates the folder as `info` always did)
    collection = found[0]
    segment = _metadata_segment(db, collection)
    if segment is None or not _writes_applied(db, collection, segment):
        return None
    meta = _collection_metadata(db, collection)
    kinds = _count_by(db, segment, "kind")
    spec = ModelSpec(str(meta["mm_model"]), str(meta.get("mm_pretrained", ""))) if "mm_model" in meta else None
    info = IndexInfo(
        location=str(settings.index_dir), collection=settings.collection,
        images=kinds.get(IMAGE, 0), captions=kinds.get(CAPTION, 0), model=spec,
        dim=int(meta["mm_dim"]) if "mm_dim" in meta else None,
        last_ingest=float(meta["mm_last_ingest"]) if "mm_last_ingest" in meta else None,
        note=str(meta["mm_note"]) if meta.get("mm_note") else model_notes.note_for(spec),
        random_weights=model_notes.is_random(spec),
    )
    return Summary(info, _precisions(db, segment, info.images))

def _metadata_segment(db: sqlite3.Connection, collection: str) -> str | None:
    rows = db.execute("SELECT id FROM segments WHERE collection = ? AND scope = 'METADATA'", (collection,)).fetchall()
    return rows[0][0] if len(rows) == 1 else None


def _writes_applied(db: sqlite3.Connection, collection: str, segment: str) -> bool:
    """True when the metadata tables hold every write in Chroma's log for this collection."""
    applied = db.execute("SELECT seq_id FROM max_seq_id WHERE segment_id = ?", (segment,)).fetchone()
    logged = db.execute("SELECT max(seq_id) FROM embeddings_queue WHERE topic LIKE ?", (f"%/{collection}",)).fetchone()
    return _seq(applied[0] if applied else 0) >= _seq(logged[0] if logged else 0)


def _seq(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, bytes):  # older Chroma versions stored sequence ids as big-endian bytes
        return int.from_bytes(value, "big")
    if isinstance(value, int):
        return value
    raise TypeError(f"unexpected sequence id {value!r}")


def _collection_metadata(db: sqlite3.Connection, collection: str) -> dict[str, str | int | float]:
    rows = db.execute("SELECT key, str_value, int_value, float_value, bool_value FROM collection_metadata "
                      "WHERE collection_id = ?", (collection,)).fetchall()
    meta: dict[str, str | int | float] = {}
    for key, *values in rows:
        present = [v for v in values if v is not None]
        if len(present) == 1:
            meta[key] = present[0]
    return meta


def _count_by(db: sqlite3.Connection, segment: str, key: str) -> dict[str, int]:
    rows = db.execute("SELECT m.string_value, count(*) FROM embeddings e JOIN embedding_metadata m ON m.id = e.id "
                      "WHERE e.segment_id = ? AND m.key = ? GROUP BY m.string_value", (segment, key)).fetchall()
    return {str(value): int(n) for value, n in rows}


def _precisions(db: sqlite3.Connection, segment: str, images: int) -> dict[str, int]:
    """Image vectors per precision, as `Store.precisions` counts them."""
    rows = db.execute(
        "SELECT p.string_value, count(*) FROM embeddings e "
        "JOIN embedding_metadata k ON k.id = e.id AND k.key = 'kind' AND k.string_value = ? "
        "JOIN embedding_metadata p ON p.id = e.id AND p.key = 'precision' "
        "WHERE e.segment_id = ? GROUP BY p.string_value", (IMAGE, segment)).fetchall()
    found = {str(value): int(n) for value, n in rows if value in PRECISIONS}
    counts = {p: found.get(p, 0) for p in PRECISIONS}
    counts["unrecorded"] = images - sum(counts.values())
    return {k: v for k, v in counts.items() if v}
