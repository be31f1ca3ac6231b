"""Chat messages as the rest of the app sees them, independent of storage and engines."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from desktop.core.usage import StopReason


class Role(str, enum.Enum):
    """Who wrote a message."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


class MessageStatus(str, enum.Enum):
    """Why an answer ended; the user's own messages are always COMPLETE."""

    COMPLETE = "complete"
    #: Generating; written before the first token so a crash leaves a trace.
    STREAMING = "streaming"
    #: The user pressed Stop; the text is what was shown.
    STOPPED = "stopped"
    #: The engine or provider reported an error or died.
    FAILED = "failed"
    #: The app itself died mid-answer (found STREAMING at the next start).
    INTERRUPTED = "interrupted"


def status_after(stop_reason: StopReason) -> MessageStatus:
    """How an answer that ran to its end is stored: stopped by the user, or complete (its end,
    its length limit, or a step that ended to call tools)."""
    return MessageStatus.STOPPED if stop_reason == StopReason.CANCELLED else MessageStatus.COMPLETE


@dataclass(frozen=True)
class ChatMessage:
    """One message as an engine or a provider is sent it: a role and its text."""

    role: Role
    content: str

    def to_wire(self) -> dict[str, str]:
        """The OpenAI-style dict that chat templates and SDKs expect."""
        return {"role": self.role.value, "content": self.content}
