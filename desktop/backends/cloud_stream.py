"""Reading a cloud provider's streamed answer: each event's fields, checked as they are read (a
server that sends something else sent a malformed stream), and what the answer has produced so
far (its text, thinking, token counts and how it ended). No Qt, no SDK.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

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
_OBJECTS = frozenset({"usage", "delta", "message"})


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

    def add(self, text: str) -> None:
        if not self.first:
            self.first = time.perf_counter()
        self.pieces.append(text)

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
