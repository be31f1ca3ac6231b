"""What a link under a message does: its thinking or a tool call's details (any time), its
versions, Edit, Regenerate (not while an answer streams); the welcome's links to the models
window."""

from __future__ import annotations

from typing import TYPE_CHECKING

from desktop.ui.message_html import THOUGHTS_ACTION
from desktop.ui.tool_blocks import TOOL_ACTION

if TYPE_CHECKING:
    from desktop.ui.main_window import MainWindow


def follow_message_link(window: MainWindow, kind: str, message_id: int, target: int) -> None:
    """A link under a message: its thoughts, its versions, Edit, Regenerate; or the
    welcome's links to the models window."""
    if window.conversation_id is None:
        return
    if kind == THOUGHTS_ACTION:  # reading is fine while another answer streams
        window.dialogs.show_thoughts(message_id)
        return
    if kind == TOOL_ACTION:
        window.dialogs.show_tool_call(message_id, target)
        return
    if window.chat.busy:
        window.banner.show_message("Stop the answer being generated first.")
        return
    if kind != "edit":
        window.composer.end_editing()
    if kind == "download-recommended":
        window.chat.settings.set("welcomed", True)
        window.dialogs.show_models().download_recommended()
        return
    if kind == "models":
        window.dialogs.show_models()
        return
    if kind == "version" and target:
        window.library.show_version(target)
        window.open_conversation(window.conversation_id, at_message=target)
    elif kind == "edit":
        window.composer.start_editing(window.library.message(message_id))
    elif kind == "regenerate":
        window.turns.regenerate(message_id)
