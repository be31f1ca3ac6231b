"""Tool calls in the chat: each call with its result as a compact block (tool, server,
arguments, outcome, time, the start of the result), in the order the model made them between
its words; "details" opens the whole call and result.

Pure functions of a message's parts, like message_html.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence

from desktop.core.parts import (
    TOOL_CANCELLED,
    TOOL_DENIED,
    TOOL_FAILED,
    TOOL_OK,
    TOOL_TIMED_OUT,
    Part,
    Text,
    ToolCall,
    ToolResult,
)
from desktop.ui.design import Tone
from desktop.ui.render import action_href
from desktop.ui.tone_colours import tone_css

#: The link kind that opens a call's details (its target: the call's index in the parts).
TOOL_ACTION = "tool"
#: Characters of arguments and of a result shown in the block itself.
PREVIEW_CHARS = 160

_OUTCOME: dict[str, tuple[str, Tone]] = {
    TOOL_OK: ("✓ done", "success"),
    TOOL_FAILED: ("✗ failed", "danger"),
    TOOL_DENIED: ("⊘ denied", "warning"),
    TOOL_TIMED_OUT: ("⏱ timed out", "danger"),
    TOOL_CANCELLED: ("■ stopped", "muted"),
}


def has_tools(parts: Sequence[Part]) -> bool:
    return any(isinstance(p, ToolCall | ToolResult) for p in parts)


def count_calls(parts: Sequence[Part]) -> int:
    return sum(isinstance(p, ToolCall) for p in parts)


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def arguments_text(call: ToolCall) -> str:
    """The arguments as the user reads them: ``city="Oslo", days=3`` (raw text if unreadable)."""
    try:
        value = json.loads(call.arguments) if call.arguments.strip() else {}
    except ValueError:
        return call.arguments
    if not isinstance(value, dict):
        return call.arguments
    return ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in value.items())


def outcome(result: ToolResult | None, waiting: str = "waiting") -> tuple[str, Tone]:
    """A few words and a design tone for how a call ended (or that it has not yet)."""
    if result is None:
        return f"… {waiting}", "muted"
    words, tone = _OUTCOME.get(result.status, (result.status, "muted"))
    if result.duration_s >= 0.05:
        words += f" in {result.duration_s:.1f} s"
    return words, tone


def tool_block_html(call: ToolCall, result: ToolResult | None, message_id: int, index: int) -> str:
    """One call and its result as a small framed block."""
    where = f" · {html.escape(call.server)}" if call.server else ""
    words, tone = outcome(result)
    if call.problem:
        words, tone = "✗ could not be read", "danger"
    # The theme's tones at render time; tone_colours.DocumentTones recolours them on a switch.
    muted, danger = tone_css("muted"), tone_css("danger")
    head = (
        f"<b>⚙ {html.escape(call.name or 'unreadable call')}</b>"
        f'<span style="color:{muted}">{where}</span> &nbsp;'
        f'<span style="color:{tone_css(tone)}">{html.escape(words)}</span> &nbsp;'
        f'<a href="{action_href(TOOL_ACTION, message_id, index)}" style="color:{muted}">'
        "▸ details</a>"
    )
    lines = [head]
    shown_args = preview(arguments_text(call))
    if shown_args:
        lines.append(f'<span style="color:{muted}">{html.escape(shown_args)}</span>')
    if call.problem:
        lines.append(f'<span style="color:{danger}">{html.escape(call.problem)}</span>')
    if result is not None and result.content:
        lines.append(f'<span style="color:{muted}">→ {html.escape(preview(result.content))}</span>')
    body = "<br/>".join(lines)
    return (
        f'<table width="100%" cellpadding="6" style="margin:4px 0; border:1px solid {muted}; '
        f'font-size:small"><tr><td>{body}</td></tr></table>'
    )


def parts_body_html(
    parts: Sequence[Part], message_id: int, render_text: Callable[[str], str]
) -> str:
    """An answer with tool calls, in order: its words (rendered by ``render_text``) and each
    call as a block with its result."""
    results = {p.call_id: p for p in parts if isinstance(p, ToolResult)}
    out: list[str] = []
    words: list[str] = []
    for index, part in enumerate(parts):
        if isinstance(part, Text):
            words.append(part.text)
            continue
        if isinstance(part, ToolCall):
            if "".join(words).strip():
                out.append(render_text("".join(words)))
            words = []
            out.append(tool_block_html(part, results.get(part.call_id), message_id, index))
    if "".join(words).strip():
        out.append(render_text("".join(words)))
    return "".join(out)


def details_text(parts: Sequence[Part], index: int) -> tuple[str, str]:
    """The title and whole text of one call and its result, for the details window."""
    part = parts[index] if 0 <= index < len(parts) else None
    if not isinstance(part, ToolCall):
        return "Tool call", "This call is no longer in the message."
    result = next(
        (p for p in parts if isinstance(p, ToolResult) and p.call_id == part.call_id), None
    )
    try:
        arguments = json.dumps(json.loads(part.arguments), indent=2, ensure_ascii=False)
    except ValueError:
        arguments = part.arguments
    words, _tone = outcome(result)
    lines = [
        f"Tool: {part.name}" + (f" (server {part.server})" if part.server else ""),
        f"Outcome: {words}",
    ]
    if part.problem:
        lines.append(f"Could not be read: {part.problem}")
    lines += ["", "Arguments:", arguments, "", "Result:"]
    lines.append(result.content if result is not None else "(none yet)")
    return f"Tool call: {part.name}", "\n".join(lines)
