"""Which safe mode the local engine needs on this machine with this llama.cpp build, remembered.

One small JSON file in the config folder, keyed by a fingerprint of the CPU and of the installed
llama-cpp-python (its version and the files of its native libraries), so a new build or another
machine sharing the folder starts fast again. Computed on the host without importing llama_cpp.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import threading
from pathlib import Path

from desktop.core.engine_mode import SafeMode


def _cpu_identity() -> str:
    """The CPU's model name and feature flags (Linux), or what the platform says of it."""
    with contextlib.suppress(OSError):
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        wanted = {}
        for line in text.splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "flags", "Features", "CPU part") and key not in wanted:
                wanted[key] = value.strip()
            if not line.strip() and wanted:
                break  # the first processor says it for all
        if wanted:
            return json.dumps(wanted, sort_keys=True)
    return f"{platform.machine()} {platform.processor()}"


def _build_identity() -> str:
    """llama-cpp-python's version and its native libraries (name, size, modification time): a
    reinstall with another backend or other CMake flags changes them."""
    try:
        version = importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        version = "?"
    files: list[str] = []
    with contextlib.suppress(ImportError, ValueError, OSError):
        spec = importlib.util.find_spec("llama_cpp")
        if spec is not None and spec.origin:
            lib = Path(os.environ.get("LLAMA_CPP_LIB_PATH") or Path(spec.origin).parent / "lib")
            for path in sorted(lib.glob("*")):
                stat = path.stat()
                files.append(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return f"{version} {' '.join(files)}"


def build_key() -> str:
    """This machine and this llama.cpp build, as a short fingerprint."""
    raw = f"{_cpu_identity()}\n{_build_identity()}"
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


class ModeMemory:
    """The safe mode remembered per machine-and-build fingerprint, in ``path`` (JSON).

    Thread-safe: the engine client's reader thread writes it while the window reads it.
    A file that cannot be read is treated as empty (it only ever makes the engine faster).
    """

    def __init__(self, path: Path, key: str | None = None) -> None:
        self.path = path
        self.key = key or build_key()
        self._lock = threading.Lock()

    def _read(self) -> dict[str, object]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self) -> SafeMode | None:
        with self._lock:
            entry = self._read().get(self.key)
        return SafeMode.from_dict(entry) if isinstance(entry, dict) else None

    def remember(self, mode: SafeMode | None) -> None:
        """Keep ``mode`` for this machine and build; None forgets it (the fast path again)."""
        with self._lock:
            data = self._read()
            if mode is None:
                if data.pop(self.key, None) is None:
                    return
            else:
                data[self.key] = mode.to_dict()
            # A full disk must not take the engine down: the mode then lasts this session.
            with contextlib.suppress(OSError):
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
                os.replace(tmp, self.path)
