"""Messages made of parts, as the user sees them: the answer's words rendered, its thinking
behind "Thought", and each kind this version has no display for yet as a labelled line, in a
chat opened from the sidebar like any other."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QPlainTextEdit
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.core.messages import Role
from desktop.core.parts import Image, Reasoning, Text, ToolCall, ToolResult, Unknown
from desktop.storage.paths import AppPaths
from desktop.storage.store import ChatStore
from desktop.ui.render import action_href
from desktop.ui.tool_blocks import TOOL_ACTION
from tests.ui.driving import click_link


def test_every_part_kind_shows_in_the_chat(home: AppPaths, qtbot: QtBot) -> None:
    store = ChatStore(home.database)
    conversation = store.create_conversation("Parts")
    question = store.add_message(
        conversation.id,
        Role.USER,
        "",
        parts=(Text("What is on this picture?"), Image("image/png", "pics/llama.png", "a llama")),
    )
    store.add_message(
        conversation.id,
        Role.ASSISTANT,
        "",
        model="local:x",
        parent_id=question.id,
        parts=(
            Reasoning("It looks woolly."),
            Text("A **llama**, and the weather there:"),
            ToolCall("c1", "weather", '{"city": "Cusco"}'),
            ToolResult("c1", "12 °C, clear"),
            Unknown({"type": "hologram", "data": "..."}),
        ),
    )
    store.close()

    window = build_window(home)
    qtbot.addWidget(window)
    window.resize(1000, 600)
    window.show()
    qtbot.waitExposed(window)
    listing = window.conversation_list
    point = listing.visualItemRect(listing.item(0)).center()
    qtbot.mouseClick(listing.viewport(), Qt.MouseButton.LeftButton, pos=point)
    qtbot.waitUntil(lambda: "llama" in window.chat_view.toPlainText())

    shown = window.chat_view.toPlainText()
    assert "What is on this picture?" in shown and "[Image: a llama]" in shown
    assert "A llama, and the weather there:" in shown  # Markdown rendered, not raw
    # A tool call is a block: the tool, how it went, its arguments and its result's start.
    assert "⚙ weather" in shown and "✓ done" in shown
    assert 'city="Cusco"' in shown and "→ 12 °C, clear" in shown
    assert "[hologram content from a newer Llamaside]" in shown
    assert "▸ Thought" in shown and "It looks woolly." not in shown  # collapsed

    # "▸ details" opens the whole call and result.
    answer = window.library.messages(conversation.id)[-1]
    click_link(window.chat_view, action_href(TOOL_ACTION, answer.id, 2))
    qtbot.waitUntil(lambda: window.findChild(QDialog, "toolCallDialog") is not None)
    details = window.findChild(QDialog, "toolCallDialog")
    assert details is not None
    shown_text = details.findChild(QPlainTextEdit)
    assert shown_text is not None
    text = shown_text.toPlainText()
    assert '"city": "Cusco"' in text and "12 °C, clear" in text and "Tool: weather" in text
    details.close()
    window.close()
    window.chat.store.close()
