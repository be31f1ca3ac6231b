"""The model manager's Downloads tab: every download the service knows, and what to do with it.

It lists this run's downloads and those the service restored at start-up (running, paused,
failed, finished), each with what it is doing or why it stopped, and offers only the actions
that apply to the chosen one, from the buttons or the row's context menu.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.core.models import human_size
from desktop.services.downloads import DownloadJob, DownloadManager, JobState

EMPTY_TEXT = (
    "No downloads yet.\n\nPick a quant in the “Llama models” tab, or a GGUF file in the "
    "“Hugging Face” tab, and press Download: it shows up here, and goes on while you chat."
)

#: Which actions apply to a download in each state (the buttons and the menu offer only these).
ACTIONS: dict[JobState, frozenset[str]] = {
    JobState.QUEUED: frozenset({"cancel"}),
    JobState.DOWNLOADING: frozenset({"pause", "cancel"}),
    JobState.PAUSED: frozenset({"resume", "cancel"}),
    JobState.FAILED: frozenset({"resume", "remove"}),
    JobState.DONE: frozenset({"remove"}),
}


def status_text(job: DownloadJob) -> str:
    """What a download is doing, or why it stopped, in words."""
    if job.state != JobState.DOWNLOADING:
        return {
            JobState.QUEUED: "Queued",
            JobState.PAUSED: "Paused — Resume goes on from here",
            JobState.DONE: f"Verified — ready to chat · saved as {job.path}",
            JobState.FAILED: f"Failed: {job.error or 'no reason was given.'}",
        }[job.state]
    if not job.group.files:
        text = "Finding its files on Hugging Face…"
    elif job.cancel.is_set() and not job.resume_pending:
        text = "Pausing…"
    elif job.to_check:
        text = (
            f"Checking what was downloaded before: {human_size(job.checked)} of "
            f"{human_size(job.to_check)}"
        )
    elif job.speed > 0:
        eta = job.eta_s or 0
        left = f"{eta / 60:.0f} min left" if eta > 90 else f"{eta:.0f} s left"
        text = f"Downloading · {human_size(int(job.speed))}/s · {left}"
    else:
        text = "Downloading"
    return text


class DownloadsTab(QWidget):
    """Owns the downloads table, its buttons and menu; every change goes through the service."""

    def __init__(self, downloads: DownloadManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.downloads = downloads
        self.table = QTableWidget(0, 3)
        self.table.setObjectName("Downloads")
        self.table.setAccessibleName("Downloads")
        self.table.setHorizontalHeaderLabels(["Model", "Progress", "Status"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Fixed)
        header.setStretchLastSection(True)
        self.table.setColumnWidth(1, 260)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.empty_label = QLabel(EMPTY_TEXT)
        self.empty_label.setObjectName("No downloads")
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        #: What the last action did, for those whose row goes away (cancel, remove).
        self.note = QLabel("")
        self.note.setAccessibleName("What the last download action did")
        self.note.setWordWrap(True)
        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.cancel_button = QPushButton("Cancel…")
        self.remove_button = QPushButton("Remove from list")
        self.buttons = {
            "pause": self.pause_button,
            "resume": self.resume_button,
            "cancel": self.cancel_button,
            "remove": self.remove_button,
        }
        row = QHBoxLayout()
        row.addWidget(self.note, 1)
        for action, button in self.buttons.items():
            row.addWidget(button)
            # Bind the action now: the row it acts on is read at the click.
            button.clicked.connect(lambda _=False, a=action: self._act_on_selected(a))
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.empty_label, 1)
        layout.addLayout(row)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.customContextMenuRequested.connect(self._show_menu)
        downloads.job_added.connect(self.refresh)
        downloads.job_changed.connect(self._on_job_changed)
        downloads.job_failed.connect(self._on_job_failed)
        self.refresh()

    # -- reading the table --------------------------------------------------------------------

    def _job_at(self, row: int) -> str | None:
        item = self.table.item(row, 0)
        return str(item.data(Qt.ItemDataRole.UserRole)) if item is not None else None

    def _row_of(self, job_id: str) -> int | None:
        for row in range(self.table.rowCount()):
            if self._job_at(row) == job_id:
                return row
        return None

    def selected_job(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self._job_at(rows[0].row()) if rows else None

    def select(self, job_id: str) -> None:
        row = self._row_of(job_id)
        if row is not None:
            self.table.selectRow(row)

    # -- showing ------------------------------------------------------------------------------

    @Slot()
    def refresh(self, *_args: object) -> None:
        """Rebuild the rows; the chosen download stays chosen."""
        chosen = self.selected_job()
        self.table.setRowCount(0)
        for job in self.downloads.jobs.values():
            row = self.table.rowCount()
            self.table.insertRow(row)
            name = QTableWidgetItem(job.group.name)
            name.setData(Qt.ItemDataRole.UserRole, job.id)
            self.table.setItem(row, 0, name)
            bar = QProgressBar()
            bar.setAccessibleName(f"Progress of {job.group.name}")
            bar.setRange(0, 1000)
            self.table.setCellWidget(row, 1, bar)
            self.table.setItem(row, 2, QTableWidgetItem(""))
            self._show_job(row, job)
        has_jobs = bool(self.downloads.jobs)
        self.table.setVisible(has_jobs)
        self.empty_label.setVisible(not has_jobs)
        if chosen is not None:
            self.select(chosen)
        self._update_buttons()

    def _show_job(self, row: int, job: DownloadJob) -> None:
        name = self.table.item(row, 0)
        if name is not None:
            name.setText(job.group.name)  # a catalog quant's files get their own name
            projector = job.group.projector
            eyes = f" + vision projector {projector.path}" if projector is not None else ""
            name.setToolTip(f"{job.repo} · {len(job.group.files)} file(s){eyes}")
        bar = self.table.cellWidget(row, 1)
        if isinstance(bar, QProgressBar):
            bar.setValue(int(1000 * job.done / job.total) if job.total else 0)
            bar.setFormat(f"{human_size(job.done)} / {human_size(job.total)}" if job.total else "–")
        status = self.table.item(row, 2)
        if status is not None:
            text = status_text(job)
            status.setText(text)
            status.setToolTip(text)

    @Slot(str, str)
    def _on_job_failed(self, job_id: str, _message: str) -> None:
        self._on_job_changed(job_id)

    @Slot(str)
    def _on_job_changed(self, job_id: str) -> None:
        row = self._row_of(job_id)
        job = self.downloads.jobs.get(job_id)
        if row is None or job is None:
            self.refresh()  # a job came or went (cancelled, removed)
            return
        self._show_job(row, job)
        if self.selected_job() == job_id:
            self._update_buttons()

    @Slot()
    def _update_buttons(self) -> None:
        job_id = self.selected_job()
        job = self.downloads.jobs.get(job_id) if job_id is not None else None
        allowed = ACTIONS[job.state] if job is not None else frozenset()
        for action, button in self.buttons.items():
            button.setEnabled(action in allowed)
        failed = job is not None and job.state == JobState.FAILED
        self.resume_button.setText("Retry" if failed else "Resume")

    # -- acting -------------------------------------------------------------------------------

    @Slot(QPoint)
    def _show_menu(self, pos: QPoint) -> None:
        """The menu of the row under the pointer, which becomes the chosen row."""
        row = self.table.indexAt(pos).row()
        job_id = self._job_at(row) if row >= 0 else None
        job = self.downloads.jobs.get(job_id) if job_id is not None else None
        if job_id is None or job is None:
            return
        self.table.selectRow(row)
        allowed = ACTIONS[job.state]
        menu = QMenu(self)
        labels = {
            "pause": "Pause",
            "resume": "Retry" if job.state == JobState.FAILED else "Resume",
            "cancel": "Cancel…",
            "remove": "Remove from list",
        }
        for action, label in labels.items():
            entry = menu.addAction(label)
            entry.setEnabled(action in allowed)
            entry.triggered.connect(lambda _=False, a=action, j=job_id: self.act(a, j))
        menu.exec(self.table.viewport().mapToGlobal(pos))

    def _act_on_selected(self, action: str) -> None:
        job_id = self.selected_job()
        if job_id is not None:
            self.act(action, job_id)

    def act(self, action: str, job_id: str) -> None:
        """Pause, resume (retry), cancel or remove one download, if that applies to it now."""
        job = self.downloads.jobs.get(job_id)
        if job is None:
            self.note.setText("That download is no longer in the list.")
            self.refresh()
            return
        name = job.group.name
        if action not in ACTIONS[job.state]:
            # The state moved on between showing the choice and taking it.
            self.note.setText(f"{name} is {job.state.value} now; nothing was done.")
            self._update_buttons()
            return
        self.note.setText("")
        if action == "pause":
            self.downloads.pause(job_id)
        elif action == "resume":
            self.downloads.resume(job_id)
        elif action == "remove":
            failed = job.state == JobState.FAILED
            self.downloads.remove(job_id)
            self.note.setText(
                f"Removed {name} from the list"
                + ("; its partial file was deleted." if failed else "; the model stays.")
            )
        else:
            self._cancel(job_id, name)
        self._on_job_changed(job_id)

    def _cancel(self, job_id: str, name: str) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Cancel download",
            f"Cancel the download of {name}? You can keep what was downloaded so far "
            "to resume later, or delete it.",
            parent=self,
        )
        keep = box.addButton("Keep partial file", QMessageBox.ButtonRole.AcceptRole)
        delete = box.addButton("Delete it", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Don't cancel", QMessageBox.ButtonRole.RejectRole)
        box.exec()
        clicked = box.clickedButton()
        job = self.downloads.jobs.get(job_id)
        if clicked not in (keep, delete) or job is None or "cancel" not in ACTIONS[job.state]:
            return  # kept, or it finished or failed while the question was open
        self.downloads.cancel(job_id, keep_partial=clicked is keep)
        self.note.setText(
            f"Cancelled {name}; "
            + (
                "what was downloaded is kept: downloading it again goes on from there."
                if clicked is keep
                else "its partial file was deleted."
            )
        )
