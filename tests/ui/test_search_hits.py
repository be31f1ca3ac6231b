"""Search hits in the real window, typed into the sidebar's search box: a chat's title shows
once with its hits under it, each hit still opens its chat at its own message, and a selected
hit reads well on the selection's colour in both themes."""

from __future__ import annotations

import re

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QLabel, QSplitter
from pytestqt.qtbot import QtBot

from desktop.core.messages import Role
from desktop.ui.main_window import MainWindow


def luminance(colour: QColor) -> float:
    """WCAG relative luminance."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return (
        0.2126 * channel(colour.red())
        + 0.7152 * channel(colour.green())
        + 0.0722 * channel(colour.blue())
    )


def contrast(a: QColor, b: QColor) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def hit_labels(window: MainWindow) -> list[QLabel]:
    hits = window.sidebar.hits
    labels = [hits.itemWidget(hits.item(row)) for row in range(hits.count())]
    assert all(isinstance(label, QLabel) for label in labels)
    return [label for label in labels if isinstance(label, QLabel)]


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_hits_are_grouped_by_chat_and_a_selected_hit_reads_well(
    window: MainWindow, qtbot: QtBot, theme: str
) -> None:
    store = window.chat.store
    alps = store.create_conversation("Marmots of the Alps")
    wanted = []
    for i in range(5):
        message = store.add_message(
            alps.id, Role.USER, f"Note {i}: the marmot whistles when an eagle flies over."
        )
        wanted.append(message.id)
    other = store.create_conversation("Other rodents")
    store.add_message(other.id, Role.USER, "A marmot is a large ground squirrel.")
    window.open_conversation(other.id)
    window.theme_actions[theme].trigger()  # View → Theme
    try:
        qtbot.keyClicks(window.sidebar.search_edit, "marmot")  # as the user types
        hits = window.sidebar.hits
        qtbot.waitUntil(lambda: hits.isVisible() and hits.count() == 6, timeout=5_000)
        texts = [label.text() for label in hit_labels(window)]
        assert sum("Marmots of the Alps" in text for text in texts) == 1, texts
        assert sum("Other rodents" in text for text in texts) == 1, texts
        assert sum("5 matches" in text for text in texts) == 1, texts
        assert all("<b>marmot</b>" in text for text in texts)
        # The Alps' hits sit together, under its title.
        rows = [int(hits.item(row).data(Qt.ItemDataRole.UserRole)) for row in range(6)]
        first = rows.index(alps.id)
        assert rows[first : first + 5] == [alps.id] * 5
        assert "Marmots of the Alps" in texts[first]

        # The third of the Alps' hits, clicked: its chat opens at its message; it is selected.
        row = first + 2
        item = hits.item(row)
        message_id = int(item.data(Qt.ItemDataRole.UserRole + 1))
        assert message_id in wanted
        hits.scrollToItem(item)
        point = hits.visualItemRect(item).center()
        qtbot.mouseClick(hits.viewport(), Qt.MouseButton.LeftButton, pos=point)
        assert window.conversation_id == alps.id
        assert item.isSelected()

        # Its words are in the highlighted text colour, readable on the highlight behind them.
        label = hit_labels(window)[row]
        group = (
            QPalette.ColorGroup.Active if hits.isActiveWindow() else QPalette.ColorGroup.Inactive
        )
        highlight = hits.palette().color(group, QPalette.ColorRole.Highlight)
        colours = [QColor(c) for c in re.findall(r"color:(#[0-9a-f]{6})", label.text())]
        assert colours, label.text()
        for colour in colours:
            assert contrast(colour, highlight) >= 4.5, (colour.name(), highlight.name())
        picture = hits.viewport().grab().toImage()
        rect = hits.visualItemRect(item)
        behind = picture.pixelColor(rect.right() - 2, rect.bottom() - 2)
        assert contrast(behind, highlight) < 1.1, (behind.name(), highlight.name())
        # A theme switch while it is shown recolours it from the new palette.
        switched = "dark" if theme == "light" else "light"
        window.theme_actions[switched].trigger()
        label = hit_labels(window)[row]
        light_text = hits.palette().color(group, QPalette.ColorRole.HighlightedText)
        assert f"color:{light_text.name()}" in label.text(), (label.text(), light_text.name())
        highlight = hits.palette().color(group, QPalette.ColorRole.Highlight)
        colours = [QColor(c) for c in re.findall(r"color:(#[0-9a-f]{6})", label.text())]
        assert all(contrast(colour, highlight) >= 4.5 for colour in colours)
        base = hits.palette().color(group, QPalette.ColorRole.Base)
        unselected = hit_labels(window)[first].text()  # the Alps' title row
        colours = [QColor(c) for c in re.findall(r"color:(#[0-9a-f]{6})", unselected)]
        assert colours and all(contrast(colour, base) >= 4.5 for colour in colours), unselected
        window.theme_actions[theme].trigger()
        # The hit that is no longer selected is dimmed again, readable on the list's base.
        hits.setCurrentRow(first)
        label = hit_labels(window)[row]
        base = hits.palette().color(group, QPalette.ColorRole.Base)
        colours = [QColor(c) for c in re.findall(r"color:(#[0-9a-f]{6})", label.text())]
        assert colours and all(contrast(colour, base) >= 4.5 for colour in colours)
    finally:
        window.theme_actions["light"].trigger()  # the palette is the whole app's


def test_hit_rows_fit_their_words_at_the_lists_width(window: MainWindow, qtbot: QtBot) -> None:
    """Each row is as tall as its wrapped words need: no blank lines under them, and none cut
    when the sidebar is made narrower."""
    store = window.chat.store
    chat = store.create_conversation("Marmots")
    for i in range(3):
        store.add_message(chat.id, Role.USER, f"Walk {i}: the marmot whistled twice at the eagle.")
    qtbot.keyClicks(window.sidebar.search_edit, "marmot")
    hits = window.sidebar.hits
    qtbot.waitUntil(lambda: hits.isVisible() and hits.count() == 3, timeout=5_000)

    def check() -> None:
        for label in hit_labels(window):
            needed = label.heightForWidth(label.width())
            assert needed <= label.height() <= needed + 2, (label.height(), needed)

    check()
    splitter = window.sidebar.parentWidget()
    assert isinstance(splitter, QSplitter)
    wide = splitter.sizes()
    splitter.setSizes([160, sum(wide) - 160])  # the handle dragged to the left
    qtbot.waitUntil(lambda: all(label.width() < 160 for label in hit_labels(window)))
    QApplication.processEvents()
    check()
