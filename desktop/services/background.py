"""Run a blocking call (a hub query, hardware detection) off the GUI thread.

The call runs on a plain daemon thread; its result or its error comes back as a queued signal,
so the window never waits on the network.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from desktop.core.errors import LlamasideError


class Background(QObject):
    """Runs blocking calls on daemon threads and reports each back on the GUI thread.

    Signals:
    done(str, object): the caller's tag and the result.
    failed(str, str): the caller's tag and a message for the user.
    """

    done = Signal(str, object)
    failed = Signal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._threads: list[threading.Thread] = []

    def call(self, tag: str, fn: Callable[[], Any]) -> None:
        def work() -> None:
            try:
                result = fn()
            except LlamasideError as exc:
                self._report(self.failed, tag, str(exc))
            except Exception as exc:  # report, never die silently
                self._report(self.failed, tag, f"{type(exc).__name__}: {exc}")
            else:
                self._report(self.done, tag, result)

        self._threads = [t for t in self._threads if t.is_alive()]
        thread = threading.Thread(target=work, name=f"background-{tag}", daemon=True)
        self._threads.append(thread)
        thread.start()

    @staticmethod
    def _report(signal: Any, tag: str, value: object) -> None:
        # The window that asked may have closed while the call ran (a dialog shut during a
        # hardware probe): its Background is gone with it, and there is no one left to tell.
        with contextlib.suppress(RuntimeError):
            signal.emit(tag, value)

    def wait(self, timeout: float = 10.0) -> None:
        for thread in self._threads:
            thread.join(timeout)
