"""A turn in which the model may call tools: model step, the user's say on each call, the call
run (or refused), its result back to the model, next step; at most ``max_steps`` model steps.

No Qt here. Whoever asks the user is a ``ToolGate`` (the window's dialog, the terminal, a
test's script); whoever runs a call is an ``Executor`` (the MCP hub). Nothing runs without a
gate's yes or a standing "always allow" the user gave for that one tool.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from desktop.core.answer import Answer, PromptMessage
from desktop.core.messages import Role
from desktop.core.parts import (
    TOOL_CANCELLED,
    TOOL_DENIED,
    TOOL_FAILED,
    TOOL_OK,
    Part,
    ToolCall,
    ToolResult,
)
from desktop.core.tools import ToolChoice, ToolSpec, arguments_object
from desktop.core.usage import Usage

#: Model steps one turn may take before it ends with a note (a model calling in a loop).
DEFAULT_MAX_STEPS = 10
#: Seconds a call may run before it is abandoned and the model told it timed out.
DEFAULT_TOOL_TIMEOUT_S = 30.0


class Decision(str, enum.Enum):
    """The user's answer to "may this call run?"."""

    ALLOW_ONCE = "allow_once"
    ALWAYS = "always"
    DENY = "deny"


class ToolGate(Protocol):
    """Asks the user about one call (blocking until they answer)."""

    def decide(self, call: ToolCall, spec: ToolSpec | None) -> Decision: ...


class CallHandle(Protocol):
    """A call in flight on a server."""

    def result(self, timeout: float | None = None) -> Any: ...

    def cancel(self) -> None: ...


class Executor(Protocol):
    """Runs calls on the servers that own the tools (the MCP hub)."""

    def call(
        self, server: str, tool: str, arguments: dict[str, Any], timeout_s: float = ...
    ) -> CallHandle: ...


def tool_key(server: str, name: str) -> str:
    """How a tool is named in the "always allow" list: its server and its name."""
    return f"{server}/{name}"


@dataclass
class ToolBox:
    """The tools one chat has on, and the rules for running them."""

    specs: list[ToolSpec]
    executor: Executor | None
    gate: ToolGate
    #: tool_key()s the user chose "Always allow" for; grows when they choose it again.
    always: set[str] = field(default_factory=set)
    timeout_s: float = DEFAULT_TOOL_TIMEOUT_S
    max_steps: int = DEFAULT_MAX_STEPS
    choice: ToolChoice = field(default_factory=ToolChoice)
    #: Called when the user chooses "Always allow" (to keep it in the settings).
    on_always: Callable[[str], None] = lambda _key: None
    _running: CallHandle | None = None
    _cancelled: threading.Event = field(default_factory=threading.Event)

    def spec(self, name: str) -> ToolSpec | None:
        return next((s for s in self.specs if s.name == name), None)

    def resolve(self, calls: list[ToolCall]) -> None:
        """Name each call's server (a cloud model names only the tool), in place."""
        for i, call in enumerate(calls):
            spec = self.spec(call.name)
            if spec is not None and not call.server:
                calls[i] = replace(call, server=spec.server)

    @property
    def stopped(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Stop: the call running now is cancelled, and no later call of this turn runs."""
        self._cancelled.set()
        running = self._running
        if running is not None:
            running.cancel()

    def run(self, call: ToolCall) -> ToolResult:
        """Ask, then run one call; every way it can end is a result the model is given."""
        spec = self.spec(call.name)
        refused = self._refusal(call, spec)
        if refused is not None:
            return refused
        assert spec is not None
        key = tool_key(spec.server, spec.name)
        if key not in self.always:
            decision = self.gate.decide(call, spec)
            if decision == Decision.DENY:
                return not_run(call, TOOL_DENIED, "The user denied this call.")
            if decision == Decision.ALWAYS:
                self.always.add(key)
                self.on_always(key)
        if self._cancelled.is_set():
            return not_run(call, TOOL_CANCELLED, "Stopped by the user before it ran.")
        return self._execute(call, spec)

    def _refusal(self, call: ToolCall, spec: ToolSpec | None) -> ToolResult | None:
        """Why this call cannot run at all, before anyone is asked (None: it may)."""
        if self._cancelled.is_set():
            return not_run(call, TOOL_CANCELLED, "Stopped by the user before it ran.")
        if call.problem:
            return not_run(
                call,
                TOOL_FAILED,
                f"Your tool call could not be read: {call.problem} Call it again with the "
                "tool's name and JSON arguments that match its schema.",
            )
        if spec is None:
            offered = ", ".join(s.name for s in self.specs) or "none"
            return not_run(call, TOOL_FAILED, f"There is no tool {call.name!r} (tools: {offered}).")
        if self.executor is None:
            return not_run(call, TOOL_FAILED, "No tool server is running for this tool.")
        return None

    def _execute(self, call: ToolCall, spec: ToolSpec) -> ToolResult:
        assert self.executor is not None
        started = time.monotonic()
        try:
            handle = self.executor.call(
                spec.server, spec.name, arguments_object(call.arguments), self.timeout_s
            )
            self._running = handle
            if self._cancelled.is_set():
                handle.cancel()
            outcome = handle.result(self.timeout_s + 5.0)
        except Exception as exc:  # a server gone, a refused connection: the model is told
            return ToolResult(
                call.call_id,
                f"The tool failed: {exc}",
                is_error=True,
                status=TOOL_FAILED,
                duration_s=round(time.monotonic() - started, 3),
            )
        finally:
            self._running = None
        status = str(getattr(outcome, "status", TOOL_OK))
        return ToolResult(
            call.call_id,
            str(getattr(outcome, "content", "")),
            is_error=bool(getattr(outcome, "is_error", False)) or status != TOOL_OK,
            status=status,
            duration_s=float(getattr(outcome, "duration_s", time.monotonic() - started)),
        )


def not_run(call: ToolCall, status: str, why: str) -> ToolResult:
    """The result of a call that did not run (denied, unreadable, stopped, over the limit)."""
    return ToolResult(call.call_id, why, is_error=True, status=status)


def add_usage(first: Usage, later: Usage) -> Usage:
    """A turn's usage over its steps: tokens and model time add up (each step is billed for
    its whole prompt); the first token came in the first step; the last step says how it
    ended."""
    return replace(
        later,
        prompt_tokens=first.prompt_tokens + later.prompt_tokens,
        prompt_tokens_evaluated=first.prompt_tokens_evaluated + later.prompt_tokens_evaluated,
        output_tokens=first.output_tokens + later.output_tokens,
        reasoning_tokens=first.reasoning_tokens + later.reasoning_tokens,
        cached_prompt_tokens=first.cached_prompt_tokens + later.cached_prompt_tokens,
        time_to_first_token_s=first.time_to_first_token_s or later.time_to_first_token_s,
        total_s=first.total_s + later.total_s,
        thinking_s=first.thinking_s + later.thinking_s,
    )


@dataclass
class ToolSteps:
    """The finished steps of one turn: their parts (words, calls, results) and usage. The step
    in progress is the turn's Answer, whose ``earlier`` holds these parts."""

    parts: list[Part] = field(default_factory=list)
    usage: Usage | None = None
    count: int = 0
    #: The turn reached its step limit (it ends stopped, with a note).
    limited: bool = False

    def close_step(self, answer: Answer, results: Iterable[ToolResult]) -> Answer:
        """A step ended with calls: keep what it said and did and the calls' results; returns
        the next step's empty Answer."""
        self.parts = [*answer.parts, *results]
        if answer.finished:
            self.usage = answer.usage if self.usage is None else add_usage(self.usage, answer.usage)
        self.count += 1
        return Answer(earlier=list(self.parts))

    def turn_usage(self, answer: Answer) -> Usage:
        """The usage of the whole turn once its last step has ended."""
        return answer.usage if self.usage is None else add_usage(self.usage, answer.usage)

    def prompt_message(self) -> PromptMessage:
        """The turn so far, as the assistant message the next step continues from."""
        return PromptMessage(Role.ASSISTANT, tuple(self.parts))


def needs_results(answer: Answer) -> bool:
    """The step asked for tools and ended cleanly: its calls are to be run."""
    return bool(answer.calls) and answer.finished and not answer.stopped and answer.error is None


def step_limit_note(max_steps: int) -> str:
    """Shown after "Stopped: " on an answer that reached the step limit."""
    return (
        f"after {max_steps} model steps, the limit for one turn (ask again to go on, or raise "
        "the limit in the tool settings)"
    )


def unanswered(calls: Iterable[ToolCall], why: str) -> list[ToolResult]:
    """Results for calls that will not run (the turn ended first): every call must have one,
    or the APIs refuse the conversation's next request."""
    return [not_run(call, TOOL_CANCELLED, why) for call in calls]
