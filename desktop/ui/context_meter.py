"""How full the model's context is for the chat on screen (the status bar's meter), and the
question asked when a chat has outgrown it."""

from __future__ import annotations

from typing import Literal

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget

from desktop.core.chat_records import StoredMessage
from desktop.services.chat import ChatService
from desktop.services.library import ChatLibrary
from desktop.ui.design import set_tone

#: What the user chose when the chat outgrew the context (see ask_outgrown).
OutgrownChoice = Literal["summarise", "drop", "new", "cancel"]


class ContextMeter(QLabel):
    """Owns the meter's words, colour and tooltip: tokens used of the context, and whether the
    oldest messages are summarised or dropped. It shows one chat, the one on screen (set by
    ``show_chat``); counts for another chat are ignored."""

    def __init__(
        self, chat: ChatService, library: ChatLibrary, parent: QWidget | None = None
    ) -> None:
        super().__init__("", parent)
        self.chat = chat
        self.library = library
        self.conversation_id: int | None = None
        self.setObjectName("contextMeter")
        self.setAccessibleName("Context used")

    def show_chat(self, conversation_id: int, messages: list[StoredMessage]) -> None:
        """The meter from the latest answer's token counts (nothing until there is one)."""
        self.conversation_id = conversation_id
        limit = self.chat.n_ctx or self.chat.load_params.n_ctx
        for message in reversed(messages):
            if message.usage and message.model and message.model.startswith("local:"):
                used = int(message.usage.get("prompt_tokens", 0)) + int(
                    message.usage.get("output_tokens", 0)
                )
                self.show_used(message.conversation_id, used, limit)
                return
        self.setText("")

    @Slot(int, int, int)
    def show_used(self, conversation_id: int, used: int, limit: int) -> None:
        if conversation_id != self.conversation_id or not limit:
            return
        share = used / limit
        text = f"Context {used:,} / {limit:,} tokens ({share:.0%})"
        conversation = self.library.conversation(conversation_id)
        summary = conversation.context_summary
        if summary:
            text += " · earlier messages summarised"
        elif conversation.context_from:
            text += " · earliest messages dropped"
        self.setText(text)
        # What the model now sees in place of the oldest messages, one hover away.
        self.setToolTip(
            f"The model sees this summary instead of the oldest messages:\n\n{summary}"
            if summary
            else "Tokens the chat uses in the model's context"
        )
        set_tone(self, "danger" if share > 0.9 else "warning" if share > 0.75 else "")


def ask_outgrown(parent: QWidget, n_tokens: int, limit: int) -> OutgrownChoice:
    """The chat no longer fits the model's context: the user chooses, nothing is lost."""
    box = QMessageBox(parent)
    box.setObjectName("outgrownDialog")
    box.setIcon(QMessageBox.Icon.Information)
    box.setWindowTitle("This chat is longer than the model's context")
    box.setText(
        f"With your new message this chat needs {n_tokens:,} tokens; the model's context "
        f"holds {limit:,}. Nothing was sent."
    )
    box.setInformativeText(
        "Summarise: the model first writes a short summary of the oldest messages and sees "
        "that instead of them.\n"
        "Drop the oldest messages: the model no longer sees them.\n"
        "Either way they stay here, in the history.\n"
        "New chat: your message starts a fresh chat.\n"
        "Or load the model with a larger context."
    )
    summarise = box.addButton("Summarise the oldest and send", QMessageBox.ButtonRole.AcceptRole)
    drop = box.addButton("Drop the oldest and send", QMessageBox.ButtonRole.AcceptRole)
    fresh = box.addButton("Send in a new chat", QMessageBox.ButtonRole.ActionRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(summarise)
    box.exec()
    clicked = box.clickedButton()
    if clicked is summarise:
        return "summarise"
    if clicked is drop:
        return "drop"
    if clicked is fresh:
        return "new"
    return "cancel"
