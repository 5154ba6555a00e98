"""Finding image files and opening them safely as RGB.

Every way an image can be unusable (empty, truncated, not an image, too many pixels, unreadable)
becomes an `ImageLoadError` with a short reason, so a caller can report it and carry on.
"""

from __future__ import annotations

import calendar
import hashlib
import os
import stat
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from multimodal.errors import ImageLoadError

try:  # HEIC/HEIF (iPhone photos) and AVIF through pillow-heif, when installed
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is a declared dependency
    pass

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".bmp", ".dib", ".tif", ".tiff",
     ".webp", ".heic", ".heif", ".avif"}
)
_BACKGROUND = (255, 255, 255)  # transparent pixels are composited on white, as viewers show them
_EXIF_DATETIME_ORIGINAL = 36867
_EXIF_DATETIME = 306
_EXIF_IFD = 0x8769


@dataclass(frozen=True)
class LoadedImage:
    """An image ready for a model, plus what was learnt about the file while opening it."""

    image: Image.Image  # RGB, EXIF orientation applied, possibly reduced in size by draft decoding
    width: int  # full-size width as displayed (after EXIF rotation)
    height: int  # full-size height as displayed
    format: str  # Pillow's format name: JPEG, PNG, HEIF, ...
    taken: float | None  # EXIF capture time as a Unix timestamp, if the file has one


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def walk_images(root: Path) -> Iterator[Path]:
    """Yield image files under `root` in a stable order.

    Follows symbolic links but never enters a folder twice, so link loops end. Hidden files and
    folders (".thumbnails", macOS "._x.jpg" companions) are skipped.
    """
    root = Path(root)
    if root.is_file():
        if is_image_path(root):
            yield root
        return
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=lambda e: None):
        try:
            st = os.stat(dirpath)
        except OSError:
            dirnames[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if is_image_path(path) and _is_regular_or_broken_link(path):
                yield path


def _is_regular_or_broken_link(path: Path) -> bool:
    """Skip FIFOs, sockets and devices (opening a FIFO blocks forever); keep broken links to report them."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return path.is_symlink()


def file_digest(path: Path) -> str:
    """SHA-256 of the file's bytes: the identity that survives renames and copies."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def load_image(path: Path, *, max_pixels: int, min_side: int | None = None) -> LoadedImage:
    """Open `path` as an RGB image.

    Args:
        path: the file.
        max_pixels: images with more pixels are refused before decoding (decompression bombs).
        min_side: if given, JPEGs are decoded at a reduced scale (1/2 .. 1/8, in the DCT domain)
            that still keeps both sides at least this long; a large speed-up for big photos.

    Raises:
        ImageLoadError: with a short reason when the file cannot be used.
    """
    try:
        return _load(Path(path), max_pixels, min_side)
    except ImageLoadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageLoadError(str(path), f"too many pixels, refused as a decompression bomb ({e})") from e
    except UnidentifiedImageError as e:
        raise ImageLoadError(str(path), "not an image, or a format Pillow cannot read") from e
    except PermissionError as e:
        raise ImageLoadError(str(path), "permission denied") from e
    except FileNotFoundError as e:
        raise ImageLoadError(str(path), "file vanished while being read") from e
    except OSError as e:
        reason = "truncated or corrupt image data" if "truncat" in str(e).lower() else f"unreadable: {e}"
        raise ImageLoadError(str(path), reason) from e
    except (ValueError, SyntaxError, EOFError, IndexError, TypeError, MemoryError) as e:
        raise ImageLoadError(str(path), f"corrupt image data ({type(e).__name__}: {e})") from e


def _load(path: Path, max_pixels: int, min_side: int | None) -> LoadedImage:
    if path.stat().st_size == 0:
        raise ImageLoadError(str(path), "empty file")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as im:
            w, h = im.size
            if w * h > max_pixels:
                raise ImageLoadError(
                    str(path),
                    f"{w}x{h} is {w * h / 1e6:.0f} MP, above the {max_pixels / 1e6:.0f} MP limit "
                    "(refused as a possible decompression bomb)",
                )
            fmt = im.format or path.suffix.lstrip(".").upper()
            exif = im.getexif()
            if getattr(im, "n_frames", 1) > 1:
                im.seek(0)  # animated GIF/WebP/APNG: the first frame stands for the file
            if min_side and fmt == "JPEG":
                im.draft(None, (min_side, min_side))  # type: ignore[arg-type]
            im.load()
            rgb = to_rgb(ImageOps.exif_transpose(im) or im)
    if exif.get(0x0112, 1) in (5, 6, 7, 8):  # rotated by 90 degrees: displayed sides swap
        w, h = h, w
    return LoadedImage(image=rgb, width=w, height=h, format=fmt, taken=_taken(exif))


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB, compositing transparency on white."""
    if im.mode == "RGB":
        return im
    if im.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        return _high_bit_depth_to_rgb(im)
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        im.mode in ("P", "L", "RGB") and "transparency" in im.info
    )
    if has_alpha:
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*_BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")  # CMYK, YCbCr, LAB, HSV, 1, L, P


def _high_bit_depth_to_rgb(im: Image.Image) -> Image.Image:
    """16-bit and float greyscale: stretch the used range to 0..255 instead of clipping to white."""
    arr = np.asarray(im, dtype=np.float32)
    lo, hi = float(arr.min()), float(arr.max())
    if hi > 255 or lo < 0 or im.mode == "F":
        scale = 65535.0 if im.mode.startswith("I") and lo >= 0 and hi <= 65535 else max(hi - lo, 1e-6)
        offset = 0.0 if scale == 65535.0 else lo
        arr = (arr - offset) / scale * 255.0
    grey = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), mode="L")
    return grey.convert("RGB")


def _taken(exif: Image.Exif) -> float | None:
    raw = exif.get_ifd(_EXIF_IFD).get(_EXIF_DATETIME_ORIGINAL) or exif.get(_EXIF_DATETIME)
    if not isinstance(raw, str):
        return None
    try:
        return float(calendar.timegm(time.strptime(raw.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")))
    except ValueError:
        return None
