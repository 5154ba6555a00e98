"""The UI's one door into the library: an `Index`, its thumbnails, and the exposure rules.

Handlers turn widget values into calls here and results into widgets; everything that decides what a
query means lives in `multimodal.search`. The model loads once, under a lock, in the background at
start-up, so the first query does not pay for it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from multimodal.browse import Listing, by_relevance, list_images, newest_first
from multimodal.browse import page as listing_page
from multimodal.duplicate_moves import FileDetails, file_details
from multimodal.duplicates import DuplicateReport, find_duplicates
from multimodal.errors import ConfigError, MultimodalError, NotFoundError
from multimodal.evaluate import AnnScores, ann_recall
from multimodal.index import Index
from multimodal.ingest import IngestReport
from multimodal.map_page import render_page
from multimodal.model_scores import ModelScores, read_scores
from multimodal.model_spec import folder_of
from multimodal.probe import ProbeResult, parse_attribute, parse_targets, run_probe
from multimodal.search import Filters, ImageLike, Searcher, Target, Term
from multimodal.space_map import build_map
from multimodal.space_map import thumbnails as space_thumbnails
from multimodal.store import Hit, IndexInfo
from multimodal.tagging import TagReport, known_tags, parse_labels, tag_images
from ui.safety import DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_MAX_UPLOAD_PIXELS, Exposure, indexed_roots, load_upload
from ui.thumbnails import GRID_SIZE, PREVIEW_SIZE, Source, Thumbnails

_log = logging.getLogger(__name__)


NEAREST_CAPTIONS = 5  # captions shown beside an image search
PAGE_SIZE = 48  # images per page when browsing the library
INLINE_MAX_TILES = 48  # grids up to this long carry their thumbnails inside the answer
Order = Literal["relevance", "date"]


@dataclass(frozen=True)
class Options:
    """How to search: the sidebar's k, target, threshold and filters."""

    k: int = 24
    target: Target = "images"
    threshold: float | None = None
    filters: Filters = field(default_factory=Filters)
    order: Order = "relevance"  # or "date": the same results, newest first

    def kwargs(self) -> dict[str, Any]:
        return {"target": self.target, "threshold": self.threshold, "filters": self.filters}


@dataclass(frozen=True)
class Storage:
    """The Storage tab's facts: the stored form of the vectors and the model's recorded scores."""

    codec: str
    stored: int | None  # numbers kept per vector
    dim: int | None  # numbers the model makes
    model: str | None
    scores: ModelScores | None  # None unless the model is a folder (local-dir:)


@dataclass(frozen=True)
class Limits:
    """Upload caps: bytes (enforced by Gradio's upload route) and pixels (checked before decoding)."""

    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    max_upload_pixels: int = DEFAULT_MAX_UPLOAD_PIXELS


class SearchService:
    """Thin, thread-safe adaptor from UI events to `Index` / `Searcher` calls."""

    def __init__(self, index: Index, thumbnails: Thumbnails | None = None, *, exposure: Exposure | None = None,
                 limits: Limits | None = None) -> None:
        self.index = index
        self.thumbnails = thumbnails or Thumbnails(max_pixels=index.settings.max_pixels)
        self.exposure = exposure or Exposure()
        self.limits = limits or Limits()
        self._model_lock = threading.Lock()  # Index loads its model lazily; load it once, not per thread
        self._info: IndexInfo | None = None
        self._roots: list[Path] | None = None
        self._info_lock = threading.Lock()
        self.page_size = PAGE_SIZE
        self._listing: Listing | None = None  # the last browsed listing (filters and order of ids)
        self.on_new_root: Callable[[Path], None] | None = None  # set by launch(): serve a newly ingested folder

    # -- model ---------------------------------------------------------------------------------
    @property
    def searcher(self) -> Searcher:
        with self._model_lock:
            return self.index.searcher

    def warm_up(self) -> None:
        """Load the index's model now (in a background thread) so the first query is quick."""
        if self.index.store.model_spec() is None:
            return  # empty index: the model is chosen at the first ingest
        try:
            self.searcher  # noqa: B018 - loads the model
        except MultimodalError as e:  # shown to the user at their first query instead
            _log.warning("model not loaded at start-up: %s", e)

    # -- searching -----------------------------------------------------------------------------
    def search(self, terms: Sequence[Term], options: Options) -> list[Hit]:
        self.index.store.require_ingested()  # an empty index raises EmptyIndexError before a model loads
        return ordered(self.searcher.search(terms, options.k, **options.kwargs()), options.order)

    def search_text(self, text: str, options: Options) -> list[Hit]:
        if not text or not text.strip():
            raise ConfigError("type something to search for")
        return self.search([Term("text", text.strip())], options)

    def search_image(self, image: ImageLike, options: Options) -> list[Hit]:
        return self.search([Term("image", image)], options)

    def image_vector(self, image: ImageLike) -> np.ndarray:
        """The query vector of `image`, to search with more than once without encoding it again."""
        self.index.store.require_ingested()
        return self.searcher.image_vector(image)

    def search_vector(self, vector: np.ndarray, options: Options) -> list[Hit]:
        return ordered(self.searcher.search_vector(vector, options.k, **options.kwargs()), options.order)

    def more_like_this(self, record_id: str, options: Options) -> list[Hit]:
        self.index.store.require_ingested()
        return ordered(self.searcher.more_like_this(record_id, options.k, **options.kwargs()), options.order)

    def recommend(self, liked: Sequence[str], disliked: Sequence[str], options: Options) -> list[Hit]:
        self.index.store.require_ingested()
        hits = self.searcher.recommend(list(liked), list(disliked), options.k, **options.kwargs())
        return ordered(hits, options.order)

    def nearest_captions(self, image: ImageLike, k: int = NEAREST_CAPTIONS) -> list[Hit]:
        """Captions nearest to `image`; empty when the index holds no captions."""
        self.index.store.require_ingested()
        return self.searcher.nearest_captions(image, k)

    # -- browsing ------------------------------------------------------------------------------
    def browse(self, filters: Filters, offset: int = 0, limit: int | None = None) -> tuple[list[Hit], int]:
        """(images `offset`.. of the library under `filters`, newest first; how many there are in all).
        The listing is kept for the next page; a new offset 0 lists again (the index may have changed)."""
        with self._info_lock:
            listing = self._listing
        if offset == 0 or listing is None or listing.filters != filters:
            listing = list_images(self.index.store, filters)
            with self._info_lock:
                self._listing = listing
        return listing_page(self.index.store, listing, offset, limit or self.page_size), len(listing)

    def folders(self) -> list[str]:
        """Every folder holding indexed images (for the library's folder filter)."""
        return list(list_images(self.index.store).folders)

    # -- query images --------------------------------------------------------------------------
    def query_image(self, upload: str | None, server_path: str | None) -> ImageLike:
        """The image to search with: an upload (checked against the pixel cap) or a path on this machine."""
        if upload:
            return load_upload(upload, max_pixels=self.limits.max_upload_pixels)
        if server_path and server_path.strip():
            self.require_trusted("searching by a path on the server")
            return str(Path(server_path.strip()).expanduser())
        raise ConfigError("upload or paste an image first (or type the path of one on this machine)")

    def check_terms(self, terms: Sequence[Term]) -> None:
        """Image terms are paths on the server: only the operator may use them."""
        if any(t.kind == "image" and not isinstance(t.value, Image.Image) for t in terms):
            self.require_trusted("image paths in a composed query")

    def require_trusted(self, what: str) -> None:
        if not self.exposure.trusted:
            raise ConfigError(f"{what} is turned off: this UI is public without a password (--insecure-public)")

    # -- index panel ---------------------------------------------------------------------------
    def info(self, *, refresh: bool = False) -> IndexInfo:
        """Counts, model, location, last ingest; cached, because counting pages through the whole index."""
        with self._info_lock:
            if refresh or self._info is None:
                self._info = self.index.info()
                self._roots = None
            return self._info

    def roots(self, *, refresh: bool = False) -> list[Path]:
        """The ingested folders; cached like `info()` (finding them reads every image's metadata)."""
        with self._info_lock:
            if refresh or self._roots is None:
                self._roots = indexed_roots(self.index.store)
            return self._roots

    def ingest(self, folder: str, progress: Callable[[int, int], None] | None = None) -> IngestReport:
        self.require_trusted("adding folders from the browser")
        if not folder or not folder.strip():
            raise ConfigError("type the path of a folder on this machine")
        path = Path(folder.strip()).expanduser().absolute()
        if not path.exists():  # say so before spending seconds loading a model
            raise NotFoundError(f"{path} does not exist")
        with self._model_lock:
            self.index.encoder  # noqa: B018 - load under the lock; the ingest itself runs beside searches
        report = self.index.ingest(path, progress=progress)
        self.info(refresh=True)
        if self.on_new_root is not None:
            self.on_new_root(path if path.is_dir() else path.parent)
        return report

    # -- toolkit tabs --------------------------------------------------------------------------
    def duplicates(self, threshold: float | None, folder: str = "") -> tuple[DuplicateReport, dict[str, FileDetails]]:
        """Near-duplicate and identical groups (under `folder`, if given) and the stored details of their files."""
        clauses = Filters(folder=folder.strip() or None).clauses()
        report = find_duplicates(self.index.store, threshold, where=clauses[0] if clauses else None)
        if clauses and not report.images:
            raise NotFoundError(f"no indexed images under {folder.strip()}")
        return report, file_details(self.index.store, report.near + report.exact)

    def known_tags(self) -> list[str]:
        return known_tags(self.index.store)

    def tag(self, labels: str, templates: Sequence[str], top: int, min_score: float) -> TagReport:
        self.require_trusted("tagging (it writes to the index)")
        return tag_images(self.index.store, self.searcher.encoder, parse_labels(labels), templates=templates,
                          top=top, min_score=min_score)

    def space_map(self, queries: Sequence[str], sample: int, colour_by: str, with_thumbnails: bool,
                  draw: str = "points") -> str:
        """The map of the embedding space as a standalone HTML page, `queries` placed on it, drawn as points or
        as thumbnails (an image atlas, which needs the thumbnails)."""
        with_thumbnails = with_thumbnails or draw == "thumbnails"
        space = build_map(self.index.store, sample=sample)
        for text in queries:
            space.place(text, self.searcher.text_vector(text))
        thumbs = space_thumbnails([p.path for p in space.points], max_pixels=self.index.settings.max_pixels) \
            if with_thumbnails else {}
        return render_page(space, colour_by=colour_by, thumbnails=thumbs, draw=draw)

    def probe(self, targets: str, first: str, second: str, template: str, permutations: int) -> ProbeResult:
        parsed = parse_targets(targets)
        if any(t.kind == "folder" for t in parsed):
            self.require_trusted("naming folders on the server (use tags: tag:LABEL)")
        return run_probe(self.index.store, self.searcher.encoder, parsed,
                         (parse_attribute(first), parse_attribute(second)), template=template,
                         permutations=permutations)

    def storage(self) -> Storage:
        """How vectors are stored and what is known about the model's quality (its folder's records)."""
        store = self.index.store
        store.require_ingested()
        codec, dim, spec = store.codec, store.dim(), store.model_spec()
        folder = folder_of(spec.model) if spec else None
        stored = codec.basis.shape[0] if codec.basis is not None else dim
        return Storage(codec.name, stored, dim, spec.model if spec else None,
                       read_scores(folder) if folder else None)

    def search_recall(self) -> AnnScores:
        """The approximate search's measured recall against exact search over the stored vectors."""
        return ann_recall(self.index.store)

    # -- thumbnails ----------------------------------------------------------------------------
    def grid_thumbnails(self, hits: Sequence[Hit]) -> list[Path]:
        """The results grid's tiles: for up to `INLINE_MAX_TILES` results, thumbnails wrapped to travel inside the
        answer (`Thumbnails.tile`); a longer grid (the library after *Show more* resends every tile shown) goes by
        URL, which the browser caches."""
        sources = [_source(h) for h in hits]
        return self.thumbnails.tiles(sources) if len(sources) <= INLINE_MAX_TILES else self.thumbnails.many(sources)

    def reference_thumbnails(self, ids: Sequence[str]) -> list[tuple[str, Path]]:
        """(file name, grid thumbnail) of indexed images by id: what a result list is relative to."""
        records = [r for r in self.index.store.get(list(ids)) if r.metadata.get("path")]
        sources = [Source(str(r.metadata["path"]), str(r.metadata.get("hash") or "") or None) for r in records]
        thumbs = self.thumbnails.many(sources, GRID_SIZE)
        return [(Path(src.path).name, thumb) for src, thumb in zip(sources, thumbs, strict=True)]

    def thumbnails_by_id(self, ids: Sequence[str]) -> dict[str, Path]:
        """Grid thumbnails of indexed images by id (ids no longer indexed are left out): liked images."""
        records = [r for r in self.index.store.get(list(ids)) if r.metadata.get("path")]
        sources = [Source(str(r.metadata["path"]), str(r.metadata.get("hash") or "") or None) for r in records]
        return {r.id: thumb for r, thumb in zip(records, self.thumbnails.many(sources, GRID_SIZE), strict=True)}

    def preview(self, hit: Hit) -> Path:
        return self.thumbnails.get(_source(hit), PREVIEW_SIZE)


def ordered(hits: list[Hit], order: str) -> list[Hit]:
    """Results by relevance (as the search ranked them) or by date, newest first."""
    if order == "date":
        return newest_first(hits)
    if order == "relevance":
        return by_relevance(hits)
    raise ConfigError(f"sort by relevance or date, not {order!r}")


def _source(hit: Hit) -> Source:
    digest = hit.metadata.get("hash")
    return Source(hit.path, str(digest) if digest else None)
