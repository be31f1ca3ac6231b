"""The model manager: what fits this machine, Hugging Face search, downloads, local files.

Network and hardware queries run through services.Background, so the window never waits on
them; downloads run in services.DownloadManager and go on while the user chats.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, Qt, Slot
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.core.catalog import CatalogModel
from desktop.core.errors import LlamasideError
from desktop.core.fit import (
    Fit,
    Machine,
    Verdict,
    cpu_speedup,
    plan,
    recommend,
    reinstall_command,
    why_recommended,
)
from desktop.core.fit_report import SCOUT_ID, machine_summary, projector_line
from desktop.core.hub_files import GgufGroup
from desktop.core.models import LocalModel, human_size
from desktop.services import model_catalog
from desktop.services.background import Background
from desktop.services.chat import ChatService
from desktop.services.chat_adapters import is_adapter_path
from desktop.services.downloads import DownloadManager
from desktop.ui.design import Tone, set_tone
from desktop.ui.downloads_tab import DownloadsTab
from desktop.ui.model_settings_dialog import open_model_settings
from desktop.ui.screen_fit import fit_to_screen
from desktop.ui.tone_colours import TableTones, set_item_tone

_VERDICT_TEXT: dict[Verdict, tuple[str, Tone]] = {
    Verdict.FULL_GPU: ("All on the GPU", "success"),
    Verdict.EXPERTS_IN_RAM: ("Experts of {n} layers in RAM", "accent"),
    Verdict.PARTIAL_GPU: ("{g} layers on the GPU", "warning"),
    Verdict.CPU_ONLY: ("CPU only (slow)", "warning"),
    Verdict.NO_FIT: ("Does not fit", "danger"),
}


def _table(headers: list[str], name: str, stretch: tuple[int, ...] = (0,)) -> QTableWidget:
    """A read-only table whose ``stretch`` columns (the names) take the room the others, sized
    to their content, leave: a long name is cut last, never the short numbers after it."""
    table = QTableWidget(0, len(headers))
    table.setObjectName(name)
    table.setAccessibleName(name)
    table.setHorizontalHeaderLabels(headers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    for column in stretch:
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)
    header.setStretchLastSection(False)
    return table


def _item(text: str, data: Any = None) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    if data is not None:
        item.setData(Qt.ItemDataRole.UserRole, data)
    return item


class ModelsDialog(QDialog):
    """The model manager's tabs: catalog and fit, Hugging Face, downloads, local files."""

    def __init__(
        self, chat: ChatService, downloads: DownloadManager, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models — Llamaside")
        fit_to_screen(self, 980, 620)
        self.chat = chat
        self.downloads = downloads
        self.background = Background(self)
        self.background.done.connect(self._on_background_done)
        self.background.failed.connect(self._on_background_failed)
        self.catalog = model_catalog.catalog()
        self.machine: Machine | None = None
        self.fits: list[Fit] = []
        self.groups: list[Any] = []
        self.repo = ""
        self._download_best_when_ready = False

        self.tabs = QTabWidget(self)
        self.tabs.addTab(self._build_catalog_tab(), "Llama models")
        self.tabs.addTab(self._build_hub_tab(), "Hugging Face")
        self.downloads_tab = DownloadsTab(downloads)
        self.downloads_table = self.downloads_tab.table
        self.tabs.addTab(self.downloads_tab, "Downloads")
        self.tabs.addTab(self._build_local_tab(), "On this computer")
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)

        downloads.job_finished.connect(self._on_job_finished)
        self._refresh_local()
        models_dir = chat.models_dir
        self.background.call("machine", lambda: model_catalog.detect_machine(models_dir))

    # -- catalog and fit ----------------------------------------------------------------------

    def _build_catalog_tab(self) -> QWidget:
        tab = QWidget()
        self.model_combo = QComboBox()
        self.model_combo.setAccessibleName("Catalog model")
        for model in self.catalog.models:
            if not model.bundled:
                self.model_combo.addItem(model.name, model.id)
        self.model_combo.setCurrentIndex(max(0, self.model_combo.findData(SCOUT_ID)))
        self.ctx_spin = QSpinBox()
        self.ctx_spin.setAccessibleName("Context size in tokens")
        self.ctx_spin.setRange(1024, 1_048_576)
        self.ctx_spin.setSingleStep(1024)
        self.ctx_spin.setValue(self._model().default_context)
        self.machine_label = QLabel("Checking this machine…")
        self.machine_label.setWordWrap(True)
        self.machine_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.advice_label = QLabel("")
        self.advice_label.setWordWrap(True)
        self.advice_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.fit_table = _table(
            ["Publisher", "Quant", "Size", "How it runs here", "GPU", "RAM"],
            "Quants and how they fit",
            stretch=(3,),
        )
        self.fit_tones = TableTones(self.fit_table)  # the verdicts follow a theme switch
        self.download_quant_button = QPushButton("Download selected quant")
        self.download_quant_button.setEnabled(False)
        row = QHBoxLayout()
        row.addWidget(QLabel("Model:"))
        row.addWidget(self.model_combo, 1)
        row.addWidget(QLabel("Context:"))
        row.addWidget(self.ctx_spin)
        layout = QVBoxLayout(tab)
        layout.addLayout(row)
        layout.addWidget(self.machine_label)
        layout.addWidget(self.fit_table, 1)
        layout.addWidget(self.advice_label)
        layout.addWidget(self.download_quant_button, 0, Qt.AlignmentFlag.AlignRight)
        self.model_combo.currentIndexChanged.connect(self._on_model_changed)
        self.ctx_spin.valueChanged.connect(self._refresh_fit)
        self.fit_table.itemSelectionChanged.connect(
            lambda: self.download_quant_button.setEnabled(bool(self.fit_table.selectedItems()))
        )
        self.download_quant_button.clicked.connect(self._download_selected_quant)
        return tab

    def _model(self) -> CatalogModel:
        return self.catalog.get(str(self.model_combo.currentData() or SCOUT_ID))

    @Slot(int)
    def _on_model_changed(self, _index: int) -> None:
        self.ctx_spin.blockSignals(True)
        self.ctx_spin.setValue(self._model().default_context)
        self.ctx_spin.blockSignals(False)
        self._refresh_fit()

    @Slot()
    def _refresh_fit(self) -> None:
        if self.machine is None:
            return
        model = self._model()
        self.fits = plan(model, self.machine, self.ctx_spin.value())
        best = recommend(self.fits)
        # On a CPU the recommendation is not the biggest quant that runs: the row says why.
        speedup = cpu_speedup(best, self.fits) if best is not None else None
        self.fit_table.setRowCount(0)
        for fit in self.fits:
            row = self.fit_table.rowCount()
            self.fit_table.insertRow(row)
            text, tone = _VERDICT_TEXT[fit.verdict]
            mark = ""
            if fit is best:
                mark = f"  ★ recommended: {speedup}" if speedup else "  ★ recommended"
            verdict = QTableWidgetItem(text.format(n=fit.n_cpu_moe, g=fit.n_gpu_layers) + mark)
            size = human_size(fit.quant.size_bytes) + (" (approx.)" if fit.quant.approx else "")
            cells = [
                _item(fit.quant.publisher, row),
                _item(fit.quant.quant),
                _item(size),
                verdict,
                _item(human_size(fit.gpu_bytes) if fit.gpu_bytes else "–"),
                _item(human_size(fit.ram_bytes) if fit.ram_bytes else "–"),
            ]
            for column, cell in enumerate(cells):
                if fit is best:
                    font = QFont(cell.font())
                    font.setBold(True)
                    cell.setFont(font)
                why = why_recommended(fit, self.fits) if fit is best else fit.describe()
                cell.setToolTip(f"{fit.quant.repo} · {why}")
                self.fit_table.setItem(row, column, cell)
            set_item_tone(self.fit_table, row, 3, tone)  # the verdict's words carry its tone
        kv = human_size(self.fits[0].kv_bytes) if self.fits else "?"
        advice = [f"The KV cache for {self.ctx_spin.value():,} tokens takes {kv}."]
        seen: set[str] = set()
        for fit in self.fits:  # counted in GPU/RAM above, shown once per repo
            line = projector_line(fit)
            if line is not None and fit.quant.repo not in seen:
                seen.add(fit.quant.repo)
                advice.append(html.escape(f"{fit.quant.publisher}: {line}."))
        if best is not None:
            advice.insert(
                0,
                f"<b>Recommended:</b> {html.escape(best.quant.publisher)} "
                f"{html.escape(best.quant.quant)} — "
                f"{html.escape(why_recommended(best, self.fits))}.",
            )
        else:
            advice.insert(
                0,
                f"<b>No quant of {html.escape(model.name)} fits this machine.</b> "
                "Try Llama 3.1 8B or Llama 3.2 3B.",
            )
        fix = reinstall_command(self.machine.system, self.machine.gpus)
        if self.machine.gpus and not self.machine.offload_supported and fix:
            advice.append(
                "This llama-cpp-python cannot use your GPU. Reinstall it with GPU "
                f"support: <code>{html.escape(fix)}</code>"
            )
        self.advice_label.setText("<br/>".join(advice))

    def download_recommended(self) -> None:
        """Start downloading the recommended Llama 4 Scout quant (once this machine is known)."""
        self.tabs.setCurrentIndex(0)
        index = self.model_combo.findData(SCOUT_ID)
        if index >= 0 and self.model_combo.currentIndex() != index:
            self.model_combo.setCurrentIndex(index)
        if self.machine is None:
            self._download_best_when_ready = True
            return
        best = recommend(self.fits)
        if best is None:
            self.advice_label.setText("No Llama 4 Scout quant fits this machine.")
            return
        self.fit_table.selectRow(self.fits.index(best))
        self._download_selected_quant()

    @Slot()
    def _download_selected_quant(self) -> None:
        rows = self.fit_table.selectionModel().selectedRows()
        if not rows:
            return
        fit = self.fits[rows[0].row()]
        if fit.verdict == Verdict.NO_FIT:
            answer = QMessageBox.question(
                self,
                "Download anyway?",
                f"{fit.quant.quant} does not fit this machine ({human_size(fit.total_bytes)} "
                "needed). Download it anyway?",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        quant = fit.quant
        # The service lists it from now on, so a lookup that fails shows in Downloads with why.
        job_id = self.downloads.start_catalog(quant, f"{self._model().name} {quant.quant}")
        self._show_download(job_id)

    # -- Hugging Face -------------------------------------------------------------------------

    def _build_hub_tab(self) -> QWidget:
        tab = QWidget()
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Search GGUF models, e.g. llama 4 scout")
        self.search_edit.setAccessibleName("Search Hugging Face")
        self.search_button = QPushButton("Search")
        self.repo_edit = QLineEdit()
        self.repo_edit.setPlaceholderText("…or paste a repo: owner/name")
        self.repo_edit.setAccessibleName("Hugging Face repo")
        self.files_button = QPushButton("Show GGUF files")
        self.results_table = _table(["Repo", "Downloads"], "Search results")
        self.files_table = _table(["File", "Size", "Parts"], "GGUF files")
        self.hub_status = QLabel("")
        self.hub_status.setWordWrap(True)
        self.download_file_button = QPushButton("Download selected file")
        self.download_file_button.setEnabled(False)
        self.token_button = QPushButton("Token…")
        self.token_button.setAccessibleName("Hugging Face token for gated models")
        self.token_label = QLabel("")
        self.token_label.setAccessibleName("Hugging Face token status")
        search_row = QHBoxLayout()
        search_row.addWidget(self.search_edit, 1)
        search_row.addWidget(self.search_button)
        repo_row = QHBoxLayout()
        repo_row.addWidget(self.repo_edit, 1)
        repo_row.addWidget(self.files_button)
        tables = QHBoxLayout()
        tables.addWidget(self.results_table, 1)
        tables.addWidget(self.files_table, 2)
        layout = QVBoxLayout(tab)
        layout.addLayout(search_row)
        layout.addLayout(repo_row)
        layout.addLayout(tables, 1)
        layout.addWidget(self.hub_status)
        bottom = QHBoxLayout()
        bottom.addWidget(self.token_button)
        bottom.addWidget(self.token_label, 1)
        bottom.addWidget(self.download_file_button)
        layout.addLayout(bottom)
        self.token_button.clicked.connect(self._edit_token)
        self._show_token_source()
        self.search_button.clicked.connect(self._search)
        self.search_edit.returnPressed.connect(self._search)
        self.files_button.clicked.connect(self._list_files)
        self.repo_edit.returnPressed.connect(self._list_files)
        self.results_table.itemDoubleClicked.connect(self._on_result_chosen)
        self.files_table.itemSelectionChanged.connect(
            lambda: self.download_file_button.setEnabled(bool(self.files_table.selectedItems()))
        )
        self.download_file_button.clicked.connect(self._download_selected_file)
        return tab

    def _show_token_source(self) -> None:
        self.token_label.setText(f"Hugging Face token: {model_catalog.hf_token_source()}")

    @Slot()
    def _edit_token(self) -> None:
        """The token goes to the system keyring only; the field never shows it back."""
        value, ok = QInputDialog.getText(
            self,
            "Hugging Face token",
            "Paste a Hugging Face access token (for gated models such as Meta's).\n"
            "It is stored in the system keyring, nowhere else. Leave empty to delete it.",
            QLineEdit.EchoMode.Password,
        )
        if not ok:
            return
        try:
            if value.strip():
                model_catalog.save_hf_token(value)
            else:
                model_catalog.delete_hf_token()
        except LlamasideError as exc:
            QMessageBox.warning(self, "Hugging Face token", str(exc))
        self._show_token_source()

    @Slot()
    def _search(self) -> None:
        query = self.search_edit.text().strip()
        if query:
            self.hub_status.setText("Searching…")
            network = self.downloads.network
            self.background.call("search", lambda: model_catalog.search(query, network))

    @Slot(QTableWidgetItem)
    def _on_result_chosen(self, item: QTableWidgetItem) -> None:
        chosen = self.results_table.item(item.row(), 0)
        if chosen is not None:
            self.repo_edit.setText(chosen.text())
        self._list_files()

    @Slot()
    def _list_files(self) -> None:
        repo = self.repo_edit.text().strip().removeprefix("https://huggingface.co/").strip("/")
        if repo.count("/") != 1:
            self.hub_status.setText("A repo looks like owner/name.")
            return
        self.hub_status.setText(f"Listing {repo}…")
        network = self.downloads.network
        self.background.call("files", lambda: (repo, model_catalog.repo_models(repo, network)))

    @Slot()
    def _download_selected_file(self) -> None:
        rows = self.files_table.selectionModel().selectedRows()
        if rows:
            self._start_download(self.repo, self.groups[rows[0].row()])

    def _start_download(self, repo: str, group: GgufGroup) -> None:
        self._show_download(self.downloads.start(repo, group))

    def _show_download(self, job_id: str) -> None:
        self.tabs.setCurrentWidget(self.downloads_tab)
        self.downloads_tab.select(job_id)

    # -- background results -------------------------------------------------------------------

    @Slot(str, object)
    def _on_background_done(self, tag: str, result: Any) -> None:
        if tag == "machine":
            self.machine = result
            self.machine_label.setText("This machine: " + machine_summary(result))
            self._refresh_fit()
            if self._download_best_when_ready:
                self._download_best_when_ready = False
                self.download_recommended()
        elif tag == "search":
            self.results_table.setRowCount(0)
            for repo in result:
                row = self.results_table.rowCount()
                self.results_table.insertRow(row)
                self.results_table.setItem(row, 0, _item(repo.repo))
                self.results_table.setItem(row, 1, _item(f"{repo.downloads:,}"))
            self.hub_status.setText(f"{len(result)} repos. Double-click one to see its files.")
        elif tag == "files":
            # The repo travels with its result: a later listing cannot mislabel this one.
            self.repo, groups = result
            self.groups = list(groups)
            self.files_table.setRowCount(0)
            for group in self.groups:
                row = self.files_table.rowCount()
                self.files_table.insertRow(row)
                self.files_table.setItem(row, 0, _item(group.name))
                self.files_table.setItem(row, 1, _item(human_size(group.size)))
                self.files_table.setItem(row, 2, _item(str(len(group.files))))
            self.hub_status.setText(f"{self.repo}: {len(self.groups)} GGUF models.")

    @Slot(str, str)
    def _on_background_failed(self, tag: str, message: str) -> None:
        if tag == "machine":
            self.machine_label.setText(f"Could not check this machine: {message}")
        else:
            self.hub_status.setText(message)

    # -- downloads ----------------------------------------------------------------------------

    @Slot(str, str)
    def _on_job_finished(self, _job_id: str, _path: str) -> None:
        self.chat.refresh_models()
        self._refresh_local()

    # -- local models -------------------------------------------------------------------------

    def _build_local_tab(self) -> QWidget:
        tab = QWidget()
        self.local_table = _table(
            ["Model id", "Size", "State", "Where", "Sees images"],
            "Models on this computer",
            stretch=(0, 3),
        )
        # Right-click a row: add, change or remove the model's vision projector.
        self.local_table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.local_table.customContextMenuRequested.connect(self._on_local_menu)
        self.import_button = QPushButton("Import GGUF file…")
        self.import_button.clicked.connect(self._import)
        #: What the last import did (or why the file was refused).
        self.import_note = QLabel("")
        self.import_note.setObjectName("importNote")
        self.import_note.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.import_note, 1)
        row.addWidget(self.import_button, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(tab)
        layout.addWidget(self.local_table, 1)
        layout.addLayout(row)
        return tab

    def _refresh_local(self) -> None:
        self.local_table.setRowCount(0)
        for model in self.chat.models:
            row = self.local_table.rowCount()
            self.local_table.insertRow(row)
            failed = self.chat.model_error(model)
            self.local_table.setItem(row, 0, _item(model.id, model.id))
            self.local_table.setItem(row, 1, _item(human_size(model.size_bytes)))
            eyes = _item("👁 vision" if model.mmproj else "–")
            eyes.setToolTip(
                f"Sees images with {model.mmproj}" if model.mmproj else "Text only: no projector"
            )
            self.local_table.setItem(row, 4, eyes)
            state = _item("⚠ failed to load" if failed else "Ready")
            state.setToolTip(failed or "It loaded, or has not been tried yet")
            self.local_table.setItem(row, 2, state)
            self.local_table.setItem(row, 3, _item(model.path))
        for adapter in self.chat.adapter_files():  # fine-tunes: chosen beside a model, not alone
            row = self.local_table.rowCount()
            self.local_table.insertRow(row)
            kind = f"LoRA adapter ({adapter.architecture or '?'})"
            cells = (adapter.name, human_size(adapter.size_bytes), kind, adapter.path, "–")
            for column, text in enumerate(cells):
                self.local_table.setItem(row, column, _item(text))

    def _local_model(self, row: int) -> LocalModel | None:
        item = self.local_table.item(row, 0)
        model_id = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        return next((m for m in self.chat.models if m.id == model_id), None)

    @Slot(QPoint)
    def _on_local_menu(self, at: QPoint) -> None:
        model = self._local_model(self.local_table.rowAt(at.y()))
        if model is None:
            return
        menu = QMenu(self)
        menu.setObjectName("localModelMenu")
        add = menu.addAction(
            "Change vision projector…" if model.mmproj else "Add vision projector…"
        )
        add.triggered.connect(lambda: self._choose_projector(model))
        remove = menu.addAction("Remove vision projector")
        remove.setEnabled(bool(model.mmproj))
        remove.triggered.connect(lambda: self._set_projector(model, ""))
        menu.addSeparator()
        settings = menu.addAction("Load settings…")
        settings.triggered.connect(lambda: open_model_settings(self.chat, model, self))
        menu.popup(self.local_table.viewport().mapToGlobal(at))

    def _choose_projector(self, model: LocalModel) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            f"Vision projector for {model.name}",
            str(Path(model.path).parent),
            "Vision projectors (*mmproj*.gguf);;GGUF files (*.gguf)",
        )
        if path:
            self._set_projector(model, path)

    def _set_projector(self, model: LocalModel, mmproj: str) -> None:
        """Kept for the model's file ("" keeps it blind even with a projector beside it)."""
        try:
            model_catalog.pair_projector(self.chat.store, model.path, mmproj)
        except LlamasideError as exc:
            self.import_note.setText(f"{exc} Nothing was changed.")
            set_tone(self.import_note, "danger")
            return
        self.chat.refresh_models()
        done = f"sees images with {Path(mmproj).name}" if mmproj else "no longer sees images"
        self.import_note.setText(f"{model.name} {done}.")
        set_tone(self.import_note, None)
        self._refresh_local()

    @Slot()
    def _import(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Import a GGUF model (and its vision projector)", "", "GGUF models (*.gguf)"
        )
        if not paths:
            return
        if len(paths) == 1 and is_adapter_path(paths[0]):
            try:
                added = self.chat.add_adapter_file(paths[0], None).file.name
            except LlamasideError as exc:
                self.import_note.setText(f"{exc} It was not added.")
                return
            self.import_note.setText(f"Added the LoRA adapter {added}: choose it beside a model.")
            self._refresh_local()
            return
        models, projectors = model_catalog.split_picks(paths)
        if len(models) != 1 or len(projectors) > 1:
            self.import_note.setText(
                "That is a vision projector (mmproj), not a model: pick its model with it."
                if not models
                else "Pick one model, and at most one vision projector (mmproj) with it."
            )
            set_tone(self.import_note, "danger")
            return
        try:
            model = self.chat.add_model_file(models[0])
            if projectors:
                model_catalog.pair_projector(self.chat.store, model.path, projectors[0])
                self.chat.refresh_models()
        except LlamasideError as exc:
            # Checked now: a file that cannot be a model is never listed.
            self.import_note.setText(f"{exc} It was not added.")
            set_tone(self.import_note, "danger")
            return
        self.import_note.setText(f"Added {model.name}: new chats start on it.")
        set_tone(self.import_note, None)
        self._refresh_local()

    def closeEvent(self, event: Any) -> None:
        self.background.wait(0.1)
        super().closeEvent(event)
