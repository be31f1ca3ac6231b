"""Names, not ids, in every table (issue 22): the leaderboard names a local and a cloud model
as the chat does (the id in a tooltip) and its chart has a labelled rating axis; a batch cell
shows an answer's Markdown as plain text, and Enter on it opens the whole answer rendered."""

from __future__ import annotations

from PySide6.QtGui import QColor
from pytestqt.qtbot import QtBot

from desktop.ui.leaderboard_dialog import LeaderboardDialog
from desktop.ui.main_window import MainWindow

SMOL = "local:smollm2-135m-instruct"
FAKEBOX = "fakebox:gpt-4o-mini"


def open_leaderboard(window: MainWindow, qtbot: QtBot) -> LeaderboardDialog:
    """Votes between the bundled local model and a cloud model no longer listed, then View →
    Leaderboard, as the user opens it."""
    for winner in ("a", "a", "b"):
        window.dialogs.comparisons.add_vote(model_a=SMOL, model_b=FAKEBOX, winner=winner)
    window.leaderboard_action.trigger()
    board = window.leaderboard_dialog
    assert board is not None
    qtbot.waitExposed(board)
    return board


def test_the_leaderboard_names_models_as_the_chat_does(window: MainWindow, qtbot: QtBot) -> None:
    smol_name = window.chat.model_name(SMOL)
    assert smol_name != SMOL and "SmolLM2" in smol_name  # the bundled model, as the chat names it
    board = open_leaderboard(window, qtbot)
    table = board.table
    items = [table.item(row, 1) for row in range(table.rowCount())]
    shown = {item.text(): item.toolTip() for item in items if item is not None}
    assert shown == {smol_name: SMOL, "gpt-4o-mini · fakebox": FAKEBOX}
    assert not any("local:" in name or "fakebox:" in name for name in shown)
    assert smol_name in board.chart.accessibleDescription()  # the chart's rows too
    board.close()


def test_the_rating_chart_has_a_labelled_value_axis(window: MainWindow, qtbot: QtBot) -> None:
    board = open_leaderboard(window, qtbot)
    # The chart: names at its rows, and under them a value axis with its title and round ticks.
    chart = board.chart
    assert "Rating" in chart.axis_title
    assert chart.accessibleDescription().startswith(chart.axis_title)
    image = chart.grab().toImage()
    assert chart.ticks and all(t % 5 == 0 for t in chart.ticks)
    ratings = [r.rating for r in board.ratings]
    assert min(chart.ticks) <= max(ratings) and max(chart.ticks) >= min(ratings)
    # Something is drawn below the last row (the axis line, tick labels and title).
    background = QColor(image.pixel(2, image.height() - 2))
    below_rows = [
        QColor(image.pixel(x, y))
        for y in range(20 + 26 * 2, image.height())
        for x in range(270, image.width() - 20, 3)
    ]
    assert any(c != background for c in below_rows)
    board.close()
