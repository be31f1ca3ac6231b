"""The personal leaderboard: ratings from the user's blind votes, as a table and a chart with
95 % intervals, filterable by tag and time; votes on answers that named their own model are
left out unless the user counts them."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Slot
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
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

from desktop.core.ratings import Rating
from desktop.services.leaderboard import Leaderboard

PERIODS = (("All time", None), ("Last 7 days", 7), ("Last 30 days", 30), ("Last year", 365))
COLUMNS = ("#", "Model", "Rating", "95% interval", "Wins", "Losses", "Ties", "Votes", "Win rate")


class RatingChart(QWidget):
    """Each model's rating as a dot with its interval as a line, best at the top."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Ratings chart")
        self.setMinimumHeight(160)
        self.ratings: list[Rating] = []

    def set_ratings(self, ratings: list[Rating]) -> None:
        self.ratings = ratings
        self.setMinimumHeight(40 + 26 * len(ratings))
        self.update()

    def paintEvent(self, _event: QPaintEvent) -> None:
        if not self.ratings:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        low = min(r.low for r in self.ratings) - 20
        high = max(r.high for r in self.ratings) + 20
        label_width = 260.0
        left, right = label_width + 10, self.width() - 20.0

        def x(value: float) -> float:
            return left + (value - low) / (high - low) * (right - left)

        for index, rating in enumerate(self.ratings):
            y = 20 + index * 26
            painter.setPen(QColor("#333"))
            painter.drawText(
                QRectF(0, y - 9, label_width, 18),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                rating.model,
            )
            painter.setPen(QPen(QColor("#2e86c1"), 2))
            painter.drawLine(int(x(rating.low)), y, int(x(rating.high)), y)
            painter.setBrush(QColor("#1b4f72"))
            painter.drawEllipse(QRectF(x(rating.rating) - 5, y - 5, 10, 10))
        painter.end()


class LeaderboardDialog(QDialog):
    """Shows the ratings from the user's blind votes, filtered by tag and period."""

    def __init__(self, board: Leaderboard, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        #: Where the ratings come from (a store given is read through a Leaderboard).
        self.board = board
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
        self.table.setRowCount(0)
        for rank, rating in enumerate(self.ratings, start=1):
            row = self.table.rowCount()
            self.table.insertRow(row)
            cells = (
                str(rank),
                rating.model,
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
                self.table.setItem(row, column, item)
        self.chart.set_ratings(self.ratings)
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
