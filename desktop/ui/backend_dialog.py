"""Model → GPU backend…: what the installed llama-cpp-python can run on, the GPUs found, and the
exact command that rebuilds it for this machine's GPU (copied with one click).

The check starts an engine child (about a second), so it runs in the background.
"""

from __future__ import annotations

import html
import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.core.models import human_size
from desktop.services import model_catalog
from desktop.services.background import Background
from desktop.services.model_catalog import BackendReport
from desktop.ui.screen_fit import fit_to_screen


class BackendDialog(QDialog):
    """Model → GPU backend…: the build's backends, the GPUs, the rebuild command, and the
    engine's safe mode when llama.cpp's fast path crashed here.

    Signals:
        fast_path_requested(): the user asks to try the fast path again.
    """

    fast_path_requested = Signal()

    def __init__(
        self,
        models_dir: Path,
        parent: QWidget | None = None,
        report: Callable[[Path], BackendReport] = model_catalog.backend_report,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("backendDialog")
        self.setWindowTitle("GPU backend")
        fit_to_screen(self, 760, 560)
        self._models_dir = models_dir
        self._report_fn = report
        self.report: BackendReport | None = None

        self.summary = QLabel("Checking what this llama-cpp-python was built with…", self)
        self.summary.setObjectName("backendSummary")
        self.summary.setWordWrap(True)
        self.summary.setAccessibleName("What the local engine runs on")

        self.table = QTableWidget(0, 3, self)
        self.table.setObjectName("backendTable")
        self.table.setAccessibleName("Backends in this build")
        self.table.setHorizontalHeaderLabels(["Backend", "In this build", "Needs"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)

        self.advice = QLabel("", self)
        self.advice.setObjectName("backendAdvice")
        self.advice.setWordWrap(True)
        self.advice.setAccessibleName("What to do")
        self.command = QPlainTextEdit(self)
        self.command.setObjectName("backendCommand")
        self.command.setAccessibleName("Command that rebuilds llama-cpp-python")
        self.command.setReadOnly(True)
        self.command.setMaximumHeight(70)
        self.copy_button = QPushButton("Copy command", self)
        self.copy_button.setObjectName("copyBackendCommand")
        self.copy_button.setAccessibleName("Copy the command")
        self.copy_button.clicked.connect(self._copy)
        self.copy_button.setEnabled(False)

        self.details = QPlainTextEdit(self)
        self.details.setObjectName("backendDetails")
        self.details.setAccessibleName("llama.cpp's description of this build")
        self.details.setReadOnly(True)
        self.details.setMaximumHeight(80)

        self.safe_mode_box = QWidget(self)
        self.safe_mode_box.setObjectName("safeModeBox")
        self.safe_mode_text = QLabel("", self.safe_mode_box)
        self.safe_mode_text.setObjectName("safeModeText")
        self.safe_mode_text.setAccessibleName("Safe mode")
        self.safe_mode_text.setWordWrap(True)
        self.fast_path_button = QPushButton("Try the fast path again", self.safe_mode_box)
        self.fast_path_button.setObjectName("tryFastPath")
        self.fast_path_button.setToolTip(
            "Load models with everything this build can use again. If it still crashes, the "
            "engine falls back to safe mode by itself and answers all the same."
        )
        self.fast_path_button.clicked.connect(self.fast_path_requested)
        safe_row = QHBoxLayout(self.safe_mode_box)
        safe_row.setContentsMargins(0, 0, 0, 0)
        safe_row.addWidget(self.safe_mode_text, 1)
        safe_row.addWidget(self.fast_path_button)
        self.safe_mode_box.hide()

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        copy_row = QHBoxLayout()
        copy_row.addWidget(self.command, 1)
        copy_row.addWidget(self.copy_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.safe_mode_box)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.advice)
        layout.addLayout(copy_row)
        details_label = QLabel("llama.cpp about this build:", self)
        layout.addWidget(details_label)
        layout.addWidget(self.details)
        layout.addWidget(buttons)

        self.background = Background(self)
        self.background.done.connect(self._on_done)
        self.background.failed.connect(self._on_failed)

    def show_safe_mode(self, note: str, detail: str) -> None:
        """The engine's safe mode (note empty: the fast path, and the box is hidden)."""
        self.safe_mode_text.setText(
            f"<b>{html.escape(note[:1].upper() + note[1:])}.</b> {html.escape(detail)}"
        )
        self.safe_mode_box.setVisible(bool(note))

    def refresh(self) -> None:
        self.background.call("report", lambda: self._report_fn(self._models_dir))

    @Slot(str, object)
    def _on_done(self, _tag: str, report: object) -> None:
        assert isinstance(report, BackendReport)
        self.show_report(report)

    @Slot(str, str)
    def _on_failed(self, _tag: str, message: str) -> None:
        self.summary.setText(f"Could not ask the local engine what it runs on: {message}")

    def show_report(self, report: BackendReport) -> None:
        self.report = report
        runs_on = ", ".join(report.built) if report.built else "the CPU only"
        gpus = report.machine.gpus
        found = (
            "; ".join(f"{g.name} ({human_size(g.total_bytes)})" for g in gpus)
            if gpus
            else "none found"
        )
        self.summary.setText(
            f"<b>llama-cpp-python {html.escape(report.llama_cpp_version)}</b> on this computer "
            f"runs on <b>{html.escape(runs_on)}</b>.<br>GPUs: {html.escape(found)}."
        )
        self.table.setRowCount(len(report.commands))
        for row, (name, needs, _command) in enumerate(report.commands):
            self.table.setItem(row, 0, QTableWidgetItem(name))
            self.table.setItem(row, 1, QTableWidgetItem("yes" if name in report.built else "no"))
            self.table.setItem(row, 2, QTableWidgetItem(needs))
        self.table.resizeColumnsToContents()
        self.details.setPlainText(report.system_info)
        if getattr(sys, "frozen", False):
            # A bundle's Python cannot rebuild itself; the GPU build is another bundle.
            self.advice.setText(
                "This is the app bundle, built for the backends above. For a GPU, use a build "
                "of Llamaside made with that backend (see packaging/README.md), or install "
                "from source with the command for your GPU."
            )
            self.command.setPlainText("")
            self.copy_button.setEnabled(False)
            return
        advice = report.advice
        if advice is not None:
            self.advice.setText(
                f"<b>Use the GPU: rebuild llama-cpp-python with {advice.backend}</b> "
                f"({html.escape(advice.why)}). You need {html.escape(advice.needs)}. Run this "
                f"in a terminal, then restart Llamaside (the build takes a few minutes):"
            )
            self.command.setPlainText(advice.command)
        elif report.built:
            self.advice.setText(
                f"This build already uses {', '.join(report.built)}. To rebuild with another "
                f"backend, for example Vulkan:"
            )
            self.command.setPlainText(_command_for("Vulkan", report))
        else:
            self.advice.setText(
                "No GPU that llama.cpp can use was found, so the CPU build is the right one. "
                "If you add one, the command for NVIDIA (CUDA) is:"
            )
            self.command.setPlainText(_command_for("CUDA", report))
        self.copy_button.setEnabled(bool(self.command.toPlainText()))

    @Slot()
    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(self.command.toPlainText())
        self.copy_button.setText("Copied")


def _command_for(name: str, report: BackendReport) -> str:
    for backend, _needs, command in report.commands:
        if backend == name:
            return command
    return ""
