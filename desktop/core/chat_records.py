"""The saved chat as the rest of the app sees it: conversations, their messages, where a message
stands among its versions, and search hits with their markers. Plain frozen records, no I/O: the
store (desktop.storage) reads and writes them, services and the window only read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from desktop.core.adapters import Adapter
from desktop.core.messages import MessageStatus, Role
from desktop.core.params import SamplingParams
from desktop.core.parts import Parts, Text, reasoning_of
from desktop.core.tools import AUTO, ToolChoice

#: add_message's default parent: the end of the branch on screen.
AT_LEAF = -1

#: Markers around search hits in snippets (characters no chat text contains).
HIT_START, HIT_END = "\x02", "\x03"


@dataclass(frozen=True)
class Conversation:
    """One chat's own settings: its title, model, system prompt, lock and pin, the preset and
    sampling its answers use, and where its context now starts (its messages are read apart)."""

    id: int
    title: str
    created: str
    updated: str
    model: str | None
    system_prompt: str
    #: Cloud models cannot be used in this conversation.
    local_only: bool = False
    pinned: bool = False
    #: The preset the chat follows ("" for none: the app's default sampling).
    preset: str = ""
    #: The sampling its latest answer used (None: none saved, or saved values no longer valid).
    sampling: SamplingParams | None = None
    #: Messages with a smaller id are no longer sent (dropped when the chat outgrew the context).
    context_from: int = 0
    #: What the dropped messages said, sent with the system prompt in their place.
    context_summary: str = ""
    #: The tool servers whose tools the chat's answers may call (default: none).
    tools: tuple[str, ...] = ()
    #: When its model is to call one: it decides (default), always, or a named tool.
    tool_choice: ToolChoice = AUTO
    #: The LoRA adapters chosen with its local model, and their scales (none: the bare model).
    adapters: tuple[Adapter, ...] = ()


class ConversationTitle(NamedTuple):
    """A chat as the sidebar lists it."""

    id: int
    title: str
    updated: str
    pinned: bool


@dataclass(frozen=True)
class StoredMessage:
    """One saved message of a conversation, in its place in the tree of versions: its parts,
    and its text (``content``, the text parts joined) that search and models read."""

    id: int
    conversation_id: int
    role: Role
    content: str
    model: str | None
    status: MessageStatus
    usage: dict[str, Any] | None
    error: str | None
    created: str
    #: The message this one follows in its branch (None: the first).
    parent_id: int | None = None
    #: The parts as stored; empty for a message that is its text alone (most are): ``parts``
    #: makes that one Text part when asked, not for every message a long chat opens with.
    stored_parts: Parts = ()
    #: The LoRA adapters an answer was written with (none: the bare model).
    adapters: tuple[Adapter, ...] = ()

    @property
    def parts(self) -> Parts:
        """What the message is made of, in order; ``content`` is their text."""
        return self.stored_parts or (Text(self.content),)

    @property
    def reasoning(self) -> str:
        """What the model showed of its thinking before this answer ("" for none)."""
        return reasoning_of(self.parts)


@dataclass(frozen=True)
class Versions:
    """Where a message stands among its versions (siblings with the same parent)."""

    index: int  # 1-based
    count: int
    previous: int | None
    next: int | None


@dataclass(frozen=True)
class SearchHit:
    """One message found by a search of the history, best first in a list: where it is (its
    chat and that chat's title) and a snippet of its text whose hits are wrapped in
    HIT_START / HIT_END."""

    message_id: int
    conversation_id: int
    #: Who wrote the message ("user", "assistant", "system"), as stored.
    role: str
    #: When the message was written (ISO time).
    created: str
    #: The chat's title.
    title: str
    snippet: str
