"""Nothing is cut off at 800×600, nor at 200 % scaling (800×600 logical, and a 1080p screen:
960×540 logical). Issue 22: the privacy label read ":his computer" and the search box "Search
all chats (Ct…" at 800×600. Each run lays out the main window and the windows its menus open in
a process of its own, since the scale factor must be set before Qt starts, and reads what
tests/ui/clipping.py finds cut off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget
from pytestqt.qtbot import QtBot

from desktop.storage.paths import AppPaths
from tests.ui.clipping import clipped

ROOT = Path(__file__).resolve().parents[2]


def probe(
    home: AppPaths, tmp_path: Path, size: tuple[int, int], scale: int
) -> dict[str, dict[str, Any]]:
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    if scale != 1:
        # A screen as big as 800×600 (or more) in logical pixels at this scale.
        screen = tmp_path / "screen.json"
        width, height = size[0] * scale, size[1] * scale
        screen.write_text(
            json.dumps(
                {
                    "screens": [
                        {
                            "name": "hidpi",
                            "x": 0,
                            "y": 0,
                            "width": width,
                            "height": height,
                            "logicalDpi": 96,
                            "logicalBaseDpi": 96,
                            "dpr": 1,
                        }
                    ]
                }
            )
        )
        env["QT_QPA_PLATFORM"] = f"offscreen:configfile={screen}"
        env["QT_SCALE_FACTOR"] = str(scale)
    done = subprocess.run(
        [sys.executable, "-m", "tests.ui.layout_probe", str(size[0]), str(size[1])],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, dict[str, Any]] = json.loads(done.stdout)
    return report


@pytest.mark.parametrize(
    ("size", "scale"),
    [((800, 600), 1), ((800, 600), 2), ((960, 540), 2)],
    ids=["800x600", "800x600 at 200%", "a 1080p screen at 200%"],
)
def test_nothing_is_cut_off_at_small_sizes_and_200_percent(
    home: AppPaths, tmp_path: Path, size: tuple[int, int], scale: int
) -> None:
    report = probe(home, tmp_path, size, scale)
    assert "main window" in report and len(report) >= 5, report.keys()
    problems = []
    for window, seen in report.items():
        width, height = seen["size"]
        if width > size[0] or height > size[1]:
            problems.append(f"{window} cannot shrink to {size}: it stays {width}×{height}")
        problems += [f"{window}: {cut}" for cut in seen["cut"]]
    assert problems == []


def test_the_check_sees_text_cut_off(qtbot: QtBot) -> None:
    """The check itself must be able to fail: a label, a button and a placeholder too wide."""
    top = QWidget()
    qtbot.addWidget(top)
    row = QHBoxLayout(top)
    label = QLabel("Everything you type stays on this computer")
    button = QPushButton("Download the recommended quant")
    field = QLineEdit()
    field.setPlaceholderText("Search all chats (Ctrl+K)")
    for widget in (label, button, field):
        widget.setMaximumWidth(60)
        row.addWidget(widget)
    top.resize(200, 60)
    top.show()
    qtbot.waitExposed(top)
    found = clipped(top)
    assert len(found) == 3, found
    for widget in (label, button, field):
        widget.setMaximumWidth(10_000)
    top.resize(1200, 60)
    qtbot.waitUntil(lambda: clipped(top) == [])
