"""Start to first painted window: a fresh `llamaside` process until its main window has painted.

The parent notes the time, starts a child that runs the real entry point (desktop.app.main) with
a fresh data folder, and the child reports when the window's first paint event is done, then
quits. Median of several runs; also the modules the GUI process imported (llama_cpp and the
cloud SDKs must not be among them: they load lazily, in the engine child or on first use).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import write_section

RUNS = int(os.environ.get("LLAMASIDE_BENCH_RUNS", "7"))
ROOT = Path(__file__).resolve().parent.parent
#: Modules the window does not need to paint; each one loaded is start-up time spent early.
HEAVY = ("llama_cpp", "openai", "anthropic", "huggingface_hub", "numpy", "pygments", "markdown_it")

CHILD = r"""
import json, sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication
import desktop.app as app_module

report_path = sys.argv[1]
HEAVY = sys.argv[2].split(",")
build = app_module.build_window


class FirstPaint(QObject):
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint and not hasattr(self, "done"):
            self.done = True
            def report():
                heavy = [m for m in HEAVY if m in sys.modules]
                with open(report_path, "w") as f:
                    json.dump({"painted": time.time(), "loaded": heavy}, f)
                QApplication.instance().quit()
            QTimer.singleShot(0, report)  # after this paint has been delivered
        return False


def build_and_watch(*args, **kwargs):
    window = build(*args, **kwargs)
    watcher = FirstPaint(window)
    window.installEventFilter(watcher)
    window._first_paint_watcher = watcher
    return window


app_module.build_window = build_and_watch
sys.exit(app_module.main(["llamaside"]))
"""


def one_start(xvfb: bool) -> tuple[float, list[str]]:
    with tempfile.TemporaryDirectory() as home:
        report = Path(home) / "report.json"
        env = {**os.environ, "LLAMASIDE_HOME": home, "PYTHONPATH": str(ROOT)}
        if not xvfb:
            env["QT_QPA_PLATFORM"] = "offscreen"
        start = time.time()
        subprocess.run(
            [sys.executable, "-c", CHILD, str(report), ",".join(HEAVY)],
            env=env,
            check=True,
            timeout=60,
        )
        data = json.loads(report.read_text())
        return data["painted"] - start, list(data["loaded"])


def main() -> None:
    xvfb = bool(os.environ.get("DISPLAY")) and os.environ.get("QT_QPA_PLATFORM") != "offscreen"
    one_start(xvfb)  # warm the file cache: "cold" here is a new process, not a cold disk
    times: list[float] = []
    loaded: list[str] = []
    for _ in range(RUNS):
        seconds, loaded = one_start(xvfb)
        times.append(seconds)
    platform = "an X server (Xvfb)" if xvfb else "Qt's offscreen platform"
    body = (
        f"A new process running the `llamaside` entry point with a fresh data folder, from "
        f"start until the main window's first paint event has been handled, on {platform}; "
        f"{RUNS} runs after one that warms the file cache. Target: 1.0 s.\n\n"
        f"| measure | value |\n|---|---:|\n"
        f"| median start to first paint | {statistics.median(times) * 1000:.0f} ms |\n"
        f"| fastest / slowest | {min(times) * 1000:.0f} / {max(times) * 1000:.0f} ms |\n\n"
        f"Of {', '.join(HEAVY)}, loaded in the GUI process at first paint: "
        f"{', '.join(loaded) or 'none'}.\n"
    )
    print(body)
    write_section("startup", "Start to first painted window", body)


if __name__ == "__main__":
    main()
