"""What the compare window shows of each model: its column of answers, and the latest answers'
metrics as a table (the best in each row highlighted) and a bar chart of their speed.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.core.compare import METRICS, best_columns, format_metric
from desktop.ui.chat_view import ChatView

BEST_BACKGROUND = QColor("#d5f5e3")
#: Text on the best cells: dark, since the light green is the same in both themes.
BEST_TEXT = QColor("#145a32")
BAR_COLOURS = ("#2e86c1", "#b9770e", "#7d3c98", "#1e8449")


class BarChart(QWidget):
    """Tokens/s and time to first token per column, as two groups of bars."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Speed chart")
        self.setMinimumHeight(110)
        self.labels: list[str] = []
        self.groups: list[tuple[str, list[float | None]]] = []

    def set_data(self, labels: list[str], groups: list[tuple[str, list[float | None]]]) -> None:
        self.labels, self.groups = labels, groups
        self.update()

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        width, height = self.width(), self.height()
        if not self.groups:
            return
        group_width = width / len(self.groups)
        small = QFont(self.font())
        small.setPointSizeF(max(7.0, small.pointSizeF() - 1))
        painter.setFont(small)
        for g, (title, values) in enumerate(self.groups):
            left = g * group_width + 10
            # Theme colours: fixed greys vanish on a dark background.
            text_colour = self.palette().color(QPalette.ColorRole.WindowText)
            painter.setPen(text_colour)
            painter.drawText(QRectF(left, 0, group_width - 20, 16), title)
            known = [v for v in values if v is not None]
            top = max(known) if known else 1.0
            bar_area = height - 40
            bar_width = (group_width - 20) / max(1, len(values))
            for i, value in enumerate(values):
                x = left + i * bar_width
                if value is None:
                    continue
                bar = 0 if top <= 0 else bar_area * value / top
                colour = QColor(BAR_COLOURS[i % len(BAR_COLOURS)])
                painter.fillRect(QRectF(x + 4, 20 + bar_area - bar, bar_width - 8, bar), colour)
                painter.setPen(text_colour)
                text = f"{value:.1f}" if value >= 1 else f"{value:.2f}"
                painter.drawText(
                    QRectF(x, height - 18, bar_width, 16), Qt.AlignmentFlag.AlignCenter, text
                )
        painter.end()


class ColumnWidget(QWidget):
    """One model's answers: header (with ``sight``, the mark of a model that cannot see the
    attached pictures), Stop and Focus, and the streamed text.

    Signals:
        stop_requested(int), focus_requested(int): the column's slot.
    """

    stop_requested = Signal(int)
    focus_requested = Signal(int)

    def __init__(self, slot: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slot = slot
        self.title = QLabel(self)
        self.title.setObjectName(f"columnTitle{slot}")
        self.title.setStyleSheet("font-weight: bold")
        self.title.setAccessibleName(f"Column {slot + 1} model")
        #: While pictures are attached: this column's model cannot see them (compare_images).
        self.sight = QLabel(self)
        self.sight.setObjectName(f"columnSight{slot}")
        self.sight.setStyleSheet("color: #c0392b")
        self.sight.hide()
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setAccessibleName(f"Stop column {slot + 1}")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(lambda: self.stop_requested.emit(self.slot))
        self.focus_button = QPushButton("Focus", self)
        self.focus_button.setCheckable(True)
        self.focus_button.setAccessibleName(f"Focus column {slot + 1}")
        self.focus_button.clicked.connect(lambda: self.focus_requested.emit(self.slot))
        self.view = ChatView(self)
        self.view.setAccessibleName(f"Answers of column {slot + 1}")
        self.view.placeholder_html = "<p style='color:#888'>Answers appear here.</p>"
        self.view.show_messages([], {})
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.focus_button)
        top.addWidget(self.stop_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.sight)  # a line of its own: a narrow header has no room for it
        layout.addWidget(self.view, 1)


def metrics_table(parent: QWidget) -> QTableWidget:
    """The table of the latest answers' metrics: a row per metric, a column per model."""
    table = QTableWidget(len(METRICS), 0, parent)
    table.setObjectName("metricsTable")
    table.setAccessibleName("Metrics of the latest answers")
    table.setVerticalHeaderLabels([m.label for m in METRICS])
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    # Tall enough for every row, without a scroll bar.
    row_height = table.verticalHeader().defaultSectionSize()
    table.setFixedHeight(row_height * len(METRICS) + 34)
    return table


def show_metrics(
    table: QTableWidget, chart: BarChart, values: list[dict[str, Any]], labels: list[str]
) -> None:
    """Each column's metrics in the table, the best of each row highlighted; speeds charted."""
    for row, metric in enumerate(METRICS):
        row_values = [v[metric.key] for v in values]
        numeric = [float(v) if isinstance(v, int | float) else None for v in row_values]
        best = best_columns(numeric, metric.better)
        for slot, value in enumerate(row_values):
            item = QTableWidgetItem(format_metric(metric.key, value))
            item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            if slot in best:
                item.setBackground(BEST_BACKGROUND)
                item.setForeground(BEST_TEXT)
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            table.setItem(row, slot, item)
    chart.set_data(
        labels,
        [
            ("Tokens/s", [_number(v["tokens_per_second"]) for v in values]),
            ("Time to first token (s)", [_number(v["ttft_s"]) for v in values]),
        ],
    )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None
