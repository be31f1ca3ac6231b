"""The engine's memory in the status bar, with the real engine child and the bundled model: after
an answer it reads the child's RAM (as psutil sees that pid), adds the VRAM a GPU query reports
for it (here a stand-in for nvidia-smi, printing its lines), and hides when the engine ends."""

from __future__ import annotations

import itertools
import re
import sys
import time

import psutil
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from desktop.core.params import SamplingParams
from desktop.services.engine_memory import MB, query_gpu, vram_of
from desktop.ui.main_window import MainWindow

TIMEOUT_MS = 60_000


def fake_nvidia_smi(lines: str, seconds: float = 0.0) -> list[str]:
    """A command that prints what nvidia-smi's compute-apps query prints, after ``seconds``."""
    return [sys.executable, "-c", f"import time; time.sleep({seconds}); print({lines!r})"]


def megabytes_shown(text: str) -> float:
    found = re.match(r"Engine ([\d.]+) (MB|GB) RAM", text)
    assert found is not None, text
    return float(found.group(1)) * (1024 if found.group(2) == "GB" else 1)


def test_the_status_bar_shows_the_engines_memory_while_it_runs(
    window: MainWindow, qtbot: QtBot
) -> None:
    label = window.status_line.memory_label
    memory = window.status_line.memory
    assert not label.isVisible()  # no engine yet
    window.chat.sampling = SamplingParams(temperature=0.0, max_tokens=8)
    with qtbot.waitSignal(window.chat.answer_finished, timeout=TIMEOUT_MS):
        window.input_box.setFocus()
        qtbot.keyClicks(window.input_box, "Say hello")
        qtbot.keyClick(window.input_box, Qt.Key.Key_Return)
    engine = window.chat.engine
    assert engine.running and engine.pid is not None
    qtbot.waitUntil(label.isVisible, timeout=5_000)
    pid = engine.pid

    def matches() -> bool:
        # Read at the load, then every 2 s: the child gives back its loading buffers after it
        # (341 MB then 251 MB here), so the label follows within a reading or two.
        rss = psutil.Process(pid).memory_info().rss / MB
        return abs(megabytes_shown(label.text()) - rss) < max(20.0, rss * 0.1)

    qtbot.waitUntil(matches, timeout=6_000)
    assert megabytes_shown(label.text()) > 50, label.text()  # the model is in it
    assert "VRAM" not in label.text()  # no GPU here
    assert str(engine.pid) in label.toolTip()
    # At a small window's width it gives up room with "…" rather than running into its
    # neighbours.
    window.resize(800, 600)
    QApplication.processEvents()
    bar = window.statusBar()
    parts = sorted(
        (w for w in bar.findChildren(QWidget) if w.parentWidget() is bar and w.isVisible()),
        key=lambda w: w.geometry().left(),
    )
    assert label in parts
    for left, right in itertools.pairwise(parts):
        if left.width() > 0 and right.width() > 0:
            assert left.geometry().right() < right.geometry().left(), (left, right)
    drawn = label.shown()
    assert label.fontMetrics().horizontalAdvance(drawn) <= label.contentsRect().width()
    assert drawn == label.text() or drawn.endswith("…")

    # Where nvidia-smi answers, its line for the child's pid adds the VRAM (other pids' not);
    # a slow answer (1 s) never holds up the window: it runs on a thread.
    memory.gpu_command = fake_nvidia_smi(f"{engine.pid + 1}, 4000\n{engine.pid}, 512", 1.0)
    started = time.monotonic()
    memory.read()
    assert time.monotonic() - started < 0.5
    qtbot.waitUntil(lambda: "512 MB VRAM" in label.text(), timeout=10_000)
    assert label.text().startswith("Engine ")

    window.menus.unload_action.trigger()  # Model → Unload model: the child ends
    qtbot.waitUntil(lambda: not label.isVisible(), timeout=10_000)
    assert memory.latest is None
    memory.stop()


def test_the_gpu_query_reads_only_its_pid() -> None:
    assert vram_of(42, "41, 100\n42, 256\n42, 256\n") == 512 * MB  # two GPUs
    assert vram_of(42, "42, [N/A]\n") is None
    assert vram_of(42, "") is None
    assert query_gpu(fake_nvidia_smi("42, 300"), 42) == 300 * MB
    assert query_gpu([sys.executable, "-c", "import sys; sys.exit(9)"], 42) is None
