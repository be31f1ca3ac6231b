"""Attached pictures through Pillow: kept byte for byte where they can be, re-encoded where they
must be (WebP, a GIF's first frame, a sideways photo, one too large), scaled for an API's limit,
and refused with the file's name and why when they are not pictures."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from desktop.backends.images import (
    STORE_MAX_SIDE,
    ImageError,
    for_upload,
    prepare,
    prepare_file,
)
from desktop.core.vision import ANTHROPIC_LIMIT, UploadLimit


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def noise(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    return Image.effect_noise(size, 50).convert(mode)


def test_a_png_and_a_jpeg_are_kept_byte_for_byte() -> None:
    for fmt, media_type in (("PNG", "image/png"), ("JPEG", "image/jpeg")):
        data = encoded(noise((120, 80)), fmt)
        prepared = prepare(data, f"x.{fmt.lower()}")
        assert prepared.data == data
        assert prepared.media_type == media_type
        assert (prepared.width, prepared.height) == (120, 80)
        thumb = Image.open(io.BytesIO(prepared.thumbnail))
        assert thumb.format == "PNG" and max(thumb.size) <= 256


def test_webp_becomes_png_or_jpeg_and_a_gif_gives_its_first_frame() -> None:
    see_through = noise((64, 48), "RGBA")
    see_through.putalpha(128)
    webp = prepare(encoded(see_through, "WEBP", lossless=True), "a.webp")
    assert webp.media_type == "image/png"  # transparency kept
    assert Image.open(io.BytesIO(webp.data)).size == (64, 48)
    photo = prepare(encoded(noise((64, 48)), "WEBP", quality=80), "photo.webp")
    assert photo.media_type == "image/jpeg"
    red, blue = Image.new("RGB", (32, 32), (255, 0, 0)), Image.new("RGB", (32, 32), (0, 0, 255))
    gif = encoded(red, "GIF", save_all=True, append_images=[blue], duration=100, loop=0)
    first = prepare(gif, "anim.gif")
    assert first.media_type == "image/png"
    pixel = Image.open(io.BytesIO(first.data)).convert("RGB").getpixel((5, 5))
    assert isinstance(pixel, tuple) and pixel[0] > 200 and pixel[2] < 50


def test_a_sideways_photo_is_turned_upright() -> None:
    photo = noise((200, 100))
    exif = photo.getexif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to view
    prepared = prepare(encoded(photo, "JPEG", exif=exif.tobytes()), "phone.jpg")
    assert (prepared.width, prepared.height) == (100, 200)
    assert Image.open(io.BytesIO(prepared.data)).size == (100, 200)


def test_a_picture_larger_than_the_store_keeps_is_scaled_not_refused() -> None:
    big = Image.new("RGB", (STORE_MAX_SIDE * 2, 1000), (10, 120, 200))
    prepared = prepare(encoded(big, "PNG"), "wide.png")
    assert prepared.width == STORE_MAX_SIDE and prepared.height == 500


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"hello, this is text", "is not an image Llamaside can read"),
        (encoded(noise((300, 300)), "PNG")[:200], "damaged or cut short"),
        (encoded(noise((20, 20)), "BMP"), "attach a PNG, JPEG, WebP or GIF"),
    ],
)
def test_what_is_not_a_usable_picture_is_refused_by_name(data: bytes, why: str) -> None:
    with pytest.raises(ImageError, match=why) as refused:
        prepare(data, "holiday.png")
    assert "holiday.png" in str(refused.value)


def test_a_decompression_bomb_is_refused_before_it_is_decoded(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20_000, 20_000)).save(bomb)  # 400 MP, a few KB on disk
    assert bomb.stat().st_size < 2_000_000
    with pytest.raises(ImageError, match="too large to open safely"):
        prepare_file(bomb)


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"gone\.png cannot be read"):
        prepare_file(tmp_path / "gone.png")


def test_for_upload_keeps_what_fits_and_scales_what_does_not() -> None:
    small = encoded(noise((400, 300)), "JPEG")
    assert for_upload(small, "image/jpeg", ANTHROPIC_LIMIT) == ("image/jpeg", small)
    large = encoded(noise((4000, 3000)), "JPEG", quality=95)
    media_type, body = for_upload(large, "image/jpeg", ANTHROPIC_LIMIT)
    scaled = Image.open(io.BytesIO(body))
    assert media_type == "image/jpeg"
    assert max(scaled.size) <= ANTHROPIC_LIMIT.max_side
    assert scaled.width * scaled.height <= ANTHROPIC_LIMIT.max_pixels
    assert abs(scaled.width / scaled.height - 4 / 3) < 0.01
    tight = UploadLimit(max_side=4000, max_pixels=12_000_000, max_bytes=200_000)
    _, body = for_upload(large, "image/jpeg", tight)
    assert len(body) <= 200_000
