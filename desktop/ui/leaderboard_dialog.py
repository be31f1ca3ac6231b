"""The personal leaderboard: ratings from the user's blind votes, as a table and a chart with
95 % intervals on a labelled rating axis, filterable by tag and time; models are named as the
chat names them (the id in a tooltip), a fine-tune as its model with its LoRA adapters ("SmolLM2
+ my-tune × 0.8", its own row); votes on answers that named their own model are left out unless
the user counts them."""

from __future__ import annotations

import math
from collections.abc import Callable

from PySide6.QtCore import QRectF, Qt, Slot
from PySide6.QtGui import QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.core.ratings import Rating, contestant_name
from desktop.services.leaderboard import Leaderboard

PERIODS = (("All time", None), ("Last 7 days", 7), ("Last 30 days", 30), ("Last year", 365))
COLUMNS = ("#", "Model", "Rating", "95% interval", "Wins", "Losses", "Ties", "Votes", "Win rate")
#: The chart's value axis, under the rows.
AXIS_TITLE = "Rating (Elo scale, 1000 = average)"
ROW_HEIGHT = 26
#: Room under the rows for the axis line, its tick labels and its title.
AXIS_HEIGHT = 52


def axis_ticks(low: float, high: float, most: int = 8) -> list[int]:
    """Round rating values between low and high for the axis: a 1, 2 or 5 step times a
    power of ten, no more than ``most`` of them."""
    span = max(high - low, 1.0)
    power = 10 ** math.floor(math.log10(span / most))
    step = next(power * factor for factor in (1, 2, 5, 10) if span / (power * factor) <= most)
    first = math.ceil(low / step) * step
    return [round(first + i * step) for i in range(int((high - first) // step) + 1)]


class RatingChart(QWidget):
    """Each model's rating as a dot with its interval as a line, best at the top, over a
    labelled rating axis with round ticks.

    Attributes:
        ratings: the ratings drawn.
        names: each rating's model as the chat names it (by model id).
        ticks: the axis's tick values as last drawn.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Ratings chart")
        self.setMinimumHeight(160)
        self.ratings: list[Rating] = []
        self.names: dict[str, str] = {}
        self.axis_title = AXIS_TITLE
        self.ticks: list[int] = []

    def set_ratings(self, ratings: list[Rating], names: dict[str, str] | None = None) -> None:
        self.ratings = ratings
        self.names = names or {}
        self.setMinimumHeight(20 + ROW_HEIGHT * len(ratings) + AXIS_HEIGHT)
        self.setAccessibleDescription(
            f"{self.axis_title}: " + "; ".join(f"{self._name(r)} {r.rating:.0f}" for r in ratings)
        )
        self.update()

    def _name(self, rating: Rating) -> str:
        return self.names.get(rating.model, rating.model)

    def paintEvent(self, _event: QPaintEvent) -> None:
        if not self.ratings:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        low = min(r.low for r in self.ratings) - 20
        high = max(r.high for r in self.ratings) + 20
        label_width = 260.0
        left, right = label_width + 10, self.width() - 20.0
        text = self.palette().color(QPalette.ColorRole.WindowText)
        # The interval and its point in the theme's accent: read at each paint, so a switch
        # recolours them (Accent meets 3:1 on Window in both themes, tests/ui/test_contrast.py).
        accent = self.palette().color(QPalette.ColorRole.Accent)

        def x(value: float) -> float:
            return left + (value - low) / (high - low) * (right - left)

        # The value axis under the rows: a line, round ticks with their values, its title.
        axis_y = 20 + len(self.ratings) * ROW_HEIGHT - 6
        self.ticks = axis_ticks(low, high)
        painter.setPen(QPen(text, 1))
        painter.drawLine(int(left), axis_y, int(right), axis_y)
        for tick in self.ticks:
            tick_x = x(tick)
            painter.drawLine(int(tick_x), axis_y, int(tick_x), axis_y + 5)
            painter.drawText(
                QRectF(tick_x - 30, axis_y + 6, 60, 16), Qt.AlignmentFlag.AlignCenter, str(tick)
            )
        painter.drawText(
            QRectF(left, axis_y + 24, right - left, 18),
            Qt.AlignmentFlag.AlignCenter,
            self.axis_title,
        )
        for index, rating in enumerate(self.ratings):
            y = 20 + index * ROW_HEIGHT
            painter.setPen(text)
            painter.drawText(
                QRectF(0, y - 9, label_width, 18),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                self._name(rating),
            )
            painter.setPen(QPen(accent, 2))
            painter.drawLine(int(x(rating.low)), y, int(x(rating.high)), y)
            painter.setBrush(accent)
            painter.drawEllipse(QRectF(x(rating.rating) - 5, y - 5, 10, 10))
        painter.end()


class LeaderboardDialog(QDialog):
    """Shows the ratings from the user's blind votes, filtered by tag and period, each model
    by the name ``model_name`` gives its id (the chat service's), the id in a tooltip."""

    def __init__(
        self,
        board: Leaderboard,
        model_name: Callable[[str], str],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        #: Where the ratings come from (a store given is read through a Leaderboard).
        self.board = board
        #: A model's name from its id, as the rest of the app names it.
        self.model_name = model_name
        self.setWindowTitle("Leaderboard — your votes")
        self.setObjectName("leaderboardDialog")
        self.resize(900, 560)
        self.tag_picker = QComboBox(self)
        self.tag_picker.setAccessibleName("Only votes with this tag")
        self.period_picker = QComboBox(self)
        self.period_picker.setAccessibleName("Only votes from this period")
        for label, days in PERIODS:
            self.period_picker.addItem(label, days)
        self.flagged_box = QCheckBox("Count votes on answers that named their own model", self)
        for control in (self.tag_picker, self.period_picker):
            control.currentIndexChanged.connect(self.refresh)
        self.flagged_box.toggled.connect(self.refresh)
        filters = QHBoxLayout()
        filters.addWidget(QLabel("Tag:", self))
        filters.addWidget(self.tag_picker)
        filters.addWidget(QLabel("Period:", self))
        filters.addWidget(self.period_picker)
        filters.addWidget(self.flagged_box)
        filters.addStretch(1)
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("leaderboardTable")
        self.table.setAccessibleName("Ratings")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.chart = RatingChart(self)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.chart)
        self.refresh()

    @Slot()
    def refresh(self) -> None:
        tag = self.tag_picker.currentData()
        self.tag_picker.blockSignals(True)
        self.tag_picker.clear()
        self.tag_picker.addItem("All tags", None)
        for name in self.board.tags():
            self.tag_picker.addItem(name, name)
        index = self.tag_picker.findData(tag)
        self.tag_picker.setCurrentIndex(max(0, index))
        self.tag_picker.blockSignals(False)
        standings = self.board.standings(
            tag=self.tag_picker.currentData(),
            days=self.period_picker.currentData(),
            count_flagged=self.flagged_box.isChecked(),
        )
        self.ratings = standings.ratings
        names = {r.model: contestant_name(r.model, self.model_name) for r in self.ratings}
        self.table.setRowCount(0)
        for rank, rating in enumerate(self.ratings, start=1):
            row = self.table.rowCount()
            self.table.insertRow(row)
            cells = (
                str(rank),
                names[rating.model],
                f"{rating.rating:.0f}",
                f"{rating.low:.0f} – {rating.high:.0f}",
                str(rating.wins),
                str(rating.losses),
                str(rating.ties),
                str(rating.votes),
                f"{rating.win_rate:.0%}",
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column != 1:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                else:  # the model's id, and each adapter's file and scale
                    lines = [f"{a.path} × {a.scale:g}" for a in rating.adapters]
                    item.setToolTip("\n".join([rating.model_id, *lines]))
                self.table.setItem(row, column, item)
        self.chart.set_ratings(self.ratings, names)
        counted, left_out = standings.counted, standings.left_out
        note = (
            f" {left_out} vote(s) on answers that named their own model are left out."
            if left_out
            else ""
        )
        self.summary.setText(
            f"{counted} votes. Ratings are Bradley-Terry on the Elo scale (1000 = average; "
            f"+100 ≈ wins 64 % of the time), with 95 % bootstrap intervals.{note}"
            if counted
            else "No votes yet: compare two models in blind mode and vote." + note
        )
