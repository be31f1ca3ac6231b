"""The LoRA adapters on this machine, and which of them fit a model.

An adapter is a GGUF file whose header says ``general.type = adapter``: one the user added
(Model → Open GGUF file…, kept in the store), or one in the models folder, where a download
from Hugging Face puts it like any model file. The models folder's listing leaves adapters out
(backends.local_models); this module lists them, each with the architecture it was made for,
and says for a model which adapters fit it (lora_check's header rules) and why the others do
not. Headers are read once per file version (size and mtime), since the window asks at every
model change.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from desktop.backends.gguf_header import _read_header, gguf_type
from desktop.backends.lora_check import check_adapter
from desktop.core.adapters import Adapter, AdapterFile, AdapterFit
from desktop.core.errors import ModelLoadError
from desktop.core.models import LocalModel

ADAPTER_TYPE = "adapter"


def is_adapter_file(path: Path) -> bool:
    """Whether a GGUF file is a LoRA adapter rather than a model (its header says so)."""
    return gguf_type(path) == ADAPTER_TYPE


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


class AdapterShelf:
    """Lists adapter files and checks them against models, each header read once per version
    of its file. One per app (app.py builds it); the CLI makes its own."""

    def __init__(self) -> None:
        self._files: dict[str, tuple[tuple[int, int], AdapterFile | None]] = {}
        self._fits: dict[tuple[str, str], tuple[object, str]] = {}
        self._architectures: dict[str, tuple[tuple[int, int], str]] = {}

    def read(self, path: Path, source: str = "user") -> AdapterFile | None:
        """The adapter at ``path``; None if it is not one (or cannot be read)."""
        stamp = _stamp(path)
        if stamp is None:
            return None
        known = self._files.get(str(path))
        if known is not None and known[0] == stamp:
            return known[1]
        found: AdapterFile | None = None
        if is_adapter_file(path):
            try:
                architecture = _read_header(path).text("general.architecture") or ""
            except ModelLoadError:
                architecture = ""
            name = path.name[: -len(".gguf")] if path.name.lower().endswith(".gguf") else path.name
            found = AdapterFile(str(path), name, architecture, stamp[0], source)
        self._files[str(path)] = (stamp, found)
        return found

    def in_folder(self, folder: Path) -> list[AdapterFile]:
        """The adapters in the models folder and its sub-folders, by path."""
        if not folder.is_dir():
            return []
        found = []
        for path in sorted(folder.rglob("*.gguf")):
            adapter = self.read(path, "folder")
            if adapter is not None:
                found.append(adapter)
        return found

    def listing(self, folder: Path, user_files: Iterable[str] = ()) -> list[AdapterFile]:
        """Every adapter: the models folder's, then those the user added (each once)."""
        adapters = self.in_folder(folder)
        seen = {a.path for a in adapters}
        for file in user_files:
            adapter = self.read(Path(file), "user")
            if adapter is not None and adapter.path not in seen:
                adapters.append(adapter)
                seen.add(adapter.path)
        return adapters

    def _architecture(self, path: Path) -> str | None:
        """A model file's architecture ("" if unsaid), None if it cannot be read."""
        stamp = _stamp(path)
        if stamp is None:
            return None
        known = self._architectures.get(str(path))
        if known is not None and known[0] == stamp:
            return known[1]
        try:
            architecture = _read_header(path).text("general.architecture") or ""
        except ModelLoadError:
            return None
        self._architectures[str(path)] = (stamp, architecture)
        return architecture

    def fit(self, adapter: AdapterFile, model: LocalModel) -> AdapterFit:
        """Whether the adapter fits the model, by lora_check's rules (from the headers)."""
        key = (adapter.path, model.path)
        stamp = (_stamp(Path(adapter.path)), _stamp(Path(model.path)))
        known = self._fits.get(key)
        if known is not None and known[0] == stamp:
            return AdapterFit(adapter, known[1])
        try:
            check_adapter(Adapter(adapter.path), model.path)
            reason = ""
        except ModelLoadError as exc:
            reason = str(exc)
        self._fits[key] = (stamp, reason)
        return AdapterFit(adapter, reason)

    def for_model(self, model: LocalModel, adapters: Iterable[AdapterFile]) -> list[AdapterFit]:
        """The adapters made for the model's architecture, those that fit first; an adapter
        for another architecture is not offered at all (it could never be)."""
        architecture = self._architecture(Path(model.path))
        if architecture is None:
            return []
        offered = [
            self.fit(a, model)
            for a in adapters
            if not a.architecture or not architecture or a.architecture == architecture
        ]
        return sorted(offered, key=lambda fit: (not fit.fits, fit.file.name.lower()))


def known_path(path: str) -> bool:
    """Whether an adapter path recorded earlier is still there (an answer's label says so)."""
    return os.path.isfile(path)
