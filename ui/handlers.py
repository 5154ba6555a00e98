"""Event handlers: widget values in, widget values out. Each is a few lines over `SearchService`.

Errors the library raises on purpose (`MultimodalError`) reach the person as one toast with their own message,
and the page keeps what it showed; anything else is logged (with its traceback) and shown as a short, generic
message. API endpoints raise `gr.Error` instead, so `gradio_client` callers get an exception.
"""

from __future__ import annotations

import functools
import html
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import gradio as gr

from multimodal.errors import EmptyIndexError, ImageLoadError, MultimodalError
from multimodal.query_terms import parse_terms, require_positive
from multimodal.search import Term
from multimodal.store import Hit
from ui import views
from ui.compose import FilterFields
from ui.service import NEAREST_CAPTIONS, Options, SearchService, ordered

_log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
WELCOME = ("### Find anything in your pictures\nDescribe it in words, drop in a similar image, or mix both "
           "in **Compose**. Click a result to see it larger and find more like it.")
ALL_FOLDERS = "All folders"
REFERENCE_THUMBS = 4  # liked images shown above a recommendation
NO_SELECTION = "_Click a result to see it here, find more like it, or like / dislike it._"


def user_message(e: Exception, where: str) -> tuple[str, str]:
    """(title, message) for an exception: the library's own message for its errors, a generic line for bugs.

    A person's mistake is logged as one line; a bug with its traceback, once.
    """
    if isinstance(e, ImageLoadError):
        title, message = "Image refused", f"Cannot use {e.path}: {e.reason}"
    elif isinstance(e, gr.Error):
        title, message = e.title or "Error", str(e.message)
    elif isinstance(e, MultimodalError):
        title, message = "Cannot do that", str(e)
    else:
        _log.exception("unexpected error in %s", where)
        return "Error", f"Something went wrong ({type(e).__name__}); the server log has details."
    _log.warning("%s: %s", where, message)
    return title, message


def friendly_errors(fn: F) -> F:
    """For API endpoints: turn exceptions into `gr.Error` (no traceback printed) with a message to act on."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            title, message = user_message(e, fn.__name__)
            raise gr.Error(message, title=title, print_exception=False) from None

    return wrapper  # type: ignore[return-value]


def toast_errors(fn: F) -> F:
    """For page events: show the error in one toast and leave every output as it was (no "Error" pills,
    the previous results stay)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            title, message = user_message(e, fn.__name__)
            gr.Warning(html.escape(message), title=title)
            return gr.skip()

    return wrapper  # type: ignore[return-value]


def _folder(choice: str | None) -> str | None:
    return None if choice == ALL_FOLDERS else choice


def options(k: float, target: str, threshold: float, folder: str | None, fmt: str | None,
            date_from: Any, date_to: Any, order: str = "relevance") -> Options:
    """The sidebar's and filter row's widgets → search options (threshold 0 means no threshold)."""
    filters = FilterFields(_folder(folder), fmt, date_from, date_to).to_filters()
    return Options(k=int(k), target=target, threshold=float(threshold) or None, filters=filters,  # type: ignore[arg-type]
                   order=order)  # type: ignore[arg-type]


class Handlers:
    """Bound to one service; app.py wires these methods to events."""

    def __init__(self, service: SearchService) -> None:
        self.service = service

    # -- results -------------------------------------------------------------------------------
    def _results(self, what: str, run: Callable[[], list[Hit]], reference: str = "") -> tuple[Any, ...]:
        """(gallery, hits, status, captions, selected, preview, details, *4 button states, sort switch, next
        page button) after a search; the selection is cleared, and `reference` (HTML) says what the results
        are relative to."""
        started = time.perf_counter()
        try:
            hits = run()
        except EmptyIndexError:
            return self._empty()
        thumbs = self.service.grid_thumbnails(hits)
        message = reference + views.status(what, hits, time.perf_counter() - started)
        shown = gr.update(value=views.gallery(hits, thumbs), visible=bool(hits), selected_index=None)
        return (shown, hits, message, "", *self._selection(None), gr.update(visible=bool(hits)),
                gr.update(visible=False))

    def _empty(self) -> tuple[Any, ...]:
        empty = gr.update(value=[], visible=False)
        hidden = gr.update(visible=False)
        return (empty, [], views.empty_index(self.service.index.store.location), "", *self._selection(None),
                hidden, hidden)

    @toast_errors
    def resort(self, hits: list[Hit], order: str) -> tuple[Any, ...]:
        """The shown results in the other order (relevance or date); nothing is searched again."""
        if not hits or any(views.unscored(h) for h in hits):
            return gr.skip()  # the library is always newest first
        hits = ordered(hits, order)
        shown = gr.update(value=views.gallery(hits, self.service.grid_thumbnails(hits)), selected_index=None)
        return (shown, hits, *self._selection(None))

    # -- browsing ------------------------------------------------------------------------------
    @toast_errors
    def browse(self, folder: str | None, date_from: Any, date_to: Any) -> tuple[Any, ...]:
        """The library's first page under the folder and date filters (the landing page)."""
        return self._browse([], folder, date_from, date_to)

    @staticmethod
    def show_landing(landing: tuple[Any, ...] | None, searched: bool) -> tuple[Any, ...]:
        """The landing page's library (what `browse` made), unless a search started meanwhile: its results stay."""
        return gr.skip() if landing is None or searched else landing

    @toast_errors
    def browse_more(self, shown: list[Hit], folder: str | None, date_from: Any, date_to: Any) -> tuple[Any, ...]:
        """The next page of the library, added below the images shown."""
        return self._browse(list(shown or []), folder, date_from, date_to)

    @toast_errors
    def refilter(self, shown: list[Hit], folder: str | None, date_from: Any, date_to: Any) -> tuple[Any, ...]:
        """A filter changed: the library view follows it; search results wait for the next search."""
        if shown and not all(views.unscored(h) for h in shown):
            return gr.skip()
        return self._browse([], folder, date_from, date_to)

    def _browse(self, shown: list[Hit], folder: str | None, date_from: Any, date_to: Any) -> tuple[Any, ...]:
        filters = FilterFields(_folder(folder), None, date_from, date_to).to_filters()
        page, total = self.service.browse(filters, offset=len(shown))
        if not total and not filters.clauses() and not self.service.info().images:
            return self._empty()
        hits = shown + page
        thumbs = self.service.grid_thumbnails(hits)
        shown_update = gr.update(value=views.gallery(hits, thumbs), visible=bool(hits), selected_index=None)
        more = gr.update(visible=len(hits) < total, value=f"Show more ({total - len(hits):,} left)")
        return (shown_update, hits, views.library_status(len(hits), total, filters), "", *self._selection(None),
                gr.update(visible=False), more)

    def _selection(self, hit: Hit | None) -> tuple[Any, ...]:
        enabled = gr.update(interactive=hit is not None)
        if hit is None:
            return (None, None, NO_SELECTION, enabled, enabled, enabled, enabled)
        details = views.hit_details(hit)
        nearest = self.service.nearest_captions(hit.path, 3) if hit.kind != "caption" else []
        if nearest:
            details += "\n\n**Closest captions**\n\n" + views.captions(nearest)
        return (hit, str(self.service.preview(hit)), details, enabled, enabled, enabled, enabled)

    @toast_errors
    def search_text(self, text: str, *opts: Any) -> tuple[Any, ...]:
        return self._results(f"“{views.md(text.strip())}”", lambda: self.service.search_text(text, options(*opts)))

    @toast_errors
    def search_image(self, upload: str | None, path: str | None, *opts: Any) -> tuple[Any, ...]:
        image = self.service.query_image(upload, path)
        vector = self.service.image_vector(image)  # encoded once, for the images and for the nearest captions
        out = list(self._results("your image", lambda: self.service.search_vector(vector, options(*opts))))
        if out[1]:  # results, so the index is not empty: also say which captions describe the image best
            nearest = self.service.search_vector(vector, Options(k=NEAREST_CAPTIONS, target="captions"))
            out[3] = "**Captions nearest to your image**\n\n" + views.captions(nearest)
        return tuple(out)

    @toast_errors
    def search_composed(self, lines: str, upload: str | None, weight: float, *opts: Any) -> tuple[Any, ...]:
        terms = parse_terms(lines or "")
        self.service.check_terms(terms)
        if upload:
            terms.append(Term("image", self.service.query_image(upload, None), float(weight)))
        require_positive(terms)
        return self._results("your composed query", lambda: self.service.search(terms, options(*opts)))

    @toast_errors
    def more_like_this(self, selected: Hit | None, *opts: Any) -> tuple[Any, ...]:
        if selected is None:
            raise gr.Error("Click a result first.")
        name = views.md(selected.path.rsplit("/", 1)[-1])
        reference = views.reference(self.service.reference_thumbnails([selected.image_id]))
        return self._results(f"images like **{name}**",
                             lambda: self.service.more_like_this(selected.image_id, options(*opts)), reference)

    @toast_errors
    def recommend(self, liked: list[dict[str, str]], disliked: list[dict[str, str]], *opts: Any) -> tuple[Any, ...]:
        if not liked:
            raise gr.Error("Like at least one result first (click it, then Like).")
        ids, bad = [x["id"] for x in liked], [x["id"] for x in disliked]
        shown = self.service.reference_thumbnails(ids[:REFERENCE_THUMBS])
        reference = views.reference(shown, more=max(0, len(ids) - len(shown)))
        return self._results("your likes", lambda: self.service.recommend(ids, bad, options(*opts)), reference)

    # -- selection and feedback ----------------------------------------------------------------
    @toast_errors
    def select(self, hits: Sequence[Hit], evt: gr.SelectData) -> tuple[Any, ...]:
        index = evt.index if isinstance(evt.index, int) else evt.index[0]
        hit = hits[index] if hits and 0 <= index < len(hits) else None
        return self._selection(hit)

    @toast_errors
    def close(self) -> tuple[Any, ...]:
        """Close the preview (Esc): nothing selected."""
        return self._selection(None)

    @toast_errors
    def like(self, selected: Hit | None, liked: list[dict[str, str]], disliked: list[dict[str, str]],
             positive: bool = True) -> tuple[Any, ...]:
        if selected is None:
            raise gr.Error("Click a result first.")
        entry = {"id": selected.image_id, "name": selected.path.rsplit("/", 1)[-1]}
        keep, drop = (liked, disliked) if positive else (disliked, liked)
        drop = [x for x in drop if x["id"] != entry["id"]]
        keep = [x for x in keep if x["id"] != entry["id"]] + [entry]
        liked, disliked = (keep, drop) if positive else (drop, keep)
        return liked, disliked, self.feedback(liked, disliked)

    def dislike(self, selected: Hit | None, liked: list[dict[str, str]],
                disliked: list[dict[str, str]]) -> tuple[Any, ...]:
        return self.like(selected, liked, disliked, positive=False)

    def feedback(self, liked: list[dict[str, str]], disliked: list[dict[str, str]]) -> str:
        """The likes panel, with thumbnails (also at page load: likes are kept in the browser); names only when
        the index cannot be read (the page's own load says why, in a toast)."""
        try:
            thumbs = self.service.thumbnails_by_id([x["id"] for x in [*liked, *disliked]])
        except MultimodalError as e:
            _log.warning("likes shown without thumbnails: %s", e)
            thumbs = {}
        return views.feedback(liked, disliked, thumbs)

    def clear_feedback(self) -> tuple[Any, ...]:
        return [], [], views.feedback([], [])

    # -- index panel ---------------------------------------------------------------------------
    @toast_errors
    def index_state(self, refresh: bool = True) -> tuple[str, str]:
        """(header summary, index details): the Refresh button."""
        return self._index_state(refresh)

    def _index_state(self, refresh: bool) -> tuple[str, str]:
        """(header summary, index details) — also what the page shows when it loads."""
        info = self.service.info(refresh=refresh)
        roots = self.service.roots() if info.images else []
        return views.index_summary(info), views.index_details(info, roots)

    @toast_errors
    def ingest(self, folder: str, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        progress(0, desc="Loading the model…")

        def report(done: int, total: int) -> None:
            progress((done, total), desc="Reading and encoding images", unit="images")

        rep = self.service.ingest(folder, report)
        rows = views.failures(rep)
        summary, details = self._index_state(refresh=False)
        return views.report(rep), gr.update(value=rows, visible=bool(rows)), summary, details

    @toast_errors
    def page_load(self) -> tuple[Any, ...]:
        """Header, index panel and the library filter's folders (the library itself: `browse`)."""
        summary, details = self._index_state(refresh=False)
        folders = self.service.folders() if self.service.info().images else []
        return summary, details, gr.update(choices=[ALL_FOLDERS, *folders])
