"""Makes the screenshots in docs/ from a real run: the window built as `llamaside` builds it, on
a fresh data folder, the bundled SmolLM2 answering through the real engine child, and each
window opened from its menu item, in the light and the dark theme.

    python docs/make_screenshots.py            # writes docs/screenshot-*-{light,dark}.png
    python docs/make_screenshots.py --out DIR  # elsewhere

Offscreen by default (QT_QPA_PLATFORM=offscreen), so it runs on a machine without a display.
Nothing reaches the network: no cloud provider is set up, and the window starts offline.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, Qt
from PySide6.QtGui import QAction
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget

from desktop.app import build_window
from desktop.core.params import SamplingParams
from desktop.storage.paths import HOME_ENV, AppPaths
from desktop.ui.compare_window import CompareWindow
from desktop.ui.main_window import MainWindow

SIZE = (1180, 760)
THEMES = ("light", "dark")
QUESTION = "Write a Python function that reverses a string, and explain it in one sentence."
COMPARE_PROMPT = "Name three animals that live in the Andes."


def wait_until(done: Callable[[], bool], timeout: float = 180.0) -> None:
    """Run the event loop until ``done()`` (the answer is in), or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError("the run did not finish in time")
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.01)


def settle(rounds: int = 10) -> None:
    for _ in range(rounds):
        QApplication.processEvents()
        time.sleep(0.02)


def save(widget: QWidget, out: Path, name: str) -> Path:
    settle()
    path = out / f"screenshot-{name}.png"
    widget.grab().save(str(path))
    print(path)
    return path


def opened_by(action_trigger: Callable[[], None], kind: type[QWidget] | None = None) -> QWidget:
    """The top-level window a menu item opens."""
    before = set(QApplication.topLevelWidgets())
    action_trigger()
    settle()
    for widget in QApplication.topLevelWidgets():
        if (
            widget not in before
            and widget.isVisible()
            and (kind is None or isinstance(widget, kind))
        ):
            return widget
    raise RuntimeError("the menu item opened no window")


def menu_item(window: MainWindow, text: str) -> QAction:
    """The menu bar's item whose words start with ``text`` (File → Preferences…)."""
    for action in window.findChildren(QAction):
        if action.text().replace("&", "").startswith(text):
            return action
    raise RuntimeError(f"the window has no menu item {text!r}")


def ask(window: MainWindow, text: str) -> None:
    """Type the question and press Enter, as a user does, and wait for the whole answer."""
    finished: list[int] = []
    window.chat.answer_finished.connect(lambda _c, answer, _s: finished.append(answer))
    window.input_box.setFocus()
    QTest.keyClicks(window.input_box, text)
    QTest.keyClick(window.input_box, Qt.Key.Key_Return)
    wait_until(lambda: bool(finished))


def set_theme(window: MainWindow, theme: str) -> None:
    window.theme.set_theme(theme, save=False)
    settle()


def shoot(out: Path, max_tokens: int = 160) -> list[Path]:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    window = build_window(AppPaths.from_env())
    window.menus.offline_action.trigger()  # nothing reaches the network
    window.chat.sampling = SamplingParams(temperature=0.0, max_tokens=max_tokens)
    window.resize(*SIZE)
    window.show()
    settle()
    made: list[Path] = []
    for theme in THEMES:  # the welcoming empty chat
        set_theme(window, theme)
        made.append(save(window, out, f"welcome-{theme}"))
    ask(window, QUESTION)
    for theme in THEMES:
        set_theme(window, theme)
        made.append(save(window, out, f"main-{theme}"))
    compare = opened_by(window.menus.compare_action.trigger, CompareWindow)
    assert isinstance(compare, CompareWindow)
    compare.resize(*SIZE)
    for picker in compare.pickers:  # the bundled model in each column
        picker.setCurrentIndex(max(0, picker.findText("SmolLM2", Qt.MatchFlag.MatchContains)))
    compare.input_box.setFocus()
    QTest.keyClicks(compare.input_box, COMPARE_PROMPT)
    QTest.keyClick(compare.input_box, Qt.Key.Key_Return)
    wait_until(lambda: compare.session is not None and compare.send_button.isEnabled())
    for theme in THEMES:
        set_theme(window, theme)
        made.append(save(compare, out, f"compare-{theme}"))
    compare.close()
    models = opened_by(window.menus.models_action.trigger)
    models.resize(1000, 640)
    for theme in THEMES:
        set_theme(window, theme)
        made.append(save(models, out, f"models-{theme}"))
    models.close()
    preferences = menu_item(window, "Preferences")
    prefs = opened_by(preferences.trigger)
    for theme in THEMES:
        set_theme(window, theme)
        made.append(save(prefs, out, f"preferences-{theme}"))
    prefs.close()
    dialog = opened_by(menu_item(window, "Load settings for this model").trigger)
    for theme in THEMES:
        set_theme(window, theme)
        made.append(save(dialog, out, f"load-settings-{theme}"))
    dialog.close()
    window.close()
    window.chat.shutdown()
    window.chat.store.close()
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--max-tokens", type=int, default=160, help="the answers' length")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="llamaside-shots-") as home:
        os.environ[HOME_ENV] = home
        os.environ["HF_HOME"] = str(Path(home) / "hf")  # never the developer's hub login
        shoot(args.out, args.max_tokens)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
