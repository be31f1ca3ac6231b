"""The status bar at ordinary sizes: its parts never run into each other, stay inside the bar,
and a part too long for its room is cut with "…" and shown whole as its tooltip (seen:
"ctx 4096 · loaded i Context 293…" and a cut "cancelle")."""

from __future__ import annotations

import itertools

import pytest
from PySide6.QtWidgets import QApplication, QLabel, QWidget
from pytestqt.qtbot import QtBot

from desktop.core.usage import StopReason, Usage
from desktop.ui.elided_label import ElidedLabel
from desktop.ui.main_window import MainWindow

LONG_ENGINE = (
    "SmolLM2 135M Instruct (bundled) · CPU · 2 threads · ctx 4096 · loaded in 0.4 s "
    "(experts of 39 layers kept in RAM to fit the GPU)"
)


def parts_of(window: MainWindow) -> list[QWidget]:
    bar = window.statusBar()
    return [
        w
        for w in bar.findChildren(QWidget)
        if w.parentWidget() is bar and w.isVisible() and w.width() > 0
    ]


@pytest.mark.parametrize("size", [(800, 600), (1100, 720)])
def test_the_status_bar_parts_never_overlap_and_say_what_is_cut(
    window: MainWindow, qtbot: QtBot, size: tuple[int, int]
) -> None:
    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    line = window.status_line
    line.show_engine(LONG_ENGINE)
    line.show_usage(
        Usage(
            prompt_tokens=1290,
            output_tokens=412,
            time_to_first_token_s=70.2,
            total_s=140.0,
            stop_reason=StopReason.CANCELLED,
        )
    )
    line.show_safe_mode("Safe mode: AMX off", "the fast path crashed", "details")
    line.show_offline(True)
    window.context_label.setText("Context 1,702 / 4,096 tokens (41%)")
    QApplication.processEvents()
    bar = window.statusBar()
    parts = sorted(parts_of(window), key=lambda w: w.geometry().left())
    assert len(parts) >= 5
    for left, right in itertools.pairwise(parts):
        assert left.geometry().right() < right.geometry().left(), (
            f"{left.objectName() or type(left).__name__} runs into "
            f"{right.objectName() or type(right).__name__}"
        )
    for part in parts:
        assert part.geometry().left() >= 0 and part.geometry().right() <= bar.width()
    for label in (line.engine_label, line.speed_label):
        # What is drawn fits the label: cut text shows its "…" (a plain label is cut blind).
        shown = label.shown() if isinstance(label, ElidedLabel) else label.text()
        assert label.fontMetrics().horizontalAdvance(shown) <= label.contentsRect().width(), (
            f"{shown!r} is cut without saying so"
        )
        if shown != label.text():
            assert shown.endswith("…") and label.toolTip() == label.text()
    # The marks that matter are never cut.
    for mark in (line.safe_mode_label, line.offline_label, window.context_label):
        assert mark.width() >= mark.fontMetrics().horizontalAdvance(mark.text())
    # The line's room is no minimum on the window: it still shrinks.
    smaller = size[0] - 50 if size[0] < 1000 else 800
    window.resize(smaller, size[1])
    QApplication.processEvents()
    assert window.width() == smaller


@pytest.mark.parametrize("width", [800, 1100])
def test_what_the_engine_does_now_is_not_cut_for_the_last_answers_numbers(
    window: MainWindow, qtbot: QtBot, width: int
) -> None:
    """Seen at 1100 px: "The model unl…" beside the whole of the last answer's numbers."""
    window.resize(width, 720)
    window.show()
    qtbot.waitExposed(window)
    line = window.status_line
    line.show_usage(
        Usage(
            prompt_tokens=1290,
            output_tokens=412,
            time_to_first_token_s=0.7,
            total_s=14.0,
            stop_reason=StopReason.STOP,
        )
    )
    window.context_label.setText("Context 1,702 / 4,096 tokens (41%)")
    served = window.statusBar().findChild(QLabel, "serverIndicator")
    assert served is not None
    if width == 1100:  # as it was seen (at 800 the server's address and the line do not fit)
        served.setText("API server on · 127.0.0.1:41873")
        served.show()
    line.show_engine("The model unloads when the served request ends…")
    QApplication.processEvents()
    assert line.engine_label.shown() == line.engine_label.text()
    parts = sorted(parts_of(window), key=lambda w: w.geometry().left())
    for left, right in itertools.pairwise(parts):
        assert left.geometry().right() < right.geometry().left()
    assert served.width() >= served.fontMetrics().horizontalAdvance(served.text())
    if width == 800:
        # The numbers gave way; their tooltip has them.
        assert line.speed_label.shown().endswith("…")
        assert line.speed_label.toolTip() == line.speed_label.text()
    if width == 1100:
        # The window still shrinks (to 850 px here).
        window.resize(850, 720)
        QApplication.processEvents()
        assert window.width() == 850
        window.resize(width, 720)
    # A line that fits in less gives the room back.
    line.show_engine("No model loaded")
    QApplication.processEvents()
    if width == 1100:
        assert line.speed_label.shown() == line.speed_label.text()
