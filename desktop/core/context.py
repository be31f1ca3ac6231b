"""What a model is given from a chat, and what to stop sending when the chat outgrows the
model's context: pure arithmetic over the chat's messages, shared by the window and the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from desktop.core import summary as summaries
from desktop.core.answer import Prompt, PromptMessage
from desktop.core.messages import MessageStatus, Role
from desktop.core.models import is_local_id
from desktop.core.params import SamplingParams
from desktop.core.parts import Parts, Reasoning

#: A chat's title until its first message names it.
NEW_CHAT_TITLE = "New chat"
TITLE_LENGTH = 48


def title_for(text: str) -> str:
    """A new chat's title: its first message, on one line, cut short."""
    return " ".join(text.split())[:TITLE_LENGTH]


class Said(Protocol):
    """A message of the chat as context planning reads it (a stored message)."""

    @property
    def id(self) -> int: ...
    @property
    def role(self) -> Role: ...
    @property
    def status(self) -> MessageStatus: ...
    @property
    def content(self) -> str: ...
    @property
    def parts(self) -> Parts: ...
    @property
    def model(self) -> str | None: ...


@dataclass(frozen=True)
class ChatContext:
    """What a chat remembers about its own context (typed, from the conversation record)."""

    system_prompt: str = ""
    #: The first message still sent; earlier ones were dropped when the chat outgrew it.
    context_from: int = 0
    #: A summary of the dropped turns, sent with the system prompt in their place.
    summary: str = ""


def _unanswered(message: Said) -> bool:
    return message.role == Role.ASSISTANT and (
        message.status == MessageStatus.FAILED or not message.content
    )


def plan_prompt(
    path: Sequence[Said],
    upto: int,
    context: ChatContext,
    sampling: SamplingParams,
    conversation_id: int | None = None,
) -> Prompt:
    """The prompt for the answer at message ``upto``: the system prompt (with any summary) and
    the turns before it that are still sent."""
    before = [m for m in path if m.id < upto]
    # The question being answered always goes, even from before context_from (regenerating).
    question = before[-1].id if before else None
    turns: list[PromptMessage] = []
    for message in before:
        if message.id < context.context_from and message.id != question:
            continue
        if _unanswered(message):
            # Not fed back, and neither is its question: many chat templates (Mistral, Gemma)
            # refuse two user messages in a row.
            if turns and turns[-1].role == Role.USER:
                turns.pop()
            continue
        # A model's shown thinking is never sent back as if it were its answer.
        parts = tuple(p for p in message.parts if not isinstance(p, Reasoning))
        turns.append(PromptMessage(message.role, parts))
    system = summaries.with_summary(context.system_prompt, context.summary)
    return Prompt(tuple(turns), sampling, system, conversation_id)


@dataclass(frozen=True)
class DropPlan:
    """Which of the messages still sent to stop sending so the chat fits again."""

    sent: list[Said]
    #: How many of ``sent`` (from the start) to drop.
    dropped: int
    #: The id of the first message still sent afterwards.
    first_kept: int


def drop_plan(
    path: Sequence[Said], context: ChatContext, n_tokens: int, limit: int, new_text: str
) -> DropPlan:
    sent = [m for m in path if m.id >= context.context_from]
    # Everything the engine counted: the system prompt, what is still sent, the new text.
    chars = len(context.system_prompt) + len(new_text) + sum(len(m.content) for m in sent)
    tokens_per_char = n_tokens / max(chars, 1)
    # Half the context: room for the new message, its answer and the next few turns.
    to_remove = n_tokens - limit // 2
    removed = 0.0
    start = 0
    for index, message in enumerate(sent):
        if removed >= to_remove:
            break
        removed += len(message.content) * tokens_per_char
        start = index + 1
    # Begin at a question, never halfway through a turn.
    while start < len(sent) and sent[start].role != Role.USER:
        start += 1
    if start >= len(sent):
        first_kept = (sent[-1].id + 1) if sent else context.context_from  # only the new one
    else:
        first_kept = sent[start].id
    return DropPlan(sent, start, max(first_kept, context.context_from))


@dataclass(frozen=True)
class Unshared:
    """Earlier messages of a chat that a send to a provider would take there for the first
    time (so far they stayed on this computer, or went to another provider only)."""

    messages: list[Said]
    #: Whether the chat's system prompt goes there for the first time too.
    system_prompt: bool


def unshared(earlier: Sequence[Said], provider: str, context: ChatContext) -> Unshared | None:
    """What of ``earlier`` ``provider`` has not received; None when nothing new would go there
    (a first message: its system prompt goes with it, as always)."""

    def sent_there(message: Said) -> bool:
        # An answer from this provider means everything before it went there with its
        # question (a failed one that shows nothing may never have left).
        model = message.model or ""
        return (
            message.role == Role.ASSISTANT
            and bool(model)
            and not is_local_id(model)
            and model.partition(":")[0] == provider
            and (message.status != MessageStatus.FAILED or bool(message.content))
        )

    last = max((i for i, m in enumerate(earlier) if sent_there(m)), default=-1)
    new: list[Said] = []
    for message in earlier[last + 1 :]:
        if message.id < context.context_from:
            continue
        if _unanswered(message):
            # Not sent, and neither is its question (as in plan_prompt).
            if new and new[-1].role == Role.USER:
                new.pop()
            continue
        new.append(message)
    if not new:
        return None
    return Unshared(new, last < 0 and bool(context.system_prompt.strip()))
