"""Pictures carried by a JSON export: the messages name their files, the export holds the files
(``"images": {name: {"media_type", "data": base64}}``), and an import puts them back in the
picture folder after checking that each one's bytes still hash to its name."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from typing import Any

from desktop.core.errors import LlamasideError
from desktop.core.vision import STORED_TYPES
from desktop.storage.images import ImageStore, ImageStoreError, image_name, valid_name


class ImageImportError(LlamasideError):
    """An export's pictures are damaged (their bytes do not match their names)."""


def _named(data: Mapping[str, Any]) -> Iterator[str]:
    for chat in data.get("conversations") or []:
        for message in chat.get("messages") or []:
            for part in message.get("parts") or []:
                if isinstance(part, Mapping) and part.get("type") == "image":
                    name = part.get("path")
                    if isinstance(name, str) and valid_name(name):
                        yield name


def add_images(data: dict[str, Any], images: ImageStore) -> int:
    """Put the pictures the exported messages name into ``data``; how many (a picture missing
    from the folder is left out: its message still says what it was)."""
    carried: dict[str, dict[str, str]] = {}
    for name in _named(data):
        if name in carried or not images.has(name):
            continue
        media_type = "image/png" if name.endswith(".png") else "image/jpeg"
        try:
            body = images.read(name)
        except ImageStoreError:
            continue
        carried[name] = {"media_type": media_type, "data": base64.b64encode(body).decode()}
    if carried:
        data["images"] = carried
    return len(carried)


def restore_images(data: Mapping[str, Any], images: ImageStore) -> int:
    """Write an export's pictures to the folder (before its chats are imported); raises
    ImageImportError for a picture whose bytes do not match its name."""
    carried = data.get("images") or {}
    if not isinstance(carried, Mapping):
        raise ImageImportError("The export's pictures are not a list of named files.")
    written = 0
    for name, item in carried.items():
        if not (isinstance(name, str) and valid_name(name) and isinstance(item, Mapping)):
            raise ImageImportError(f"The export names a picture {str(name)[:40]!r} oddly.")
        media_type = item.get("media_type")
        try:
            body = base64.b64decode(str(item.get("data", "")), validate=True)
        except (binascii.Error, ValueError):
            raise ImageImportError(f"The export's picture {name[:12]}… is not base64.") from None
        if media_type not in STORED_TYPES or image_name(body, str(media_type)) != name:
            raise ImageImportError(
                f"The export's picture {name[:12]}… is damaged (its bytes do not match it)."
            )
        images.put(body, str(media_type))
        written += 1
    return written
