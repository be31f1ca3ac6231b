"""Where the models live: the data folder's models/ unless the user chose another folder
(Preferences → Folders, the "models_dir" setting), as LM Studio, Jan and GPT4All allow: a Scout
quant is 35-60 GB and often goes on a disk of its own."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings

#: The setting: the chosen folder's absolute path ("" or absent: the data folder's).
MODELS_DIR = "models_dir"


def with_chosen_models(paths: AppPaths, settings: Settings) -> tuple[AppPaths, str]:
    """``paths`` with the models folder the user chose, and why it is not used ("" when it
    is): a folder that is gone (a drive not connected) leaves the default in use for this run,
    and the setting as it is, so the folder is used again once it is back."""
    chosen = settings.get(MODELS_DIR) or ""
    if not isinstance(chosen, str) or not chosen:
        return paths, ""
    folder = Path(chosen)
    if folder.is_dir():
        return replace(paths, chosen_models=folder), ""
    return paths, (
        f"The models folder {folder} is not there (a drive not connected?): the models in "
        f"{paths.default_models} are listed until it is back."
    )


def models_folder_problem(folder: Path) -> str:
    """Why ``folder`` cannot hold models ("" when it can): it must be a folder Llamaside can
    write in (downloads go there)."""
    if not folder.is_absolute():
        return f"{folder} is not a full path."
    if not folder.is_dir():
        return f"{folder} is not a folder."
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".llamaside-write-check-"):
            pass
    except OSError as exc:
        return f"Llamaside cannot write in {folder}: {exc.strerror or exc}."
    return ""
