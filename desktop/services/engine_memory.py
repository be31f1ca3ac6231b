"""How much memory the engine child uses, read every 2 s while it runs: its resident RAM (psutil,
one cheap call on one pid, on the GUI thread) and, where an NVIDIA GPU is, the VRAM it holds
(``nvidia-smi --query-compute-apps``, run on a thread of its own: it can take a second)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

import psutil
from PySide6.QtCore import QObject, QTimer, Signal, Slot

from desktop.services.background import Background
from desktop.services.engine_host import EngineHost

#: How often the numbers are read while an engine runs, in ms.
INTERVAL_MS = 2000
#: Each compute process on an NVIDIA GPU, one a line: "pid, used MiB".
NVIDIA_SMI = [
    "nvidia-smi",
    "--query-compute-apps=pid,used_memory",
    "--format=csv,noheader,nounits",
]
#: The longest a GPU query may take before it is given up (s).
GPU_TIMEOUT_S = 10.0
MB = 1024 * 1024


@dataclass(frozen=True)
class EngineMemoryUse:
    """The engine child's memory at one reading: its pid, resident RAM in bytes, and the VRAM
    it holds in bytes (None: no NVIDIA GPU, or the GPU has not said yet)."""

    pid: int
    ram_bytes: int
    vram_bytes: int | None = None


def default_gpu_command() -> list[str] | None:
    """nvidia-smi's query when it is installed; None (no GPU query) otherwise."""
    return list(NVIDIA_SMI) if shutil.which(NVIDIA_SMI[0]) else None


def vram_of(pid: int, output: str) -> int | None:
    """The bytes of VRAM ``pid`` holds, summed over the GPUs, from nvidia-smi's lines (None:
    it holds none)."""
    total: int | None = None
    for line in output.splitlines():
        fields = [field.strip() for field in line.split(",")]
        if len(fields) < 2 or not fields[0].isdigit() or int(fields[0]) != pid:
            continue
        try:
            used = int(float(fields[1]) * MB)
        except ValueError:
            continue  # "[N/A]" on some drivers
        total = (total or 0) + used
    return total


def query_gpu(command: Sequence[str], pid: int) -> int | None:
    """Run the GPU query (blocking: call it off the GUI thread) and read ``pid``'s VRAM."""
    done = subprocess.run(
        list(command), capture_output=True, text=True, timeout=GPU_TIMEOUT_S, check=False
    )
    return vram_of(pid, done.stdout) if done.returncode == 0 else None


class EngineMemory(QObject):
    """Owns the readings of one engine host's memory: a timer that reads the child's RAM every
    ``interval_ms`` while it runs, and at most one GPU query in flight at a time.

    Signals:
        changed(object): an EngineMemoryUse, or None when no engine runs (nothing to show).
    """

    changed = Signal(object)

    def __init__(
        self,
        engine: EngineHost,
        parent: QObject | None = None,
        *,
        interval_ms: int = INTERVAL_MS,
        gpu_command: Sequence[str] | None = None,
        find_gpu: bool = True,
    ) -> None:
        super().__init__(parent)
        self.engine = engine
        #: The GPU query (None: none; ``find_gpu`` looks for nvidia-smi when none is given).
        self.gpu_command = (
            list(gpu_command)
            if gpu_command is not None
            else (default_gpu_command() if find_gpu else None)
        )
        self.latest: EngineMemoryUse | None = None
        self._vram: tuple[int, int | None] | None = None  # (pid, bytes) from the last query
        self._asking = False
        self._background = Background(self)
        self._background.done.connect(self._on_gpu_answer)
        self._background.failed.connect(self._on_gpu_failed)
        self._timer = QTimer(self, interval=interval_ms)
        self._timer.timeout.connect(self.read)
        engine.loaded.connect(self._on_loaded)
        engine.exited.connect(self._on_exited)
        self._timer.start()

    def stop(self) -> None:
        """No more readings (the window closes); a GPU query in flight is waited for."""
        self._timer.stop()
        self._background.wait(GPU_TIMEOUT_S)

    @Slot(int, dict, float)
    def _on_loaded(self, _request: int, _info: dict[str, object], _seconds: float) -> None:
        self.read()  # shown at once, not up to 2 s after the model is in

    @Slot(str, bool)
    def _on_exited(self, _message: str, _expected: bool) -> None:
        self.read()  # hidden at once

    @Slot()
    def read(self) -> None:
        """Read the child's RAM now (and ask the GPU, off this thread); tell if it changed."""
        pid = self.engine.pid if self.engine.running else None
        use = None
        if pid is not None:
            try:
                ram = psutil.Process(pid).memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                ram = None
            if ram is not None:
                vram = self._vram[1] if self._vram is not None and self._vram[0] == pid else None
                use = EngineMemoryUse(pid, ram, vram)
                self._ask_gpu(pid)
        if use != self.latest:
            self.latest = use
            self.changed.emit(use)

    def _ask_gpu(self, pid: int) -> None:
        command = self.gpu_command
        if command is None or self._asking:
            return
        self._asking = True
        self._background.call(str(pid), lambda: query_gpu(command, pid))

    @Slot(str, object)
    def _on_gpu_answer(self, tag: str, vram: object) -> None:
        self._asking = False
        self._vram = (int(tag), vram if isinstance(vram, int) else None)
        latest = self.latest
        if latest is not None and latest.pid == int(tag) and latest.vram_bytes != self._vram[1]:
            self.latest = EngineMemoryUse(latest.pid, latest.ram_bytes, self._vram[1])
            self.changed.emit(self.latest)

    @Slot(str, str)
    def _on_gpu_failed(self, _tag: str, _message: str) -> None:
        self._asking = False  # no VRAM shown; asked again at the next reading
