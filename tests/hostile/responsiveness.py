"""What the load tests watch: a heartbeat on the GUI thread's event loop (the longest time it
went without turning, so a frozen window shows as a long gap) and this process's resources
(resident memory, threads, child processes and zombies among them)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import psutil
from PySide6.QtCore import QTimer

MB = 2**20


class Heartbeat:
    """A timer that beats every ``interval_ms`` on the GUI thread while the event loop turns.

    Attributes:
        max_gap_s: the longest time between two beats (the longest freeze seen).
        where: the phase (set by the test) in which that gap ended.
        beats: how many beats there were (a heartbeat that never beat measured nothing).
    """

    def __init__(self, interval_ms: int = 20) -> None:
        self._timer = QTimer()
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._beat)
        self._last: float | None = None
        self.phase = "start"
        self.max_gap_s = 0.0
        self.where = ""
        self.beats = 0

    def start(self) -> None:
        self._last = time.monotonic()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        self._last = None

    def skip(self) -> None:
        """Forget the last beat: the time the test itself spends outside the event loop on
        purpose (reading the database to check it) is not the app's."""
        self._last = time.monotonic()

    def _beat(self) -> None:
        now = time.monotonic()
        self.beats += 1
        if self._last is not None and now - self._last > self.max_gap_s:
            self.max_gap_s = now - self._last
            self.where = self.phase
        self._last = now

    def summary(self) -> str:
        return f"longest event-loop gap {self.max_gap_s * 1000:.0f} ms (in {self.where or '-'})"


@dataclass(frozen=True)
class Resources:
    """One look at this process."""

    rss: int
    #: Operating-system threads: Qt's, Python's, the SDKs' (llama.cpp's are in the engine child).
    os_threads: int
    python_threads: int
    #: Live engine children (see _is_engine), and zombie children of any kind.
    children: tuple[int, ...]
    zombies: tuple[int, ...]


def _is_engine(process: psutil.Process) -> bool:
    """An engine child (``python -m desktop.engine``). Other children of the test process are
    not the app's: the suite's private D-Bus and keyring daemons, started by the first test
    that needs them, live until the suite ends."""
    try:
        return "desktop.engine" in process.cmdline()
    except psutil.Error:
        return False  # ended meanwhile


def resources() -> Resources:
    me = psutil.Process()
    children: list[int] = []
    zombies: list[int] = []
    for child in me.children(recursive=True):
        try:
            status = child.status()
        except psutil.NoSuchProcess:
            continue  # ended (and reaped) between the listing and the look
        if status == psutil.STATUS_ZOMBIE:
            zombies.append(child.pid)
        elif _is_engine(child):
            children.append(child.pid)
    return Resources(
        rss=me.memory_info().rss,
        os_threads=me.num_threads(),
        python_threads=threading.active_count(),
        children=tuple(children),
        zombies=tuple(zombies),
    )
