"""Background calls outlive the window that asked: a dialog closed while its hardware probe
runs must not raise in the probe's thread when the result comes back (seen in CI: "Signal
source has been deleted" from the model manager's machine probe)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from PySide6.QtCore import QObject
from pytestqt.qtbot import QtBot

from desktop.services.background import Background


def test_a_result_for_a_closed_window_is_dropped_quietly(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    raised: list[BaseException | None] = []

    def hook(args: Any) -> None:
        raised.append(args.exc_value)

    monkeypatch.setattr(threading, "excepthook", hook)
    owner = QObject()
    background = Background(owner)
    started = threading.Event()

    def slow() -> str:
        started.set()
        time.sleep(0.3)
        return "probed"

    background.call("machine", slow)
    threads = list(background._threads)
    assert started.wait(5)
    owner.deleteLater()
    qtbot.waitUntil(lambda: _deleted(background), timeout=5000)
    for thread in threads:
        thread.join(5)
    assert raised == []


def test_results_and_failures_arrive_while_the_window_is_open(qtbot: QtBot) -> None:
    background = Background()
    got: list[tuple[str, object]] = []
    background.done.connect(lambda tag, value: got.append((tag, value)))
    background.failed.connect(lambda tag, message: got.append((tag, message)))
    background.call("one", lambda: 41 + 1)
    qtbot.waitUntil(lambda: len(got) == 1, timeout=5000)
    background.call("two", lambda: 1 / 0)
    qtbot.waitUntil(lambda: len(got) == 2, timeout=5000)
    assert got == [("one", 42), ("two", "ZeroDivisionError: division by zero")]


def _deleted(obj: QObject) -> bool:
    try:
        obj.objectName()
    except RuntimeError:
        return True
    return False
