"""Robust image loading: every Pillow mode becomes sensible RGB; every bad file becomes a reason."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from multimodal.errors import ImageLoadError
from multimodal.images import load_image, to_rgb, walk_images
from tests.fixtures.images import write_image

MAX = 180_000_000


def test_exif_orientation_is_applied_and_sides_swap(tmp_path: Path) -> None:
    img = Image.new("RGB", (60, 20), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 10, 20))  # white stripe on the left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif, quality=95)
    loaded = load_image(path, max_pixels=MAX)
    assert (loaded.width, loaded.height) == (20, 60)
    assert loaded.image.size == (20, 60)
    top = np.asarray(loaded.image)[:5].mean()
    bottom = np.asarray(loaded.image)[-5:].mean()
    assert top > 200 > 50 > bottom  # the left stripe is now on top


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (32, 32), (0, 255, 255, 0)).save(path)  # pure red in CMYK
    rgb = load_image(path, max_pixels=MAX).image
    assert rgb.mode == "RGB"
    r, g, b = rgb.getpixel((16, 16))
    assert r > 200 and g < 60 and b < 60


def test_16_bit_greyscale_keeps_its_range(tmp_path: Path) -> None:
    arr = np.tile(np.linspace(0, 65535, 64, dtype=np.uint16), (16, 1))
    path = tmp_path / "deep.png"
    Image.fromarray(arr).save(path)
    rgb = np.asarray(load_image(path, max_pixels=MAX).image)
    assert rgb[:, 0].max() < 10 and rgb[:, -1].min() > 245  # black stays black, white stays white


def test_palette_with_transparency_is_composited_on_white(tmp_path: Path) -> None:
    img = Image.new("P", (16, 16), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.paste(1, (0, 0, 8, 16))
    img.info["transparency"] = 0
    path = tmp_path / "pal.png"
    img.save(path, transparency=0)
    rgb = load_image(path, max_pixels=MAX).image
    assert rgb.getpixel((2, 2)) == (255, 0, 0)
    assert rgb.getpixel((12, 2)) == (255, 255, 255)  # transparent -> white, not black


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_composited_on_white(tmp_path: Path, mode: str) -> None:
    img = Image.new(mode, (8, 8), (0, 0) if mode == "LA" else (0, 0, 0, 0))
    path = tmp_path / f"alpha-{mode}.png"
    img.save(path)
    assert load_image(path, max_pixels=MAX).image.getpixel((4, 4)) == (255, 255, 255)


def test_animated_gif_uses_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (16, 16), c) for c in [(255, 0, 0), (0, 0, 255)]]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    r, _, b = load_image(path, max_pixels=MAX).image.getpixel((8, 8))
    assert r > 200 and b < 50


@pytest.mark.parametrize(("name", "fmt"), [("a.webp", "WEBP"), ("a.tiff", "TIFF"), ("a.bmp", "BMP"),
                                           ("UPPER.JPG", "JPEG"), ("a.heic", "HEIF"), ("a.png", "PNG")])
def test_common_formats_and_extension_case(tmp_path: Path, name: str, fmt: str) -> None:
    path = tmp_path / name
    Image.new("RGB", (40, 30), (10, 200, 30)).save(path, format=fmt)
    loaded = load_image(path, max_pixels=MAX)
    assert loaded.format == fmt and (loaded.width, loaded.height) == (40, 30)
    assert path in list(walk_images(tmp_path))


def test_jpeg_draft_decoding_keeps_the_short_side_at_least_min_side(tmp_path: Path) -> None:
    path = write_image(tmp_path / "big.jpg", size=(2000, 1500))
    loaded = load_image(path, max_pixels=MAX, min_side=224)
    assert (loaded.width, loaded.height) == (2000, 1500)  # reported size is the file's
    assert 224 <= min(loaded.image.size) < 1500  # decoded at a reduced scale


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "empty file"), (b"this is not an image at all", "not an image")],
)
def test_bad_files_get_a_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageLoadError, match=reason):
        load_image(path, max_pixels=MAX)


def test_truncated_jpeg_is_reported(tmp_path: Path) -> None:
    path = write_image(tmp_path / "full.jpg", size=(256, 256))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match="truncated"):
        load_image(path, max_pixels=MAX)


def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    Image.new("1", (20_000, 20_000)).save(path)  # 400 MP declared, a few KB on disk
    assert path.stat().st_size < 1_000_000
    with pytest.raises(ImageLoadError, match="decompression bomb"):
        load_image(path, max_pixels=MAX)


def test_pixel_limit_is_configurable(tmp_path: Path) -> None:
    path = write_image(tmp_path / "a.png", size=(100, 100))
    with pytest.raises(ImageLoadError, match="limit"):
        load_image(path, max_pixels=5_000)


def test_walk_survives_symlink_loops_and_odd_names(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write_image(root / "ünïcödé folder" / "a photo with spaces.jpg")
    write_image(root / "日本" / "写真.png")
    write_image(root / ".thumbnails" / "hidden.jpg")
    (root / "ünïcödé folder" / "loop").symlink_to(root, target_is_directory=True)
    found = [p.name for p in walk_images(root)]
    assert sorted(found) == ["a photo with spaces.jpg", "写真.png"]


def _dark_left_bright_right(mode: str) -> Image.Image:
    """8x4: the left half dark red, the right half near white, in `mode` (high bit depths as a greyscale ramp)."""
    if mode in ("I", "F", "I;16"):
        dtype = {"I": np.int32, "F": np.float32, "I;16": np.uint16}[mode]
        values = np.array([[0, 0, 0, 0, 60000, 60000, 60000, 60000]] * 4, dtype=dtype)
        return Image.fromarray(values)
    src = np.zeros((4, 8, 3), np.uint8)
    src[:, :4], src[:, 4:] = (200, 20, 20), (250, 250, 250)
    return Image.fromarray(src).convert(mode, dither=Image.Dither.NONE)


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "RGBA", "CMYK", "YCbCr", "LA", "I", "F", "I;16"])
def test_to_rgb_keeps_the_picture_in_every_common_mode(mode: str) -> None:
    source = _dark_left_bright_right(mode)
    assert source.mode == mode
    out = to_rgb(source)
    assert out.mode == "RGB" and out.size == (8, 4)
    pixels = np.asarray(out).astype(int)
    assert pixels[:, 4:].mean() - pixels[:, :4].mean() > 100  # light stays light, dark stays dark
    if mode in ("P", "RGB", "RGBA", "CMYK", "YCbCr"):
        red, green, blue = pixels[0, 0]
        assert red > green + 100 and red > blue + 100  # and red stays red


def test_unreadable_file_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests run as root in CI, where chmod 0 does not stop reading: simulate the OS refusing instead.
    path = write_image(tmp_path / "locked.jpg")

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Image, "open", refuse)
    with pytest.raises(ImageLoadError, match="permission denied"):
        load_image(path, max_pixels=MAX)


def test_fifo_and_other_special_files_are_not_walked(tmp_path: Path) -> None:
    write_image(tmp_path / "real.jpg")
    os.mkfifo(tmp_path / "pipe.jpg")  # opening it would block forever
    assert [p.name for p in walk_images(tmp_path)] == ["real.jpg"]
