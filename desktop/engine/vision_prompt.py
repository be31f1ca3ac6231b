"""What a prompt with pictures needs before llama.cpp's multimodal library is involved: the
messages with media markers in place of their pictures, and the signal that Stop came while
chunks were evaluated. Kept apart from engine.vision, which loads libmtmd: a llama.cpp build
without it still runs every text model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from desktop.core.vision import wire_images, wire_text


class PromptCancelled(Exception):
    """Stop arrived while the prompt's chunks were being evaluated."""


def with_markers(
    messages: Sequence[dict[str, Any]], marker: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """Messages whose content lists images made plain text again, each picture replaced by
    llama.cpp's media marker; and the pictures' paths, in order."""
    out: list[dict[str, Any]] = []
    paths: list[str] = []
    for message in messages:
        images = wire_images(message.get("content"))
        if not images:
            out.append(message)
            continue
        paths.extend(str(item["path"]) for item in images)
        text = wire_text(message["content"])
        out.append({**message, "content": "\n".join([marker] * len(images) + [text])})
    return out, paths
