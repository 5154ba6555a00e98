"""Folder → store, incremental and resumable.

A run compares the files on disk with the records already stored under the folder:
unchanged files (same size and mtime) cost one `stat`; changed files are hashed, and only new
content is run through the model. A file whose content is already stored (renamed, copied, or only
touched) reuses its stored vector. Work is committed batch by batch, so an interrupted run (Ctrl-C,
kill -9) resumes on rerun without duplicates and without re-encoding what was committed.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from multimodal.batch_encode import ProgressFn  # (files done, files to process)
from multimodal.captions import Captions
from multimodal.codec_fit import ensure_codec
from multimodal.config import Settings
from multimodal.encoder import Encoder
from multimodal.errors import ConfigError, ImageLoadError, NotFoundError
from multimodal.images import LoadedImage, file_digest, load_image, walk_images
from multimodal.locking import ingest_lock
from multimodal.perceptual import PHASH_KEY, fingerprint
from multimodal.pipeline import DECODE_NICE, bulk_encoding, default_workers, ordered_map
from multimodal.records import CAPTION, IMAGE, caption_id, caption_metadata, image_id
from multimodal.store import Record, Store

if TYPE_CHECKING:  # torch loads with the model, not with this module
    import torch



@dataclass(frozen=True)
class Failure:
    path: str
    reason: str


@dataclass
class IngestReport:
    """What one ingest run did. `encoded` counts images actually run through the model."""

    root: str
    added: int = 0  # new files now in the index (copies of stored content included)
    updated: int = 0  # files whose content or captions changed
    unchanged: int = 0  # files already stored as they are
    removed: int = 0  # records of files that no longer exist
    renamed: int = 0  # files moved or renamed: the stored vector moved with them
    encoded: int = 0  # images run through the model in this run
    reused: int = 0  # images whose stored vector was reused (renames, copies, touched files)
    captions: int = 0  # captions encoded in this run
    failed: list[Failure] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["images_per_second"] = round(self.encoded / self.seconds, 2) if self.seconds else 0.0
        return data


@dataclass(frozen=True)
class Shard:
    """Which part of a folder this process ingests: files whose stable path hash % count == index."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            i, n = (int(x) for x in text.split("/"))
        except ValueError as e:
            raise ConfigError(f"--shard must look like I/N (e.g. 0/2), got {text!r}") from e
        if n < 1 or not 0 <= i < n:
            raise ConfigError(f"--shard I/N needs 0 <= I < N, got {text!r}")
        return cls(i, n)

    @property
    def label(self) -> str:
        """The shard as --shard takes it: "I/N"."""
        return f"{self.index}/{self.count}"

    def owns(self, relpath: str) -> bool:
        digest = hashlib.blake2b(relpath.encode("utf-8", "surrogateescape"), digest_size=8).digest()
        return int.from_bytes(digest, "big") % self.count == self.index


@dataclass
class _Work:
    """One file that needs reading: new, changed, or with changed captions."""

    path: Path
    id: str
    stat: os.stat_result
    captions: list[str]
    old: dict[str, Any] | None  # the stored record's metadata, if any


@dataclass
class _Loaded:
    work: _Work
    digest: str
    image: LoadedImage
    tensor: torch.Tensor | None
    phash: str  # perceptual fingerprint (multimodal.perceptual), from the decoded image or the stored record
    vector: np.ndarray | None = None  # already encoded elsewhere (a `Loader` on a cluster): no local encoding
    committed: bool = False  # already written, with its captions, by the `Loader` (Ray workers writing to a server)


# The replaceable step (the seam): read, decode and encode the files to process, yielding each one's result
# in any order. The set holds digests whose stored vectors will be reused: those need no encoding; the string
# is the run's scope (the folder every record's `root` names).
Loader = Callable[[list[_Work], frozenset[str], str], Iterator[tuple[_Work, "_Loaded | ImageLoadError"]]]


def ingest_folder(
    root: str | Path,
    store: Store,
    encoder: Encoder,
    settings: Settings,
    *,
    shard: Shard | None = None,
    progress: ProgressFn | None = None,
    loader: Loader | None = None,
) -> IngestReport:
    """Bring the index up to date with the images (and captions) under `root`.

    `loader` replaces the local reading/decoding/encoding step (e.g. `multimodal.ray_ingest`); planning,
    reuse of stored vectors and every write stay here.

    Raises:
        NotFoundError: `root` does not exist.
        IndexBusyError: another ingest holds this index.
        ModelMismatchError: the index was built with another model.
    """
    root = Path(root).expanduser().absolute()
    if not root.exists():
        raise NotFoundError(f"{root} does not exist")
    started = time.monotonic()
    report = IngestReport(root=str(root))
    with ingest_lock(store, root, shard.label if shard else None):
        first = not store.exists
        try:
            store.ensure_collection(encoder.spec, encoder.dim)
            ensure_codec(store, encoder, settings, root)  # --compress: fixed at the first ingest
            _Run(root, store, encoder, settings, shard, report, progress, loader).execute()
        except BaseException:
            if first:  # a failed first ingest leaves no empty index behind to pin its model (and codec)
                store.drop_if_empty()
            raise
    store.update_metadata({"mm_last_ingest": time.time()})
    report.seconds = round(time.monotonic() - started, 3)
    return report


class _Run:
    def __init__(self, root: Path, store: Store, encoder: Encoder, settings: Settings,
                 shard: Shard | None, report: IngestReport, progress: ProgressFn | None,
                 loader: Loader | None = None) -> None:
        self.root, self.store, self.encoder, self.settings = root, store, encoder, settings
        self.shard, self.report, self.progress, self.loader = shard, report, progress, loader
        self.captions = Captions.load(root)
        self.scope = str(root if root.is_dir() else root.parent)
        self._precision = str(getattr(encoder, "precision", "fp32"))

    def execute(self) -> None:
        stored = self._stored_images()
        todo, present = self._plan(stored)
        missing = {i: m for i, m in stored.items() if i not in present}
        by_digest = {str(m.get("hash")): i for i, m in missing.items()}
        with bulk_encoding(self.encoder):
            self._process(todo, by_digest)
        gone = [i for i in missing if i not in self._renamed_from]
        self._delete_images(gone, missing)
        self.report.removed = len(gone)
        self._sweep_orphan_captions()

    # -- planning ------------------------------------------------------------------------
    def _stored_images(self) -> dict[str, dict[str, Any]]:
        where = {"$and": [{"kind": IMAGE}, {"folders": {"$contains": self.scope}}]}
        stored = {r.id: r.metadata for r in self.store.iter_records(where=where)}
        if self.root.is_file():
            stored = {i: m for i, m in stored.items() if m.get("path") == str(self.root)}
        return {i: m for i, m in stored.items() if self._owns(Path(str(m.get("path", ""))))}

    def _owns(self, path: Path) -> bool:
        if self.shard is None:
            return True
        try:
            rel = path.relative_to(self.scope)
        except ValueError:
            return False
        return self.shard.owns(rel.as_posix())

    def _plan(self, stored: dict[str, dict[str, Any]]) -> tuple[list[_Work], set[str]]:
        todo: list[_Work] = []
        present: set[str] = set()
        for path in walk_images(self.root):
            if not self._owns(path):
                continue
            try:
                st = path.stat()
            except OSError as e:
                self.report.failed.append(Failure(str(path), f"cannot stat: {e.strerror or e}"))
                continue
            pid = image_id(path)
            present.add(pid)
            old = stored.get(pid)
            captions = self.captions.for_image(path)
            if (old is not None and _same_file(old, st) and old.get("caption_hash") == _captions_hash(captions)
                    and old.get(PHASH_KEY)):  # records from before perceptual hashes get one now
                self.report.unchanged += 1
                continue
            todo.append(_Work(path, pid, st, captions, old))
        return todo, present

    # -- reading, encoding, committing ---------------------------------------------------
    def _process(self, todo: list[_Work], by_digest: dict[str, str]) -> None:
        self._renamed_from: set[str] = set()
        batch: list[_Loaded] = []
        if self.progress:
            self.progress(0, len(todo))
        results = self.loader(todo, _reusable(todo, by_digest), self.scope) if self.loader else self._read(todo)
        for done, (work, result) in enumerate(results, start=1):
            if isinstance(result, ImageLoadError):
                self.report.failed.append(Failure(str(work.path), result.reason))
            elif result.committed:
                self._count_committed(work)
            else:
                batch.append(result)
            if len(batch) >= self.settings.batch_size:
                self._commit(batch, by_digest)
                batch = []
            if self.progress:
                self.progress(done, len(todo))
        if batch:
            self._commit(batch, by_digest)

    def _read(self, todo: list[_Work]) -> Iterator[tuple[_Work, _Loaded | ImageLoadError]]:
        workers = self.settings.workers or default_workers()
        in_flight = max(4 * workers, 2 * self.settings.batch_size)  # bounded: memory stays flat
        return ordered_map(self._load_one, todo, workers=workers, in_flight=in_flight, nice=DECODE_NICE)

    def _load_one(self, work: _Work) -> _Loaded | ImageLoadError:
        try:
            digest = file_digest(work.path)
            if work.old is not None and work.old.get("hash") == digest and work.old.get(PHASH_KEY):
                # Same content (touched, or only the captions changed): skip decoding, keep the vector.
                return _Loaded(work, digest, _stored_image(work.old), None, str(work.old[PHASH_KEY]))
            loaded = load_image(work.path, max_pixels=self.settings.max_pixels, min_side=self.encoder.image_size)
            return _Loaded(work, digest, loaded, self.encoder.preprocess(loaded.image), fingerprint(loaded.image))
        except ImageLoadError as e:
            return e
        except OSError as e:
            return ImageLoadError(str(work.path), f"unreadable: {e.strerror or e}")

    def _count_committed(self, work: _Work) -> None:
        """A file the loader encoded and wrote itself (image and captions in one upsert)."""
        if work.old is None:
            self.report.added += 1
        else:
            self.report.updated += 1
        self.report.encoded += 1
        self.report.captions += len(work.captions)

    def _commit(self, batch: list[_Loaded], by_digest: dict[str, str]) -> None:
        vectors = self._vectors(batch, by_digest)
        self.report.captions += sum(len(item.work.captions) for item in batch)
        write_batch(self.store, self.encoder,
                    [(item.work, self._image_metadata(item), v) for item, v in zip(batch, vectors, strict=True)])

    def _vectors(self, batch: list[_Loaded], by_digest: dict[str, str]) -> list[np.ndarray]:
        """Reuse stored vectors for content already in the index; encode the rest in one batch."""
        copies = self._stored_copies([i.digest for i in batch if i.tensor is not None or i.vector is not None])
        reuse_ids: dict[int, str] = {}
        for n, item in enumerate(batch):
            old = item.work.old
            if old is not None and old.get("hash") == item.digest:
                reuse_ids[n] = item.work.id  # captions changed, or the file was only touched
            elif item.digest in by_digest:
                reuse_ids[n] = by_digest.pop(item.digest)
                self._renamed_from.add(reuse_ids[n])
                self.report.renamed += 1
                continue
            elif item.digest in copies:
                reuse_ids[n] = copies[item.digest]
            if old is None:
                self.report.added += 1
            else:
                self.report.updated += 1
        stored = {r.id: r.embedding for r in self.store.get(sorted(set(reuse_ids.values())), embeddings=True)
                  if r.embedding is not None}
        reuse = {n: stored[i] for n, i in reuse_ids.items() if i in stored}
        to_encode = [n for n in range(len(batch)) if n not in reuse]
        encoded: dict[int, np.ndarray] = {}
        if to_encode:
            encoded = {n: vector for n in to_encode if (vector := batch[n].vector) is not None}
            local = [n for n in to_encode if n not in encoded]
            if local:
                import torch

                tensors = [self._tensor(batch[n]) for n in local]
                encoded.update(zip(local, self.encoder.encode_images(torch.stack(tensors)), strict=True))
            self.report.encoded += len(to_encode)
        self.report.reused += len(reuse)
        return [reuse[n] if n in reuse else encoded[n] for n in range(len(batch))]

    def _stored_copies(self, digests: list[str]) -> dict[str, str]:
        return stored_copies(self.store, digests)

    def _tensor(self, item: _Loaded) -> torch.Tensor:
        """The decoded tensor; decoded now if the stored vector it was meant to reuse vanished meanwhile."""
        if item.tensor is not None:
            return item.tensor
        loaded = load_image(item.work.path, max_pixels=self.settings.max_pixels, min_side=self.encoder.image_size)
        return self.encoder.preprocess(loaded.image)

    def _image_metadata(self, item: _Loaded) -> dict[str, Any]:
        return image_metadata(item.work, item.image, item.digest, item.phash, self.scope, self._precision)

    # -- removing ------------------------------------------------------------------------
    def _delete_images(self, ids: list[str], metas: dict[str, dict[str, Any]]) -> None:
        doomed = list(ids) + list(self._renamed_from)
        for i in doomed:
            n = int(metas.get(i, {}).get("n_captions", 0))
            doomed += [caption_id(i, c) for c in range(n)]
        if doomed:
            self.store.delete(doomed)

    def _sweep_orphan_captions(self) -> None:
        """Captions whose image is gone (left by an interrupted run) are deleted."""
        where = {"$and": [{"kind": CAPTION}, {"folders": {"$contains": self.scope}}]}
        captions = {r.id: str(r.metadata.get("image_id")) for r in self.store.iter_records(where=where)}
        if not captions:
            return
        alive = {r.id for r in self.store.get(sorted(set(captions.values())))}
        orphans = [cid for cid, iid in captions.items() if iid not in alive]
        if orphans:
            self.store.delete(orphans)


def stored_copies(store: Store, digests: list[str]) -> dict[str, str]:
    """Images anywhere in the index with the same bytes (copies): digest -> id, one query a batch."""
    if not digests:
        return {}
    where = {"$and": [{"kind": IMAGE}, {"hash": {"$in": sorted(set(digests))}}]}
    return {str(r.metadata["hash"]): r.id for r in store.iter_records(where=where)}


def write_batch(store: Store, encoder: Encoder, items: list[tuple[_Work, dict[str, Any], np.ndarray]]) -> None:
    """Upsert images (work, metadata, vector) with their captions, encoded here, in one call; then delete the
    captions a file no longer has. One call per batch: a kill leaves either the image with its captions or
    neither (captions without their image are swept by the next run)."""
    records: list[Record] = []
    stale_captions: list[str] = []
    all_captions = [c for work, _, _ in items for c in work.captions]
    caption_vectors = iter(encoder.encode_texts(all_captions)) if all_captions else iter(())
    for work, meta, vector in items:
        records.append(Record(work.id, meta, vector))
        for n, text in enumerate(work.captions):
            cmeta = caption_metadata(meta, work.id, n)
            records.append(Record(caption_id(work.id, n), cmeta, next(caption_vectors), text))
        old_n = int((work.old or {}).get("n_captions", 0))
        stale_captions += [caption_id(work.id, n) for n in range(len(work.captions), old_n)]
    store.upsert(records)
    if stale_captions:
        store.delete(stale_captions)


def image_metadata(work: _Work, img: LoadedImage, digest: str, phash: str, scope: str, precision: str
                   ) -> dict[str, Any]:
    """What an image record stores (`scope`: the ingested folder; `precision`: what made the vector)."""
    path, st, captions = work.path, work.stat, work.captions
    return {
        "kind": IMAGE,
        "path": str(path),
        "name": path.name,
        "folder": str(path.parent),
        "folders": _ancestors(path),
        "root": scope,
        "size": int(st.st_size),
        "mtime": float(st.st_mtime),
        "mtime_ns": int(st.st_mtime_ns),  # compared exactly (floats lose digits in the store)
        "width": img.width,
        "height": img.height,
        "format": img.format,
        "hash": digest,
        PHASH_KEY: phash,
        "precision": precision,  # what made the vector: fp32, bf16 or fp16 (see encoder.load_encoder)
        "taken": img.taken,
        "date": img.taken if img.taken is not None else float(st.st_mtime),
        "caption": captions[0] if captions else None,
        "n_captions": len(captions),
        "caption_hash": _captions_hash(captions),
        "ingested_at": time.time(),
    }


def _reusable(todo: list[_Work], by_digest: dict[str, str]) -> frozenset[str]:
    """Digests whose stored vector will be reused: touched files' own, and those of vanished files (renames)."""
    return frozenset(by_digest) | {str(w.old["hash"]) for w in todo if w.old is not None and w.old.get("hash")}


def _same_file(meta: dict[str, Any], st: os.stat_result) -> bool:
    return int(meta.get("size", -1)) == st.st_size and int(meta.get("mtime_ns", -1)) == st.st_mtime_ns


def _captions_hash(captions: list[str]) -> str:
    return hashlib.blake2b("\n".join(captions).encode(), digest_size=8).hexdigest()


def _ancestors(path: Path) -> list[str]:
    """Every folder above the file, so a filter on any folder also matches its subfolders."""
    return [str(p) for p in path.parents]


def _stored_image(meta: dict[str, Any]) -> LoadedImage:
    from PIL import Image

    return LoadedImage(
        image=Image.new("RGB", (1, 1)),
        width=int(meta.get("width", 0)),
        height=int(meta.get("height", 0)),
        format=str(meta.get("format", "")),
        taken=meta.get("taken"),
    )
