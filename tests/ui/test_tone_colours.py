"""Tones written where the stylesheet cannot reach (HTML in a text view, a table item) follow a
switch between the light and dark palettes, in place."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QTextCursor
from PySide6.QtWidgets import QApplication, QTableWidget, QTableWidgetItem, QTextEdit
from pytestqt.qtbot import QtBot

from desktop.ui.design import colours_for, palette_for
from desktop.ui.tone_colours import (
    TableTones,
    install_tone_colours,
    set_item_tone,
    tone_css,
)


@pytest.fixture
def light() -> Iterator[None]:
    before = QGuiApplication.palette()
    QApplication.setPalette(palette_for(False))
    yield
    QApplication.setPalette(before)


def colour_at(view: QTextEdit, text: str) -> QColor:
    cursor = view.document().find(text)
    assert not cursor.isNull(), text
    cursor.setPosition(cursor.selectionStart() + 1)
    return cursor.charFormat().foreground().color()


def test_html_tones_follow_a_switch(light: None, qtbot: QtBot) -> None:
    view = QTextEdit()
    qtbot.addWidget(view)
    view.show()
    tones = install_tone_colours(view)
    assert install_tone_colours(view) is tones  # once per view
    view.setHtml(
        f'<p><span style="color:{tone_css("muted")}">quiet</span> plain '
        f'<span style="color:{tone_css("danger")}">failed</span> '
        '<span style="color:#123456">own</span></p>'
        f'<table style="border:1px solid {tone_css("muted")}"><tr><td>cell</td></tr></table>'
    )
    lit, dark = colours_for(False), colours_for(True)
    assert colour_at(view, "quiet").name() == lit.muted
    QApplication.setPalette(palette_for(True))
    QApplication.processEvents()  # the palette change is posted
    assert colour_at(view, "quiet").name() == dark.muted
    assert colour_at(view, "failed").name() == dark.danger
    assert colour_at(view, "own").name() == "#123456"  # not a tone: left alone
    table = view.document().rootFrame().childFrames()[0]
    assert table.frameFormat().borderBrush().color().name() == dark.muted
    QApplication.setPalette(palette_for(False))
    QApplication.processEvents()
    assert colour_at(view, "failed").name() == lit.danger
    # Plain text has no colour of its own: it keeps following the palette's Text.
    cursor = view.document().find("plain")
    cursor.setPosition(cursor.selectionStart() + 1, QTextCursor.MoveMode.MoveAnchor)
    assert not cursor.charFormat().hasProperty(cursor.charFormat().Property.ForegroundBrush)


def test_table_item_tones_follow_a_switch(light: None, qtbot: QtBot) -> None:
    table = QTableWidget(1, 2)
    qtbot.addWidget(table)
    table.show()
    TableTones(table)
    table.setItem(0, 0, QTableWidgetItem("All on the GPU"))
    table.setItem(0, 1, QTableWidgetItem("plain"))
    set_item_tone(table, 0, 0, "success")
    toned, plain = table.item(0, 0), table.item(0, 1)
    assert toned is not None and plain is not None
    assert toned.foreground().color().name() == colours_for(False).success
    QApplication.setPalette(palette_for(True))
    QApplication.processEvents()  # the palette change is posted
    assert toned.foreground().color().name() == colours_for(True).success
    assert plain.foreground().style() == Qt.BrushStyle.NoBrush
