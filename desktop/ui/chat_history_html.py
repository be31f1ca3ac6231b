"""The stored messages of the chat view's document as HTML, a batch at a time: each message
(message_html.py), the pictures each question carried (a cloud answer's header says they were
sent), and the "Show earlier messages" link above them. Pure functions, no widget."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from desktop.core.chat_records import StoredMessage, Versions
from desktop.core.messages import Role
from desktop.core.parts import images_of
from desktop.ui.message_html import message_html
from desktop.ui.render import action_href
from desktop.ui.tone_colours import tone_css

#: The "Show earlier messages" link's action, handled by the view itself.
EARLIER = "earlier"


def pictures_asked(messages: Iterable[StoredMessage]) -> dict[int, int]:
    """Question id → how many pictures it carried, for the questions that carried any (a
    message that is its text alone has no stored parts to look at)."""
    return {
        m.id: count
        for m in messages
        if m.role == Role.USER and m.stored_parts and (count := len(images_of(m.stored_parts)))
    }


def messages_html(
    messages: Iterable[StoredMessage],
    model_names: dict[str, str],
    versions: dict[int, Versions],
    defer: Callable[[str], str],
    asked: Mapping[int, int],
) -> str:
    """The messages, in order; ``asked``: pictures_asked of the chat (an answer's question may
    be in an earlier batch)."""
    return "".join(
        message_html(m, model_names, versions, defer, asked.get(m.parent_id or 0, 0))
        for m in messages
    )


def earlier_link(count: int) -> str:
    """The link above the rendered messages while ``count`` older ones wait ("" for none)."""
    if not count:
        return ""
    return (
        f'<p align="center" style="color:{tone_css("muted")}; font-size:small; margin-bottom:4px">'
        f'<a href="{action_href(EARLIER, 0)}">Show earlier messages</a>'
        f" ({count:,} more)</p>"
    )
