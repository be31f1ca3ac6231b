"""Small user settings (last chosen model, window geometry) in a JSON file. Never secrets."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from desktop.core.errors import InvalidParameter
from desktop.core.params import (
    DEFAULT_N_CTX,
    MIN_USER_CTX,
    SPECULATIVE_MODES,
    LoadParams,
    SamplingParams,
)


class Settings:
    """A JSON object on disk, written atomically so a crash never leaves half a file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data: dict[str, Any] = self._read()

    def _read(self) -> dict[str, Any]:
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # missing or damaged: start from defaults, never refuse to open
        return loaded if isinstance(loaded, dict) else {}

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        # Read the file again first: the CLI may have changed other keys while the app ran
        # (`llamaside providers disable`), and writing our old copy back would undo that.
        on_disk = self._read()
        # A file that cannot be read now must not cost the settings this copy still holds.
        base = on_disk or self._data
        self._data = {**base, key: value}
        self.save()

    def sampling(self) -> SamplingParams:
        """The saved sampling parameters, or the defaults if the file holds something unusable
        (hand-edited, or from another version): a bad setting must never stop the app."""
        saved = self._data.get("sampling", {})
        try:
            return SamplingParams.from_dict(saved if isinstance(saved, dict) else {})
        except InvalidParameter:
            return SamplingParams()

    def sample_on_device(self) -> bool | None:
        """``"sample_on_device"``: true (tokens chosen in llama.cpp's graph) or false (on the
        CPU); absent, or anything but a boolean, lets the engine decide (None)."""
        value = self._data.get("sample_on_device")
        return value if isinstance(value, bool) else None

    def speculative(self) -> str:
        """``"speculative"``: "auto", "off" or "lookup"; absent or anything else, "auto" (a draft
        model goes with one model's load, not with every load's defaults)."""
        value = self._data.get("speculative")
        return value if value in SPECULATIVE_MODES and value != "draft" else "auto"

    def load_defaults(self, automatic_threads: int | None) -> LoadParams:
        """What every local load starts from (Preferences → Engine): "n_ctx", "n_threads" (0
        or absent: ``automatic_threads``), "n_gpu_layers", "speculative" and
        "sample_on_device". A hand-edited value that is not a usable number is ignored."""
        threads = self._int("n_threads", 0)
        return LoadParams(
            n_ctx=max(MIN_USER_CTX, self._int("n_ctx", DEFAULT_N_CTX)),
            n_threads=threads if threads > 0 else automatic_threads,
            n_gpu_layers=max(-1, self._int("n_gpu_layers", -1)),
            speculative=self.speculative(),
            sample_on_device=self.sample_on_device(),
        )

    def _int(self, key: str, default: int) -> int:
        value = self._data.get(key, default)
        return value if isinstance(value, int) and not isinstance(value, bool) else default

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._data, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.path)
