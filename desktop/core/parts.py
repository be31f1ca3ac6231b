"""What a message is made of: a tuple of typed parts, each a small frozen dataclass with a stable
JSON form (``{"type": ..., fields}``) that the store, exports and imports share.

A new kind of content (an image, a document, a tool call) is a new part class here plus its
rendering; the store, export and import carry it without change. A part of a type this version
does not know (written by a newer Llamaside) is kept as ``Unknown`` and written back unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar


@dataclass(frozen=True)
class Text:
    """Words of the message: what search finds and what is sent to models."""

    text: str
    type: ClassVar[str] = "text"


@dataclass(frozen=True)
class Reasoning:
    """What a model showed of its thinking: shown collapsed, exported, never sent back."""

    text: str
    type: ClassVar[str] = "reasoning"


@dataclass(frozen=True)
class Image:
    """A picture in the message, by reference: ``path`` is its file's name in the app's image
    folder (its content's sha256 and a suffix), so an image is stored once however many
    messages hold it. In a Prompt it is the absolute path (``Prompt.image_root`` joined)."""

    media_type: str
    path: str
    #: What the user called it (the file's name, or "Pasted image").
    alt: str = ""
    width: int = 0
    height: int = 0
    #: The stored file's size in bytes.
    size: int = 0
    type: ClassVar[str] = "image"


@dataclass(frozen=True)
class Attachment:
    """A document the user attached: its name, type and the text the model is given."""

    name: str
    media_type: str
    text: str = ""
    type: ClassVar[str] = "attachment"


@dataclass(frozen=True)
class ToolCall:
    """A model asking for a function to be run; ``arguments`` is the JSON text it sent.

    ``problem`` says why a call could not be read (then ``arguments`` is the raw text the model
    wrote): such a call is shown as one and answered with an error, never taken as answer text.
    """

    call_id: str
    name: str
    arguments: str
    #: The MCP server the tool belongs to, where known ("" for none or not yet resolved).
    server: str = ""
    problem: str = ""
    type: ClassVar[str] = "tool_call"


@dataclass(frozen=True)
class ToolResult:
    """What a tool returned for a call (or why it did not run: denied, failed, timed out)."""

    call_id: str
    content: str
    is_error: bool = False
    #: One of the TOOL_* outcomes below.
    status: str = "ok"
    #: How long the tool ran (0 when it did not run).
    duration_s: float = 0.0
    type: ClassVar[str] = "tool_result"


TOOL_OK = "ok"
TOOL_FAILED = "failed"
TOOL_DENIED = "denied"
TOOL_TIMED_OUT = "timed_out"
TOOL_CANCELLED = "cancelled"


@dataclass(frozen=True)
class Unknown:
    """A part of a type this version does not know, kept whole so it is written back as read."""

    data: Mapping[str, Any]

    @property
    def type(self) -> str:
        return str(self.data.get("type", ""))


Part = Text | Reasoning | Image | Attachment | ToolCall | ToolResult | Unknown
Parts = tuple[Part, ...]

KNOWN: dict[str, type[Text | Reasoning | Image | Attachment | ToolCall | ToolResult]] = {
    cls.type: cls for cls in (Text, Reasoning, Image, Attachment, ToolCall, ToolResult)
}


class PartError(ValueError):
    """A part's JSON form is malformed (a known type with missing or wrong fields)."""


def part_to_json(part: Part) -> dict[str, Any]:
    """The stable JSON form: ``{"type": ...}`` followed by the part's fields."""
    if isinstance(part, Unknown):
        return dict(part.data)
    return {"type": part.type, **{f.name: getattr(part, f.name) for f in fields(part)}}


def part_from_json(data: Any) -> Part:
    if not isinstance(data, Mapping) or not isinstance(data.get("type"), str):
        raise PartError(f"A message part must be an object with a type, not {data!r:.80}.")
    cls = KNOWN.get(data["type"])
    if cls is None:
        return Unknown(dict(data))
    names = {f.name: f for f in fields(cls)}
    values = {k: v for k, v in data.items() if k in names}
    try:
        part = cls(**values)
    except TypeError as exc:
        raise PartError(f"A {data['type']} part is missing a field: {exc}.") from None
    for name, field_ in names.items():
        wanted = _FIELD_TYPES.get(str(field_.type), (str,))
        value = getattr(part, name)
        if not isinstance(value, wanted) or (wanted != (bool,) and isinstance(value, bool)):
            raise PartError(f"A {data['type']} part's {name} must be {wanted[0].__name__}.")
    return part


# A field's annotation (a string: annotations are postponed) -> the JSON values it accepts.
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "bool": (bool,),
    "float": (float, int),
    "int": (int,),
    "str": (str,),
}


def parts_to_json(parts: Iterable[Part]) -> str:
    return json.dumps([part_to_json(p) for p in parts], ensure_ascii=False)


def parts_from_json(text: str | bytes | list[Any]) -> Parts:
    data = json.loads(text) if isinstance(text, str | bytes) else text
    if not isinstance(data, list):
        raise PartError("A message's parts must be a list.")
    return tuple(part_from_json(item) for item in data)


def answer_parts(text: str, reasoning: str = "") -> Parts:
    """A message as most are: its thinking (if shown) and then its words."""
    return (Reasoning(reasoning), Text(text)) if reasoning else (Text(text),)


def text_of(parts: Iterable[Part]) -> str:
    """The words of a message (its text parts joined): what is searched and sent."""
    return "".join(p.text for p in parts if isinstance(p, Text))


def images_of(parts: Iterable[Part]) -> list[Image]:
    return [p for p in parts if isinstance(p, Image)]


def reasoning_of(parts: Iterable[Part]) -> str:
    return "".join(p.text for p in parts if isinstance(p, Reasoning))


def is_plain(parts: Parts) -> bool:
    """Only words: the store keeps such a message as its text alone (parts column NULL)."""
    return all(isinstance(p, Text) for p in parts) and len(parts) <= 1


def placeholder(part: Part) -> str:
    """How a part whose display has not been built yet is labelled in the chat view."""
    if isinstance(part, Image):
        return f"[Image: {part.alt or 'picture'}]"
    if isinstance(part, Attachment):
        return f"[Attachment: {part.name}]"
    if isinstance(part, ToolCall):
        return f"[Tool call: {part.name}({part.arguments})]"
    if isinstance(part, ToolResult):
        return f"[Tool result{' (error)' if part.is_error else ''}: {part.content}]"
    if isinstance(part, Unknown):
        return f"[{part.type or 'Unknown'} content from a newer Llamaside]"
    return part.text
