"""The Python API in one object: open an index, ingest folders, search it.

    from multimodal.index import Index
    index = Index.open(index_dir="~/my-index", pretrained="none")
    report = index.ingest("~/Pictures")
    hits = index.search("a dog on a beach", k=5)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from multimodal.batch_encode import ProgressFn
from multimodal.config import DEFAULT_MODEL, DEFAULT_PRETRAINED, Settings
from multimodal.encoder import Encoder, load_encoder
from multimodal.errors import ModelMismatchError, NotFoundError
from multimodal.ingest import IngestReport, Loader, Shard, ingest_folder
from multimodal.model_spec import ModelSpec, is_schema
from multimodal.search import ImageLike, Searcher, Term
from multimodal.store import Hit, IndexInfo, Store
from multimodal.text_tower import QueryEncoder, load_tower


def resolve_model(settings: Settings, stored: ModelSpec | None) -> ModelSpec:
    """The model to use: the index's own, unless flags ask for another (then it is an error)."""
    if stored is None:
        return ModelSpec.parse(settings.model or DEFAULT_MODEL,
                               settings.pretrained if settings.pretrained is not None else DEFAULT_PRETRAINED)
    asked_model = ModelSpec.parse(settings.model, stored.pretrained).model if settings.model else stored.model
    asked = ModelSpec.parse(asked_model, settings.pretrained if settings.pretrained is not None else stored.pretrained)
    if is_schema(asked_model):
        asked = ModelSpec(asked_model, "")
    if asked != stored:
        raise ModelMismatchError(
            f"the index was built with {stored.label()}, not {asked.label()}; leave out --model/--pretrained "
            "to use the index's model, or use another --index / --collection for the new model"
        )
    return stored


class Index:
    """An index (Chroma collection) plus the model that fills and queries it, loaded on first use."""

    def __init__(self, settings: Settings, store: Store, encoder: Encoder | None = None) -> None:
        self.settings = settings
        self.store = store
        self._encoder = encoder
        self._searcher: Searcher | None = None

    @classmethod
    def open(cls, settings: Settings | None = None, *, encoder: Encoder | None = None, **flags: Any) -> Index:
        """Open (or prepare to create) the index described by `settings` or by keyword flags."""
        settings = settings or Settings.resolve(**flags)
        return cls(settings, Store.open(settings), encoder)

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            spec = resolve_model(self.settings, self.store.model_spec())
            encoder = load_encoder(spec.model, spec.pretrained or None, self.settings.device,
                                   precision=self.settings.precision)
            stored_dim = self.store.dim()
            if stored_dim is not None and encoder.dim != stored_dim:
                raise ModelMismatchError(
                    f"{spec.label()} now makes {encoder.dim}-d vectors but the index at {self.store.location} holds "
                    f"{stored_dim}-d ones (the model's files changed since the index was built); ingest into a new "
                    "--index or --collection"
                )
            self._encoder = encoder
        return self._encoder

    @property
    def searcher(self) -> Searcher:
        if self._searcher is None:
            self._searcher = Searcher(self.store, self._query_encoder(), self.settings)
        return self._searcher

    def _query_encoder(self) -> Encoder:
        """The loaded model; before it is loaded, the model's exported text tower (text queries in ONNX Runtime,
        no torch) when there is one, which loads the model only for an image term; else the model."""
        stored = self.store.model_spec() if self._encoder is None else None
        if stored is not None:
            spec = resolve_model(self.settings, stored)
            tower = load_tower(spec)
            if tower is not None and tower.dim == self.store.dim():
                return QueryEncoder(spec, tower, lambda: self.encoder)
        return self.encoder

    def export_text_tower(self, on_start: Callable[[], None] | None = None) -> Path | None:
        """Export the loaded model's text tower for fast text queries (see multimodal.text_tower); its folder,
        or None when there is nothing to do (no model loaded, ONNX missing, a tokenizer it cannot run)."""
        from multimodal.encoder import ClipEncoder
        from multimodal.text_tower import available, export_text_tower

        if not isinstance(self._encoder, ClipEncoder) or not available():
            return None
        return export_text_tower(self._encoder, on_start=on_start)

    def ingest(self, folder: str | Path, *, shard: Shard | None = None,
               progress: ProgressFn | None = None, loader: Loader | None = None) -> IngestReport:
        """Bring the index up to date with `folder` (see `multimodal.ingest.ingest_folder`)."""
        if not Path(folder).expanduser().exists():  # say so before spending seconds loading a model
            raise NotFoundError(f"{Path(folder).expanduser()} does not exist")
        return ingest_folder(folder, self.store, self.encoder, self.settings, shard=shard, progress=progress,
                             loader=loader)

    def search(self, text: str | None = None, image: ImageLike | None = None, *, negative: str | None = None,
               k: int = 10, **options: Any) -> list[Hit]:
        """Search by text, by image, or both (summed), optionally pushing away from `negative` text."""
        terms = ([Term("text", text)] if text else []) + ([Term("image", image)] if image is not None else [])
        if negative:
            terms.append(Term("text", negative, -1.0))
        self.store.require_ingested()
        return self.searcher.search(terms, k, **options)

    def info(self) -> IndexInfo:
        return self.store.info()


def open_index(**flags: Any) -> Index:
    """Shortcut for `Index.open(**flags)`; flags are the `Settings` fields (index_dir, model, ...)."""
    return Index.open(**flags)
