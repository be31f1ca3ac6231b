"""An empty chat welcomes: what its model is (where it runs, size, context), what it can do
here (pictures, tools), and three example prompts as chips that fill the message box."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from desktop.services.model_settings import size_label_billions
from desktop.ui.main_window import MainWindow
from desktop.ui.render import action_href
from desktop.ui.welcome import EXAMPLE_ACTION, EXAMPLES, parameters_fact
from tests.ui.driving import click_link


def test_the_empty_chat_says_what_the_model_is_and_its_chips_fill_the_message_box(
    window: MainWindow, qtbot: QtBot
) -> None:
    text = window.chat_view.toPlainText()
    assert "SmolLM2 135M Instruct (bundled)" in text
    assert "on this computer · 98 MB" in text and "-token context" in text
    assert "Sees no pictures" in text  # the bundled model has no vision projector
    assert "No tools in this chat" in text
    for prompt in EXAMPLES:
        assert prompt in text
    # Each chip, clicked as the user does, puts its prompt in the message box, ready to send.
    for index, prompt in enumerate(EXAMPLES):
        click_link(window.chat_view, action_href(EXAMPLE_ACTION, 0, index))
        assert window.input_box.toPlainText() == prompt
        assert window.input_box.hasFocus() or not window.isActiveWindow()
        assert window.input_box.textCursor().atEnd()


def test_the_welcome_names_the_chats_tools(window: MainWindow, qtbot: QtBot) -> None:
    conversation_id = window.conversation_id
    assert conversation_id is not None
    window.library.set_tools(conversation_id, ["clock"])
    window.open_conversation(conversation_id)
    assert "Can call tools in this chat: clock" in window.chat_view.toPlainText()


def test_the_welcome_gives_the_parameter_count_the_gguf_names(
    window: MainWindow, qtbot: QtBot
) -> None:
    facts = next(
        line
        for line in window.chat_view.toPlainText().splitlines()
        if line.startswith("on this computer")
    )
    # The bundled GGUF's general.size_label is "135M" (the welcome said nothing of it before).
    assert "135M parameters" in facts, facts
    # A plain count is read; a label that gives no total ("8x7B", "17B-16E") is no count.
    assert size_label_billions("135M") == 0.135
    assert size_label_billions(" 7.2B ") == 7.2
    assert size_label_billions("8x7B") == size_label_billions("17B-16E") == 0.0
    assert size_label_billions("") == 0.0
    # What a known count reads as, and an unknown or vanishing one leaves out.
    assert parameters_fact(0.135) == "135M parameters"
    assert parameters_fact(7.241) == "7.24B parameters"
    assert parameters_fact(70.6) == "70.6B parameters"
    assert parameters_fact(0.9999) == "1B parameters"
    assert parameters_fact(0.0) == parameters_fact(0.0004) == ""
