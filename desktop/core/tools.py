"""Tools a model may call: what is offered (``ToolSpec``), how strongly (``ToolChoice``), and how a
turn with calls in it is laid out for a model (``steps_of``, ``openai_messages``).

A turn that uses tools is one assistant message whose parts run: words, calls, their results,
more words, more calls... (``[Text, ToolCall, ToolResult, Text]``). Storing it as one message keeps
versions, branches, regenerate and search unchanged; every model API, though, wants it as a
sequence of assistant and tool messages, which ``steps_of`` gives.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from desktop.core.parts import Part, Text, ToolCall, ToolResult


@dataclass(frozen=True)
class ToolSpec:
    """One function offered to a model: its name, what it does and its arguments' JSON schema."""

    name: str
    description: str = ""
    #: A JSON schema of type "object" (MCP's inputSchema; OpenAI's and Anthropic's parameters).
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object"})
    #: The MCP server that runs it ("" for none: a comparison's or a test's own tool).
    server: str = ""

    def openai(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry (chat templates take the same shape)."""
        function: dict[str, Any] = {"name": self.name, "parameters": dict(self.parameters)}
        if self.description:
            function["description"] = self.description
        return {"type": "function", "function": function}

    def anthropic(self) -> dict[str, Any]:
        """The Anthropic ``tools`` entry."""
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": dict(self.parameters),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "parameters": dict(self.parameters),
            "server": self.server,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolSpec:
        parameters = data.get("parameters")
        return cls(
            name=str(data["name"]),
            description=str(data.get("description", "")),
            parameters=dict(parameters) if isinstance(parameters, Mapping) else {"type": "object"},
            server=str(data.get("server", "")),
        )


ChoiceMode = Literal["auto", "required", "none", "tool"]


@dataclass(frozen=True)
class ToolChoice:
    """Whether the model may call (auto), must call (required), must call ``name`` (tool), or
    must not call (none) a tool. Required and tool are forced from the first token."""

    mode: ChoiceMode = "auto"
    name: str = ""

    @property
    def forced(self) -> bool:
        return self.mode in ("required", "tool")

    def to_dict(self) -> dict[str, str]:
        return {"mode": self.mode, "name": self.name}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ToolChoice:
        if not data:
            return cls()
        mode = str(data.get("mode", "auto"))
        if mode not in ("auto", "required", "none", "tool"):
            raise ValueError(f"Unknown tool choice {mode!r}.")
        return cls(mode, str(data.get("name", "")))  # type: ignore[arg-type]

    def openai(self) -> str | dict[str, Any]:
        if self.mode == "tool":
            return {"type": "function", "function": {"name": self.name}}
        return self.mode

    def anthropic(self) -> dict[str, Any]:
        if self.mode == "tool":
            return {"type": "tool", "name": self.name}
        return {"type": {"auto": "auto", "required": "any", "none": "none"}[self.mode]}


AUTO = ToolChoice()


@dataclass(frozen=True)
class ToolStep:
    """One model step of a turn: what it said, the calls it made, and their results."""

    text: str
    calls: tuple[ToolCall, ...] = ()
    results: tuple[ToolResult, ...] = ()


def steps_of(parts: Iterable[Part]) -> list[ToolStep]:
    """Split an assistant message's parts into model steps: a step ends after its calls'
    results. A message without calls is one step of its text; reasoning and other parts are
    not sent back and are left out."""
    steps: list[ToolStep] = []
    text: list[str] = []
    calls: list[ToolCall] = []
    results: list[ToolResult] = []
    for part in parts:
        if isinstance(part, Text):
            if results:  # words after results start the next step
                steps.append(ToolStep("".join(text), tuple(calls), tuple(results)))
                text, calls, results = [], [], []
            text.append(part.text)
        elif isinstance(part, ToolCall):
            if results:
                steps.append(ToolStep("".join(text), tuple(calls), tuple(results)))
                text, calls, results = [], [], []
            calls.append(part)
        elif isinstance(part, ToolResult):
            results.append(part)
    if text or calls or results or not steps:
        steps.append(ToolStep("".join(text), tuple(calls), tuple(results)))
    return steps


def arguments_object(arguments: str) -> dict[str, Any]:
    """A call's JSON arguments as an object ({} where they are not one, e.g. a malformed call)."""
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def openai_messages(role: str, parts: Sequence[Part], text: str) -> list[dict[str, Any]]:
    """One stored message in OpenAI's chat format: a user's or plain answer's one message, or an
    answer with calls as assistant messages with ``tool_calls``, each followed by its ``tool``
    results. ``text`` is what to send for a message without calls (its words)."""
    if role != "assistant" or not any(isinstance(p, ToolCall | ToolResult) for p in parts):
        return [{"role": role, "content": text}]
    out: list[dict[str, Any]] = []
    for step in steps_of(parts):
        message: dict[str, Any] = {"role": "assistant", "content": step.text}
        if step.calls:
            message["tool_calls"] = [
                {
                    "id": call.call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in step.calls
            ]
        if step.text or step.calls:
            out.append(message)
        names = {call.call_id: call.name for call in step.calls}
        out.extend(
            {
                "role": "tool",
                "tool_call_id": result.call_id,
                "name": names.get(result.call_id, ""),
                "content": result.content,
            }
            for result in step.results
        )
    return out


def pending_calls(parts: Sequence[Part]) -> list[ToolCall]:
    """The calls in these parts that have no result yet, in order."""
    answered = {p.call_id for p in parts if isinstance(p, ToolResult)}
    return [p for p in parts if isinstance(p, ToolCall) and p.call_id not in answered]
