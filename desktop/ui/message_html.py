"""A stored message as the chat view's HTML: its header, body, thinking line, footer, controls.

Pure functions of a message, no widget: ChatView (chat_view.py) sets what they return, and
the window's turns (turns.py) build a streamed answer's footer and controls with them. An
answer too large to format is shown as plain text with a note (the limits below). Badges and
small print are written in the design tones of the theme in force (tone_colours.py recolours
them on a theme switch).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import date, datetime

from desktop.core.adapters import with_adapters
from desktop.core.chat_records import StoredMessage, Versions
from desktop.core.messages import MessageStatus, Role
from desktop.core.models import is_local_id
from desktop.core.parts import Image, Reasoning, Text, ToolCall, ToolResult, placeholder
from desktop.core.pricing import cost_text
from desktop.core.vision import cloud_model_sees
from desktop.ui.message_images import pictures_html
from desktop.ui.render import action_href, markdown_to_html, plain_to_html
from desktop.ui.tone_colours import tone_css
from desktop.ui.tool_blocks import count_calls, has_tools, parts_body_html

#: Past this many characters an answer is shown as plain text, not formatted: Qt's rich-text
#: layout of a 50,000-row table takes tens of seconds, and a model can write one.
RICH_TEXT_LIMIT = 200_000
#: Longest line shown unbroken. Qt lays a paragraph out in time that grows faster than its
#: length, so longer lines are shown broken.
LINE_LIMIT = 5_000
OVERSIZE_NOTE = (
    '<p style="color:{muted}"><i>Shown as plain text{details}: this answer is too large to '
    "format without freezing the window. The saved text is complete (File → Export).</i></p>"
)
#: Characters of one answer the view shows at most (about 500,000 tokens: no real answer is
#: longer): Qt's plain-text layout time grows with the text, and a hostile server's has no end.
SHOWN_LIMIT = 2_000_000
#: What the view shows where an answer's text stops being shown.
CUT_MARK = "\n\n[…] (the rest is not shown: too long for this window; it is saved in full)"


def break_long_lines(text: str, limit: int = LINE_LIMIT, run: int = 0) -> tuple[str, int]:
    """``text`` with a line break inserted in every line longer than ``limit`` (for display
    only), and the length of the last line so far (``run``: the line already shown)."""
    out: list[str] = []
    for index, line in enumerate(text.split("\n")):
        if index:
            out.append("\n")
            run = 0
        rest = line
        while run + len(rest) > limit:
            take = limit - run
            out += [rest[:take], "\n"]
            rest = rest[take:]
            run = 0
        out.append(rest)
        run += len(rest)
    return "".join(out), run


def oversized(text: str) -> bool:
    """Too large to format: beyond RICH_TEXT_LIMIT, or with a line beyond LINE_LIMIT."""
    return len(text) > RICH_TEXT_LIMIT or any(len(line) > LINE_LIMIT for line in text.split("\n"))


def shown_text(text: str) -> str:
    """What the view shows of an oversized answer: at most SHOWN_LIMIT characters, long
    lines broken, and the mark where the rest is left out."""
    shown, _run = break_long_lines(text[:SHOWN_LIMIT])
    return shown + CUT_MARK if len(text) > SHOWN_LIMIT else shown


def oversize_note(text: str) -> str:
    details = ""
    if any(len(line) > LINE_LIMIT for line in text[:SHOWN_LIMIT].split("\n")):
        details += ", long lines broken"
    if len(text) > SHOWN_LIMIT:
        details += f", only its first {SHOWN_LIMIT:,} of {len(text):,} characters"
    return OVERSIZE_NOTE.format(details=details, muted=tone_css("muted"))


_STATUS_NOTE = {
    MessageStatus.STOPPED.value: "Stopped",
    MessageStatus.FAILED.value: "Failed",
    MessageStatus.INTERRUPTED.value: "Interrupted (the app closed while answering)",
    MessageStatus.STREAMING.value: "Interrupted",
}


#: Anchor names on a message's header line: which kind of card it begins (message_cards.py).
USER_HEAD = "card-user"
ANSWER_HEAD = "card-answer"
#: Space above a header line (px): two cards' padding and the gap between them.
HEAD_GAP = 28


def _clock(created: str | None) -> str:
    """The time a message was written, as the header shows it ("14:05"); now for one that
    is being written (``created`` None)."""
    if created is None:
        return datetime.now().strftime("%H:%M")
    try:
        when = datetime.fromisoformat(created)
    except ValueError:
        return ""
    if when.tzinfo is not None:
        when = when.astimezone()
    if when.hour == when.minute == 0 and "T" not in created and " " not in created:
        return when.strftime("%d %b %Y")  # a date alone (an imported chat)
    if when.date() == date.today():
        return when.strftime("%H:%M")
    return when.strftime("%d %b %H:%M" if when.year == date.today().year else "%d %b %Y %H:%M")


def header_html(
    who: str,
    colour: str = "",
    badge: str = "",
    *,
    message_id: int | None = None,
    created: str | None = None,
    user: bool | None = None,
) -> str:
    """A card's header line: who wrote it, the model's badge, the time. Its anchor names say
    where a card begins and whose it is; ``message_id`` names it ``m<id>`` too (search hits
    scroll to it). ``colour`` is the badge's; the name takes the text colour (themes)."""
    is_user = who == "You" if user is None else user
    names = [USER_HEAD if is_user else ANSWER_HEAD]
    if message_id is not None:
        names.insert(0, f"m{message_id}")
    anchors = "".join(f'<a name="{name}"></a>' for name in names)
    mark = f' <span style="color:{colour}; font-size:small">{badge}</span>' if badge else ""
    clock = _clock(created)
    time = (
        f' <span style="color:{tone_css("muted")}; font-size:small">&nbsp;· {clock}</span>'
        if clock
        else ""
    )
    return (
        f'<p style="margin-top:{HEAD_GAP}px; margin-bottom:6px">{anchors}'
        f"<b>{html.escape(who)}</b>{mark}{time}</p>"
    )


def answer_header(
    who: str,
    model_id: str | None,
    pictures: int = 0,
    *,
    message_id: int | None = None,
    created: str | None = None,
) -> str:
    """The answer's name with where it was answered: this computer, or a provider; for a
    provider, how many pictures its question sent there (``pictures``: those the question
    carried; none went to a model that takes none: it was sent the words only)."""
    colour, badge = tone_css("success"), "· local"
    if not is_local_id(model_id):
        colour, badge = tone_css("warning"), "· ☁ cloud"
        if pictures and cloud_model_sees(model_id or ""):
            badge += f" · {pictures} picture{'' if pictures == 1 else 's'} sent"
    return header_html(who, colour, badge, message_id=message_id, created=created, user=False)


#: The action link that opens an answer's thinking.
THOUGHTS_ACTION = "thoughts"


def thinking_line(message: StoredMessage) -> str:
    """Above an answer whose model thought first: "▸ Thought for 12 s", a link that opens the
    thinking; or, where the provider does not show it (OpenAI), how long and how many tokens."""
    usage = message.usage or {}
    seconds = float(usage.get("thinking_s") or 0)
    tokens = int(usage.get("reasoning_tokens") or 0)
    if message.role != Role.ASSISTANT or not (message.reasoning or tokens):
        return ""
    what = f"Thought for {seconds:.0f} s" if seconds >= 1 else "Thought"
    if message.reasoning:
        href = action_href(THOUGHTS_ACTION, message.id)
        shown = f'<a href="{href}" style="color:{tone_css("muted")}">▸ {html.escape(what)}</a>'
    else:
        shown = html.escape(f"{what} ({tokens:,} reasoning tokens; the provider keeps them)")
    muted = tone_css("muted")
    return f'<p style="color:{muted}; font-size:small; margin-bottom:2px">{shown}</p>'


def other_parts_html(message: StoredMessage) -> str:
    """Parts this view has no display of its own for yet (attachments, kinds from a newer
    version): a labelled line each, so nothing is hidden. Pictures and tool calls have theirs."""
    muted = tone_css("muted")
    lines = [
        f'<p style="color:{muted}; font-size:small; margin:2px 0">'
        f"{html.escape(placeholder(part))}</p>"
        for part in message.parts
        if not isinstance(part, Text | Reasoning | ToolCall | ToolResult | Image)
    ]
    return "".join(lines)


def answer_footer(message: StoredMessage) -> str:
    """Tokens, speed and, for a cloud answer, its cost with the date of the price used."""
    usage = message.usage
    if not usage or message.role != Role.ASSISTANT:
        return ""
    parts = [f"{usage.get('output_tokens', 0)} tokens"]
    if usage.get("reasoning_tokens"):
        parts[0] += f" ({int(usage['reasoning_tokens']):,} reasoning)"
    calls = count_calls(message.parts) if message.stored_parts else 0
    if calls:
        parts.append(f"{calls} tool call{'s' if calls != 1 else ''}")
    if usage.get("tokens_per_second"):
        parts.append(f"{float(usage['tokens_per_second']):.1f} tok/s")
    if is_local_id(message.model):
        parts.append("on this computer, no cost")
    elif "cost_usd" in usage:
        parts.append(cost_text(usage))
    not_applied = usage.get("not_applied") or []
    if not_applied:
        parts.append(f"{', '.join(not_applied)} not applied: this model does not take it")
    return (
        f'<p style="color:{tone_css("muted")}; font-size:small; margin-top:2px">'
        f"{html.escape(' · '.join(parts))}</p>"
    )


def status_note(status: str, error: str | None) -> str:
    note = _STATUS_NOTE.get(status)
    if not note:
        return ""
    detail = f": {html.escape(error)}" if error else ""
    danger = tone_css("danger")
    return f'<p style="color:{danger}; font-size:small"><i>{note}{detail}</i></p>'


def message_controls(message: StoredMessage, versions: Versions | None) -> str:
    """‹ 2/3 › between a message's versions, always shown (it tells that there are others).
    Copy, Edit, Regenerate are the card's hover toolbar and context menu (hover_actions.py)."""
    if versions is None:
        return ""
    back = (
        f'<a href="{action_href("version", message.id, versions.previous)}">‹ previous</a>'
        if versions.previous
        else "‹ previous"
    )
    forward = (
        f'<a href="{action_href("version", message.id, versions.next)}">next ›</a>'
        if versions.next
        else "next ›"
    )
    return (
        f'<p style="color:{tone_css("muted")}; font-size:small; margin-top:0">'
        f"{back} &nbsp;{versions.index}/{versions.count}&nbsp; {forward}</p>"
    )


def message_html(
    message: StoredMessage,
    model_names: dict[str, str],
    versions: dict[int, Versions] | None = None,
    defer: Callable[[str], str] | None = None,
    asked_pictures: int = 0,
) -> str:
    """The message as HTML for the view. ``defer``: takes an oversized answer's shown text and
    returns what to put in its place now (the view fills the text in over the next turns).
    ``asked_pictures``: how many pictures an answer's question carried (see answer_header).
    """
    controls = message_controls(message, (versions or {}).get(message.id))
    if message.role == Role.USER:
        words = plain_to_html(break_long_lines(message.content)[0])
        return (
            header_html("You", message_id=message.id, created=message.created, user=True)
            + pictures_html(message.parts, message.id)  # above the words, as it was sent
            + (f"<p>{words}</p>" if message.content else "")
            + other_parts_html(message)
            + controls
        )
    who = model_names.get(message.model or "", message.model or "Assistant")
    who = with_adapters(who, message.adapters)  # "SmolLM2 + my-tune × 0.8"
    if message.stored_parts and has_tools(message.parts) and not oversized(message.content):
        body = parts_body_html(message.parts, message.id, markdown_to_html)
    elif oversized(message.content):
        shown = shown_text(message.content)
        body = f"<p>{defer(shown) if defer else plain_to_html(shown)}</p>"
        body += oversize_note(message.content)
    else:
        body = markdown_to_html(message.content) if message.content else ""
    return (
        answer_header(
            who, message.model, asked_pictures, message_id=message.id, created=message.created
        )
        + thinking_line(message)
        + body
        + pictures_html(message.parts, message.id)
        + other_parts_html(message)
        + status_note(message.status.value, message.error)
        + answer_footer(message)
        + controls
    )
