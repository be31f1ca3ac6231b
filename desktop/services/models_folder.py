"""Another models folder (Preferences → Folders): the model list and the downloads move to it
together, and the setting keeps it for the next start (storage.models_folder reads it)."""

from __future__ import annotations

from pathlib import Path

from desktop.core.errors import LlamasideError
from desktop.services.chat import ChatService
from desktop.services.downloads import DownloadManager
from desktop.storage.models_folder import MODELS_DIR, models_folder_problem


def use_models_folder(
    chat: ChatService, downloads: DownloadManager, folder: Path, default: Path
) -> int:
    """List models from ``folder`` and download into it, now and at the next start (``default``,
    the data folder's, is kept as no choice). Raises LlamasideError, changing nothing, for a
    folder that cannot hold models or while a download is unfinished. Returns how many model
    files the folder holds."""
    is_default = _same(folder, default)
    if is_default:
        folder = default
        folder.mkdir(parents=True, exist_ok=True)
    problem = models_folder_problem(folder)
    if problem:
        raise LlamasideError(problem)
    before = downloads.models_dir
    downloads.move_to(folder)  # refused while a download is unfinished: nothing changed yet
    try:
        chat.settings.set(MODELS_DIR, "" if is_default else str(folder))
    except OSError:
        downloads.models_dir = before  # the setting could not be saved (a full disk)
        raise
    chat.use_models_dir(folder)
    return sum(1 for model in chat.models if Path(model.path).is_relative_to(folder))


def chosen_models_folder(chat: ChatService) -> str:
    """The folder chosen in Preferences ("" for the default), whether it is there or not."""
    chosen = chat.settings.get(MODELS_DIR) or ""
    return chosen if isinstance(chosen, str) else ""


def _same(one: Path, other: Path) -> bool:
    """The same folder, however it is written (a symlink, a trailing separator)."""
    try:
        return one.resolve() == other.resolve()
    except OSError:
        return one == other
