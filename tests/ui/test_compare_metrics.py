"""Each comparison column's metrics strip, driven as a user drives the compare window (pickers,
the prompt typed, Send or Enter, Stop, the vote buttons) with the real SmolLM2 engine and the
real SDKs against the loopback cloud servers: the strip counts while its column answers, fills
in with that column's own numbers when it ends, marks the best of each row among the finished
columns only, says why a column failed, and keeps everything hidden in blind mode until the
vote."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from desktop.ui.compare_metrics import BEST_MARK, HIDDEN_TEXT, SHORT_MARK
from desktop.ui.compare_window import CompareWindow
from desktop.ui.design import stylesheet
from tests.cloudserver import CloudServer
from tests.ui import test_compare_window as base
from tests.ui.driving import choose_compare_models

# The compare window's fixtures: the loopback cloud, a chat service with it, the window.
server = base.server
chat = base.chat
window = base.window

SMOL, GPT, CLAUDE, TIMEOUT_MS = base.SMOL, base.GPT, base.CLAUDE, base.TIMEOUT_MS
metric, plain, is_best = base.metric, base.plain, base.is_best


def type_prompt_and_click_send(qtbot: QtBot, compare: CompareWindow, text: str) -> None:
    compare.input_box.setFocus()
    qtbot.keyClicks(compare.input_box, text)
    qtbot.mouseClick(compare.send_button, Qt.MouseButton.LeftButton)


def marked(compare: CompareWindow, label: str) -> list[int]:
    """The columns whose value in that row carries the best mark."""
    return [s for s in range(len(compare.columns)) if is_best(metric(compare, s, label))]


@pytest.fixture
def styled(qapp: QApplication) -> Iterator[None]:
    """The app's stylesheet, as llamaside runs with it (its buttons' padding makes them wider
    than the bare style's), taken away after: alone, the window here had none, and only after
    a test with the main window, which left its stylesheet on the app, were Focus and Stop cut."""
    before = qapp.styleSheet()
    qapp.setStyleSheet(stylesheet(False))
    yield
    qapp.setStyleSheet(before)


def test_each_strip_fills_in_with_its_own_numbers_and_the_fastest_is_marked(
    styled: None, window: CompareWindow, qtbot: QtBot, server: CloudServer
) -> None:
    server.state.delay_s = 0.03
    window.resize(1100, 720)
    choose_compare_models(window, SMOL, GPT, CLAUDE)
    type_prompt_and_click_send(qtbot, window, "Name a fruit.")
    session = window.session
    assert session is not None
    # While they answer: every strip says so and counts the seconds; no numbers yet.
    for column in window.columns:
        assert column.metrics.isVisibleTo(window)
        assert column.metrics.shown_text().startswith("Answering…")
        assert metric(window, column.slot, "Tokens/s") == "…"
    assert not window.chart.isVisible()
    counting = window.columns[1].metrics
    qtbot.waitUntil(lambda: re.search(r"Answering… \d+\.\d s", counting.shown_text()) is not None)
    with qtbot.waitSignal(session.round_finished, timeout=TIMEOUT_MS):
        pass

    speeds = []
    for slot, result in enumerate(session.results[0]):
        assert result is not None and result.status == "complete"
        values = result.metrics()
        # The strip under each column shows that column's own answer's numbers.
        assert plain(metric(window, slot, "First token")) == f"{values['ttft_s']:.2f} s"
        assert plain(metric(window, slot, "Tokens/s")) == f"{values['tokens_per_second']:.1f}"
        tokens = f"{values['prompt_tokens']} in · {values['output_tokens']} out"
        assert plain(metric(window, slot, "Tokens")) == tokens
        assert "Answering" not in window.columns[slot].metrics.shown_text()
        speeds.append(values["tokens_per_second"])
    assert plain(metric(window, 0, "Cost")) == "free · local"
    assert "$" in metric(window, 1, "Cost")  # "<$0.0001": a few tokens cost next to nothing
    # The highest tokens/s is marked, in exactly one column, in words as well as colour.
    [fastest] = marked(window, "Tokens/s")
    assert speeds[fastest] == max(speeds)
    value = window.columns[fastest].metrics.values["tokens_per_second"]
    assert value.accessibleName().endswith("the best of the columns")
    assert marked(window, "Cost") == [0]  # the local model costs nothing
    assert window.chart.isVisible()
    # The chart's bars in words too, each by its column's model.
    described = window.chart.accessibleDescription()
    speed = plain(metric(window, fastest, "Tokens/s"))
    assert described.startswith("Tokens/s: ")
    assert f"{window.columns[fastest].title.text()} {speed}" in described
    # Narrower, the marks keep to the room there is: the star, whole, and the words for a
    # screen reader.
    wide = value.text()
    assert wide.endswith(BEST_MARK)
    window.resize(800, 600)
    qtbot.waitUntil(lambda: value.text() != wide)
    assert value.text().endswith(SHORT_MARK) and marked(window, "Tokens/s") == [fastest]
    shown: list[QWidget] = [v for c in window.columns for v in c.metrics.values.values()]
    shown += [b for c in window.columns for b in (c.focus_button, c.stop_button)]
    # Whole once laid out again (with the short labels): no value, no column's button cut off.
    qtbot.waitUntil(lambda: all(v.width() >= v.sizeHint().width() for v in shown), timeout=2000)


def test_a_strip_fills_in_when_its_column_ends_while_another_still_streams(
    window: CompareWindow, qtbot: QtBot, server: CloudServer
) -> None:
    server.state.endless = True
    server.state.delay_s = 0.02
    choose_compare_models(window, SMOL, GPT)
    window.input_box.setFocus()
    qtbot.keyClicks(window.input_box, "Count slowly.")
    qtbot.keyClick(window.input_box, Qt.Key.Key_Return)
    session = window.session
    assert session is not None
    local, cloud = (c.metrics for c in window.columns)
    qtbot.waitUntil(lambda: session.results[0][0] is not None, timeout=TIMEOUT_MS)
    # The local column ended: its numbers, unmarked (nothing to beat yet); the cloud counts on.
    assert plain(metric(window, 0, "Tokens/s")) not in ("", "…", "–")
    assert marked(window, "Tokens/s") == [] and marked(window, "First token") == []
    assert cloud.shown_text().startswith("Answering…")
    assert session.busy
    with qtbot.waitSignal(session.round_finished, timeout=TIMEOUT_MS):
        qtbot.mouseClick(window.columns[1].stop_button, Qt.MouseButton.LeftButton)
    assert cloud.shown_text().startswith("Stopped")
    assert "Answering" not in local.shown_text()


def test_a_failed_column_says_why_in_its_strip(
    window: CompareWindow, qtbot: QtBot, server: CloudServer
) -> None:
    choose_compare_models(window, SMOL, GPT)
    server.state.statuses = [401]
    type_prompt_and_click_send(qtbot, window, "Name a fruit.")
    assert window.session is not None
    with qtbot.waitSignal(window.session.round_finished, timeout=TIMEOUT_MS):
        pass
    failed = window.columns[1].metrics.shown_text()
    assert failed.startswith("Failed: ") and "rejected the API key (401)" in failed
    assert "Tokens/s" not in failed  # the reason, not empty numbers
    # The one answer left has nothing to be best against.
    assert plain(metric(window, 0, "Tokens/s")) not in ("", "…", "–")
    assert marked(window, "Tokens/s") == [] and marked(window, "Cost") == []


def test_blind_strips_hide_names_and_numbers_until_the_vote(
    window: CompareWindow, qtbot: QtBot, server: CloudServer
) -> None:
    server.state.delay_s = 0.02
    qtbot.mouseClick(window.blind_box, Qt.MouseButton.LeftButton)
    assert window.blind_box.isChecked()
    window.rng = random.Random(2)
    choose_compare_models(window, SMOL, GPT)
    type_prompt_and_click_send(qtbot, window, "Name a fruit.")
    session = window.session
    assert session is not None and session.blind
    # While they answer: no seconds (the faster model would show), no rows.
    assert [c.metrics.shown_text() for c in window.columns] == ["Answering…"] * 2
    with qtbot.waitSignal(session.round_finished, timeout=TIMEOUT_MS):
        pass
    for column in window.columns:
        shown = column.metrics.shown_text()
        assert shown == HIDDEN_TEXT
        assert not re.search(r"\d", shown) and "local" not in shown and "$" not in shown
        assert column.title.text() in ("Answer A", "Answer B")
    assert not window.chart.isVisible() and window.chart.accessibleDescription() == ""

    qtbot.mouseClick(window.vote_buttons["tie"], Qt.MouseButton.LeftButton)
    names = [c.title.text() for c in window.columns]
    assert any("gpt-4o" in n for n in names) and any("SmolLM2" in n for n in names)
    local_slot = [m.id for m in session.models].index(SMOL)
    for slot in (0, 1):
        assert plain(metric(window, slot, "First token")).endswith(" s")
        assert plain(metric(window, slot, "Tokens")).endswith(" out")
    assert plain(metric(window, local_slot, "Cost")) == "free · local"
    assert len(marked(window, "Tokens/s")) == 1
    assert window.chart.isVisible()
