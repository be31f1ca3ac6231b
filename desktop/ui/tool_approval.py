"""The question put to the user before a tool runs: which tool, on which server (a program on this
computer or a remote address), what it says it does, and the exact arguments the model sent.

"Allow once", "Always allow this tool" or "Deny"; Esc and closing the window deny. The dialog is
window-modal and opened with ``open()``: the window keeps painting (and streaming) meanwhile, and
the answer comes back as ``decided``.
"""

from __future__ import annotations

import json
import re

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop.core.parts import ToolCall
from desktop.core.tools import ToolSpec
from desktop.services.tool_turn import Decision
from desktop.ui.design import type_font

#: Characters of arguments shown; past this the box says how much is left out (a model can
#: send megabytes, and a text box that large makes the dialog crawl).
MAX_SHOWN_CHARS = 100_000
#: Characters of a tool's description shown in the dialog (the whole text is in its tooltip).
MAX_DESCRIPTION_CHARS = 300

LOCAL_SENTENCE = "a program on this computer; it may reach the network itself"
REMOTE_SENTENCE = "a remote address: the arguments are sent over the network"


def breakable(text: str, run: int = 40) -> str:
    """``text`` with a zero-width space in each long run without spaces, so a label can wrap
    it: a server's 2,000-character tool name must not make the dialog 4,000 pixels wide."""
    return re.sub(rf"(\S{{{run}}})(?=\S)", "\\1\u200b", text)


def server_sentence(server: str, server_kind: str) -> str:
    """Where the tool runs, in words."""
    what = REMOTE_SENTENCE if server_kind == "http" else LOCAL_SENTENCE
    return f"Server: {breakable(server or 'unknown')} — {what}"


def pretty_arguments(arguments: str, limit: int = MAX_SHOWN_CHARS) -> str:
    """The call's JSON arguments indented for reading (as sent where they are not JSON), cut
    to ``limit`` characters with a note."""
    try:
        text = json.dumps(json.loads(arguments), indent=2, ensure_ascii=False)
    except ValueError:
        text = arguments
    if not text.strip():
        text = "(no arguments)"
    if len(text) > limit:
        left = len(text) - limit
        text = f"{text[:limit]}\n\n[… {left:,} more characters not shown]"
    return text


class ToolApprovalDialog(QDialog):
    """Asks whether one tool call may run.

    Signals:
        decided(Decision): the user's answer, once (Esc and closing send DENY).
    """

    decided = Signal(Decision)

    def __init__(
        self,
        call: ToolCall,
        spec: ToolSpec | None,
        server_kind: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.call = call
        self.spec = spec
        self._decision = Decision.DENY
        self._sent = False
        self.setObjectName("toolApprovalDialog")
        self.setWindowTitle("Allow a tool call?")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.resize(600, 440)
        server = (spec.server if spec is not None else "") or call.server
        self._build(server, server_kind)

    def _build(self, server: str, server_kind: str) -> None:
        self.heading = QLabel(self)
        self.heading.setObjectName("toolApprovalHeading")
        self.heading.setTextFormat(Qt.TextFormat.PlainText)  # names come from a server
        name = self.call.name if len(self.call.name) <= 200 else self.call.name[:200] + "…"
        self.heading.setText(f"The model wants to run the tool “{breakable(name)}”.")
        self.heading.setToolTip(self.call.name)
        self.heading.setWordWrap(True)
        self.heading.setFont(type_font("title"))

        self.server_label = QLabel(server_sentence(server, server_kind), self)
        self.server_label.setObjectName("toolApprovalServer")
        self.server_label.setTextFormat(Qt.TextFormat.PlainText)
        self.server_label.setWordWrap(True)
        self.server_label.setAccessibleName("Where the tool runs")

        description = self.spec.description.strip() if self.spec is not None else ""
        if not description:
            description = "(The server gave no description of this tool.)"
        self.description_label = QLabel(self)
        self.description_label.setObjectName("toolApprovalDescription")
        self.description_label.setTextFormat(Qt.TextFormat.PlainText)
        self.description_label.setWordWrap(True)
        self.description_label.setAccessibleName("What the tool says it does")
        shown = description
        if len(shown) > MAX_DESCRIPTION_CHARS:
            shown = shown[:MAX_DESCRIPTION_CHARS].rstrip() + " …"
            self.description_label.setToolTip(description)
        self.description_label.setText(breakable(shown))
        self.description_label.setSizePolicy(
            QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum
        )

        arguments_title = QLabel("Arguments the model sent:", self)
        self.arguments = QPlainTextEdit(self)
        self.arguments.setObjectName("toolApprovalArguments")
        self.arguments.setAccessibleName("Arguments")
        self.arguments.setReadOnly(True)
        self.arguments.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.arguments.setPlainText(pretty_arguments(self.call.arguments))
        self.arguments.setMinimumHeight(160)

        self.allow_once_button = QPushButton("Allow once", self)
        self.allow_once_button.setObjectName("allowOnceButton")
        self.allow_once_button.clicked.connect(self._allow_once)
        self.always_button = QPushButton("Always allow this tool", self)
        self.always_button.setObjectName("alwaysAllowButton")
        self.always_button.setAccessibleDescription(
            "Run this tool from now on without asking (Tools → Always allowed undoes it)"
        )
        self.always_button.clicked.connect(self._always)
        self.deny_button = QPushButton("Deny", self)
        self.deny_button.setObjectName("denyButton")
        self.deny_button.clicked.connect(self._deny)
        # Enter must never run a tool by accident: the only default is Deny.
        for button in (self.allow_once_button, self.always_button):
            button.setAutoDefault(False)
        self.deny_button.setDefault(True)

        buttons = QHBoxLayout()
        buttons.addWidget(self.allow_once_button)
        buttons.addWidget(self.always_button)
        buttons.addStretch(1)
        buttons.addWidget(self.deny_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.server_label)
        layout.addWidget(self.description_label)
        layout.addWidget(arguments_title)
        layout.addWidget(self.arguments, 1)
        layout.addLayout(buttons)
        self.deny_button.setFocus()

    @property
    def decision(self) -> Decision:
        """The answer given (DENY until one is, and after Esc or closing)."""
        return self._decision

    def _answer(self, decision: Decision) -> None:
        self._decision = decision
        if decision == Decision.DENY:
            self.reject()
        else:
            self.accept()

    @Slot()
    def _allow_once(self) -> None:
        self._answer(Decision.ALLOW_ONCE)

    @Slot()
    def _always(self) -> None:
        self._answer(Decision.ALWAYS)

    @Slot()
    def _deny(self) -> None:
        self._answer(Decision.DENY)

    def done(self, result: int) -> None:
        """Every way the dialog ends (a button, Esc, closing) comes through here: the answer
        is sent exactly once. Esc and closing leave the answer as it started: DENY."""
        super().done(result)
        if not self._sent:
            self._sent = True
            self.decided.emit(self._decision)
