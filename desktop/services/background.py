"""Run a blocking call (a hub query, hardware detection) off the GUI thread.

The call runs on a plain daemon thread; its result or its error comes back as a queued signal,
so the window never waits on the network.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from desktop.core.errors import LlamasideError
from desktop.services.relay import Relay


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
        self._relay = Relay(self)

    def call(self, tag: str, fn: Callable[[], Any]) -> None:
        # The thread holds the relay, not this object: the window that asked may close while
        # the call runs, and then there is no one left to tell.
        post = self._relay.post

        def work() -> None:
            try:
                result = fn()
            except LlamasideError as exc:
                post(Background._failed, tag, str(exc))
            except Exception as exc:  # report, never die silently
                post(Background._failed, tag, f"{type(exc).__name__}: {exc}")
            else:
                post(Background._done, tag, result)

        self._threads = [t for t in self._threads if t.is_alive()]
        thread = threading.Thread(target=work, name=f"background-{tag}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _done(self, tag: str, value: object) -> None:
        self.done.emit(tag, value)

    def _failed(self, tag: str, message: str) -> None:
        self.failed.emit(tag, message)

    def wait(self, timeout: float = 10.0) -> None:
        for thread in self._threads:
            thread.join(timeout)
