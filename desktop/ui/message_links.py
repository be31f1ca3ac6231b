"""What a link or action on a message does: its thinking or a tool call's details (any time),
its versions, Edit, Regenerate, Delete (not while an answer streams); a picture's thumbnail
opens it whole; the welcome's links to the models window, and its example prompts (into the
message box)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QMessageBox

from desktop.core.parts import images_of
from desktop.ui.image_viewer import ImageViewer
from desktop.ui.message_html import THOUGHTS_ACTION
from desktop.ui.message_images import IMAGE_ACTION, stored_name
from desktop.ui.tool_blocks import TOOL_ACTION
from desktop.ui.welcome import EXAMPLE_ACTION, examples

if TYPE_CHECKING:
    from desktop.ui.main_window import MainWindow


def follow_message_link(window: MainWindow, kind: str, message_id: int, target: int) -> None:
    """A link under a message: its thoughts, its versions, Edit, Regenerate; or the
    welcome's links to the models window and its example prompts."""
    if kind == EXAMPLE_ACTION:
        use_example(window, target)
        return
    if window.conversation_id is None:
        return
    if kind in (THOUGHTS_ACTION, TOOL_ACTION, IMAGE_ACTION):
        _show_details(window, kind, message_id, target)  # fine while another answer streams
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
    elif kind == "delete":
        delete_message(window, message_id)


def delete_message(window: MainWindow, message_id: int) -> bool:
    """Delete a message and those after it, once the user agrees; the chat is shown again."""
    conversation_id = window.conversation_id
    if conversation_id is None:
        return False
    branch = window.library.branch_ids(conversation_id)
    after = len(branch) - branch.index(message_id) - 1 if message_id in branch else 0
    what = "this message" + (f" and the {after} after it" if after else "")
    buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel
    box = QMessageBox(
        QMessageBox.Icon.Question,
        "Delete message",
        f"Delete {what}? Its other versions stay. This cannot be undone.",
        buttons,
        window,
    )
    box.setObjectName("deleteMessage")
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    if box.exec() != QMessageBox.StandardButton.Yes:
        return False
    window.library.delete_message(message_id)
    window.open_conversation(conversation_id)
    return True


def use_example(window: MainWindow, index: int) -> None:
    """An empty chat's example prompt into the message box, ready to send or change."""
    prompts = examples(window.chat.model_of(window.conversation_id))
    if not 0 <= index < len(prompts):
        return
    window.input_box.setPlainText(prompts[index])
    window.input_box.moveCursor(QTextCursor.MoveOperation.End)
    window.input_box.setFocus()


def _show_details(window: MainWindow, kind: str, message_id: int, target: int) -> None:
    """A message's thinking, one of its tool calls, or one of its pictures."""
    if kind == THOUGHTS_ACTION:
        window.dialogs.show_thoughts(message_id)
    elif kind == TOOL_ACTION:
        window.dialogs.show_tool_call(message_id, target)
    else:
        open_picture(window, message_id, target)


def open_picture(window: MainWindow, message_id: int, index: int) -> ImageViewer | None:
    """A message's picture number ``index``, whole, in a viewer of its own."""
    pictures = images_of(window.library.message(message_id).parts)
    if window.images is None or not 0 <= index < len(pictures):
        return None
    picture = pictures[index]
    if not stored_name(picture.path):  # an imported chat naming a file elsewhere: not opened
        return None
    viewer = ImageViewer(window.images.path_of(picture), picture.alt or "Picture", window)
    viewer.show()
    return viewer
