"""Dialog words that fit: Rename, opened from a sidebar row's own menu, is wide enough for a
long title (or ~60 characters, and scrolls) with all of it selected; the first-send consent
question shows the provider's address in one piece, on a line of its own that never breaks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QFont, QTextDocument
from PySide6.QtWidgets import (
    QApplication,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QWidget,
)
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.core.params import SamplingParams
from desktop.storage.paths import AppPaths
from desktop.ui.cloud_consent import address_font, words_with_url
from desktop.ui.main_window import MainWindow
from tests.cloudserver import CloudServer
from tests.ui.driving import answer_modal, choose_from_context_menu, pick_in_combo

TITLE = (
    "Notes on marmots, golden eagles and the alpine meadows of the Engadin valley, "
    "kept over three summers of walking"
)
CLOUD = "openai:gpt-4o"
TIMEOUT_MS = 30_000


def row_center(listing: QListWidget, text: str) -> QPoint:
    for row in range(listing.count()):
        item = listing.item(row)
        if item.text() == text:
            listing.scrollToItem(item)
            return listing.visualItemRect(item).center()
    raise AssertionError(f"no row {text!r}")


def test_rename_from_the_row_menu_fits_a_long_title(
    window: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    title = (TITLE + " and a few more words")[:120]
    assert len(title) == 120
    chat = window.chat.store.create_conversation(title)
    window.sidebar.refresh()
    listing = window.conversation_list
    seen: dict[str, object] = {}

    def rename(widget: QWidget) -> None:
        edit = widget.findChild(QLineEdit)
        assert edit is not None
        seen["selected"] = edit.selectedText()
        seen["start_in_view"] = edit.cursorPosition() == 0
        metrics = edit.fontMetrics()
        advance = metrics.horizontalAdvance(title)
        room = edit.contentsRect().width()
        seen["room"], seen["advance"] = room, advance
        seen["sixty"] = 60 * metrics.averageCharWidth()
        screen = widget.screen().availableGeometry()
        seen["fits"] = screen.contains(widget.frameGeometry())
        widget.grab().save(str(tmp_path / "rename.png"))
        assert isinstance(widget, QInputDialog)
        edit.setText("Marmots")
        widget.accept()

    failures = answer_modal(rename, QWidget, "renameDialog")
    choose_from_context_menu(listing, row_center(listing, title), "Rename…")
    assert not failures, failures
    assert seen["selected"] == title  # typing replaces all of it
    assert seen["start_in_view"]
    room, advance, sixty = seen["room"], seen["advance"], seen["sixty"]
    assert isinstance(room, int) and isinstance(advance, int) and isinstance(sixty, int)
    assert room >= advance or room >= sixty, seen  # whole, or ~60 characters that scroll
    assert seen["fits"], "the dialog is within its screen"
    assert window.chat.store.get_conversation(chat.id).title == "Marmots"
    assert any(listing.item(row).text() == "Marmots" for row in range(listing.count()))


def laid_out_lines(html: str, font: QFont, width: int) -> list[str]:
    """The lines ``html`` takes at ``width`` pixels, as a QLabel with word wrap lays them out."""
    document = QTextDocument()
    document.setDefaultFont(font)
    document.setDocumentMargin(0)
    document.setHtml(html)
    document.setTextWidth(width)
    document.documentLayout().documentSize()  # laid out now (it is lazy)
    lines = []
    block = document.begin()
    while block.isValid():
        layout = block.layout()
        for n in range(layout.lineCount()):
            line = layout.lineAt(n)
            lines.append(block.text()[line.textStart() : line.textStart() + line.textLength()])
        block = block.next()
    return lines


def test_a_long_address_stays_one_line_where_the_plain_words_broke(qtbot: QtBot) -> None:
    url = "https://gateway.internal.example.com/openai/deployments/team/v1"
    text = f"Your messages will be sent to OpenAI at {url}, to be answered by gpt-4o."
    font = QApplication.font()
    plain = "<p>" + text + "</p>"
    # The plain words at a message box's width break inside the address (the bug) ...
    lines = laid_out_lines(plain, font, 300)
    assert len(lines) > 2 and not any(url in line for line in lines), lines
    # ... ours keep it on a line of its own, cut in the middle to fit, never broken.
    lines = laid_out_lines(words_with_url(text, url, address_font(font)), font, 300)
    address = [line for line in lines if line.startswith("https://")]
    assert len(address) == 1 and address[0].endswith("team/v1") and "…" in address[0], lines
    assert any(line.startswith("to be answered") for line in lines), lines


@pytest.fixture
def cloud_window(
    home: AppPaths, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[MainWindow, CloudServer]]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-dialog-text-test")
    with CloudServer() as server:
        win = build_window(home)
        win.chat.sampling = SamplingParams(temperature=0.0, max_tokens=20)
        qtbot.addWidget(win)
        win.resize(1000, 600)
        win.show()
        qtbot.waitExposed(win)
        cloud = win.chat.cloud
        assert cloud is not None
        cloud.timeout_s = 5.0
        cloud.set_base_url("openai", server.base_url + "/v1")
        with qtbot.waitSignal(cloud.checked, timeout=TIMEOUT_MS):
            cloud.set_enabled("openai", True)
        yield win, server
        win.close()
        win.chat.store.close()


def test_the_consent_question_shows_the_address_in_one_piece(
    cloud_window: tuple[MainWindow, CloudServer], qtbot: QtBot
) -> None:
    window, server = cloud_window
    url = server.base_url + "/v1"
    pick_in_combo(window.model_picker, CLOUD)
    seen: dict[str, object] = {}

    def look(widget: QWidget) -> None:
        assert isinstance(widget, QMessageBox)
        label = widget.findChild(QLabel, "qt_msgbox_informativelabel")
        assert label is not None and label.isVisible()
        seen["lines"] = laid_out_lines(label.text(), label.font(), label.contentsRect().width())
        seen["tooltip"] = label.toolTip()
        widget.button(QMessageBox.StandardButton.Cancel).click()

    failures = answer_modal(look, QMessageBox, "consentDialog")
    window.input_box.setFocus()
    qtbot.keyClicks(window.input_box, "Hello cloud")
    qtbot.keyClick(window.input_box, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "lines" in seen or bool(failures), timeout=TIMEOUT_MS)
    assert not failures, failures
    lines = seen["lines"]
    assert isinstance(lines, list)
    assert sum(url in line for line in lines) == 1, lines  # whole, on one line
    assert not any(line.rstrip().endswith("http://") for line in lines), lines
    assert url in str(seen["tooltip"])
    assert not server.state.requests or all(
        "Hello cloud" not in str(r["body"]) for r in server.state.requests
    )  # Cancel: nothing was sent
