"""docs/make_screenshots.py makes the docs' screenshots from a real run: run it here, briefly
(short answers), into a folder of the test's own, and look at what it wrote: every window in
both themes, each a real picture (not blank), light and dark different."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtGui import QColor, QImage

ROOT = Path(__file__).resolve().parents[2]
WINDOWS = ("welcome", "main", "compare", "models", "preferences", "load-settings")


def mean_lightness(image: QImage) -> float:
    step = max(1, image.width() // 40)
    values = [
        QColor(image.pixel(x, y)).lightnessF()
        for x in range(0, image.width(), step)
        for y in range(0, image.height(), step)
    ]
    return sum(values) / len(values)


def colours(image: QImage) -> int:
    step = max(1, image.width() // 60)
    return len(
        {
            image.pixel(x, y)
            for x in range(0, image.width(), step)
            for y in range(0, image.height(), step)
        }
    )


def test_the_script_shoots_every_window_in_both_themes(tmp_path: Path) -> None:
    # This tree's code, whichever checkout the interpreter has installed.
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "docs/make_screenshots.py", "--out", str(tmp_path), "--max-tokens", "8"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for window in WINDOWS:
        light = QImage(str(tmp_path / f"screenshot-{window}-light.png"))
        dark = QImage(str(tmp_path / f"screenshot-{window}-dark.png"))
        assert not light.isNull() and not dark.isNull(), window
        assert light.width() >= 400 and light.height() >= 200, window
        assert colours(light) > 8, f"{window}: the light picture is nearly blank"
        assert mean_lightness(light) > mean_lightness(dark) + 0.3, window
