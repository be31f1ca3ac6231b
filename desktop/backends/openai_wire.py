"""The OpenAI chat-completions wire format, as the local server reads and writes it: a request
body turned into messages, sampling settings and tools (``ChatRequest``), the answer's events
turned into completion objects and stream chunks, and errors in OpenAI's shape.

Pure functions and plain data, no HTTP: backends.openai_server does the serving.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from desktop.core.answer import Answer
from desktop.core.errors import InvalidParameter
from desktop.core.params import SamplingParams
from desktop.core.parts import ToolCall
from desktop.core.tools import AUTO, ToolChoice, ToolSpec
from desktop.core.usage import StopReason, Usage

#: Roles a message may have; "developer" is OpenAI's newer name for "system".
_ROLES = ("system", "developer", "user", "assistant", "tool")
#: At most this many stop strings, as OpenAI allows.
MAX_STOPS = 4


class WireError(Exception):
    """A request the server answers with an OpenAI-shaped error: the HTTP status, OpenAI's
    error ``type`` and ``code``, the parameter at fault, and a sentence for the client."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.code, self.param)


def error_body(
    message: str, type_: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """OpenAI's error object: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _bad(message: str, param: str | None = None) -> WireError:
    return WireError(400, message, param=param)


@dataclass(frozen=True)
class ChatRequest:
    """One chat-completions request, checked: what the engine is asked and how to answer."""

    model: str
    messages: list[dict[str, Any]]
    sampling: SamplingParams
    stream: bool = False
    include_usage: bool = False
    stop: tuple[str, ...] = ()
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice = AUTO


#: The picture item a request's content carries until the server stores it (served_images).
INLINE_IMAGE = "inline_image"


def _image_part(part: Mapping[str, Any], where: str) -> dict[str, Any]:
    """An ``image_url`` part: a base64 data URL, kept as text until the server stores it. A
    web address is refused: the server fetches nothing (nothing leaves this computer)."""
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, Mapping) else image
    if not isinstance(url, str) or not url:
        raise _bad(f"{where}.content has an image_url part without a url.", where)
    if not url.startswith("data:"):
        raise _bad(
            f"{where}.content has a picture at a web address; this server fetches nothing from "
            "the internet. Send the picture inline as a base64 data URL "
            "(data:image/png;base64,...).",
            where,
        )
    return {"type": INLINE_IMAGE, "url": url}


def _content(content: Any, where: str) -> str | list[dict[str, Any]]:
    """A message's content: a string, or (with pictures) its pictures then its words; a list of
    text parts alone is joined into one string."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _bad(f"{where}.content must be a string or a list of parts.", where)
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    for part in content:
        if not isinstance(part, Mapping):
            raise _bad(f"{where}.content has a part that is not an object.", where)
        kind = part.get("type")
        if kind == "text":
            texts.append(str(part.get("text", "")))
        elif kind == "image_url":
            images.append(_image_part(part, where))
        else:
            raise _bad(
                f"{where}.content has a part of type {kind!r}; this server takes text and "
                "image_url parts.",
                where,
            )
    if not images:
        return "".join(texts)
    return [*images, {"type": "text", "text": "".join(texts)}]


def _message(raw: Any, index: int) -> dict[str, Any]:
    where = f"messages[{index}]"
    if not isinstance(raw, Mapping):
        raise _bad(f"{where} must be an object.", where)
    role = raw.get("role")
    if role not in _ROLES:
        raise _bad(f"{where}.role must be one of {', '.join(_ROLES)}; got {role!r}.", where)
    message: dict[str, Any] = {
        "role": "system" if role == "developer" else role,
        "content": _content(raw.get("content"), where),
    }
    if role != "user" and not isinstance(message["content"], str):
        raise _bad(f"{where}: only the user's messages may carry pictures.", where)
    if role == "assistant" and raw.get("tool_calls"):
        calls = raw["tool_calls"]
        if not isinstance(calls, list):
            raise _bad(f"{where}.tool_calls must be a list.", where)
        message["tool_calls"] = [
            {
                "id": str(c.get("id", "")),
                "type": "function",
                "function": {
                    "name": str((c.get("function") or {}).get("name", "")),
                    "arguments": str((c.get("function") or {}).get("arguments", "")),
                },
            }
            for c in calls
            if isinstance(c, Mapping)
        ]
    if role == "tool":
        message["tool_call_id"] = str(raw.get("tool_call_id", ""))
        if raw.get("name"):
            message["name"] = str(raw["name"])
    return message


def _number(body: Mapping[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    if value is None:
        return None
    # bool is an int in Python, never a number in JSON terms.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(f"{name} must be a number, got {value!r}.", name)
    if kind is int:
        if isinstance(value, float) and not value.is_integer():
            raise _bad(f"{name} must be a whole number, got {value!r}.", name)
        return int(value)
    return float(value)


def _sampling(body: Mapping[str, Any], defaults: SamplingParams) -> SamplingParams:
    values = defaults.to_dict()
    for name, kind in (("temperature", float), ("top_p", float), ("seed", int)):
        value = _number(body, name, kind)
        if value is not None:
            values[name] = value
    # max_completion_tokens is the newer name; either is taken, the newer winning.
    for name in ("max_tokens", "max_completion_tokens"):
        value = _number(body, name, int)
        if value is not None:
            values["max_tokens"] = value
    if body.get("n") not in (None, 1):
        raise _bad("This server gives one choice per request: n must be 1.", "n")
    values["json_schema"] = _response_format(body.get("response_format"))
    try:
        return SamplingParams.from_dict(values)
    except InvalidParameter as exc:
        param = next((n for n in ("temperature", "top_p", "seed") if n in str(exc)), None)
        if param is None and "max tokens" in str(exc):
            param = "max_tokens"
        raise _bad(str(exc), param) from None


def _response_format(raw: Any) -> str:
    """The JSON Schema (as JSON text) the answer is held to: any JSON object for
    ``json_object``, the given schema for ``json_schema``, "" for ``text`` or none."""
    if raw is None:
        return ""
    kind = raw.get("type") if isinstance(raw, Mapping) else None
    if kind == "text":
        return ""
    if kind == "json_object":
        return json.dumps({"type": "object"})
    if kind == "json_schema":
        spec = raw.get("json_schema")
        schema = spec.get("schema", {"type": "object"}) if isinstance(spec, Mapping) else None
        if not isinstance(schema, Mapping):
            raise _bad(
                "response_format.json_schema must be an object with the JSON Schema in its "
                '"schema".',
                "response_format",
            )
        return json.dumps(schema, sort_keys=True)
    raise _bad(
        'response_format must be {"type": "text"}, {"type": "json_object"} or '
        '{"type": "json_schema", "json_schema": {"schema": ...}}.',
        "response_format",
    )


def _stops(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    stops = [raw] if isinstance(raw, str) else raw
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise _bad("stop must be a string or a list of strings.", "stop")
    if len(stops) > MAX_STOPS:
        raise _bad(f"stop takes at most {MAX_STOPS} strings.", "stop")
    return tuple(s for s in stops if s)


def _tools(raw: Any) -> tuple[ToolSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _bad("tools must be a list.", "tools")
    specs = []
    for i, tool in enumerate(raw):
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if not isinstance(tool, Mapping) or tool.get("type") != "function" or not function:
            raise _bad(f"tools[{i}] must be a function tool.", "tools")
        if not isinstance(function, Mapping) or not function.get("name"):
            raise _bad(f"tools[{i}].function needs a name.", "tools")
        parameters = function.get("parameters")
        specs.append(
            ToolSpec(
                name=str(function["name"]),
                description=str(function.get("description", "")),
                parameters=dict(parameters)
                if isinstance(parameters, Mapping)
                else {"type": "object"},
            )
        )
    return tuple(specs)


def _tool_choice(raw: Any, tools: Sequence[ToolSpec]) -> ToolChoice:
    if raw is None:
        return AUTO
    if raw in ("auto", "required", "none"):
        return ToolChoice(raw)
    name = ((raw.get("function") or {}) if isinstance(raw, Mapping) else {}).get("name")
    if not name:
        raise _bad(
            'tool_choice must be "auto", "required", "none" or a named function.', "tool_choice"
        )
    if name not in {t.name for t in tools}:
        raise _bad(f"tool_choice names {name!r}, which is not among the tools.", "tool_choice")
    return ToolChoice("tool", str(name))


def parse_request(raw: bytes, defaults: SamplingParams) -> ChatRequest:
    """A chat-completions body checked and read; raises WireError (400) saying what is wrong."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad(f"The request body is not valid JSON ({exc}).") from None
    if not isinstance(body, dict):
        raise _bad("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("model is required: one of the ids GET /v1/models lists.", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad("messages is required: a non-empty list of messages.", "messages")
    options = body.get("stream_options") or {}
    tools = _tools(body.get("tools"))
    sampling = _sampling(body, defaults)  # with tools too: a call, or text in that format
    return ChatRequest(
        model=model,
        messages=[_message(m, i) for i, m in enumerate(messages)],
        sampling=sampling,
        stream=bool(body.get("stream", False)),
        include_usage=bool(isinstance(options, Mapping) and options.get("include_usage")),
        stop=_stops(body.get("stop")),
        tools=tools,
        tool_choice=_tool_choice(body.get("tool_choice"), tools) if tools else AUTO,
    )


class StopScanner:
    """Cuts the text at the first stop string: text that could still begin one is held back
    until the next piece says whether it does."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(stops)
        self._held = ""
        #: A stop string was met: the answer ends here.
        self.hit = False

    def feed(self, text: str) -> str:
        """The text that may be shown now."""
        if self.hit:
            return ""
        if not self.stops:
            return text
        self._held += text
        cut = min((i for i in (self._held.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self.hit = True
            shown, self._held = self._held[:cut], ""
            return shown
        keep = max(
            (n for s in self.stops for n in range(1, len(s)) if self._held.endswith(s[:n])),
            default=0,
        )
        shown = self._held[: len(self._held) - keep]
        self._held = self._held[len(self._held) - keep :]
        return shown

    def flush(self) -> str:
        """What is still held when the answer ends without a stop string."""
        held, self._held = ("" if self.hit else self._held), ""
        return held


def finish_reason(usage: Usage, stopped_by_string: bool, has_calls: bool) -> str:
    """OpenAI's finish_reason for how the answer ended."""
    if has_calls or usage.stop_reason == StopReason.TOOL_CALLS:
        return "tool_calls"
    if stopped_by_string:
        return "stop"
    return "length" if usage.stop_reason == StopReason.LENGTH else "stop"


def usage_body(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.prompt_tokens + usage.output_tokens,
    }


def wire_calls(calls: Sequence[ToolCall], with_index: bool = False) -> list[dict[str, Any]]:
    out = []
    for i, call in enumerate(calls):
        entry: dict[str, Any] = {
            "id": call.call_id or f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments},
        }
        if with_index:
            entry = {"index": i, **entry}
        out.append(entry)
    return out


@dataclass
class Completion:
    """The ids and time an answer's completion object and chunks share."""

    model: str
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    created: int = field(default_factory=lambda: int(time.time()))

    def _head(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}

    def whole(self, answer: Answer, text: str, stopped_by_string: bool) -> dict[str, Any]:
        """The non-streaming answer: one choice with the message, and the usage."""
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if answer.calls:
            message["tool_calls"] = wire_calls(answer.calls)
            message["content"] = text or None
        reason = finish_reason(answer.usage, stopped_by_string, bool(answer.calls))
        return {
            **self._head("chat.completion"),
            "choices": [{"index": 0, "message": message, "finish_reason": reason}],
            "usage": usage_body(answer.usage),
        }

    def chunk(
        self,
        delta: Mapping[str, Any],
        reason: str | None = None,
        *,
        with_usage: bool = False,
    ) -> dict[str, Any]:
        """One stream chunk; with ``with_usage`` a null usage, as OpenAI sends before the last."""
        body = {
            **self._head("chat.completion.chunk"),
            "choices": [{"index": 0, "delta": dict(delta), "finish_reason": reason}],
        }
        if with_usage:
            body["usage"] = None
        return body

    def usage_chunk(self, usage: Usage) -> dict[str, Any]:
        """The last chunk when the client asked for usage: no choices, the usage."""
        return {**self._head("chat.completion.chunk"), "choices": [], "usage": usage_body(usage)}


def sse(data: Mapping[str, Any] | str) -> bytes:
    """One server-sent event line: ``data: {...}`` and a blank line."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n".encode()
