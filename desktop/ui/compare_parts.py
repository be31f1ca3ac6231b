"""What the compare window shows of each model: its column of answers (its metrics in a strip at
its bottom, compare_metrics.py's), and a bar chart of the latest answers' speed.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.chat_view import ChatView
from desktop.ui.compare_metrics import MetricStrip
from desktop.ui.design import set_tone
from desktop.ui.elided_label import ElidedLabel

#: The chart's series, a column's swatch: data colours, each at least 3:1 against the window
#: of both the light and the dark theme (WCAG's contrast for graphics).
BAR_COLOURS = ("#2e86c1", "#b9770e", "#a569bd", "#239b56")


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
        # The bars in words, for a screen reader: "Tokens/s: gpt-4o 34.4, Claude 23.5".
        self.setAccessibleDescription(
            "; ".join(
                f"{title}: "
                + ", ".join(
                    f"{name} {bar_text(v)}"
                    for name, v in zip(labels, values, strict=False)
                    if v is not None
                )
                for title, values in groups
            )
        )
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
                text = bar_text(value)
                painter.drawText(
                    QRectF(x, height - 18, bar_width, 16), Qt.AlignmentFlag.AlignCenter, text
                )
        painter.end()


def bar_text(value: float) -> str:
    """A bar's value as written under it: "34.4", "0.03"."""
    return f"{value:.1f}" if value >= 1 else f"{value:.2f}"


class ColumnTitle(ElidedLabel):
    """A column's model name, cut down to a letter and "…" where the column is narrow: with the
    app stylesheet's padding Focus and Stop take 113 px, and ElidedLabel's usual 48 px squeezed
    them below their size in the three columns of an 800 px window."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("", parent)

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        # From the font in force, so a text zoom or a theme's font keeps a letter showing.
        margins = self.contentsMargins()
        least = self.fontMetrics().horizontalAdvance("W…") + margins.left() + margins.right()
        return QSize(min(hint.width(), least), hint.height())


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
        # Cut with "…" (whole in its tooltip) where narrow, so Focus and Stop keep their room.
        self.title = ColumnTitle(self)
        self.title.setObjectName(f"columnTitle{slot}")
        bold = self.title.font()
        bold.setBold(True)
        self.title.setFont(bold)
        #: The column's colour in the chart, beside its name (a swatch: the name stays legible).
        self.swatch = QLabel("■", self)
        self.swatch.setObjectName(f"columnSwatch{slot}")
        swatch_palette = self.swatch.palette()
        colour = QColor(BAR_COLOURS[slot % len(BAR_COLOURS)])
        swatch_palette.setColor(QPalette.ColorRole.WindowText, colour)
        self.swatch.setPalette(swatch_palette)
        self.title.setAccessibleName(f"Column {slot + 1} model")
        #: While pictures are attached: this column's model cannot see them (compare_images).
        self.sight = QLabel(self)
        self.sight.setObjectName(f"columnSight{slot}")
        self.sight.setFont(bold)
        set_tone(self.sight, "danger")
        self.sight.hide()
        # Tool buttons (the smaller padding) beside a title that gives way: whole at 170 px.
        self.stop_button = QToolButton(self)
        self.stop_button.setText("Stop")
        self.stop_button.setAccessibleName(f"Stop column {slot + 1}")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(lambda: self.stop_requested.emit(self.slot))
        self.focus_button = QToolButton(self)
        self.focus_button.setText("Focus")
        self.focus_button.setCheckable(True)
        self.focus_button.setAccessibleName(f"Focus column {slot + 1}")
        self.focus_button.clicked.connect(lambda: self.focus_requested.emit(self.slot))
        self.view = ChatView(self)
        self.view.setAccessibleName(f"Answers of column {slot + 1}")
        faint = self.palette().color(QPalette.ColorRole.PlaceholderText).name()
        self.view.placeholder_html = f"<p style='color:{faint}'>Answers appear here.</p>"
        self.view.show_messages([], {})
        #: Its latest answer's metrics, under it.
        self.metrics = MetricStrip(slot, self)
        top = QHBoxLayout()
        top.setSpacing(3)
        top.addWidget(self.swatch)
        top.addWidget(self.title, 1)
        top.addWidget(self.focus_button)
        top.addWidget(self.stop_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.sight)  # a line of its own: a narrow header has no room for it
        layout.addWidget(self.view, 1)
        layout.addWidget(self.metrics)


def focus_column(splitter: QSplitter, columns: list[ColumnWidget], slot: int) -> None:
    """Give column ``slot`` the splitter's width (the others collapse) while its Focus button
    is checked; unchecked, every column shares it evenly."""
    focused = columns[slot].focus_button.isChecked()
    for index, column in enumerate(columns):
        column.focus_button.setChecked(focused and index == slot)
    total = sum(splitter.sizes()) or splitter.width()
    if focused:
        sizes = [total if i == slot else 0 for i in range(len(columns))]
    else:
        sizes = [total // len(columns)] * len(columns)
    splitter.setSizes(sizes)
