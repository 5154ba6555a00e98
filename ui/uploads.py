"""An image input that refuses decompression bombs with a message instead of a stack trace.

Gradio opens an uploaded image's header before our handler runs; Pillow raises there for images far
beyond its own pixel limit. The wrapper below turns that (and non-images) into a `gr.Error`. The pixel
cap itself is checked by the handler (`ui.safety.load_upload`), before anything is decoded.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
from PIL import Image, UnidentifiedImageError


def upload_image(**kwargs: Any) -> gr.Image:
    """A `gr.Image` (type "filepath", no mode conversion: nothing decoded by Gradio) with human upload errors.

    (A wrapped method rather than a subclass: Gradio writes a .pyi stub beside every component subclass.)
    """
    component = gr.Image(type="filepath", image_mode=None, **kwargs)
    original = component.preprocess

    def preprocess(payload: Any) -> Any:
        try:
            return original(payload)
        except Image.DecompressionBombError as e:
            raise gr.Error("The uploaded image has far too many pixels; it was refused as a possible "
                           "decompression bomb.", title="Image refused") from e
        except (UnidentifiedImageError, OSError, ValueError) as e:
            raise gr.Error("The upload is not an image this app can read.", title="Image refused") from e

    component.preprocess = preprocess  # type: ignore[method-assign]
    return component
