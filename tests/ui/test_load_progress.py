"""A model load shows a progress bar: the real engine child loads the bundled model, its
progress comes as rising events that end at 100 %, and the status bar's bar shows them with the
model's name while it loads, then goes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from desktop.core.params import SamplingParams
from desktop.ui.load_progress import install_load_progress
from desktop.ui.main_window import MainWindow
from tests.gguf_edit import with_chat_template

TIMEOUT_MS = 120_000


def test_the_status_bar_shows_a_load_and_hides_it_when_loaded(
    window: MainWindow, qtbot: QtBot
) -> None:
    window.chat.sampling = SamplingParams(temperature=0.0, max_tokens=4)
    progress = install_load_progress(window)
    assert install_load_progress(window) is progress  # installed once
    assert window.statusBar().isAncestorOf(progress)
    assert progress.isHidden()
    # What the window shows at each report (this slot runs after the widget's own).
    seen: list[tuple[float, bool, int, str]] = []

    def record(_rid: int, _path: str, fraction: float) -> None:
        seen.append((fraction, progress.isVisible(), progress.bar.value(), progress.label.text()))

    window.chat.engine.load_progress.connect(record)
    loaded: list[dict[str, Any]] = []
    window.chat.engine.loaded.connect(lambda _rid, info, _s: loaded.append(info))
    window.input_box.setFocus()
    QTest.keyClicks(window.input_box, "Hi")
    QTest.keyClick(window.input_box, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: bool(loaded) and not window.chat.busy, timeout=TIMEOUT_MS)

    assert seen, "no load progress reached the window"
    fractions = [f for f, *_ in seen]
    assert fractions == sorted(set(fractions)) and fractions[-1] == 1.0, fractions
    bundled = window.chat.default_model
    assert bundled is not None
    for fraction, visible, value, label in seen:
        assert visible and value == round(fraction * 100)
        assert label == f"Loading {bundled.name}"
    assert progress.isHidden()


def test_a_load_that_fails_takes_the_bar_away(
    window: MainWindow, qtbot: QtBot, tmp_path: Path, smollm_path: str
) -> None:
    # llama.cpp reads the weights, then the chat template fails to compile: a late failure.
    broken = with_chat_template(smollm_path, "{% endfor %}", tmp_path / "badtemplate.gguf")
    model = window.chat.add_model_file(str(broken))
    progress = install_load_progress(window)
    shown: list[bool] = []
    window.chat.engine.load_progress.connect(lambda *_: shown.append(progress.isVisible()))
    window.input_box.setFocus()
    QTest.keyClicks(window.input_box, "Hi")
    QTest.keyClick(window.input_box, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not window.chat.busy, timeout=TIMEOUT_MS)
    assert shown and all(shown)
    assert progress.isHidden()
    assert "chat template" in (window.chat.model_error(model) or "")
