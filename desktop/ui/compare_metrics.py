"""Each comparison column's metrics, as a strip at the bottom of its column: time to first
token, tokens/s, tokens in and out, cost ("free · local" for a local model).

A strip counts the seconds while its column answers, fills in when the column ends, and marks
the best value of each row across the finished columns ("★ best", bold, in the palette's
Highlight colours: never colour alone). A failed column's strip says why instead of empty
numbers. In blind mode a finished strip says the metrics are hidden until the vote (speed and
cost would tell a local model from a cloud one), and fills in after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QElapsedTimer, Qt, QTimer
from PySide6.QtGui import QFont, QFontMetrics, QPalette, QResizeEvent
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QVBoxLayout, QWidget

from desktop.core.compare import METRICS, best_columns, format_metric
from desktop.core.pricing import format_cost
from desktop.ui.design import Tone, set_tone

BEST_MARK = "★ best"
#: The mark where a narrow column has no room for the words (its accessible name keeps them).
SHORT_MARK = "★"
HIDDEN_TEXT = "Metrics hidden until you vote"
#: The strip's rows: (key, label, the label where a column is narrow); "tokens" shows prompt
#: and output tokens together.
ROWS = (
    ("ttft_s", "First token", "1st token"),
    ("tokens_per_second", "Tokens/s", "Tok/s"),
    ("tokens", "Tokens", "Tokens"),
    ("cost_usd", "Cost", "Cost"),
)
#: How often the seconds of a streaming column are counted on.
TICK_MS = 200


@dataclass(frozen=True)
class Ended:
    """How one column's answer ended, as its strip shows it: its metric values (METRICS' keys,
    None where unknown), whether its model is local, its status and its error, if any."""

    values: dict[str, Any]
    local: bool
    status: str
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.status == "failed"


def best_by_metric(ended: list[Ended | None]) -> dict[str, set[int]]:
    """For each metric with a better direction, the columns holding its best value: among the
    columns that ended without failing, and only where at least two of them have a value."""
    best: dict[str, set[int]] = {}
    for metric in METRICS:
        if not metric.better:
            continue
        numbers = [
            _number(e.values.get(metric.key)) if e is not None and not e.failed else None
            for e in ended
        ]
        best[metric.key] = best_columns(numbers, metric.better)
    return best


def row_text(key: str, values: dict[str, Any], local: bool) -> str:
    """One row's value as the strip writes it ("–" where unknown)."""
    if key == "tokens":
        prompt, output = values.get("prompt_tokens"), values.get("output_tokens")
        if prompt is None and output is None:
            return "–"
        written = format_metric("prompt_tokens", prompt), format_metric("output_tokens", output)
        return f"{written[0]} in · {written[1]} out"
    if key == "cost_usd":
        if local:
            return "free · local"
        cost = values.get("cost_usd")
        return "price unknown" if cost is None else format_cost(float(cost))
    return format_metric(key, values.get(key))


class MetricStrip(QFrame):
    """Owns one column's metrics card: the status line (answering, hidden, failed, stopped),
    a label and a value per row, the best values' marks, and the seconds counted while the
    column answers."""

    def __init__(self, slot: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slot = slot
        self.setObjectName(f"metricStrip{slot}")
        self.setAccessibleName(f"Metrics of column {slot + 1}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        # A card: the palette's alternate base sets it off from the window in either theme.
        self.setBackgroundRole(QPalette.ColorRole.AlternateBase)
        self.setAutoFillBackground(True)
        self.status = QLabel(self)
        self.status.setObjectName(f"metricStatus{slot}")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)  # a reason is not markup
        self.grid = QWidget(self)
        grid = QGridLayout(self.grid)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(1)
        self.names: dict[str, QLabel] = {}
        #: The value shown in each row, by ROWS' key.
        self.values: dict[str, QLabel] = {}
        for row, (key, label, _short) in enumerate(ROWS):
            name = QLabel(label, self.grid)
            name.setAccessibleName(label)  # whole, where the label is cut short
            set_tone(name, "muted")
            value = QLabel("…", self.grid)
            value.setObjectName(f"metric_{key}_{slot}")
            value.setContentsMargins(2, 0, 2, 0)  # room around the best value's chip
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            grid.addWidget(name, row, 0)
            grid.addWidget(value, row, 1, Qt.AlignmentFlag.AlignLeft)
            self.names[key], self.values[key] = name, value
        grid.setColumnStretch(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 3, 4, 3)
        layout.setSpacing(2)
        layout.addWidget(self.status)
        layout.addWidget(self.grid)
        self._clock = QElapsedTimer()
        self._ticker = QTimer(self)
        self._ticker.setInterval(TICK_MS)
        self._ticker.timeout.connect(self._tick)
        self._counting = False
        #: Each row's value and whether it is the best, as last shown (for the resize).
        self._shown: dict[str, tuple[str, bool]] = {}
        self._was_roomy = True
        self.hide()

    # -- states ---------------------------------------------------------------------------

    def start(self, blind: bool) -> None:
        """The column answers: "Answering…" and the seconds so far (blind: no seconds, which
        would tell the faster model), and "…" in every row."""
        self._counting = not blind
        self._say("Answering…")
        self.grid.setVisible(not blind)
        for key, value in self.values.items():
            self._set_value(key, value, "…", best=False)
        self._clock.start()
        if self._counting:
            self._ticker.start()
        self.show()

    def show_hidden(self) -> None:
        """Blind mode, before the vote: the column ended, its numbers wait."""
        self._stop()
        self._say(HIDDEN_TEXT)
        self.grid.hide()
        self.show()

    def show_failure(self, reason: str) -> None:
        """The column failed: why, in place of the numbers."""
        self._stop()
        self._say(f"Failed: {reason}", "danger")
        self.grid.hide()
        self.show()

    def show_ended(self, ended: Ended, best: set[str]) -> None:
        """The final values; ``best``: the keys of the rows this column is best in."""
        self._stop()
        total = ended.values.get("total_s")
        took = f" {format_metric('total_s', total)}" if total is not None else ""
        stopped = ended.status == "stopped"
        self._say(("Stopped after" if stopped else "Done in") + took if took else "Done")
        for key, value in self.values.items():
            self._set_value(key, value, row_text(key, ended.values, ended.local), key in best)
        # The rest of the numbers (total time, context used) on hover, as the table had them.
        self.setToolTip(
            "\n".join(
                f"{m.label}: {format_metric(m.key, ended.values.get(m.key))}" for m in METRICS
            )
        )
        self.grid.show()
        self.show()

    def shown_text(self) -> str:
        """What the strip shows, line by line, as a reader sees it."""
        lines = [self.status.text()] if self.status.isVisibleTo(self) else []
        if self.grid.isVisibleTo(self):
            lines += [
                f"{self.names[k].accessibleName()}: {self.values[k].text()}" for k, *_ in ROWS
            ]
        return "\n".join(line for line in lines if line)

    # -- parts ----------------------------------------------------------------------------

    def _set_value(self, key: str, label: QLabel, text: str, best: bool) -> None:
        self._shown[key] = (text, best)
        self._was_roomy = self._roomy()
        for row_key, whole, short in ROWS:
            self.names[row_key].setText(whole if self._was_roomy else short)
        label.setText(f"{text} {BEST_MARK if self._was_roomy else SHORT_MARK}" if best else text)
        font = label.font()
        font.setBold(best)
        label.setFont(font)
        # The best value as a chip in the selection colours, which each theme makes readable.
        label.setAutoFillBackground(best)
        label.setBackgroundRole(QPalette.ColorRole.Highlight if best else QPalette.ColorRole.NoRole)
        label.setForegroundRole(
            QPalette.ColorRole.HighlightedText if best else QPalette.ColorRole.WindowText
        )
        name = self.names[key].accessibleName()
        label.setAccessibleName(f"{name}: {text}" + (", the best of the columns" if best else ""))

    def _roomy(self) -> bool:
        """Whether the rows fit with their whole labels and the best values' words."""
        bold = QFont(self.font())
        bold.setBold(True)
        metrics, plain = QFontMetrics(bold), QFontMetrics(self.font())
        names = max(plain.horizontalAdvance(label) for _, label, _ in ROWS)
        widest = max(
            (
                metrics.horizontalAdvance(f"{t} {BEST_MARK}" if b else t)
                for t, b in self._shown.values()
            ),
            default=0,
        )
        # The strip's and the grid's margins and spacing, and the value's own margins.
        return names + widest + 40 <= self.width()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._roomy() != self._was_roomy:  # short labels and marks come and go with the room
            for key, (text, best) in self._shown.items():
                self._set_value(key, self.values[key], text, best)

    def _say(self, text: str, tone: Tone | None = None) -> None:
        """The status line (hidden when empty), in a tone (the danger one for a failure)."""
        self.status.setText(text)
        set_tone(self.status, tone)
        self.status.setVisible(bool(text))

    def _stop(self) -> None:
        self._ticker.stop()
        self._counting = False

    def _tick(self) -> None:
        if self._counting:
            self.status.setText(f"Answering… {self._clock.elapsed() / 1000:.1f} s")


def show_round(strips: list[MetricStrip], ended: list[Ended | None], hidden: bool) -> None:
    """Each ended column's strip filled in (a column still answering keeps counting), the best
    of each row marked among them; ``hidden``: blind mode before the vote."""
    best = best_by_metric(ended)
    for slot, (strip, outcome) in enumerate(zip(strips, ended, strict=True)):
        if outcome is None:
            continue
        if outcome.failed:  # blind: the caller gave a reason that names no one
            strip.show_failure(outcome.error or "the answer failed")
        elif hidden:
            strip.show_hidden()
        else:
            strip.show_ended(outcome, {key for key, slots in best.items() if slot in slots})


def speed_groups(ended: list[Ended | None]) -> list[tuple[str, list[float | None]]]:
    """The chart's groups of bars: tokens/s and time to first token of the ended columns."""
    values = [e.values if e is not None and not e.failed else {} for e in ended]
    return [
        ("Tokens/s", [_number(v.get("tokens_per_second")) for v in values]),
        ("Time to first token (s)", [_number(v.get("ttft_s")) for v in values]),
    ]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None
