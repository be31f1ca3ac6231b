"""The app's icon: the desktop theme's "llamaside" when installed (packaging/install.sh puts it
there), else the PNGs that ship with the package (desktop._resources: resources/ in a checkout),
so a pip install shows it too."""

from __future__ import annotations

import contextlib
import importlib.resources
from pathlib import Path

from PySide6.QtGui import QIcon

import desktop


def _icon_folder() -> Path | None:
    checkout = Path(desktop.__file__).resolve().parent.parent / "resources"
    if (checkout / "llamaside.svg").is_file():
        return checkout
    with contextlib.suppress(ModuleNotFoundError, TypeError):
        return Path(str(importlib.resources.files("desktop._resources")))
    return None


def shipped_icon() -> QIcon:
    """Every size that ships, so each place (title bar, task switcher) gets a sharp one."""
    icon = QIcon()
    folder = _icon_folder()
    if folder is not None:
        for png in sorted(folder.glob("llamaside-*.png")):
            icon.addFile(str(png))
    return icon


def app_icon() -> QIcon:
    return QIcon.fromTheme("llamaside", shipped_icon())
