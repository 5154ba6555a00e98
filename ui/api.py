"""Named API endpoints for `gradio_client` (and the app's "Use via API" page).

    from gradio_client import Client, handle_file
    client = Client("http://127.0.0.1:7860/")
    hits = client.predict("a dog on a beach", 5, api_name="/search_text")
    hits = client.predict(handle_file("query.jpg"), 5, api_name="/search_image")

Each returns a list of results: {"id", "image_id", "file", "score", "kind", "caption", "width", ...}
("file" is the image's path on the server).
Image inputs go through real (hidden) image components, so Gradio accepts only files uploaded to it.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from multimodal.search import Filters
from ui import views
from ui.handlers import friendly_errors
from ui.service import Options, SearchService
from ui.uploads import upload_image


def register(service: SearchService) -> None:
    """Add the endpoints to the Blocks being built."""

    def opts(k: int, target: str = "images", min_score: float = 0.0, folder: str = "", format: str = "") -> Options:
        filters = Filters(folder=folder or None, format=format or None)
        return Options(k=int(k), target=target, threshold=min_score or None, filters=filters)  # type: ignore[arg-type]

    @friendly_errors
    def search_text(query: str, k: int = 10, target: str = "images", min_score: float = 0.0, folder: str = "",
                    format: str = "") -> list[dict[str, Any]]:
        """Images (or captions) matching a text query, best first."""
        return [views.hit_dict(h) for h in service.search_text(query, opts(k, target, min_score, folder, format))]

    @friendly_errors
    def more_like_this(id: str, k: int = 10) -> list[dict[str, Any]]:
        """Images nearest to an indexed image (by its id), from its stored vector."""
        return [views.hit_dict(h) for h in service.more_like_this(id, opts(k))]

    @friendly_errors
    def recommend(liked: list[str], disliked: list[str], k: int = 10) -> list[dict[str, Any]]:
        """Images like the liked ids and unlike the disliked ones."""
        return [views.hit_dict(h) for h in service.recommend(liked, disliked, opts(k))]

    @friendly_errors
    def info() -> dict[str, Any]:
        """What the index holds: counts, model (and a note on it: random weights, a toy), location, last ingest."""
        return views.info_dict(service.info(refresh=True))

    @friendly_errors
    def search_image(image: str | None, k: float = 10) -> list[dict[str, Any]]:
        query = service.query_image(image, None)
        return [views.hit_dict(h) for h in service.search_image(query, opts(int(k)))]

    @friendly_errors
    def nearest_captions(image: str | None, k: float = 5) -> list[dict[str, Any]]:
        query = service.query_image(image, None)
        return [views.hit_dict(h) for h in service.nearest_captions(query, int(k))]

    for fn in (search_text, more_like_this, recommend, info):
        gr.api(fn, api_name=fn.__name__, concurrency_limit=4)
    with gr.Group(visible=False):
        image = upload_image(label="image")
        k = gr.Number(10, precision=0, label="k")
        out = gr.JSON(label="results")
        for upload_fn in (search_image, nearest_captions):
            trigger = gr.Button(visible=False)
            trigger.click(upload_fn, [image, k], out, api_name=upload_fn.__name__, concurrency_limit=4)
