"""Reading a cloud provider's streamed answer: each event's fields, checked as they are read (a
server that sends something else sent a malformed stream), what the answer has produced so far
(its text, thinking, token counts and how it ended), and its tool calls put together from the
fragments they stream in. No Qt, no SDK.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from desktop.core.parts import ToolCall
from desktop.core.tool_wire import read_call
from desktop.core.usage import StopReason, Usage


def _field(event: object, name: str) -> Any:
    """``event[name]`` as a dict for nested objects ({} when absent or null). A server that
    sends something other than JSON objects sent a malformed stream (ValueError, named so)."""
    if not isinstance(event, dict):
        raise ValueError(f"expected a JSON object, got {str(event)[:80]!r}")
    value = event.get(name)
    if name in _OBJECTS:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError(f"expected a JSON object for {name!r}, got {str(value)[:80]!r}")
    return value


#: Fields that hold JSON objects: absent reads as {} so lookups inside them need no checks.
_OBJECTS = frozenset({"usage", "delta", "message", "function", "content_block"})


def _first(items: object) -> dict[str, Any]:
    if not isinstance(items, list) or not isinstance(items[0], dict):
        raise ValueError(f"expected a list of JSON objects, got {str(items)[:80]!r}")
    return items[0]


def _count(usage: object, name: str) -> int:
    value = usage.get(name) if isinstance(usage, dict) else None
    return value if isinstance(value, int) else 0


@dataclass
class _Answer:
    """What one streamed answer has produced so far."""

    pieces: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    first: float = 0.0
    reason: StopReason = StopReason.STOP
    #: Token counts from the provider; empty until its final usage event arrived.
    usage: dict[str, int] = field(default_factory=dict)
    #: Thinking shown by the model, and when it began and ended.
    reasoning: list[str] = field(default_factory=list)
    thinking_from: float = 0.0
    thinking_to: float = 0.0
    #: The user's settings the request left out (the model does not take them).
    not_applied: tuple[str, ...] = ()
    #: A tool call began (a stream cut after it was not empty, though it has no text).
    calling: bool = False

    def add(self, text: str) -> None:
        if not self.first:
            self.first = time.perf_counter()
        self.pieces.append(text)

    def call_began(self) -> None:
        """A tool call began streaming (output, for the time to the first token, as words are)."""
        self.calling = True
        if not self.first:
            self.first = time.perf_counter()

    def think(self, text: str) -> None:
        now = time.perf_counter()
        self.thinking_from = self.thinking_from or now
        self.thinking_to = now
        self.reasoning.append(text)

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def usage_now(self) -> Usage:
        end = time.perf_counter()
        return Usage(
            prompt_tokens=self.usage.get("prompt", 0),
            prompt_tokens_evaluated=self.usage.get("prompt", 0),
            output_tokens=self.usage.get("output", len(self.pieces)),
            time_to_first_token_s=(self.first or end) - self.started,
            total_s=end - self.started,
            stop_reason=self.reason,
            reasoning_tokens=self.usage.get("reasoning", 0),
            cached_prompt_tokens=self.usage.get("cached", 0),
            thinking_s=round(self._thinking_s(end), 3),
            not_applied=self.not_applied,
        )

    def _thinking_s(self, end: float) -> float:
        """From the request to the answer's first text, when the model thought first (shown or
        counted): the wait a user sees as "thinking"."""
        if not (self.reasoning or self.usage.get("reasoning")):
            return 0.0
        return (self.first or self.thinking_to or end) - self.started


@dataclass
class _Draft:
    """One tool call as its fragments arrive: the id and name first, the arguments in pieces."""

    call_id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)

    def call(self) -> ToolCall:
        # A server that sent no id still needs one: a result is matched to its call by it.
        call_id = self.call_id or f"call_{uuid.uuid4().hex[:24]}"
        return read_call(call_id, self.name, "".join(self.arguments))


@dataclass
class _Calls:
    """The tool calls of one streamed answer, by the index each API gives its fragments."""

    drafts: dict[int, _Draft] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.drafts)

    def openai(self, fragments: object) -> None:
        """``delta.tool_calls``: each fragment names its call's index; the first carries the
        id, type and function name, the next ones pieces of ``function.arguments``."""
        if not isinstance(fragments, list):
            raise ValueError(f"expected a list of tool calls, got {str(fragments)[:80]!r}")
        for fragment in fragments:
            function = _field(fragment, "function")
            index = fragment.get("index")
            call_id = fragment.get("id")
            call_id = call_id if isinstance(call_id, str) else ""
            if not isinstance(index, int):
                # Not OpenAI's shape, but some hosts send each call whole without an index.
                index = self._unindexed(call_id)
            draft = self.drafts.setdefault(index, _Draft())
            draft.call_id = draft.call_id or call_id
            name = function.get("name")
            if isinstance(name, str) and not draft.name:
                draft.name = name
            arguments = function.get("arguments")
            if isinstance(arguments, str):
                draft.arguments.append(arguments)

    def _unindexed(self, call_id: str) -> int:
        last = max(self.drafts, default=-1)
        if last < 0 or (call_id and call_id != self.drafts[last].call_id):
            return last + 1
        return last

    def start(self, index: int, call_id: str, name: str) -> None:
        self.drafts[index] = _Draft(call_id, name)

    def extend(self, index: int, arguments: str) -> None:
        draft = self.drafts.get(index)
        if draft is not None:
            draft.arguments.append(arguments)

    def all(self) -> list[ToolCall]:
        """Every call, in the order the model made them."""
        calls = [self.drafts[i].call() for i in sorted(self.drafts)]
        self.drafts.clear()
        return calls
