"""Tool calls in the compare window and the batch table: a comparison offers tools and keeps
each model's calls without running them, so a call is shown as the chat shows one (the tool,
its arguments) with "not run" for its outcome, and read only (no details link: no result).
The tools offered come from a JSON file of OpenAI function entries (ToolsPicker).
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QFileDialog, QHBoxLayout, QLabel, QPushButton, QWidget

from desktop.core.parts import Part, ToolCall
from desktop.core.tool_score import parse_tools
from desktop.core.tools import ToolSpec
from desktop.ui.design import colours_for
from desktop.ui.tool_blocks import arguments_text, preview

NOT_RUN = "not run (a comparison keeps calls, runs none)"


def calls_html(parts: Sequence[Part]) -> str:
    """Each call among these parts as a small framed block, read only; "" for none."""
    blocks = []
    danger, muted, border = _html_colours()
    for call in (p for p in parts if isinstance(p, ToolCall)):
        words, colour = ("✗ could not be read", danger) if call.problem else (NOT_RUN, muted)
        lines = [
            f"<b>⚙ {html.escape(call.name or 'unreadable call')}</b> &nbsp;"
            f'<span style="color:{colour}">{html.escape(words)}</span>'
        ]
        shown = preview(arguments_text(call))
        if shown:
            lines.append(f'<span style="color:{muted}">{html.escape(shown)}</span>')
        if call.problem:
            lines.append(f'<span style="color:{danger}">{html.escape(call.problem)}</span>')
        blocks.append(
            f'<table width="100%" cellpadding="6" style="margin:4px 0; border:1px solid {border}; '
            f'font-size:small"><tr><td>{"<br/>".join(lines)}</td></tr></table>'
        )
    return "".join(blocks)


def _html_colours() -> tuple[str, str, str]:
    """The theme's danger tone, its faint text and its border, for HTML (which no palette
    reaches): read when the block is made, so it is written in the theme in force."""
    palette = QApplication.palette()
    dark = palette.color(QPalette.ColorRole.Window).lightness() < 128
    faint = palette.color(QPalette.ColorRole.PlaceholderText).name()
    return colours_for(dark).danger, faint, colours_for(dark).border


def call_line(call: dict[str, Any]) -> str:
    """A report's call on one line: ``⚙ get_weather(city="Oslo")``."""
    as_call = ToolCall("", str(call.get("name", "")), str(call.get("arguments", "")))
    return f"⚙ {call.get('name') or 'unreadable call'}({arguments_text(as_call)})"


def answer_cell(answer: dict[str, Any]) -> tuple[str, str]:
    """A batch answer's table cell and its tooltip: the score's mark, the calls and the
    words; the tooltip says the score in full."""
    lines = []
    score = answer.get("score")
    if score:
        right = score["right_tool"] and score["right_arguments"] and score["well_formed"]
        lines.append("✓ right call" if right else "✗ " + score["detail"])
    lines += [call_line(call) for call in answer.get("calls") or []]
    if answer.get("text"):
        lines.append(answer["text"])
    tip = [score["detail"]] if score else []
    tip += [json.dumps(c, ensure_ascii=False) for c in answer.get("calls") or []]
    return preview(" · ".join(lines)), "\n".join([*tip, answer.get("text") or ""]).strip()


class ToolsPicker(QWidget):
    """Tools… (a JSON file of OpenAI function entries, or {"tools": [...]}) offered alike to
    every column of the comparison, and to a batch's prompts that carry none; × offers none.

    Signals:
        notice(str): why a file could not be used.
    """

    notice = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tools: tuple[ToolSpec, ...] = ()
        self.choose_button = QPushButton("Tools…", self)
        self.choose_button.setAccessibleName("Offer tools from a file to every model")
        self.choose_button.clicked.connect(self.choose)
        self.clear_button = QPushButton("×", self)
        self.clear_button.setAccessibleName("Offer no tools")
        self.clear_button.clicked.connect(lambda: self.set_tools(()))
        self.label = QLabel(self)
        self.label.setObjectName("compareTools")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.choose_button)
        layout.addWidget(self.label)
        layout.addWidget(self.clear_button)
        self.set_tools(())

    def set_tools(self, tools: tuple[ToolSpec, ...]) -> None:
        self.tools = tools
        names = ", ".join(spec.name for spec in tools)
        self.label.setText(f"Tools (not run): {names}" if tools else "No tools")
        self.clear_button.setEnabled(bool(tools))

    @Slot()
    def choose(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(
            self, "Tools to offer", "", "Tools (*.json);;All files (*)"
        )
        if not path:
            return
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            self.set_tools(parse_tools(data.get("tools") if isinstance(data, dict) else data))
        except (OSError, UnicodeDecodeError) as exc:
            self.notice.emit(f"Cannot read {path}: {exc}")
        except ValueError as exc:  # not JSON, or not tools
            self.notice.emit(f"{Path(path).name}: {exc}.")
