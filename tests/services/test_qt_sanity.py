"""Guards against Qt binding bugs that would crash the app in long sessions."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    changed = Signal(int, str, bool)


def test_signal_emit_keeps_reference_counts() -> None:
    """PySide6 6.12.0 leaked a decref of True per emit; on Python 3.11 that aborts the app after
    a few thousand streamed tokens. Each token of an answer is a signal, so this matters."""
    emitter = _Emitter()
    received: list[int] = []
    emitter.changed.connect(lambda n, _s, _b: received.append(n))
    before = sys.getrefcount(True), sys.getrefcount(None)
    for n in range(500):
        emitter.changed.emit(n, "x", False)
    received.clear()
    after = sys.getrefcount(True), sys.getrefcount(None)
    assert after == before
