"""Relay: how worker threads hand results to a QObject on the GUI thread.

A worker never emits a Qt signal that carries a Python object and never holds a reference to
the QObject it reports to. Both hung the whole app under PySide: a queued signal's Python
argument is copied and freed inside Qt's signal machinery on the worker, which takes the GIL
there while the GUI thread, holding the GIL, waits in Qt for a signal-slot lock (the suite hung
so in QObject::connect, twice, in the comparison window); and a Python-owned QObject whose last
reference a worker dropped was destroyed on that worker. The worker appends the call to a
queue and emits a signal with no arguments; the owner's thread runs the queued calls in order.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot


class Relay(QObject):
    """Runs ``method(owner, *args)`` on the owner's thread for calls posted from any thread.

    It is the owner's child, so Qt (not a worker dropping a reference) deletes it, with the
    owner. Posting from the owner's own thread calls at once, as a direct signal would; posting
    after the owner is gone does nothing.
    """

    _wake = Signal()

    def __init__(self, owner: QObject) -> None:
        super().__init__(owner)
        self._owner = weakref.ref(owner)
        self._home = threading.get_ident()
        self._calls: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()
        self._lock = threading.Lock()
        self._woken = False
        self._wake.connect(self._drain, Qt.ConnectionType.QueuedConnection)

    def post(self, method: Callable[..., Any], *args: Any) -> None:
        """``method`` is the owner's class's function (``EngineHost._on_event``), not a bound
        method, so that the worker holds no reference to the owner."""
        if threading.get_ident() == self._home:
            owner = self._owner()
            if owner is not None:
                method(owner, *args)
            return
        self._calls.append((method, args))
        with self._lock:
            if self._woken:
                return
            self._woken = True
        # The owner (and this relay with it) may be gone: nobody is left to tell.
        with contextlib.suppress(RuntimeError):
            self._wake.emit()

    @Slot()
    def _drain(self) -> None:
        with self._lock:
            self._woken = False
        while self._calls:
            method, args = self._calls.popleft()
            owner = self._owner()
            if owner is None:
                self._calls.clear()
                return
            try:
                method(owner, *args)
            except BaseException:
                if self._calls:  # the rest still run, after the error is reported
                    self._wake.emit()
                raise
