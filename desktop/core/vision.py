"""Images in a turn, as plain data: which files are images we take, how an image travels in the
wire messages (``Prompt.wire()``), which models can see, and how large each API takes them.

No I/O and no image library here: decoding and scaling are desktop.backends.images', the files
desktop.storage.images'. Every source reads the same wire item, ``{"type": "image", "path",
"media_type", "name"}``: the engine child turns it into llama.cpp's media marker and a bitmap,
the cloud wire into a data URL (OpenAI) or a base64 image block (Anthropic).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from desktop.core.parts import Image, Part

#: What a user may attach (a GIF gives its first frame). The store keeps PNG or JPEG only, which
#: every API and llama.cpp's own decoder read.
ACCEPTED_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")
ACCEPTED_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif")
STORED_TYPES = {"image/png": ".png", "image/jpeg": ".jpg"}

#: The most images one message may carry (Llama 4 Scout was tested with up to 5; the APIs take
#: more, but a message is a question about a few pictures, not an album).
MAX_IMAGES_PER_MESSAGE = 10


@dataclass(frozen=True)
class UploadLimit:
    """The largest image an API takes, or reads at full detail (larger ones are scaled down
    first: never refused for their size)."""

    max_side: int
    max_pixels: int
    max_bytes: int


#: OpenAI scales an image into 2048×2048 (then to 768 on its short side for high detail);
#: a request's images may total 50 MB. Sending more pixels than it reads only costs upload.
OPENAI_LIMIT = UploadLimit(max_side=2048, max_pixels=2048 * 768, max_bytes=20_000_000)
#: Anthropic: over 1568 px on the long side (~1.15 MP) the API scales it down itself; an
#: image over 5 MB is refused.
ANTHROPIC_LIMIT = UploadLimit(max_side=1568, max_pixels=1_150_000, max_bytes=5_000_000)
#: OpenAI-compatible hosts (Together, Groq, Fireworks, vLLM): Groq refuses images over 33 MP and
#: base64 requests over 4 MB, so stay well inside what any of them reads.
COMPATIBLE_LIMIT = UploadLimit(max_side=1536, max_pixels=1_200_000, max_bytes=3_500_000)


def wire_item(image: Image, root: str) -> dict[str, Any]:
    """An image as the wire messages carry it: its absolute path (``root`` joined)."""
    path = str(PurePath(root) / image.path) if root else image.path
    return {"type": "image", "path": path, "media_type": image.media_type, "name": image.alt}


def wire_content(parts: Sequence[Part], text: str, root: str) -> str | list[dict[str, Any]]:
    """A message's content for the wire: its text, or where it has images, a list of them
    followed by the text (the order a user's attachments and question have)."""
    images = [p for p in parts if isinstance(p, Image)]
    if not images:
        return text
    return [*(wire_item(i, root) for i in images), {"type": "text", "text": text}]


def wire_images(content: Any) -> list[dict[str, Any]]:
    """The image items of one wire message's content (none for plain text)."""
    if not isinstance(content, list):
        return []
    return [c for c in content if isinstance(c, dict) and c.get("type") == "image"]


def wire_text(content: Any) -> str:
    """A wire message's words, its images left out."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "".join(
        str(c.get("text", "")) for c in content if isinstance(c, dict) and c.get("type") == "text"
    )


def has_images(messages: Sequence[dict[str, Any]]) -> bool:
    return any(wire_images(m.get("content")) for m in messages)


# -- which cloud models can see ----------------------------------------------------------------

#: Model names (after the provider's prefix) that take images. GPT-4o and later, GPT-4 Turbo,
#: the o-series reasoning models (not their minis before o4), every Claude from 3 on, Llama 4
#: (Scout, Maverick) and the open vision families the OpenAI-compatible hosts serve.
_SEES = re.compile(
    r"gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|gpt-4-turbo|gpt-4-vision|chatgpt-4o|^o1(?!-mini)|^o3(?!-mini)"
    r"|^o4|claude-(3|sonnet|opus|haiku)|claude-.*-[34]|llama-4|llama4|vision|-vl\b|-vl-|vl-"
    r"|qwen.*vl|pixtral|llava|gemma-?3|minicpm-v|internvl|molmo|phi-3\.5-vision|phi-4-multimodal",
    re.IGNORECASE,
)


def cloud_model_sees(model: str) -> bool:
    """Whether a cloud model (its name at the provider, or ``provider:name``) takes images.
    Names we do not know are taken as text-only: sending an image the model cannot read gets
    an error from the host at best, and is paid for at worst."""
    name = model.split(":", 1)[1] if ":" in model else model
    return bool(_SEES.search(name.rsplit("/", 1)[-1]) or _SEES.search(name))


def cannot_see_note(model_name: str, local: bool) -> str:
    """Why a model takes no images, in the words the attach button's tooltip and a comparison
    column use."""
    if local:
        return (
            f"{model_name} cannot see images: it has no vision projector (mmproj file). "
            "Pick a model with one, or add its mmproj GGUF beside it."
        )
    return f"{model_name} does not take images; pick a vision model (GPT-4o, Claude, Llama 4)."
