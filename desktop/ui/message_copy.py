"""A message's actions and its context menu: after the view's own Copy / Select All, "Copy as
Markdown" (the stored content, exactly) and, for an answer, "Copy as plain text" (that
Markdown rendered, then its text without the marks); Edit (a question) or Regenerate (an
answer); Delete; its previous and next versions. The hover toolbar (hover_actions.py) offers
the same list. Which message was clicked is found from the cards (message_cards.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from markdown_it import MarkdownIt
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication, QTextDocument
from PySide6.QtWidgets import QMenu

from desktop.core.messages import Role
from desktop.ui.icon_set import set_icon
from desktop.ui.message_cards import card_index
from desktop.ui.message_links import follow_message_link

if TYPE_CHECKING:
    from desktop.ui.main_window import MainWindow

#: Plain CommonMark with tables and strikethrough: no code-block headers or Copy links.
_PLAIN_MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def markdown_to_plain(markdown: str) -> str:
    """The text a reader sees: the Markdown rendered, then its marks gone."""
    document = QTextDocument()
    document.setHtml(_PLAIN_MD.render(markdown))
    return document.toPlainText().strip()


def message_at(window: MainWindow, pos: QPoint) -> int | None:
    """The id of the message whose card is at ``pos`` (viewport coordinates), or None."""
    card = card_index(window).card_at(pos.y())
    return None if card is None else card.message_id


@dataclass(frozen=True)
class MessageAction:
    """One thing the user can do to a message: its kind (a message link's, or "copy",
    "copy-plain"), its menu text, its icon (icon_set's name; "": the menu's only) and
    tooltip, and its target (a version)."""

    kind: str
    label: str
    icon: str
    tip: str
    target: int = 0


def message_actions(window: MainWindow, message_id: int) -> list[MessageAction]:
    """What can be done to the message now: copy it; edit a question or regenerate an answer;
    step through its versions. Nothing for an answer still being written."""
    if window.conversation_id is None or message_id == window.chat_view.streaming_answer_id:
        return []
    try:
        message = window.library.message(message_id)
    except LookupError:
        return []
    answer = message.role == Role.ASSISTANT
    actions = [MessageAction("copy", "Copy as &Markdown" if answer else "&Copy", "copy", "Copy")]
    if answer:
        actions.append(MessageAction("copy-plain", "Copy as plain &text", "", ""))
        actions.append(MessageAction("regenerate", "&Regenerate", "regenerate", "Regenerate"))
    elif message.role == Role.USER:
        actions.append(MessageAction("edit", "&Edit", "edit", "Edit"))
    actions.append(MessageAction("delete", "&Delete…", "delete", "Delete"))
    versions = window.library.versions(window.conversation_id).get(message_id)
    if versions is not None:
        shown = f"{versions.index}/{versions.count}"
        if versions.previous:
            tip = f"Previous version (this is {shown})"
            actions.append(
                MessageAction("version", "&Previous version", "previous", tip, versions.previous)
            )
        if versions.next:
            tip = f"Next version (this is {shown})"
            actions.append(MessageAction("version", "&Next version", "next", tip, versions.next))
    return actions


def run_action(window: MainWindow, message_id: int, action: MessageAction) -> None:
    """Do it: a copy here, the rest as the message's links do (message_links)."""
    if action.kind in ("copy", "copy-plain"):
        copy_message(window, message_id, plain=action.kind == "copy-plain")
    else:
        follow_message_link(window, action.kind, message_id, action.target)


def copy_message(window: MainWindow, message_id: int, plain: bool) -> str:
    """Put a message's whole content on the clipboard, as its Markdown or as plain text."""
    content = window.library.message(message_id).content
    text = markdown_to_plain(content) if plain else content
    QGuiApplication.clipboard().setText(text)
    window.statusBar().showMessage(f"Copied {len(text):,} characters", 3000)
    return text


def answer_menu(window: MainWindow, pos: QPoint) -> QMenu:
    """The view's standard menu, plus what can be done to the message at ``pos``."""
    view = window.chat_view
    scrolled = QPoint(view.horizontalScrollBar().value(), view.verticalScrollBar().value())
    menu = view.createStandardContextMenu(pos + scrolled)  # in the document's coordinates
    menu.setParent(view, menu.windowFlags())
    message_id = message_at(window, pos)
    actions = message_actions(window, message_id) if message_id is not None else []
    for index, action in enumerate(actions):
        if index == 0 or action.kind in ("regenerate", "edit", "delete"):
            menu.addSeparator()
        entry = menu.addAction(action.label)
        if action.icon:
            set_icon(entry, action.icon)
        entry.setObjectName(f"message-{action.kind}")
        entry.triggered.connect(
            lambda _checked=False, a=action, m=message_id: run_action(window, m, a)
        )
    return menu


def open_message_menu(window: MainWindow, pos: QPoint) -> QMenu:
    """The context menu of the message at ``pos`` (viewport coordinates), shown there."""
    menu = answer_menu(window, pos)
    menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    menu.popup(window.chat_view.viewport().mapToGlobal(pos))
    return menu


def install_copy_menu(window: MainWindow) -> None:
    """The chat view's context menu offers the message's actions (the view keeps its own)."""
    view = window.chat_view
    view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
    view.customContextMenuRequested.connect(lambda pos: open_message_menu(window, pos))
