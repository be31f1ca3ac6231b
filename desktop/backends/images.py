"""Pictures read and written with Pillow: a file the user attached checked and made storable
(PNG or JPEG, turned upright, a GIF's first frame, at most STORE_MAX_SIDE), a thumbnail for the
chat, and a copy scaled for an API's limits when it is sent.

Slow for a large picture (a 50-megapixel photo takes a second or more to decode), so callers run
it off the GUI thread. A file that is not a readable image raises ImageError naming it and why.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

from desktop.core.errors import LlamasideError
from desktop.core.vision import UploadLimit

#: The longest side a stored image keeps: more than any model reads (Llama 4 tiles up to
#: 1344 px, OpenAI 2048, Anthropic 1568), enough to read a scanned page when the user opens it.
STORE_MAX_SIDE = 4096
#: Past this a picture is not decoded at all (a "decompression bomb": a few KB of PNG that
#: would take gigabytes of memory). 50 MP photos are fine; 250 MP takes ~750 MB to decode.
MAX_DECODE_PIXELS = 250_000_000
THUMB_SIDE = 256
#: JPEG quality for photos we re-encode (scaled, or converted from WebP without transparency).
JPEG_QUALITY = 90

_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}


class ImageError(LlamasideError):
    """A file that cannot be used as an image (not one, damaged, or a format we do not take)."""


@dataclass(frozen=True)
class PreparedImage:
    """An image ready for the store: its bytes (PNG or JPEG), type, size and thumbnail."""

    data: bytes
    media_type: str
    width: int
    height: int
    thumbnail: bytes


def _open(data: bytes, name: str) -> PILImage.Image:
    PILImage.MAX_IMAGE_PIXELS = MAX_DECODE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            image = PILImage.open(io.BytesIO(data))
            if image.format not in _FORMATS:
                raise ImageError(
                    f"{name} is a {image.format or 'kind of'} image; attach a PNG, JPEG, WebP "
                    "or GIF instead."
                )
            image.load()  # decodes now: a truncated or damaged file fails here, not later
    except ImageError:
        raise
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
        raise ImageError(
            f"{name} is too large to open safely (over {MAX_DECODE_PIXELS // 1_000_000} "
            "megapixels); scale it down and attach it again."
        ) from None
    except UnidentifiedImageError:
        raise ImageError(
            f"{name} is not an image Llamaside can read (PNG, JPEG, WebP, GIF)."
        ) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"{name} is damaged or cut short and cannot be read ({exc}).") from None
    return image


def _encode(image: PILImage.Image, photo: bool) -> tuple[bytes, str]:
    out = io.BytesIO()
    if photo:
        image.convert("RGB").save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
        return out.getvalue(), "image/jpeg"
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert(
            "RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB"
        )
    image.save(out, "PNG", optimize=False)
    return out.getvalue(), "image/png"


def _flatten(image: PILImage.Image) -> PILImage.Image:
    """RGB on white: models are given opaque pictures (a transparent PNG screenshot reads as
    black text on black otherwise)."""
    if image.mode in ("RGBA", "LA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        back = PILImage.new("RGB", rgba.size, (255, 255, 255))
        back.paste(rgba, mask=rgba.getchannel("A"))
        return back
    return image.convert("RGB")


def _fit(image: PILImage.Image, max_side: int, max_pixels: int = 0) -> PILImage.Image:
    w, h = image.size
    scale = min(1.0, max_side / max(w, h))
    if max_pixels:
        scale = min(scale, (max_pixels / (w * h)) ** 0.5)
    if scale >= 1.0:
        return image
    size = (max(1, int(w * scale)), max(1, int(h * scale)))  # rounding up could pass the limit
    return image.resize(size, PILImage.Resampling.LANCZOS, reducing_gap=3.0)


def thumbnail_of(image: PILImage.Image, side: int = THUMB_SIDE) -> bytes:
    small = _flatten(image).copy()
    small.thumbnail((side, side), PILImage.Resampling.LANCZOS)
    out = io.BytesIO()
    small.save(out, "PNG")
    return out.getvalue()


def thumbnail_file(path: Path) -> bytes:
    """A stored picture's thumbnail (for one imported without it)."""
    return thumbnail_of(_open(read_file(path), path.name))


def prepare(data: bytes, name: str) -> PreparedImage:
    """An attached file made storable. A PNG or JPEG that needs no change keeps its exact bytes
    (so the same file is stored once); anything else is re-encoded: a WebP or GIF (first frame)
    to PNG, or JPEG for an opaque photo, and a picture over STORE_MAX_SIDE scaled down."""
    image = _open(data, name)
    original_format = image.format
    upright = ImageOps.exif_transpose(image)
    changed = upright is not image and upright.size != image.size
    if image.format == "GIF" or getattr(image, "n_frames", 1) > 1:
        image.seek(0)
        upright = image.convert("RGBA")
        changed = True
    fitted = _fit(upright, STORE_MAX_SIDE)
    keep = original_format in ("PNG", "JPEG") and fitted is upright and not changed
    if keep:
        body, media_type = data, _FORMATS[str(original_format)]
    else:
        photo = original_format == "JPEG" or (original_format == "WEBP" and fitted.mode == "RGB")
        body, media_type = _encode(fitted, photo)
    return PreparedImage(body, media_type, fitted.width, fitted.height, thumbnail_of(fitted))


def read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImageError(f"{path.name} cannot be read: {exc.strerror or exc}.") from None


def prepare_file(path: Path) -> PreparedImage:
    return prepare(read_file(path), path.name)


def for_upload(
    data: bytes, media_type: str, limit: UploadLimit, name: str = "image"
) -> tuple[str, bytes]:
    """The bytes to send an API: the stored image as it is where it fits ``limit``, else scaled
    (and re-encoded) until it does. Returns (media type, bytes)."""
    image = _open(data, name)
    w, h = image.size
    if max(w, h) <= limit.max_side and w * h <= limit.max_pixels and len(data) <= limit.max_bytes:
        return media_type, data
    fitted = _fit(_flatten(image), limit.max_side, limit.max_pixels)
    body, kind = _encode(fitted, photo=media_type == "image/jpeg")
    while len(body) > limit.max_bytes and max(fitted.size) > 64:
        fitted = _fit(fitted, int(max(fitted.size) * 0.75))
        body, kind = _encode(fitted, photo=True)
    return kind, body
