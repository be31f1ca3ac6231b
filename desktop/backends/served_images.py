"""Pictures in requests to the local server: OpenAI's ``image_url`` parts with base64 data URLs,
made into files the engine child reads, as the window's attachments are.

Each picture is prepared like an attachment (backends.images: EXIF orientation, WebP and GIF
re-encoded, scaled under the store's limit, a decompression bomb refused) and written once,
named by its sha256, to a folder of the cache; files older than a day go at the server's start.
A model without a vision projector gets a 400 saying so, before anything is queued.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from pathlib import Path
from typing import Any

from desktop.backends.images import ImageError, prepare
from desktop.backends.openai_wire import INLINE_IMAGE, WireError
from desktop.core.models import LocalModel

#: A picture's bytes may be this large once decoded (OpenAI's own limit per picture is 20 MB).
MAX_PICTURE_BYTES = 20_000_000
#: Served pictures are kept this long (a client's follow-up re-sends them anyway).
KEEP_S = 24 * 3600
_SUFFIX = {"image/png": ".png", "image/jpeg": ".jpg"}


def has_pictures(messages: list[dict[str, Any]]) -> bool:
    return any(
        isinstance(m.get("content"), list)
        and any(item.get("type") == INLINE_IMAGE for item in m["content"])
        for m in messages
    )


def _decode(url: str, where: str) -> bytes:
    header, comma, payload = url.partition(",")
    if not comma or not header.endswith(";base64"):
        raise WireError(
            400,
            f"{where}: a picture's data URL must be base64 (data:image/png;base64,...).",
            param="messages",
        )
    if len(payload) > MAX_PICTURE_BYTES * 4 // 3 + 4:
        raise WireError(
            400,
            f"{where}: a picture is over {MAX_PICTURE_BYTES // 1_000_000} MB.",
            param="messages",
        )
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise WireError(
            400, f"{where}: a picture's base64 data cannot be decoded.", param="messages"
        ) from None


class ServedImages:
    """Stores a request's pictures in ``folder`` and puts their files in its messages."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._sweep()

    def _sweep(self) -> None:
        cutoff = time.time() - KEEP_S
        try:
            for file in self.folder.iterdir():
                if file.is_file() and file.stat().st_mtime < cutoff:
                    file.unlink(missing_ok=True)
        except OSError:
            pass  # a folder not made yet, or one that cannot be read: nothing to sweep

    def store(self, messages: list[dict[str, Any]], model: LocalModel) -> list[dict[str, Any]]:
        """The messages with each inline picture a file the engine reads; WireError (400) for
        a model that cannot see, or a picture that cannot be read. Runs off the event loop."""
        if not has_pictures(messages):
            return messages
        if not model.mmproj:
            raise WireError(
                400,
                f"The model {model.id} cannot see images: it has no vision projector (mmproj). "
                "Ask a model whose /v1/models entry sees, or send text only.",
                param="messages",
            )
        out = []
        count = 0
        for index, message in enumerate(messages):
            content = message.get("content")
            if not isinstance(content, list):
                out.append(message)
                continue
            items = []
            for item in content:
                if item.get("type") != INLINE_IMAGE:
                    items.append(item)
                    continue
                count += 1
                items.append(self._file(str(item["url"]), f"messages[{index}]", count))
            out.append({**message, "content": items})
        return out

    def _file(self, url: str, where: str, number: int) -> dict[str, Any]:
        data = _decode(url, where)
        name = f"picture {number}"
        try:
            prepared = prepare(data, name)
        except ImageError as exc:
            raise WireError(400, f"{where}: {exc}", param="messages") from None
        digest = hashlib.sha256(prepared.data).hexdigest()
        path = self.folder / f"{digest}{_SUFFIX.get(prepared.media_type, '.png')}"
        try:
            if not path.exists():
                self.folder.mkdir(parents=True, exist_ok=True)
                partial = path.with_suffix(".part")
                partial.write_bytes(prepared.data)
                partial.replace(path)
            else:
                path.touch()  # used again: kept another day
        except OSError as exc:
            raise WireError(
                500,
                f"The picture could not be kept for the engine ({exc.strerror or exc}).",
                type_="server_error",
            ) from None
        return {"type": "image", "path": str(path), "media_type": prepared.media_type, "name": name}
