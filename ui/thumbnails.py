"""Small JPEG thumbnails, cached on disk, so a results grid never sends 12-MP originals to the browser.

A thumbnail is keyed by the image's content hash (stored at ingest), so renamed and copied files share
one; records without a hash fall back to a key of path, size and modification time. Files are written
atomically, so concurrent requests for the same thumbnail are safe.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from multimodal.errors import ImageLoadError
from multimodal.images import load_image

GRID_SIZE = 320  # longest side of a grid thumbnail: sharp at ~160 css px on a 2x screen
PREVIEW_SIZE = 1024  # longest side of the selected image's preview
_QUALITY = 82
_HEX = re.compile(r"[0-9a-f]{16,128}")  # content hashes become file names: nothing else may
INLINE_MAX_BYTES = 48 * 1024  # grid thumbnails up to this size travel inside the search's answer (see `tile`)
_WORKERS = 4  # Pillow releases the GIL while decoding; a few threads fill a grid of cache misses quickly


def default_cache_dir() -> Path:
    """Per-user cache folder for thumbnails (XDG on Linux, ~/Library/Caches on macOS, %LOCALAPPDATA% on Windows)."""
    if os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "multimodal" / "cache"
        return base / "thumbnails"
    if os.uname().sysname == "Darwin":
        return Path.home() / "Library" / "Caches" / "multimodal" / "thumbnails"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "multimodal" / "thumbnails"


@dataclass(frozen=True)
class Source:
    """An image to thumbnail: its path and, if known, its content hash."""

    path: str
    digest: str | None = None


class Thumbnails:
    """Makes and caches thumbnails under `folder` (one subfolder per size)."""

    def __init__(self, folder: Path | None = None, *, max_pixels: int = 180_000_000) -> None:
        self.folder = Path(folder or default_cache_dir()).expanduser().absolute()
        self.max_pixels = max_pixels
        self.folder.mkdir(parents=True, exist_ok=True)
        self._pool = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="thumbnail")

    def many(self, sources: Sequence[Source], size: int = GRID_SIZE) -> list[Path]:
        """Thumbnails for `sources`, in order; cache misses are made in parallel."""
        return list(self._pool.map(lambda s: self.get(s, size), sources))

    def tiles(self, sources: Sequence[Source]) -> list[Path]:
        """Grid tiles for `sources`, in order: each thumbnail wrapped in an SVG file (see `tile`)."""
        return list(self._pool.map(lambda s: self.tile(self.get(s, GRID_SIZE)), sources))

    def tile(self, thumbnail: Path) -> Path:
        """`thumbnail` (a JPEG in this cache) wrapped in an SVG file that carries it as a data: URI, made once.

        Gradio's Gallery sends an SVG file inside its answer (as a data: URI) but any other image as a URL the
        browser then fetches, one request each through Gradio's file route. Wrapped, a results grid draws as soon
        as the answer lands: on the demo index p50 401 → 327 and 379 → 353 ms in two A/B runs (benchmarks/README.md,
        Web UI).
        A thumbnail over `INLINE_MAX_BYTES` keeps its URL.
        """
        target = thumbnail.with_suffix(".svg")
        if not thumbnail.resolve().is_relative_to(self.folder.resolve()):
            return thumbnail
        if target.exists():
            return target
        try:
            data = thumbnail.read_bytes()
            with Image.open(thumbnail) as image:
                width, height = image.size
        except OSError:
            return thumbnail
        if len(data) > INLINE_MAX_BYTES:
            return thumbnail
        svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
               f'viewBox="0 0 {width} {height}"><image width="{width}" height="{height}" '
               f'href="data:image/jpeg;base64,{base64.b64encode(data).decode("ascii")}"/></svg>')
        _write_atomic(svg.encode("ascii"), target)
        return target

    def get(self, source: Source, size: int = GRID_SIZE) -> Path:
        """The cached thumbnail of `source` (made now if missing); a placeholder if the image is unusable."""
        target = self._target(source, size)
        if target is None:
            return self.placeholder(size)
        if target.exists():
            return target
        try:
            loaded = load_image(Path(source.path), max_pixels=self.max_pixels, min_side=size)
        except ImageLoadError:
            return self.placeholder(size)
        image = loaded.image
        image.thumbnail((size, size), Image.Resampling.LANCZOS)
        _write_jpeg(image, target)
        return target

    def placeholder(self, size: int = GRID_SIZE) -> Path:
        """A neutral tile shown for an image that has vanished or cannot be read."""
        target = self.folder / str(size) / "missing.jpg"
        if not target.exists():
            tile = Image.new("RGB", (size, size), (229, 231, 235))
            draw = ImageDraw.Draw(tile)
            draw.line([(size * 0.35, size * 0.35), (size * 0.65, size * 0.65)], fill=(156, 163, 175), width=6)
            draw.line([(size * 0.65, size * 0.35), (size * 0.35, size * 0.65)], fill=(156, 163, 175), width=6)
            _write_jpeg(tile, target)
        return target

    def _target(self, source: Source, size: int) -> Path | None:
        key = source.digest if source.digest and _HEX.fullmatch(source.digest) else None
        if not key:
            try:
                st = os.stat(source.path)
            except OSError:
                return None
            key = hashlib.blake2b(f"{source.path}\0{st.st_size}\0{st.st_mtime_ns}".encode(
                "utf-8", "surrogateescape"), digest_size=16).hexdigest()
        return self.folder / str(size) / key[:2] / f"{key}.jpg"

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _write_atomic(data: bytes, target: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_jpeg(image: Image.Image, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            image.convert("RGB").save(f, format="JPEG", quality=_QUALITY, optimize=True)
        os.replace(tmp, target)  # atomic: a reader never sees half a file
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
