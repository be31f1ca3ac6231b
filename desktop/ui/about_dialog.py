"""Help → About Llamaside: what this is, which versions run it (the app, llama.cpp's build and
backend, Qt, Python), the licences, and where its files are."""

from __future__ import annotations

import html
import importlib.metadata
import platform
import sys

import PySide6
from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from desktop import APP_NAME, __version__
from desktop.ui.icons import app_icon

#: What ships, and under which licence (the models users download carry their own).
LICENCES = (
    ("Llamaside", "MIT"),
    ("llama.cpp and llama-cpp-python", "MIT"),
    ("Qt 6 and PySide6", "LGPL-3.0"),
    ("SmolLM2-135M-Instruct (the bundled model)", "Apache-2.0"),
    ("Llama models", "the Llama Community License of each model, shown on its Hugging Face page"),
)


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def about_text(backend: str, folders: dict[str, str]) -> str:
    """The dialog's text (rich text). ``backend``: what the engine said it runs on, if it has
    started ("" otherwise)."""
    engine = f"llama-cpp-python {_version('llama-cpp-python')}"
    engine += f", running on {backend}" if backend else " (its backend shows once a model loads)"
    rows = [
        ("Version", __version__),
        ("Local engine", engine),
        ("Qt", f"{qVersion()} (PySide6 {PySide6.__version__})"),
        ("Python", f"{platform.python_version()} on {platform.system()} {platform.machine()}"),
        *folders.items(),
    ]
    table = "".join(
        f"<tr><td><b>{html.escape(k)}</b></td><td>&nbsp;&nbsp;{html.escape(v)}</td></tr>"
        for k, v in rows
    )
    licences = "".join(f"<li>{html.escape(a)}: {html.escape(b)}</li>" for a, b in LICENCES)
    return (
        f"<h2>{APP_NAME}</h2><p>Private chat with Llama on your own computer, with GPT-4o and "
        f"Claude side by side when you ask for them. Nothing is collected.</p>"
        f"<table>{table}</table><p><b>Licences</b></p><ul>{licences}</ul>"
    )


class AboutDialog(QDialog):
    """The About box. It owns nothing; the window gives it what the engine reported."""

    def __init__(
        self, backend: str, folders: dict[str, str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("aboutDialog")
        self.setWindowTitle(f"About {APP_NAME}")
        icon = QLabel(self)
        icon.setPixmap(app_icon().pixmap(96, 96))
        icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text = QLabel(about_text(backend, folders), self)
        self.text.setObjectName("aboutText")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(icon)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
        if sys.platform == "darwin":  # the About box there has no title of its own
            self.setWindowTitle("")
