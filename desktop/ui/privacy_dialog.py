"""The privacy record: every request that left this computer, newest first, and its export.

Rows come from the history database (written as each request leaves, from the SDKs' request
hook and the hub); the table refreshes when a new one is recorded. Keys are never part of it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.core.privacy_record import OutboundRecord, images_note
from desktop.services.cloud import CloudService
from desktop.services.privacy import export_record, record_rows
from desktop.ui.screen_fit import fit_to_screen

COLUMNS = ("Time (UTC)", "Sent to", "Host", "What", "Model / item", "Chat", "Bytes sent")


def _bytes_cell(record: OutboundRecord) -> str:
    """The request's bytes, and the pictures it carried where it carried any."""
    note = record.images_note
    return f"{record.bytes_sent:,} ({note})" if note else f"{record.bytes_sent:,}"


class PrivacyDialog(QDialog):
    """Shows the privacy record, newest first, and exports it."""

    def __init__(self, cloud: CloudService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cloud = cloud
        self.setWindowTitle("Privacy record")
        self.setObjectName("privacyDialog")
        fit_to_screen(self, 900, 480)
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        self.summary.setAccessibleName("Privacy summary")
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setAccessibleName("Requests that left this computer")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        export = QPushButton("Export…", self)
        export.setAccessibleName("Export the privacy record")
        export.clicked.connect(self.export)
        close = QPushButton("Close", self)
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(export)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        cloud.recorded.connect(self.refresh)
        self.refresh()

    @Slot()
    def refresh(self) -> None:
        records = record_rows(self.cloud)
        self.table.setRowCount(0)
        for record in reversed(records):  # newest first
            index = self.table.rowCount()
            self.table.insertRow(index)
            chat = record.conversation or (
                f"#{record.conversation_id} (deleted)" if record.conversation_id else ""
            )
            cells = (
                record.at.replace("T", " ").removesuffix("+00:00"),
                record.destination,
                record.host,
                record.purpose,
                record.model or "",
                chat,
                _bytes_cell(record),
            )
            for column, text in enumerate(cells):
                self.table.setItem(index, column, QTableWidgetItem(text))
        total = sum(r.bytes_sent for r in records)
        chats = sum(1 for r in records if r.purpose == "chat")
        pictures = images_note(sum(r.images for r in records), sum(r.image_bytes for r in records))
        pictures = f", {pictures} of pictures among them" if pictures else ""
        offline = " Llamaside is offline now: nothing is being sent." if self.cloud.offline else ""
        self.summary.setText(
            f"{len(records)} requests have left this computer ({chats} with chat messages, "
            f"{total:,} bytes of requests in all{pictures}). Local chats never appear "
            f"here.{offline}"
            if records
            else f"Nothing has left this computer.{offline}"
        )

    @Slot()
    def export(self) -> None:
        path, _filter = QFileDialog.getSaveFileName(
            self, "Export the privacy record", "privacy-record.csv", "CSV (*.csv);;JSON (*.json)"
        )
        if path:
            self.export_to(Path(path))

    def export_to(self, path: Path) -> None:
        try:
            export_record(self.cloud, path)
        except OSError as exc:
            QMessageBox.warning(self, "Export", f"Could not write {path}: {exc.strerror or exc}")
