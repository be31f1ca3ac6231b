"""One shape for every model's answer: the prompt a source is given, the typed events it yields
while answering, and the one result those events fold into.

A local model (the engine child) and every cloud provider are ``AnswerSource``s. The window, the
CLI and the comparison pane read the same events, so a new kind of output (a tool call, an
image) is a new event and a new part, not a change to each of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from desktop.core.messages import MessageStatus, Role, status_after
from desktop.core.params import SamplingParams
from desktop.core.parts import Image, Part, Parts, Reasoning, Text, ToolCall, text_of
from desktop.core.tools import AUTO, ToolChoice, ToolSpec, openai_messages
from desktop.core.usage import StopReason, Usage
from desktop.core.vision import wire_content


@dataclass(frozen=True)
class PromptMessage:
    """One turn of the conversation as a source is given it: who said it, and its parts."""

    role: Role
    parts: Parts

    @property
    def text(self) -> str:
        return text_of(self.parts)


@dataclass(frozen=True)
class Prompt:
    """What a source is asked: the conversation so far (its system prompt apart) and settings."""

    messages: tuple[PromptMessage, ...]
    sampling: SamplingParams = field(default_factory=SamplingParams)
    system: str = ""
    #: The chat this is for, for the privacy record (None: a comparison or a one-off).
    conversation_id: int | None = None
    #: Functions the model may call this turn (none: it is not told of any).
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice = AUTO
    #: The folder the messages' Image parts name their files in ("" where they are absolute).
    image_root: str = ""

    def wire(self) -> list[dict[str, Any]]:
        """The OpenAI-style messages chat templates and SDKs take: text, and an answer's tool
        calls and results as ``tool_calls`` and ``tool`` messages; reasoning stays out. A
        message with images has a list for content: its images (``core.vision.wire_item``),
        then its text; each source turns those into its own form."""
        system = [{"role": "system", "content": self.system}] if self.system else []
        turns: list[dict[str, Any]] = []
        for m in self.messages:
            wired = openai_messages(m.role.value, m.parts, m.text)
            if len(wired) == 1 and any(isinstance(p, Image) for p in m.parts):
                wired[0]["content"] = wire_content(m.parts, m.text, self.image_root)
            turns.extend(wired)
        return [*system, *turns]

    @property
    def images(self) -> list[Image]:
        """Every image the conversation sends (the question's and earlier turns')."""
        return [p for m in self.messages for p in m.parts if isinstance(p, Image)]

    @classmethod
    def from_wire(cls, messages: list[dict[str, str]], sampling: SamplingParams) -> Prompt:
        """From OpenAI-style text messages (a leading system message becomes ``system``)."""
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        turns = tuple(
            PromptMessage(Role(m["role"]), (Text(m["content"]),))
            for m in messages
            if m["role"] != "system"
        )
        return cls(turns, sampling, system)


@dataclass(frozen=True)
class TextDelta:
    """More words of the answer."""

    text: str
    #: Tokens of the answer so far, where the source counts them (0: it does not).
    tokens: int = 0


@dataclass(frozen=True)
class ReasoningDelta:
    """More of what the model shows of its thinking (kept apart from the answer)."""

    text: str


@dataclass(frozen=True)
class ToolCallEvent:
    """The model asks for a function to be run (the user approves it before it runs)."""

    call: ToolCall


@dataclass(frozen=True)
class Finished:
    """The answer ended (its stop reason is in ``usage``: the model's end, length, Stop)."""

    usage: Usage


@dataclass(frozen=True)
class Overflow:
    """The prompt does not fit the model's context."""

    n_tokens: int
    limit: int
    #: The earlier turns fill it (not the new message alone): dropping old turns would help.
    conversation: bool


@dataclass(frozen=True)
class Failed:
    """The answer could not go on; ``message`` is a sentence for the user."""

    message: str
    overflow: Overflow | None = None
    #: The engine's error code where it gave one (e.g. a too-old llama.cpp build).
    code: str = ""


AnswerEvent = TextDelta | ReasoningDelta | ToolCallEvent | Finished | Failed


class AnswerSource(Protocol):
    """A model that answers: local (the engine child) or a cloud provider."""

    #: The model's id as the app lists it (``local:...`` or ``provider:model``).
    model_id: str

    def answer(self, prompt: Prompt) -> Iterator[AnswerEvent]:
        """Stream one answer; the last event is ``Finished`` or ``Failed``."""
        ...

    def cancel(self) -> None:
        """Stop the answer in progress (from any thread); it then ends with ``Finished``
        whose stop reason is CANCELLED."""
        ...

    def close(self) -> None:
        """Release what the source holds (a connection pool, an engine child)."""
        ...


@dataclass
class Answer:
    """One answer as its events arrive: text, reasoning and tool calls, then how it ended."""

    pieces: list[str] = field(default_factory=list)
    thoughts: list[str] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    #: The source's own token counts and timings (real once ``finished``).
    usage: Usage = field(default_factory=Usage)
    #: The source said how it ended (Finished arrived).
    finished: bool = False
    error: str | None = None
    overflow: Overflow | None = None
    code: str = ""
    #: Tokens counted so far by the source (for live speed), else text pieces seen.
    tokens: int = 0
    #: A tool turn's earlier steps (their words, calls and results); this Answer is its
    #: latest step. Empty for an answer of one step.
    earlier: list[Part] = field(default_factory=list)

    def add(self, event: AnswerEvent) -> None:
        if isinstance(event, TextDelta):
            self.pieces.append(event.text)
            self.tokens = event.tokens or self.tokens + 1
        elif isinstance(event, ReasoningDelta):
            self.thoughts.append(event.text)
        elif isinstance(event, ToolCallEvent):
            self.calls.append(event.call)
        elif isinstance(event, Finished):
            self.usage, self.finished = event.usage, True
        else:
            self.error, self.overflow, self.code = event.message, event.overflow, event.code

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def reasoning(self) -> str:
        return "".join(self.thoughts)

    @property
    def stopped(self) -> bool:
        return self.finished and self.usage.stop_reason == StopReason.CANCELLED

    @property
    def status(self) -> MessageStatus:
        if self.error is not None:
            return MessageStatus.FAILED
        if not self.finished:
            return MessageStatus.STOPPED
        return status_after(self.usage.stop_reason)

    @property
    def parts(self) -> Parts:
        """The answer as it is stored: earlier tool steps, then this step's thinking, words and
        tool calls (a step that only calls a tool, or ends a tool turn silently, adds no empty
        text part)."""
        found: list[Part] = [Reasoning(self.reasoning)] if self.thoughts else []
        if self.pieces or not (self.calls or self.earlier):
            found.append(Text(self.text))
        return (*self.earlier, *found, *self.calls)


def collect(
    source: AnswerSource,
    prompt: Prompt,
    on_event: Callable[[AnswerEvent], None] | None = None,
) -> Answer:
    """Run one answer to its end on this thread: every event folded into the Answer (and
    passed to ``on_event`` first, e.g. to stream it to a screen)."""
    answer = Answer()
    for event in source.answer(prompt):
        if on_event is not None:
            on_event(event)
        answer.add(event)
    return answer
