"""An answer's "local" / "☁ cloud" badge and its small print are written in the design
system's tones of the theme in force, and View → Theme recolours an open chat's in place:
in the dark theme the local badge is the dark success tone, readable on the view's Base."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QMenu
from pytestqt.qtbot import QtBot

from desktop.core.history_format import EXPORT_FORMAT
from desktop.ui.design import colours_for
from desktop.ui.main_window import MainWindow
from desktop.ui.message_cards import card_colours
from tests.ui.test_contrast import contrast

LOCAL = "local:smollm2-135m-instruct"
CLOUD = "openai:gpt-4o-mini"


def choose_theme(window: MainWindow, label: str) -> None:
    """View → Theme → ``label``, found in the menu bar as a user finds it."""
    view = next(m for m in window.menuBar().findChildren(QMenu) if m.title() == "&View")
    themes = next(m for m in view.findChildren(QMenu) if m.title() == "&Theme")
    action = next(a for a in themes.actions() if a.text() == label)
    action.trigger()


def colour_of(window: MainWindow, text: str) -> QColor:
    """The colour the chat's document gives the run holding ``text``."""
    document = window.chat_view.document()
    cursor = document.find(text)
    assert not cursor.isNull(), f"{text!r} is not in the chat"
    block = cursor.block()
    it = block.begin()
    while not it.atEnd():
        fragment = it.fragment()
        if text in fragment.text():
            return fragment.charFormat().foreground().color()
        it += 1
    raise AssertionError(f"{text!r} is not one run")


@pytest.fixture
def chat(window: MainWindow) -> Iterator[MainWindow]:
    """A chat with a local answer and a cloud one, opened in the light theme."""
    choose_theme(window, "Light")
    messages = [
        {"role": "user", "content": "Hello?", "created": "2025-01-01T10:00:00"},
        {"role": "assistant", "content": "Hi from here.", "model": LOCAL,
         "created": "2025-01-01T10:01:00", "usage": {"output_tokens": 4}},
        {"role": "user", "content": "And you?", "created": "2025-01-01T10:02:00"},
        {"role": "assistant", "content": "Hi from afar.", "model": CLOUD,
         "created": "2025-01-01T10:03:00"},
    ]  # fmt: skip
    data = {"format": EXPORT_FORMAT, "version": 1, "conversations": [
        {"title": "Badges", "created": "2025-01-01", "updated": "2025-01-01",
         "messages": messages}
    ]}  # fmt: skip
    [conversation_id] = window.chat.store.import_conversations(data)
    window.open_conversation(conversation_id)
    yield window
    window.theme_actions["system"].trigger()  # the app outlives the test: leave it as found


def test_a_theme_switch_recolours_the_open_chats_badges(chat: MainWindow, qtbot: QtBot) -> None:
    window = chat
    lit, dark = colours_for(False), colours_for(True)
    base = window.chat_view.palette().color(QPalette.ColorRole.Base)
    assert colour_of(window, "· local").name() == lit.success
    assert colour_of(window, "· ☁ cloud").name() == lit.warning
    assert colour_of(window, "4 tokens").name() == lit.muted
    assert contrast(colour_of(window, "· local"), base) >= 4.5

    choose_theme(window, "Dark")
    base = window.chat_view.palette().color(QPalette.ColorRole.Base)
    assert base.name() == dark.base
    local = colour_of(window, "· local")
    assert local.name() == dark.success
    assert contrast(local, base) >= 4.5, (local.name(), base.name())
    fill, _outline = card_colours(window.chat_view.palette(), user=False)
    assert contrast(local, fill) >= 4.5, (local.name(), fill.name())  # on the answer's card
    assert colour_of(window, "· ☁ cloud").name() == dark.warning
    assert colour_of(window, "4 tokens").name() == dark.muted  # the footer's small print
    assert contrast(colour_of(window, "4 tokens"), base) >= 4.5
    # A chat opened now is written in the dark tones from the start.
    assert window.conversation_id is not None
    window.open_conversation(window.conversation_id)
    assert colour_of(window, "· local").name() == dark.success

    choose_theme(window, "Light")
    base = window.chat_view.palette().color(QPalette.ColorRole.Base)
    assert colour_of(window, "· local").name() == lit.success
    assert colour_of(window, "· ☁ cloud").name() == lit.warning
    assert contrast(colour_of(window, "· local"), base) >= 4.5
