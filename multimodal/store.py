"""The Chroma store: with `multimodal.chroma_client` (the client, its errors, retries), the only module that
imports chromadb.

One collection holds two kinds of records in one embedding space: images (`kind="image"`) and the
captions linked to them (`kind="caption"`, `image_id` pointing at their image). The collection's
metadata records which model made the vectors, so vectors from different models never mix.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from multimodal import model_notes
from multimodal.chroma_client import Failure, call, classify, connect, location, unavailable
from multimodal.compression import NONE, Codec
from multimodal.config import Settings
from multimodal.errors import EmptyIndexError, ModelMismatchError
from multimodal.model_spec import ModelSpec
from multimodal.records import CAPTION, IMAGE, image_id_of

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # no phone-home, also for clients we do not build

_PAGE = 2000  # records fetched per get() call when scanning the index


@dataclass(frozen=True)
class Record:
    """One stored item as read back from the store."""

    id: str
    metadata: dict[str, Any]
    embedding: np.ndarray | None = None
    document: str | None = None

    @property
    def vector(self) -> np.ndarray:
        """The embedding of a record read with `embeddings=True` (a ValueError if it was read without)."""
        if self.embedding is None:
            raise ValueError(f"record {self.id} was read without its embedding")
        return self.embedding


@dataclass(frozen=True)
class Hit:
    """One search result, with a similarity score (cosine, 1 = same direction), not a distance."""

    id: str
    path: str
    score: float
    kind: str = IMAGE
    caption: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    match: str | None = None  # "strong" or "weak": how good the query's best results are (multimodal.match)

    @property
    def image_id(self) -> str:
        return image_id_of(self.id, self.metadata)


@dataclass(frozen=True)
class IndexInfo:
    location: str
    collection: str
    images: int
    captions: int
    model: ModelSpec | None
    dim: int | None
    last_ingest: float | None
    note: str | None = None  # e.g. "random weights — ... results carry no meaning" (multimodal.model_notes)
    random_weights: bool = False


class Store:
    """A Chroma collection of image and caption vectors."""

    def __init__(self, client: Any, settings: Settings, collection: Any | None) -> None:
        self._client = client
        self.settings = settings
        self._collection = collection
        self._max_batch = max(1, int(client.get_max_batch_size()) - 1)
        self._codec: Codec | None = None  # how vectors are stored; read once (see multimodal.compression)

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, settings: Settings) -> Store:
        """Connect to the embedded index or the server; the collection may not exist yet (only a real
        not-found means that: any other failure raises).

        Raises:
            StoreUnavailableError: the store cannot be reached or opened, or refuses access.
        """
        client = connect(settings)
        try:
            collection = client.get_collection(settings.collection, embedding_function=None)
        except Exception as e:
            if classify(e) is not Failure.NOT_FOUND:
                raise unavailable(e, settings) from e
            collection = None
        return cls(client, settings, collection)

    @property
    def location(self) -> str:
        return location(self.settings)

    @property
    def exists(self) -> bool:
        return self._collection is not None

    @property
    def collection(self) -> Any:
        """The Chroma collection; EmptyIndexError (naming the command that fills it) before the first ingest."""
        self.require_ingested()
        return self._collection

    def require_ingested(self) -> None:
        """Raise EmptyIndexError, saying how to fill it, unless something was ingested into this index.

        Commands call it first, so an empty index is reported before seconds are spent loading a model.
        """
        if self._collection is None:
            raise EmptyIndexError(
                f"the index at {self.location} is empty; run `multimodal ingest FOLDER` first"
            )

    def ensure_collection(self, spec: ModelSpec, dim: int) -> None:
        """Create the collection for `spec`, or check that an existing one was built with it."""
        if self._collection is None:
            hnsw = self.settings.hnsw
            self._collection = self._call(
                self._client.get_or_create_collection,
                self.settings.collection,
                configuration={"hnsw": {"space": "cosine", "ef_search": hnsw.ef_search,
                                        "ef_construction": hnsw.ef_construction,
                                        "max_neighbors": hnsw.max_neighbors}},
                metadata=_identity(spec, dim),
                embedding_function=None,
            )
        stored = self.model_spec()
        if stored is None:
            self.update_metadata(_identity(spec, dim))
        elif stored != spec or self.dim() != dim:
            raise ModelMismatchError(
                f"the index at {self.location} was built with {stored.label()} ({self.dim()}-d) but "
                f"{spec.label()} ({dim}-d) was asked for; use the index's model, or another --index / "
                "--collection for the new model"
            )

    # -- identity and info -----------------------------------------------------------------
    def model_spec(self) -> ModelSpec | None:
        meta = (self._collection.metadata or {}) if self._collection is not None else {}
        if "mm_model" not in meta:
            return None
        return ModelSpec(str(meta["mm_model"]), str(meta.get("mm_pretrained", "")))

    def model_note(self) -> str | None:
        """What the model's results are worth, when that needs saying (random weights, a toy model)."""
        meta = (self._collection.metadata or {}) if self._collection is not None else {}
        return str(meta["mm_note"]) if meta.get("mm_note") else model_notes.note_for(self.model_spec())

    def drop_if_empty(self) -> bool:
        """Delete the collection (and its codec) if it holds nothing: what a failed first ingest leaves."""
        if self._collection is None or self.count() > 0:
            return False
        codec_name = self._codec_name()
        for name in (codec_name, self.settings.collection):
            self.drop_marker(name)
        self._collection, self._codec = None, None
        return True

    def dim(self) -> int | None:
        meta = (self._collection.metadata or {}) if self._collection is not None else {}
        return int(meta["mm_dim"]) if "mm_dim" in meta else None

    def metadata(self) -> dict[str, Any]:
        return dict(self.collection.metadata or {})

    def update_metadata(self, values: dict[str, Any]) -> None:
        merged = {**(self.collection.metadata or {}), **values}
        self._call(self.collection.modify, metadata=merged)

    def info(self) -> IndexInfo:
        meta = self._collection.metadata or {} if self._collection is not None else {}
        return IndexInfo(
            location=self.location,
            collection=self.settings.collection,
            images=self.count(IMAGE),
            captions=self.count(CAPTION),
            model=self.model_spec(),
            dim=self.dim(),
            last_ingest=float(meta["mm_last_ingest"]) if "mm_last_ingest" in meta else None,
            note=self.model_note(),
            random_weights=model_notes.is_random(self.model_spec()),
        )

    def count(self, kind: str | None = None) -> int:
        if self._collection is None:
            return 0
        if kind is None:
            return int(self._call(self._collection.count))
        # Chroma's count() takes no filter: page through ids only (cheap), stopping at the first short page.
        total = 0
        while True:
            page = len(self._call(self._collection.get, where={"kind": kind}, include=[], limit=_PAGE,
                                  offset=total)["ids"])
            total += page
            if page < _PAGE:
                return total

    def ids(self, kind: str) -> list[str]:
        """Every id of one kind (ids only: cheap), a page at a time."""
        found: list[str] = []
        if self._collection is None:
            return found
        while True:
            page = self._call(self._collection.get, where={"kind": kind}, include=[], limit=_PAGE, offset=len(found))
            found += page["ids"]
            if len(page["ids"]) < _PAGE:
                return found

    def precisions(self) -> dict[str, int]:
        """How many image vectors each precision made (fp32, bf16, fp16; "unrecorded": from before it was)."""
        counts: dict[str, int] = {}
        left = self.count(IMAGE)
        for precision in ("fp32", "bf16", "fp16"):
            n = 0
            while left and n % _PAGE == 0:
                page = len(self._call(self.collection.get, include=[], limit=_PAGE, offset=n,
                                      where={"$and": [{"kind": IMAGE}, {"precision": precision}]})["ids"])
                n += page
                if page < _PAGE:
                    break
            counts[precision], left = n, left - n
        counts["unrecorded"] = left
        return {k: v for k, v in counts.items() if v}

    # -- writing ---------------------------------------------------------------------------
    def upsert(self, records: Sequence[Record]) -> None:
        """Write records (each with an embedding), split below the client's max batch size."""
        for start in range(0, len(records), self._max_batch):
            chunk = records[start : start + self._max_batch]
            self._call(
                self.collection.upsert,
                ids=[r.id for r in chunk],
                embeddings=self.codec.encode(np.stack([np.asarray(r.embedding, dtype=np.float32) for r in chunk])),
                metadatas=[_clean_metadata(r.metadata) for r in chunk],
                documents=[r.document or "" for r in chunk],
            )

    def update_records(self, ids: Sequence[str], metadatas: Sequence[dict[str, Any]]) -> None:
        """Merge `metadatas` into stored records, vectors untouched; a None value removes that key."""
        for start in range(0, len(ids), self._max_batch):
            self._call(self.collection.update, ids=list(ids[start: start + self._max_batch]),
                       metadatas=list(metadatas[start: start + self._max_batch]))

    def delete(self, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), self._max_batch):
            self._call(self.collection.delete, ids=list(ids[start : start + self._max_batch]))

    # -- reading ---------------------------------------------------------------------------
    def get(self, ids: Sequence[str], *, embeddings: bool = False) -> list[Record]:
        """Records for `ids` (missing ids are left out), in the order asked."""
        if not ids or self._collection is None:
            return []
        found: dict[str, Record] = {}
        for start in range(0, len(ids), self._max_batch):
            chunk = list(ids[start : start + self._max_batch])
            found.update((r.id, r) for r in self._get(ids=chunk, embeddings=embeddings))
        return [found[i] for i in ids if i in found]

    def iter_records(self, *, where: dict[str, Any] | None = None, embeddings: bool = False) -> Iterator[Record]:
        """Every record matching `where`, a page at a time (flat memory on large indexes)."""
        if self._collection is None:
            return
        offset = 0
        while True:
            page = self._get(where=where, limit=_PAGE, offset=offset, embeddings=embeddings)
            yield from page
            if len(page) < _PAGE:
                return
            offset += len(page)

    def query(self, vectors: np.ndarray, k: int, *, where: dict[str, Any] | None = None) -> list[list[Hit]]:
        """The `k` nearest records for each row of `vectors`."""
        collection = self.collection
        if k <= 0:
            return [[] for _ in range(len(vectors))]
        result = self._call(
            collection.query,
            query_embeddings=self.codec.encode_query(vectors),
            n_results=k,
            where=where or None,
            include=["metadatas", "distances", "documents"],
        )
        return [
            [_hit(i, d, m, doc) for i, d, m, doc in zip(ids, dists, metas, docs, strict=True)]
            for ids, dists, metas, docs in zip(
                result["ids"], result["distances"], result["metadatas"], result["documents"], strict=True
            )
        ]

    def _get(self, *, embeddings: bool, **kwargs: Any) -> list[Record]:
        include = ["metadatas", "documents"] + (["embeddings"] if embeddings else [])
        result = self._call(self.collection.get, include=include, **kwargs)
        vectors = self.codec.decode(result["embeddings"]) if embeddings and len(result["ids"]) else None
        return [
            Record(
                id=rid,
                metadata=dict(result["metadatas"][n] or {}),
                embedding=vectors[n] if vectors is not None else None,
                document=result["documents"][n] if result.get("documents") else None,
            )
            for n, rid in enumerate(result["ids"])
        ]

    # -- the codec: how vectors are stored (multimodal.compression), kept in a side collection ---------
    @property
    def codec(self) -> Codec:
        """The collection's codec; every vector written, queried or read passes through it here."""
        if self._codec is not None:
            return self._codec
        if self._collection is None:
            return Codec()  # not cached: the collection may yet be created with another codec
        try:
            side = self._call(self._client.get_collection, self._codec_name(), embedding_function=None)
        except Exception as e:
            if classify(e) is not Failure.NOT_FOUND:
                raise
            self._codec = Codec()
            return self._codec
        self._codec = _read_codec(self._call(side.get, include=["embeddings", "metadatas"]), side.metadata)
        return self._codec

    def set_codec(self, codec: Codec) -> Codec:
        """Record `codec` for this (empty) collection; returns the codec in force, which is another writer's
        if one got there first. A basis is written to a temporary collection and then renamed, so readers
        never see half of one."""
        if codec.name == NONE:
            return self.codec
        temp = f"mmcodec-tmp-{uuid.uuid4().hex}"
        side = self._call(self._client.create_collection, temp, metadata={"codec": codec.name},
                          embedding_function=None)
        if codec.basis is not None:
            ids = [f"{n:05d}" for n in range(len(codec.basis))]
            self._call(side.add, ids=ids, embeddings=codec.basis, metadatas=[{"row": n} for n in range(len(ids))])
        try:
            self._call(side.modify, name=self._codec_name())
        except Exception as e:
            self._call(self._client.delete_collection, temp)
            if classify(e) is not Failure.EXISTS:  # another writer's codec got there first: it is in force
                raise
        self._codec = None
        return self.codec

    def _codec_name(self) -> str:
        return f"mmcodec-{self.collection.id}"  # per collection instance: a recreated collection starts afresh

    # -- markers: empty side collections used as atomic flags (see multimodal.locking) -----------
    def create_marker(self, name: str, metadata: dict[str, Any]) -> bool:
        """Create the empty collection `name`; False if it exists. Of racing creators exactly one gets True."""
        try:
            self._call(self._client.create_collection, name, metadata=metadata, embedding_function=None)
        except Exception as e:
            if classify(e) is Failure.EXISTS:
                return False
            raise
        return True

    def markers(self, prefix: str, *, retry: bool = True) -> dict[str, dict[str, Any]]:
        """Name -> metadata of every marker whose name starts with `prefix`."""
        found: dict[str, dict[str, Any]] = {}
        offset = 0
        while True:
            page = self._call(self._client.list_collections, limit=100, offset=offset, _retry=retry)
            found.update((c.name, dict(c.metadata or {})) for c in page if c.name.startswith(prefix))
            if len(page) < 100:
                return found
            offset += len(page)

    def set_marker(self, name: str, metadata: dict[str, Any], *, retry: bool = True) -> None:
        """Replace a marker's metadata (the caller checked it is its own)."""
        marker = self._call(self._client.get_collection, name, embedding_function=None, _retry=retry)
        self._call(marker.modify, metadata=metadata, _retry=retry)

    def drop_marker(self, name: str) -> None:
        try:
            self._call(self._client.delete_collection, name)
        except Exception as e:
            if classify(e) is not Failure.NOT_FOUND:
                raise

    def _call(self, fn: Any, *args: Any, _retry: bool = True, **kwargs: Any) -> Any:
        """One Chroma call, retried while the server is unreachable (`settings.retry_seconds`; see chroma_client)."""
        budget = self.settings.retry_seconds if _retry else 0.0
        return call(budget, self.location, fn, *args, **kwargs)


def _identity(spec: ModelSpec, dim: int) -> dict[str, Any]:
    """The model identity a collection records; `mm_note` says when results carry little or no meaning."""
    identity: dict[str, Any] = {"mm_model": spec.model, "mm_pretrained": spec.pretrained, "mm_dim": dim}
    note = model_notes.note_for(spec)
    if note:
        identity["mm_note"] = note
    if model_notes.is_random(spec):
        identity["mm_weights"] = "random"
    return identity


def _read_codec(rows: dict[str, Any], meta: dict[str, Any] | None) -> Codec:
    name = str((meta or {}).get("codec", NONE))
    if not rows["ids"]:
        return Codec(name)
    order = np.argsort(rows["ids"])  # Chroma does not keep insertion order
    return Codec(name, np.asarray(rows["embeddings"], dtype=np.float32)[order])


def _hit(rid: str, distance: float, meta: dict[str, Any] | None, document: str | None) -> Hit:
    meta = dict(meta or {})
    kind = str(meta.get("kind", IMAGE))
    caption = document if kind == CAPTION else meta.get("caption")
    return Hit(id=rid, path=str(meta.get("path", "")), score=1.0 - float(distance), kind=kind,
               caption=caption or None, metadata=meta)


def _clean_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """Chroma refuses None values and empty lists; drop them rather than store placeholders."""
    return {k: v for k, v in meta.items() if v is not None and not (isinstance(v, list) and not v)}
