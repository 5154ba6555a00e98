"""The Gradio app: layout and wiring. What each event does lives in `ui.handlers` (and below it the library).

    from multimodal import open_index
    from ui import build_app
    build_app(open_index(index_dir="my-index")).launch()   # or ui.launch(index): safe defaults, see launcher.py
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import gradio as gr

from multimodal.index import Index
from ui import api
from ui.compose import FORMATS
from ui.examples import example_queries, placeholder
from ui.handlers import ALL_FOLDERS, NO_SELECTION, WELCOME, Handlers
from ui.safety import Exposure
from ui.service import Limits, SearchService
from ui.thumbnails import Thumbnails
from ui.toolkit_tabs import add_toolkit_tabs
from ui.uploads import upload_image
from ui.views import feedback

TITLE = "multimodal"
THEME = gr.themes.Soft(primary_hue="indigo", secondary_hue="sky", neutral_hue="slate", radius_size="lg")
CSS = """
.gradio-container { max-width: 1480px !important; width: 100% !important; margin: 0 auto !important; }
#mm-header { padding: 6px 2px 2px; }
#mm-header h1 { font-size: 1.7rem; font-weight: 700; margin: 0; letter-spacing: -0.01em; }
#mm-header h1 .mm-accent { color: var(--color-accent); }
#mm-header p { margin: 2px 0 0; color: var(--body-text-color-subdued); }
#mm-summary { text-align: right; color: var(--body-text-color-subdued); align-self: end; }
#mm-summary .mm-badge { display: inline-block; margin-top: 4px; padding: 2px 10px; border-radius: 999px;
  font-size: 0.8rem; font-weight: 600; }
#mm-summary .mm-badge-random { background: #fde2e1; color: #9b1c1c; }
#mm-summary .mm-badge-note { background: #fef3c7; color: #92400e; }
#mm-status { min-height: 1.6em; }
#mm-status h3 { margin-top: 18px; }
#mm-index dl { display: grid; grid-template-columns: max-content 1fr; gap: 8px 18px; margin: 4px 0 12px; }
#mm-index dt { color: var(--body-text-color-subdued); }
#mm-index dd { margin: 0; word-break: break-all; }
/* a tile's label: score · file name, then up to two lines of caption; all of it on hover */
#mm-results .caption-label { font-size: 0.76rem !important; line-height: 1.3; text-align: left;
  white-space: pre-line !important; display: -webkit-box !important; -webkit-box-orient: vertical;
  -webkit-line-clamp: 3; overflow: hidden; left: 6px; right: 6px; bottom: 6px; max-width: none !important;
  padding-top: 3px !important; padding-bottom: 3px !important; max-height: calc(3.9em + 6px); }
#mm-results .thumbnail-item:hover .caption-label, #mm-results .thumbnail-item:focus .caption-label {
  -webkit-line-clamp: unset; max-height: none; }
#mm-results .thumbnail-item.selected .caption-label { color: var(--body-text-color) !important; opacity: 1; }
#mm-ref, .mm-ref { display: flex; align-items: center; gap: 6px; flex-wrap: wrap; margin: 2px 0 6px; }
.mm-ref img { width: 44px; height: 44px; object-fit: cover; border-radius: 6px; margin: 0 !important; }
.mm-ref span { margin-left: 4px; font-weight: 600; }
#mm-feedback .mm-mark { display: inline-block; margin: 2px 8px 2px 0; font-size: 0.85rem; }
#mm-feedback .mm-mark img { width: 40px; height: 40px; object-fit: cover; border-radius: 6px;
  margin: 0 4px 0 0 !important; display: inline-block; vertical-align: middle; }
#mm-search-row:not(:has(#mm-preview img)) #mm-results .thumbnail-item.selected {
  box-shadow: 0 0 0 1px transparent inset, var(--shadow-drop); border-color: var(--border-color-primary); }
#mm-preview img { width: 100% !important; height: 100% !important; object-fit: contain; }
#mm-examples button { font-size: 0.85rem; }
#mm-filters { align-items: flex-end; }
#mm-library { align-self: flex-end; flex-grow: 0 !important; height: 42px; margin-bottom: 10px; }
#mm-detail-text code { word-break: break-all; }
#mm-search-row:not(:has(#mm-preview img)) #mm-copy { display: none; }
footer { opacity: 0.6; }
@media (max-width: 640px) {  /* a phone: panels stack (Gradio wraps the columns), results in two columns */
  #mm-results .grid-container { grid-template-columns: repeat(2, minmax(0, 1fr)) !important; }
  #mm-results .grid-wrap { max-height: none !important; min-height: 0 !important; }  /* the page scrolls */
  #mm-header h1 { font-size: 1.4rem; }
  #mm-title-row { flex-direction: column; gap: 4px; }
  #mm-summary { text-align: left; align-self: start; }
  #mm-summary .mm-badge { border-radius: 10px; }
  #mm-preview:not(:has(img)), #mm-keys { display: none; }
  .gradio-container { padding: 0 8px !important; }
}
"""
KEYS_JS = """
() => {
  // Keyboard on the Search tab: left/right move through the results shown in the preview, Enter runs
  // More like this, Esc closes the preview. Keys typed into a field are left alone.
  document.addEventListener('keydown', (e) => {
    if (e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
    const t = e.target;
    if (t && t.closest && t.closest('input, textarea, select, [contenteditable="true"]')) return;
    const shown = document.querySelector('#mm-preview img');
    if (!shown || shown.offsetParent === null) return;  // nothing selected, or another tab
    if (t && t !== document.body && t.closest && !t.closest('#mm-results, #mm-preview, #mm-detail-text, #mm-more'))
      return;  // focus is on some other control: its own keys apply
    const tiles = Array.from(document.querySelectorAll('#mm-results button.thumbnail-item'));
    const at = tiles.findIndex((b) => b.classList.contains('selected'));
    if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
      const next = tiles[at + (e.key === 'ArrowRight' ? 1 : -1)];
      e.preventDefault();
      if (at >= 0 && next) { next.click(); next.focus(); }
    } else if (e.key === 'Enter') {
      const more = document.querySelector('#mm-more');
      if (more && !more.disabled) { e.preventDefault(); e.stopPropagation(); more.click(); }
    } else if (e.key === 'Escape') {
      e.preventDefault();
      document.querySelector('#mm-close')?.click();
    }
  }, true);
}
"""
COPY_PATH_JS = """
() => {
  const code = document.querySelector('#mm-detail-text code');
  const button = document.querySelector('#mm-copy');
  if (!code || !button) return;
  const text = code.innerText, done = () => { button.innerText = 'Copied'; setTimeout(() => {
    button.innerText = 'Copy its path'; }, 1500); };
  if (navigator.clipboard && window.isSecureContext) { navigator.clipboard.writeText(text).then(done); return; }
  const area = document.createElement('textarea');  // plain http on a network: the old way
  area.value = text; document.body.appendChild(area); area.select(); document.execCommand('copy'); area.remove();
  done();
}
"""
COMPOSE_HELP = ("One term per line. A sign and weight go first: `-0.5 people` pushes away from “people” "
                "at half strength. Prefix `image:` for a file on this machine, `id:` for an indexed image.")


def build_app(index: Index, *, thumbnails: Thumbnails | None = None, exposure: Exposure | None = None,
              limits: Limits | None = None, examples: Sequence[str] | None = None) -> App:
    """Build the web UI over `index` (thin handlers over its `Searcher`; see `ui.launch` for safe serving).

    Args:
        index: the index to search (and to ingest into from the Index tab).
        thumbnails: the thumbnail cache (default: the per-user cache folder).
        exposure: host / auth of the server; server-path features are off when public without a password.
        limits: upload caps (bytes, pixels).
        examples: the "Try" chips and the placeholder (default: drawn from the index's tags or captions; the demo
            passes the queries it checks its model on).
    """
    service = SearchService(index, thumbnails, exposure=exposure, limits=limits)
    # Thumbnails are served from their folder as they are: without this Gradio hashes and copies every result's
    # thumbnail into its cache on each search (the folder is an allowed path already; nothing new is exposed).
    gr.set_static_paths([service.thumbnails.folder])
    handlers = Handlers(service)
    with App(service, title=f"{TITLE} · image search", analytics_enabled=False, fill_width=True,
             delete_cache=(3600, 24 * 3600)) as app:  # result thumbnails Gradio copied: gone after a day
        api.register(service)  # first, so the public endpoints get their plain names
        summary, details, likes, folder = _layout(app, handlers, service, examples)
        app.load(None, js=KEYS_JS)  # the keyboard: a script run once the page has loaded
        app.load(handlers.page_load, outputs=[summary, details, folder], api_visibility="private")
        app.load(handlers.feedback, likes[:2], likes[2], api_visibility="private")  # likes kept in the browser
    return app


class App(gr.Blocks):
    """The UI's Blocks. It knows its `service` (the launcher reads the served folders from it and warms its
    model), and launches with the UI's theme and CSS unless told otherwise: Gradio 6 takes those at launch()."""

    def __init__(self, service: SearchService, **blocks: Any) -> None:
        super().__init__(**blocks)
        self.service = service

    def launch(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("theme", THEME)
        kwargs.setdefault("css", CSS)
        return super().launch(*args, **kwargs)


def _layout(app: gr.Blocks, handlers: Handlers, service: SearchService,
            examples: Sequence[str] | None) -> tuple[Any, ...]:
    with gr.Row(equal_height=False, elem_id="mm-title-row"):
        gr.Markdown(f"# {TITLE}<span class='mm-accent'>.</span>\nSearch your images and captions by text, "
                    "by image, or both.", elem_id="mm-header")
        summary = gr.Markdown(elem_id="mm-summary")
    with gr.Tabs():
        with gr.Tab("Search", id="search"):
            likes, folder = _search_tab(app, handlers, service, examples)
        with gr.Tab("Index", id="index"):
            details = _index_tab(handlers, summary, service)
        add_toolkit_tabs(service)
    return summary, details, likes, folder


def _search_tab(app: gr.Blocks, handlers: Handlers, service: SearchService,
                examples: Sequence[str] | None) -> tuple[Any, ...]:
    hits = gr.State([])
    selected = gr.State(None)
    liked, disliked = _likes_storage(service)
    with gr.Row(equal_height=False, elem_id="mm-search-row"):
        with gr.Column(scale=3, min_width=300):
            query = _query_panel(service, examples)
            k, target, threshold, fmt = _options_panel()
            with gr.Column(variant="panel", elem_id="mm-feedback"):
                fb = gr.Markdown(feedback([], []))
                with gr.Row():
                    rec_btn = gr.Button("Recommend from likes", size="sm", variant="secondary", scale=3,
                                        min_width=80)
                    clear_btn = gr.Button("Clear", size="sm", scale=1, min_width=60)
        with gr.Column(scale=8, min_width=420):
            folder, date_from, date_to, sort, library_btn = _filter_row()
            status = gr.Markdown(WELCOME, elem_id="mm-status")
            gallery = gr.Gallery(label="Results", show_label=False, columns=4, height="auto", object_fit="cover",
                                 allow_preview=False, elem_id="mm-results", buttons=[], interactive=False,
                                 visible=False)
            more_pages = gr.Button("Show more", size="sm", visible=False, elem_id="mm-more-pages")
            captions = gr.Markdown(elem_id="mm-captions")
        with gr.Column(scale=3, min_width=280):
            preview = gr.Image(label="Selected", show_label=False, interactive=False, height=280,
                               buttons=["fullscreen"], elem_id="mm-preview")
            detail = gr.Markdown(NO_SELECTION, elem_id="mm-detail-text")
            more_btn = gr.Button("More like this", variant="primary", interactive=False, elem_id="mm-more")
            with gr.Row():
                like_btn = gr.Button("Like", size="sm", interactive=False, elem_id="mm-like", min_width=60)
                dislike_btn = gr.Button("Dislike", size="sm", interactive=False, elem_id="mm-dislike", min_width=60)
                close_btn = gr.Button("Close", size="sm", interactive=False, elem_id="mm-close", min_width=60)
            copy_btn = gr.Button("Copy its path", size="sm", elem_id="mm-copy")
            gr.Markdown("<small>Keys: ← → next result · Enter more like this · Esc close</small>",
                        elem_id="mm-keys")
    selection = [selected, preview, detail, more_btn, like_btn, dislike_btn, close_btn]
    results = [gallery, hits, status, captions, *selection, sort, more_pages]
    opts = [k, target, threshold, folder, fmt, date_from, date_to, sort]
    library = [folder, date_from, date_to]
    private: dict[str, Any] = {"api_visibility": "private"}
    text_box, text_btn, chips, upload, path, img_btn, lines, comp_upload, weight, comp_btn = query
    filters = [folder.input, date_from.change, date_to.change, date_from.submit, date_to.submit]
    _landing(app, handlers, library, results,  # anything that fills the results before the landing library does
             searches=[text_box.submit, text_btn.click, chips.click, img_btn.click, upload.upload, path.submit,
                       comp_btn.click, rec_btn.click, library_btn.click, *filters])
    for trigger in (text_box.submit, text_btn.click):
        trigger(handlers.search_text, [text_box, *opts], results, **private)
    chips.click(lambda sample: sample[0], chips, text_box, **private).then(
        handlers.search_text, [text_box, *opts], results, **private)
    for trigger in (img_btn.click, upload.upload, path.submit):
        trigger(handlers.search_image, [upload, path, *opts], results, **private)
    comp_btn.click(handlers.search_composed, [lines, comp_upload, weight, *opts], results, **private)
    library_btn.click(handlers.browse, library, results, **private)
    more_pages.click(handlers.browse_more, [hits, *library], results, **private)
    for trigger in filters:
        trigger(handlers.refilter, [hits, *library], results, **private)
    sort.input(handlers.resort, [hits, sort], [gallery, hits, *selection], **private)
    gallery.select(handlers.select, [hits], selection, **private)
    close_btn.click(handlers.close, None, selection, **private)
    copy_btn.click(None, None, None, js=COPY_PATH_JS)
    more_btn.click(handlers.more_like_this, [selected, *opts], results, **private)
    like_btn.click(handlers.like, [selected, liked, disliked], [liked, disliked, fb], **private)
    dislike_btn.click(handlers.dislike, [selected, liked, disliked], [liked, disliked, fb], **private)
    rec_btn.click(handlers.recommend, [liked, disliked, *opts], results, **private)
    clear_btn.click(handlers.clear_feedback, None, [liked, disliked, fb], **private)
    return (liked, disliked, fb), folder


def _landing(app: gr.Blocks, handlers: Handlers, library: list[Any], results: list[Any],
             searches: Sequence[Any]) -> None:
    """The landing page shows the library, unless a search was started before the library arrived: a query
    typed while the page loads keeps its results. Each search sets a hidden flag in the browser the moment it
    starts (no round trip); the library, read into a State, is shown only if the flag is still down then."""
    searched = gr.Checkbox(False, visible=False, elem_id="mm-searched")
    landing = gr.State(None)
    for trigger in searches:
        trigger(None, None, searched, js="() => true", queue=False)
    app.load(handlers.browse, library, landing, api_visibility="private").then(
        handlers.show_landing, [landing, searched], results, api_visibility="private")


def _filter_row() -> tuple[Any, ...]:
    """Folder and dates (for the library and for searches), the results' sort switch, the way back to the library."""
    with gr.Row(equal_height=True, elem_id="mm-filters"):
        folder = gr.Dropdown([ALL_FOLDERS], value=ALL_FOLDERS, label="Folder", allow_custom_value=True, scale=4,
                             min_width=160, elem_id="mm-folder")
        date_from = gr.DateTime(label="From", include_time=False, type="string", scale=2, min_width=150,
                                elem_id="mm-from")
        date_to = gr.DateTime(label="To", include_time=False, type="string", scale=2, min_width=150, elem_id="mm-to")
        sort = gr.Radio(["relevance", "date"], value="relevance", label="Sort results by", visible=False, scale=2,
                        min_width=140, elem_id="mm-sort")
        library_btn = gr.Button("Library", size="sm", scale=1, min_width=70, elem_id="mm-library")
    return folder, date_from, date_to, sort, library_btn


def _likes_storage(service: SearchService) -> tuple[gr.BrowserState, gr.BrowserState]:
    """Likes and dislikes live in the browser (localStorage), per index, so a reload or a restart keeps them.
    They are ids, not secrets: the key is derived from the index rather than random (random would lose them at
    every restart)."""
    where = f"{service.index.store.location}|{service.index.settings.collection}"
    key = hashlib.sha256(where.encode()).hexdigest()[:16]
    return (gr.BrowserState([], storage_key=f"mm-liked-{key}", secret=key),
            gr.BrowserState([], storage_key=f"mm-disliked-{key}", secret=key))


def _query_panel(service: SearchService, chosen: Sequence[str] | None) -> tuple[Any, ...]:
    trusted = service.exposure.trusted
    path_hint = "or a path on this machine" if trusted else "(server paths are off on a public UI)"
    with gr.Tabs():
        with gr.Tab("Text"):
            examples = list(chosen) if chosen is not None else example_queries(service.index.store)
            text_box = gr.Textbox(label="Describe what you are looking for", placeholder=placeholder(examples),
                                  lines=1, max_lines=3, autofocus=True, elem_id="mm-query")
            text_btn = gr.Button("Search", variant="primary", elem_id="mm-search")
            chips = gr.Dataset(components=[gr.Textbox(visible=False)], samples=[[e] for e in examples],
                               label="Try", visible=bool(examples), elem_id="mm-examples", layout="gallery")
        with gr.Tab("Image"):
            upload = upload_image(label="Upload or paste an image", sources=["upload", "clipboard"], height=200)
            path = gr.Textbox(label=path_hint, placeholder="~/Pictures/query.jpg", interactive=trusted)
            img_btn = gr.Button("Search by image", variant="primary")
        with gr.Tab("Compose"):
            lines = gr.Textbox(label="Terms", lines=4, placeholder="red car\n-0.5 people\n+ image: ~/street.jpg",
                               info=COMPOSE_HELP, elem_id="mm-terms")
            with gr.Row():
                comp_upload = upload_image(label="Plus an image (optional)", sources=["upload", "clipboard"],
                                           height=140, scale=2)
                weight = gr.Slider(-2, 2, value=1, step=0.1, label="Its weight", scale=1)
            comp_btn = gr.Button("Search", variant="primary", elem_id="mm-compose-search")
    return text_box, text_btn, chips, upload, path, img_btn, lines, comp_upload, weight, comp_btn


def _options_panel() -> tuple[Any, ...]:
    with gr.Accordion("Search options", open=False):
        k = gr.Slider(1, 100, value=24, step=1, label="Results")
        target = gr.Radio(["images", "captions", "both"], value="images", label="Search",
                          info="images, their captions, or both (best of each image)")
        threshold = gr.Slider(0, 1, value=0, step=0.01, label="Minimum similarity", info="0 = no minimum")
        fmt = gr.Dropdown(["Any", *FORMATS], value="Any", label="Format")
    return k, target, threshold, fmt


def _index_tab(handlers: Handlers, summary: gr.Markdown, service: SearchService) -> gr.Markdown:
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            details = gr.Markdown("Loading…", elem_id="mm-index")
            refresh = gr.Button("Refresh", size="sm")
        with gr.Column(scale=4):
            if service.exposure.trusted:
                folder = gr.Textbox(label="Add or update a folder", placeholder="~/Pictures",
                                    info="New and changed images are encoded; unchanged ones are skipped.")
                go = gr.Button("Ingest", variant="primary")
                report = gr.Markdown()
                failed = gr.Dataframe(headers=["file", "why it was skipped"], visible=False, wrap=True,
                                      interactive=False, label="Skipped files")
                go.click(handlers.ingest, [folder], [report, failed, summary, details], api_visibility="private")
            else:
                gr.Markdown("Adding folders from the browser is off on a public UI without a password.")
    refresh.click(handlers.index_state, None, [summary, details], api_visibility="private")
    return details
