"""Colours that were hard-coded hex now come from the design tones and follow View → Theme: the
model manager's fit verdicts, the OFFLINE badge (its colours checked for contrast in
tests/ui/test_contrast.py), the sidebar's day headers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from desktop.ui.design import colours_for
from desktop.ui.main_window import MainWindow
from desktop.ui.status_line import badge_colours
from tests.ui.test_contrast import contrast


@pytest.fixture
def lit(window: MainWindow) -> Iterator[MainWindow]:
    window.theme_actions["light"].trigger()
    yield window
    window.theme_actions["system"].trigger()  # the app outlives the test: leave it as found


def switch(window: MainWindow, theme: str) -> None:
    window.theme_actions[theme].trigger()
    QApplication.processEvents()  # the palette change reaches the widgets as a posted event


def test_fit_verdicts_take_the_themes_tones(lit: MainWindow, qtbot: QtBot) -> None:
    window = lit
    window.models_action.trigger()
    dialog = window.models_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.machine is not None, timeout=30_000)
    table = dialog.fit_table
    assert table.rowCount() > 0

    def verdicts() -> list[tuple[str, str]]:
        cells = [table.item(row, 3) for row in range(table.rowCount())]
        return [(c.text(), c.foreground().color().name()) for c in cells if c is not None]

    light, dark = colours_for(False), colours_for(True)
    tones = {light.tone(t) for t in ("success", "accent", "warning", "danger")}
    assert verdicts() and all(colour in tones for _text, colour in verdicts())
    for text, colour in verdicts():
        if text.startswith("Does not fit"):
            assert colour == light.danger
    switch(window, "dark")
    base = table.palette().color(table.backgroundRole())
    dark_tones = {dark.tone(t) for t in ("success", "accent", "warning", "danger")}
    for text, colour in verdicts():
        assert colour in dark_tones, (text, colour)
        assert contrast(QColor(colour), base) >= 4.5, (text, colour, base.name())


def test_the_offline_badge_is_redrawn_in_the_dark_theme(lit: MainWindow) -> None:
    window = lit
    window.offline_action.trigger()
    label = window.offline_label
    assert label.isVisible()
    light, dark = colours_for(False), colours_for(True)
    assert badge_colours(light)["offline"][1] in label.styleSheet()
    switch(window, "dark")
    text, surface, _border = badge_colours(dark)["offline"]
    assert surface in label.styleSheet() and text in label.styleSheet()
    image = label.grab().toImage()
    inside = image.pixelColor(3, image.height() // 2)  # the badge's surface, beside its words
    assert inside.name() == surface
    window.offline_action.trigger()


def test_the_sidebars_day_headers_read_in_both_themes(lit: MainWindow) -> None:
    """ "Today" over the chat list was Qt's grey: 2.6:1 on the light list."""
    window = lit
    listing = window.sidebar.list
    headers = [
        item
        for item in (listing.item(row) for row in range(listing.count()))
        if item is not None and not item.flags() & Qt.ItemFlag.ItemIsEnabled
    ]
    assert [h.text() for h in headers] == ["Today"]
    for theme in ("light", "dark"):
        switch(window, theme)
        c = colours_for(theme == "dark")
        colour = headers[0].foreground().color()
        assert colour.name() == c.muted
        assert contrast(colour, QColor(c.base)) >= 4.5
