"""Copy a whole answer: the chat view's context menu on an answer adds "Copy as Markdown" (the
stored content, exactly) and "Copy as plain text" (that Markdown rendered, then its text
without the marks), after the view's own Copy / Select All.

Which message was right-clicked is found from the document: each message begins with an
empty anchor named ``m<id>`` (message_html), kept by Qt in the format of the text after it."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from markdown_it import MarkdownIt
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication, QTextBlock, QTextDocument
from PySide6.QtWidgets import QMenu, QTextEdit

from desktop.core.messages import Role

if TYPE_CHECKING:
    from desktop.ui.main_window import MainWindow

_ANCHOR = re.compile(r"m(\d+)")
#: Plain CommonMark with tables and strikethrough: no code-block headers or Copy links.
_PLAIN_MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def markdown_to_plain(markdown: str) -> str:
    """The text a reader sees: the Markdown rendered, then its marks gone."""
    document = QTextDocument()
    document.setHtml(_PLAIN_MD.render(markdown))
    return document.toPlainText().strip()


def _anchor_id(block: QTextBlock) -> int | None:
    names = list(block.charFormat().anchorNames())
    it = block.begin()
    while not it.atEnd():
        names += it.fragment().charFormat().anchorNames()
        it += 1
    for name in names:
        match = _ANCHOR.fullmatch(name)
        if match:
            return int(match.group(1))
    return None


def message_at(view: QTextEdit, pos: QPoint) -> int | None:
    """The id of the message shown at ``pos`` (viewport coordinates), or None."""
    block = view.cursorForPosition(pos).block()
    while block.isValid():
        found = _anchor_id(block)
        if found is not None:
            return found
        block = block.previous()
    return None


def copy_message(window: MainWindow, message_id: int, plain: bool) -> str:
    """Put a message's whole content on the clipboard, as its Markdown or as plain text."""
    content = window.library.message(message_id).content
    text = markdown_to_plain(content) if plain else content
    QGuiApplication.clipboard().setText(text)
    window.statusBar().showMessage(f"Copied {len(text):,} characters", 3000)
    return text


def answer_menu(window: MainWindow, pos: QPoint) -> QMenu:
    """The view's standard menu, plus the copies of the answer at ``pos`` if there is one."""
    view = window.chat_view
    scrolled = QPoint(view.horizontalScrollBar().value(), view.verticalScrollBar().value())
    menu = view.createStandardContextMenu(pos + scrolled)  # in the document's coordinates
    menu.setParent(view, menu.windowFlags())
    message_id = message_at(view, pos)
    if message_id is None or window.conversation_id is None:
        return menu
    try:
        message = window.library.message(message_id)
    except LookupError:
        return menu
    if message.role != Role.ASSISTANT or message_id == view.streaming_answer_id:
        return menu
    menu.addSeparator()
    as_markdown = menu.addAction("Copy as &Markdown")
    as_markdown.triggered.connect(lambda: copy_message(window, message_id, plain=False))
    as_plain = menu.addAction("Copy as plain &text")
    as_plain.triggered.connect(lambda: copy_message(window, message_id, plain=True))
    return menu


def install_copy_menu(window: MainWindow) -> None:
    """The chat view's context menu offers an answer's copies (the view keeps its own menu)."""
    view = window.chat_view
    view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)

    def show(pos: QPoint) -> None:
        menu = answer_menu(window, pos)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(view.viewport().mapToGlobal(pos))

    view.customContextMenuRequested.connect(show)
