"""View → Theme with a chat open: the links under its messages (‹ previous, next ›) take the new
palette's link colour at once, readable (WCAG AA, 4.5:1) on the view's background in dark and
back in light; not only once another chat is opened."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtGui import QColor, QPalette
from pytestqt.qtbot import QtBot

from desktop.core.history_format import EXPORT_FORMAT
from desktop.ui.chat_view import ChatView
from desktop.ui.main_window import MainWindow
from desktop.ui.render import parse_action

MODEL = "local:smollm2-135m-instruct"


def luminance(colour: QColor) -> float:
    """WCAG 2 relative luminance."""

    def channel(value: float) -> float:
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    return (
        0.2126 * channel(colour.redF())
        + 0.7152 * channel(colour.greenF())
        + 0.0722 * channel(colour.blueF())
    )


def contrast(one: QColor, two: QColor) -> float:
    light, dark = sorted((luminance(one), luminance(two)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def control_colours(view: ChatView) -> dict[str, QColor]:
    """The colour each control link under the messages is drawn in, by kind."""
    found: dict[str, QColor] = {}
    block = view.document().firstBlock()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            form = it.fragment().charFormat()
            action = parse_action(form.anchorHref()) if form.isAnchor() else None
            if action is not None:
                found[action[0]] = form.foreground().color()
            it += 1
        block = block.next()
    return found


@pytest.fixture
def chat_open(window: MainWindow) -> Iterator[MainWindow]:
    messages = [
        {"role": "user", "content": "How do llamas hum?", "created": "2025-01-01"},
        {"role": "assistant", "content": "Softly, *through the nose*.", "model": MODEL,
         "created": "2025-01-01"},
        {"role": "assistant", "content": "Softly.", "model": MODEL, "parent": 0,
         "created": "2025-01-01"},
    ]  # fmt: skip
    data = {"format": EXPORT_FORMAT, "version": 1, "conversations": [
        {"title": "Humming", "created": "2025-01-01", "updated": "2025-01-01",
         "messages": messages}
    ]}  # fmt: skip
    [conversation_id] = window.chat.store.import_conversations(data)
    window.theme_actions["light"].trigger()
    window.open_conversation(conversation_id)
    yield window
    window.theme_actions["system"].trigger()  # the app outlives the test: leave it as found


def check_readable(qtbot: QtBot, view: ChatView) -> None:
    def readable() -> None:
        background = view.palette().color(QPalette.ColorRole.Base)
        colours = control_colours(view)
        assert set(colours) >= {"version"}, colours
        for kind, colour in colours.items():
            ratio = contrast(colour, background)
            assert ratio >= 4.5, (kind, colour.name(), background.name(), ratio)

    qtbot.waitUntil(readable, timeout=2_000)


def test_a_theme_switch_redraws_the_open_chats_links(chat_open: MainWindow, qtbot: QtBot) -> None:
    window, view = chat_open, chat_open.chat_view
    check_readable(qtbot, view)
    window.theme_actions["dark"].trigger()
    # Qt hands the new palette to each widget from the event loop.
    qtbot.waitUntil(lambda: view.palette().color(QPalette.ColorRole.Base).lightness() < 128)
    check_readable(qtbot, view)
    assert "How do llamas hum?" in view.toPlainText()  # the chat is still the one shown
    window.theme_actions["light"].trigger()
    qtbot.waitUntil(lambda: view.palette().color(QPalette.ColorRole.Base).lightness() > 128)
    check_readable(qtbot, view)
