"""A request's pictures made each cloud API's image blocks: the wire's image items (a file's
path, see core.vision) read, scaled to the API's limit where they exceed it (backends.images),
and sent as base64: OpenAI's ``image_url`` data URL, Anthropic's ``image`` block with a base64
source. Each block keeps its place: the pictures of a question before its text.

A picture that cannot be read fails the request before anything is sent (a CloudError naming
the picture). The encoded form is kept for the pictures sent lately: every later turn of the
chat, and each step of a tool loop, sends them again.
"""

from __future__ import annotations

import base64
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from desktop.backends.cloud_errors import CloudError
from desktop.backends.images import ImageError, for_upload
from desktop.core.vision import UploadLimit

#: How many encoded pictures are kept: more than a chat's usual few, so that a chat that
#: sends its pictures again each turn does not scale each one again.
KEPT = 24


@dataclass(frozen=True)
class Pictures:
    """What a request's body carries of pictures, for the privacy record."""

    count: int = 0
    #: Their bytes as encoded (PNG or JPEG), before base64.
    size: int = 0


@dataclass(frozen=True)
class _Encoded:
    """One picture as it is sent: its type, its bytes in base64, and how many bytes they are."""

    media_type: str
    base64: str
    size: int


def openai_images(
    messages: list[dict[str, Any]], limit: UploadLimit, where: str
) -> tuple[list[dict[str, Any]], Pictures]:
    """``messages`` with each image item an ``image_url`` part with a data URL (Chat
    Completions; OpenAI-compatible hosts take the same). ``where`` names the provider in an
    error."""

    def block(picture: _Encoded) -> dict[str, Any]:
        url = f"data:{picture.media_type};base64,{picture.base64}"
        return {"type": "image_url", "image_url": {"url": url}}

    return _converted(messages, limit, where, block)


def anthropic_images(
    messages: list[dict[str, Any]], limit: UploadLimit, where: str
) -> tuple[list[dict[str, Any]], Pictures]:
    """``messages`` with each image item an ``image`` block with a base64 source (Messages
    API)."""

    def block(picture: _Encoded) -> dict[str, Any]:
        source = {"type": "base64", "media_type": picture.media_type, "data": picture.base64}
        return {"type": "image", "source": source}

    return _converted(messages, limit, where, block)


def _converted(
    messages: list[dict[str, Any]],
    limit: UploadLimit,
    where: str,
    block: Callable[[_Encoded], dict[str, Any]],
) -> tuple[list[dict[str, Any]], Pictures]:
    out: list[dict[str, Any]] = []
    count = size = 0
    for message in messages:
        content = message.get("content")
        if not isinstance(content, list) or not any(_is_item(c) for c in content):
            out.append(message)
            continue
        blocks: list[dict[str, Any]] = []
        for item in content:
            if _is_item(item):
                picture = _encode(item, limit, where)
                count, size = count + 1, size + picture.size
                blocks.append(block(picture))
            else:
                blocks.append(item)
        out.append({**message, "content": blocks})
    return out, Pictures(count, size)


def _is_item(block: object) -> bool:
    """The wire's image item (it names a file), not an API's image block."""
    return isinstance(block, dict) and block.get("type") == "image" and "path" in block


def _encode(item: dict[str, Any], limit: UploadLimit, where: str) -> _Encoded:
    path = str(item["path"])
    name = str(item.get("name") or PurePath(path).name)
    try:
        stat = os.stat(path)
        return _encoded(
            path, (stat.st_mtime_ns, stat.st_size), str(item["media_type"]), limit, name
        )
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise CloudError(
            f"The picture {name} could not be read ({reason}: {path}), so nothing was sent "
            f"to {where}. Remove it from the message, or attach it again."
        ) from None
    except ImageError as exc:
        raise CloudError(f"{exc} Nothing was sent to {where}.") from None


@functools.lru_cache(maxsize=KEPT)
def _encoded(
    path: str, stamp: tuple[int, int], media_type: str, limit: UploadLimit, name: str
) -> _Encoded:
    """One picture as sent within ``limit``; ``stamp`` (its file's time and size) is part of
    the key so that a file changed since is read again."""
    with open(path, "rb") as handle:
        data = handle.read()
    kind, body = for_upload(data, media_type, limit, name)
    return _Encoded(kind, base64.b64encode(body).decode("ascii"), len(body))
