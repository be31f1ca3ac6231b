"""Summaries of the turns a chat no longer sends, so that a long chat can go on in a small context.

When a chat outgrows the model's context, one of the user's choices is to summarise the oldest
turns: the model writes a short summary of them, and from then on that summary is sent (in the
system message) instead of the turns themselves. The turns stay in the history and on screen.
Pure functions: the service runs the model and stores the result.
"""

from __future__ import annotations

from collections.abc import Sequence

from desktop.core.messages import Role

INSTRUCTION = (
    "You summarise conversations. Write a short summary of the conversation below in the "
    "third person: the facts, names, numbers, decisions and open questions that a reader "
    "would need to continue it. Write only the summary."
)
#: How the summary is introduced to the model, inside the system message.
HEADING = "Summary of the earlier part of this conversation (those messages are not shown):"


def transcript(
    turns: Sequence[tuple[Role, str]], previous: str = "", max_chars: int = 100_000
) -> str:
    """The text the model summarises: an earlier summary, then the turns as "User:" and
    "Assistant:" lines. Longer than ``max_chars``: each message keeps its beginning and end
    in proportion (a summary needs every turn more than the whole of one)."""
    parts = [f"Earlier summary: {previous.strip()}"] if previous.strip() else []
    names = {Role.USER: "User", Role.ASSISTANT: "Assistant", Role.SYSTEM: "System"}
    parts += [f"{names.get(role, role.value)}: {text.strip()}" for role, text in turns]
    total = sum(len(p) for p in parts) + 2 * len(parts)
    if total > max_chars and parts:
        share = max(max_chars // len(parts) - 2, 40)
        parts = [_shorten(p, share) for p in parts]
    return "\n\n".join(parts)[: max(max_chars, 0)]


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = (limit - 3) * 2 // 3
    tail = limit - 3 - head
    return text[:head] + " … " + text[len(text) - tail :] if tail > 0 else text[:limit]


def request(
    turns: Sequence[tuple[Role, str]], previous: str, max_chars: int
) -> list[dict[str, str]]:
    """The messages that ask the model for the summary."""
    return [
        {"role": "system", "content": INSTRUCTION},
        {"role": "user", "content": transcript(turns, previous, max_chars)},
    ]


def with_summary(system_prompt: str, summary: str) -> str:
    """The system message once earlier turns are summarised: the user's system prompt first."""
    if not summary.strip():
        return system_prompt
    block = f"{HEADING}\n{summary.strip()}"
    return f"{system_prompt.rstrip()}\n\n{block}" if system_prompt.strip() else block
