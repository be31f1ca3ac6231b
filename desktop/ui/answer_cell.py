"""A batch answer in a table: its Markdown as plain readable text for the cell, and the whole
answer rendered in a dialog of its own (opened from the cell by Enter or a double-click)."""

from __future__ import annotations

from functools import cache

from markdown_it import MarkdownIt
from markdown_it.token import Token
from PySide6.QtCore import Qt, QUrl, Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QTextBrowser, QVBoxLayout, QWidget

from desktop.ui.render import copied_text, markdown_to_html

#: Inline pieces whose text is what a reader sees (a link's words, code's letters, an image's
#: alt text); the marks around them (**, `, [](…)) are not.
_SHOWN_INLINE = {"text", "code_inline", "html_inline", "image"}
_BREAKS = {"softbreak", "hardbreak"}


@cache
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table")


def _inline_text(children: list[Token]) -> str:
    return "".join(
        " " if child.type in _BREAKS else child.content
        for child in children
        if child.type in _SHOWN_INLINE or child.type in _BREAKS
    )


def plain_text(markdown: str) -> str:
    """What a reader of the rendered Markdown reads, on one line: no ``**``, no fences, no
    link targets; code keeps its letters."""
    parts = []
    for token in _parser().parse(markdown):
        if token.type == "inline":
            parts.append(_inline_text(token.children or []))
        elif token.type in ("fence", "code_block", "html_block"):
            parts.append(token.content)
    return " ".join(" ".join(parts).split())


class AnswerDialog(QDialog):
    """One batch answer whole, its Markdown rendered (code blocks with Copy), under its prompt.

    Attributes:
        prompt_label: the prompt it answers.
        browser: the rendered answer.
    """

    def __init__(
        self, title: str, prompt: str, markdown: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setObjectName("batchAnswerDialog")
        self.resize(760, 560)
        self.prompt_label = QLabel(prompt, self)
        self.prompt_label.setTextFormat(Qt.TextFormat.PlainText)  # a prompt is not markup
        self.prompt_label.setWordWrap(True)
        self.browser = QTextBrowser(self)
        self.browser.setAccessibleName("The whole answer")
        self.browser.setOpenLinks(False)  # nothing an answer links to opens by itself
        self.browser.anchorClicked.connect(self._on_anchor_clicked)
        self.browser.setHtml(markdown_to_html(markdown))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.prompt_label)
        layout.addWidget(self.browser, 1)
        layout.addWidget(buttons)
        self.browser.setFocus()

    @Slot(QUrl)
    def _on_anchor_clicked(self, url: QUrl) -> None:
        code = copied_text(url.toString())
        if code is not None:
            QGuiApplication.clipboard().setText(code)
