"""The compare window: one prompt to 2-4 models, answers streaming side by side with their
metrics (the best in each row highlighted) and a bar chart; blind A/B voting; batches.

Each column is a ChatView (the same incremental streaming as the chat), its own Stop, and a
Focus button that gives it the width while the others collapse. The model set is remembered,
but a model that failed to load last time is never chosen for the user: it is marked, and
warned about when they choose it. Past comparisons are a list; each row has its own menu.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, QRectF, Qt, Signal, Slot
from PySide6.QtGui import (
    QCloseEvent,
    QColor,
    QFont,
    QPainter,
    QPaintEvent,
    QPalette,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.core.compare import (
    MAX_COLUMNS,
    METRICS,
    MIN_COLUMNS,
    ColumnAnswer,
    best_columns,
    format_metric,
    metrics_of,
)
from desktop.core.errors import LlamasideError
from desktop.core.models import CloudModel, LocalModel
from desktop.core.ratings import A_WINS, B_WINS, BOTH_BAD, TIE
from desktop.services.chat import ChatService
from desktop.services.compare import CompareSession
from desktop.ui.batch_dialog import FAILED_MARK, BatchDialog
from desktop.ui.chat_view import ChatView
from desktop.ui.leaderboard_dialog import LeaderboardDialog
from desktop.ui.widgets import InputBox

BEST_BACKGROUND = QColor("#d5f5e3")
#: Text on the best cells: dark, since the light green is the same in both themes.
BEST_TEXT = QColor("#145a32")
BAR_COLOURS = ("#2e86c1", "#b9770e", "#7d3c98", "#1e8449")
#: Where a history row keeps its comparison's id.
PAST_ID = Qt.ItemDataRole.UserRole


class BarChart(QWidget):
    """Tokens/s and time to first token per column, as two groups of bars."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Speed chart")
        self.setMinimumHeight(110)
        self.labels: list[str] = []
        self.groups: list[tuple[str, list[float | None]]] = []

    def set_data(self, labels: list[str], groups: list[tuple[str, list[float | None]]]) -> None:
        self.labels, self.groups = labels, groups
        self.update()

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        width, height = self.width(), self.height()
        if not self.groups:
            return
        group_width = width / len(self.groups)
        small = QFont(self.font())
        small.setPointSizeF(max(7.0, small.pointSizeF() - 1))
        painter.setFont(small)
        for g, (title, values) in enumerate(self.groups):
            left = g * group_width + 10
            # Theme colours: fixed greys vanish on a dark background.
            text_colour = self.palette().color(QPalette.ColorRole.WindowText)
            painter.setPen(text_colour)
            painter.drawText(QRectF(left, 0, group_width - 20, 16), title)
            known = [v for v in values if v is not None]
            top = max(known) if known else 1.0
            bar_area = height - 40
            bar_width = (group_width - 20) / max(1, len(values))
            for i, value in enumerate(values):
                x = left + i * bar_width
                if value is None:
                    continue
                bar = 0 if top <= 0 else bar_area * value / top
                colour = QColor(BAR_COLOURS[i % len(BAR_COLOURS)])
                painter.fillRect(QRectF(x + 4, 20 + bar_area - bar, bar_width - 8, bar), colour)
                painter.setPen(text_colour)
                text = f"{value:.1f}" if value >= 1 else f"{value:.2f}"
                painter.drawText(
                    QRectF(x, height - 18, bar_width, 16), Qt.AlignmentFlag.AlignCenter, text
                )
        painter.end()


class ColumnWidget(QWidget):
    """One model's answers: header, Stop and Focus, and the streamed text.

    Signals:
        stop_requested(int), focus_requested(int): the column's slot.
    """

    stop_requested = Signal(int)
    focus_requested = Signal(int)

    def __init__(self, slot: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slot = slot
        self.title = QLabel(self)
        self.title.setObjectName(f"columnTitle{slot}")
        self.title.setStyleSheet("font-weight: bold")
        self.title.setAccessibleName(f"Column {slot + 1} model")
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setAccessibleName(f"Stop column {slot + 1}")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(lambda: self.stop_requested.emit(self.slot))
        self.focus_button = QPushButton("Focus", self)
        self.focus_button.setCheckable(True)
        self.focus_button.setAccessibleName(f"Focus column {slot + 1}")
        self.focus_button.clicked.connect(lambda: self.focus_requested.emit(self.slot))
        self.view = ChatView(self)
        self.view.setAccessibleName(f"Answers of column {slot + 1}")
        self.view.placeholder_html = "<p style='color:#888'>Answers appear here.</p>"
        self.view.show_messages([], {})
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.focus_button)
        top.addWidget(self.stop_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)


class CompareWindow(QWidget):
    """Lays out and wires the comparison: pickers, columns, metrics, votes, history.

    Signals:
        closed(): the window closed (its engines ended, its streams saved).
    """

    closed = Signal()

    def __init__(self, chat: ChatService, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.chat = chat
        self.session: CompareSession | None = None
        self.columns: list[ColumnWidget] = []
        self.rng: random.Random | None = None  # tests seed it; None: fresh randomness
        self._count = MIN_COLUMNS
        #: The pickers whose model the user chose themselves (which may be a failed one).
        self._picked: set[int] = set()
        self.setWindowTitle("Compare models — Llamaside")
        self.setObjectName("compareWindow")
        self.resize(1280, 820)
        self._build()
        self._restore_models()
        self._refresh_past()
        chat.models_changed.connect(self._on_models_changed)

    # -- construction -------------------------------------------------------------------------

    def _build(self) -> None:
        self.pickers: list[QComboBox] = []
        #: Under each picker: why its model failed to load last time, if it did.
        self.warnings: list[QLabel] = []
        pick_row = QHBoxLayout()
        pick_row.addWidget(QLabel("Models:", self), 0, Qt.AlignmentFlag.AlignTop)
        for index in range(MAX_COLUMNS):
            picker = QComboBox(self)
            picker.setAccessibleName(f"Model for column {index + 1}")
            picker.setPlaceholderText("Choose a model…")
            # Long model names must not make the window wider than a laptop screen.
            picker.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            picker.setMinimumContentsLength(16)
            picker.activated.connect(lambda _index, slot=index: self._picked.add(slot))
            picker.currentIndexChanged.connect(lambda _index: self._refresh_warnings())
            warning = QLabel(self)
            warning.setObjectName(f"failedWarning{index}")
            warning.setWordWrap(True)
            warning.setTextFormat(Qt.TextFormat.PlainText)  # a reason is not markup
            warning.setStyleSheet("color: #a93226")
            warning.hide()
            self.pickers.append(picker)
            self.warnings.append(warning)
            stack = QVBoxLayout()
            stack.addWidget(picker)
            stack.addWidget(warning)
            stack.addStretch(1)
            pick_row.addLayout(stack)
        self.add_button = QPushButton("+", self)
        self.add_button.setAccessibleName("Add a column")
        self.add_button.clicked.connect(lambda: self._set_count(self._count + 1))
        self.remove_button = QPushButton("−", self)
        self.remove_button.setAccessibleName("Remove the last column")
        self.remove_button.clicked.connect(lambda: self._set_count(self._count - 1))
        self.blind_box = QCheckBox("Blind A/B", self)
        self.blind_box.setAccessibleName("Blind mode: two models, names hidden until you vote")
        self.blind_box.toggled.connect(self._on_blind_toggled)
        self.tag_edit = QLineEdit(self)
        self.tag_edit.setPlaceholderText("tag (e.g. coding)")
        self.tag_edit.setAccessibleName("Tag for this comparison's votes")
        self.tag_edit.setMinimumWidth(110)
        self.tag_edit.setMaximumWidth(160)
        self.new_button = QPushButton("New comparison", self)
        self.new_button.clicked.connect(self.new_comparison)
        pick_row.addWidget(self.add_button, 0, Qt.AlignmentFlag.AlignTop)
        pick_row.addWidget(self.remove_button, 0, Qt.AlignmentFlag.AlignTop)
        pick_row.addStretch(1)
        # A second row: one row for four pickers and every button is wider than a laptop.
        mode_row = QHBoxLayout()
        mode_row.addWidget(self.blind_box)
        mode_row.addWidget(self.tag_edit)
        mode_row.addStretch(1)
        self.batch_button = QPushButton("Batch…", self)
        self.batch_button.setAccessibleName("Run a prompt file through these models")
        self.batch_button.clicked.connect(self.show_batch)
        self.leaderboard_button = QPushButton("Leaderboard…", self)
        self.leaderboard_button.clicked.connect(self.show_leaderboard)
        mode_row.addWidget(self.new_button)
        mode_row.addWidget(self.batch_button)
        mode_row.addWidget(self.leaderboard_button)

        self.notice = QLabel(self)
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet("color: #7d6608")
        self.notice.hide()
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setChildrenCollapsible(True)
        self.history = QListWidget(self)
        self.history.setObjectName("compareHistory")
        self.history.setAccessibleName("Past comparisons: Enter reopens one, the menu key more")
        self.history.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.history.customContextMenuRequested.connect(self._on_history_menu)
        # Enter or a double click: a mere selection (a right-click) must not end the comparison.
        self.history.itemActivated.connect(lambda item: self.open_past(int(item.data(PAST_ID))))
        history_box = QWidget(self)
        history_layout = QVBoxLayout(history_box)
        history_layout.setContentsMargins(0, 0, 0, 0)
        history_layout.addWidget(QLabel("Past comparisons", history_box))
        history_layout.addWidget(self.history, 1)
        # In a box of its own: a splitter without columns has a maximum width of 0, and the
        # history would take the whole width until the first prompt.
        columns_box = QWidget(self)
        columns_box.setMinimumWidth(320)
        columns_layout = QVBoxLayout(columns_box)
        columns_layout.setContentsMargins(0, 0, 0, 0)
        columns_layout.addWidget(self.splitter)
        self.body = QSplitter(Qt.Orientation.Horizontal, self)
        self.body.addWidget(history_box)
        self.body.addWidget(columns_box)
        self.body.setCollapsible(1, False)
        self.body.setStretchFactor(1, 1)

        self.metrics_table = QTableWidget(len(METRICS), 0, self)
        self.metrics_table.setObjectName("metricsTable")
        self.metrics_table.setAccessibleName("Metrics of the latest answers")
        self.metrics_table.setVerticalHeaderLabels([m.label for m in METRICS])
        self.metrics_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.metrics_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        # Tall enough for every row, without a scroll bar.
        row_height = self.metrics_table.verticalHeader().defaultSectionSize()
        self.metrics_table.setFixedHeight(row_height * len(METRICS) + 34)
        self.chart = BarChart(self)
        bottom_info = QHBoxLayout()
        bottom_info.addWidget(self.metrics_table, 3)
        bottom_info.addWidget(self.chart, 2)

        self.vote_bar = QWidget(self)
        vote_layout = QHBoxLayout(self.vote_bar)
        vote_layout.setContentsMargins(0, 0, 0, 0)
        self.vote_label = QLabel("Which answer is better?", self.vote_bar)
        vote_layout.addWidget(self.vote_label, 1)
        self.vote_buttons: dict[str, QPushButton] = {}
        for winner, text in (
            (A_WINS, "A is better"),
            (B_WINS, "B is better"),
            (TIE, "Tie"),
            (BOTH_BAD, "Both are bad"),
        ):
            button = QPushButton(text, self.vote_bar)
            button.setAccessibleName(f"Vote: {text}")
            button.clicked.connect(lambda _checked=False, w=winner: self.vote(w))
            self.vote_buttons[winner] = button
            vote_layout.addWidget(button)
        self.vote_bar.hide()

        self.input_box = InputBox(self)
        self.input_box.setPlaceholderText("One prompt for every model — Enter sends")
        self.input_box.submitted.connect(self.send)
        self.send_button = QPushButton("Send to all", self)
        self.send_button.setAccessibleName("Send to every model")
        self.send_button.clicked.connect(self.send)
        self.stop_all_button = QPushButton("Stop all", self)
        self.stop_all_button.setAccessibleName("Stop every column")
        self.stop_all_button.setEnabled(False)
        self.stop_all_button.clicked.connect(self.stop_all)
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_all_button)
        buttons.addStretch(1)
        input_row = QHBoxLayout()
        input_row.addWidget(self.input_box, 1)
        input_row.addLayout(buttons)

        layout = QVBoxLayout(self)
        layout.addLayout(pick_row)
        layout.addLayout(mode_row)
        layout.addWidget(self.notice)
        layout.addWidget(self.body, 1)
        layout.addLayout(bottom_info)
        layout.addWidget(self.vote_bar)
        layout.addLayout(input_row)
        self._count = MIN_COLUMNS

    def _all_models(self) -> list[LocalModel | CloudModel]:
        return self.chat.all_models

    def _fill_pickers(self, chosen: list[str], on_purpose: set[int] | None = None) -> list[str]:
        """Picker i shows chosen[i], unless that model failed to load last time and the user
        did not pick it there themselves (on_purpose: the pickers they did). A picker left
        without a model gets the first local model not marked failed that no other picker
        shows, or stays empty: a cloud model is never chosen for the user (the prompt would
        leave the computer without their choice). Returns the failed models left out."""
        models = self._all_models()
        by_id = {m.id: m for m in models}
        errors = self.chat.model_errors()
        kept = on_purpose or set()
        picks: list[str | None] = []
        left_out: list[str] = []
        for index in range(len(self.pickers)):
            model = by_id.get(chosen[index]) if index < len(chosen) else None
            if model is not None and _reason(model, errors) and index not in kept:
                left_out.append(model.name)
                model = None
            picks.append(model.id if model is not None else None)
        spare = [m.id for m in self.chat.models if not _reason(m, errors) and m.id not in picks]
        for index, pick in enumerate(picks):
            if pick is None and spare:
                picks[index] = spare.pop(0)
        for picker, pick in zip(self.pickers, picks, strict=True):
            picker.blockSignals(True)
            picker.clear()
            for model in models:
                failed = _reason(model, errors)
                prefix = "☁ " if isinstance(model, CloudModel) else ""
                picker.addItem(prefix + model.name + (FAILED_MARK if failed else ""), model.id)
                if isinstance(model, LocalModel):
                    tip = f"{model.path}\n{failed}" if failed else model.path
                    picker.setItemData(picker.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
            picker.setCurrentIndex(picker.findData(pick) if pick is not None else -1)
            picker.blockSignals(False)
        self._picked = set(kept)
        self._refresh_warnings()
        return left_out

    def _restore_models(self) -> None:
        saved = self.chat.settings.get("compare_models", [])
        chosen = [str(m) for m in saved] if isinstance(saved, list) else []
        left_out = self._fill_pickers(chosen)
        self._set_count(max(MIN_COLUMNS, min(MAX_COLUMNS, len(chosen) or MIN_COLUMNS)))
        if left_out:
            self._show_notice(_left_out_text(left_out))

    def _refresh_warnings(self) -> None:
        """A chosen model that failed to load last time says so under its picker, with why."""
        by_id = {m.id: m for m in self._all_models()}
        for index, (picker, warning) in enumerate(zip(self.pickers, self.warnings, strict=True)):
            model = by_id.get(str(picker.currentData()))
            reason = self.chat.model_error(model) if model is not None else None
            warning.setText(f"⚠ Failed to load last time: {reason}" if reason else "")
            picker.setToolTip(f"Failed to load last time: {reason}" if reason else "")
            warning.setVisible(bool(reason) and index < self._count)

    @Slot()
    def _on_models_changed(self) -> None:
        # A model was added, removed or marked failed: the pickers say so, the choices stay.
        if self.session is None:
            chosen = [str(p.currentData()) for p in self.pickers]
            left_out = self._fill_pickers(chosen, self._picked)
            if left_out:
                self._show_notice(_left_out_text(left_out))

    def _set_count(self, count: int) -> None:
        if self.blind_box.isChecked():
            count = 2
        self._count = max(MIN_COLUMNS, min(MAX_COLUMNS, count))
        for index, picker in enumerate(self.pickers):
            picker.setVisible(index < self._count)
        self.add_button.setEnabled(self._count < MAX_COLUMNS and not self.blind_box.isChecked())
        self.remove_button.setEnabled(self._count > MIN_COLUMNS)
        self._refresh_warnings()

    @Slot(bool)
    def _on_blind_toggled(self, blind: bool) -> None:
        self._set_count(2 if blind else self._count)

    def chosen_models(self) -> list[LocalModel | CloudModel]:
        by_id = {m.id: m for m in self._all_models()}
        chosen = []
        for picker in self.pickers[: self._count]:
            model = by_id.get(str(picker.currentData()))
            if model is not None:
                chosen.append(model)
        return chosen

    # -- session ------------------------------------------------------------------------------

    def _start_session(self) -> CompareSession | None:
        empty = [i + 1 for i, p in enumerate(self.pickers[: self._count]) if p.currentIndex() < 0]
        if empty:
            self._show_notice(f"Choose a model for column {empty[0]}.")
            return None
        models = self.chosen_models()
        self.chat.settings.set("compare_models", [m.id for m in models])
        machine_ram = None
        try:
            import psutil

            machine_ram = int(psutil.virtual_memory().available)
        except Exception:  # no figure: local models take turns, which always works
            machine_ram = None
        try:
            session = CompareSession(
                self.chat.store,
                models,
                cloud=self.chat.cloud,
                sampling=self.chat.sampling,
                n_ctx=self.chat.load_params.n_ctx,
                ram_available=machine_ram,
                blind=self.blind_box.isChecked(),
                tag=self.tag_edit.text().strip(),
                rng=self.rng,
                modes=self.chat.engine.modes,
                parent=self,
            )
        except LlamasideError as exc:
            self._show_notice(str(exc))
            return None
        session.column_delta.connect(self._on_delta)
        session.column_finished.connect(self._on_column_finished)
        session.round_finished.connect(self._on_round_finished)
        session.notice.connect(self._show_notice)
        self.session = session
        self._build_columns()
        for picker in (*self.pickers, self.add_button, self.remove_button, self.blind_box):
            picker.setEnabled(False)
        self.tag_edit.setEnabled(False)
        return session

    def _build_columns(self) -> None:
        assert self.session is not None
        for column in self.columns:
            column.setParent(None)
            column.deleteLater()
        self.columns = []
        for slot in range(len(self.session.models)):
            column = ColumnWidget(slot, self.splitter)
            # The title's colour is the column's colour in the chart.
            column.title.setStyleSheet(f"font-weight: bold; color: {BAR_COLOURS[slot]}")
            column.stop_requested.connect(self.session.stop)
            column.focus_requested.connect(self.focus)
            self.splitter.addWidget(column)
            self.columns.append(column)
        self._refresh_titles()
        self.metrics_table.setColumnCount(len(self.columns))
        self.metrics_table.setHorizontalHeaderLabels(
            [self.session.label(s) for s in range(len(self.columns))]
        )

    def _refresh_titles(self) -> None:
        if self.session is None:
            return
        for slot, column in enumerate(self.columns):
            label = self.session.label(slot)
            column.title.setText(f"{label}" if not self.session.blind else f"Answer {label}")
            if self.session.blind and self.session.round in self.session.voted:
                column.title.setText(f"{'AB'[slot]}: {self.session.models[slot].name}")
        self.metrics_table.setHorizontalHeaderLabels([c.title.text() for c in self.columns])

    @Slot()
    def new_comparison(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session.deleteLater()
            self.session = None
        for column in self.columns:
            column.setParent(None)
            column.deleteLater()
        self.columns = []
        self.metrics_table.setColumnCount(0)
        self.chart.set_data([], [])
        self.vote_bar.hide()
        self.notice.hide()
        self.blind_box.setEnabled(True)
        self.tag_edit.setEnabled(True)
        self._fill_pickers([str(p.currentData()) for p in self.pickers], self._picked)
        for picker in self.pickers:
            picker.setEnabled(True)
        self._set_count(self._count)

    # -- sending ------------------------------------------------------------------------------

    @Slot()
    def send(self) -> None:
        text = self.input_box.toPlainText()
        if not text.strip() or (self.session is not None and self.session.busy):
            return
        if (
            self.session is not None
            and self.session.blind
            and self.session.round in (self.session.voted)
        ):
            # The names are known now: the next blind prompt is a new, reshuffled comparison.
            self.new_comparison()
        session = self.session or self._start_session()
        if session is None:
            return
        for model in session.providers_needing_consent():
            if not self._ask_consent(model):
                return
        if not session.send(text):
            return
        self.input_box.clear()
        self.vote_bar.hide()
        for slot, column in enumerate(self.columns):
            column.view.append_user(text)
            shown = session.models[slot]
            if session.blind:
                column.view.begin_answer(slot, f"Answer {session.label(slot)}", marked=False)
            else:
                column.view.begin_answer(slot, shown.name, shown.id)
            column.stop_button.setEnabled(True)
        self.stop_all_button.setEnabled(True)
        self.send_button.setEnabled(False)

    def _ask_consent(self, model: CloudModel) -> bool:
        assert self.chat.cloud is not None
        label = model.provider_label
        answer = QMessageBox.question(
            self,
            f"Send to {label}?",
            self.chat.consent_text(model).replace("This chat's messages", "This comparison's"),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return False
        self.chat.cloud.grant_consent(model.provider)
        return True

    @Slot()
    def stop_all(self) -> None:
        if self.session is not None:
            self.session.stop_all()

    @Slot(int, str)
    def _on_delta(self, slot: int, text: str) -> None:
        self.columns[slot].view.append_answer_text(text)

    @Slot(int, object)
    def _on_column_finished(self, slot: int, result: ColumnAnswer) -> None:
        column = self.columns[slot]
        column.stop_button.setEnabled(False)
        summary = result.summary()
        footer = f'<p style="color:#888; font-size:small">{summary}</p>' if summary else ""
        error = result.error
        if self.session is not None and self.session.blind:
            footer = ""  # speed and cost would tell local from cloud before the vote
            if error:
                error = "this answer failed (the reason names the provider, so it is hidden)"
        column.view.finish_answer(result.text, result.status, error, footer)
        self._refresh_metrics()

    @Slot(int)
    def _on_round_finished(self, round_index: int) -> None:
        assert self.session is not None
        self._refresh_past()
        self.stop_all_button.setEnabled(False)
        self.send_button.setEnabled(True)
        self._refresh_metrics()
        if self.session.blind:
            self.vote_label.setText("Which answer is better? The names show after you vote.")
            for button in self.vote_buttons.values():
                button.setEnabled(True)
            self.vote_bar.show()

    def _refresh_metrics(self) -> None:
        session = self.session
        if session is None or session.round < 0:
            return
        # Blind: the numbers (a local model's speed, a cloud model's cost) would give the
        # names away, so they show after the vote.
        hidden = session.blind and session.round not in session.voted
        self.metrics_table.setVisible(not hidden)
        self.chart.setVisible(not hidden)
        if hidden:
            return
        values = session.metrics(session.round)
        self._show_metrics(values, [session.label(s) for s in range(len(values))])

    def _show_metrics(self, values: list[dict[str, Any]], labels: list[str]) -> None:
        for row, metric in enumerate(METRICS):
            row_values = [v[metric.key] for v in values]
            numeric = [float(v) if isinstance(v, int | float) else None for v in row_values]
            best = best_columns(numeric, metric.better)
            for slot, value in enumerate(row_values):
                item = QTableWidgetItem(format_metric(metric.key, value))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if slot in best:
                    item.setBackground(BEST_BACKGROUND)
                    item.setForeground(BEST_TEXT)
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.metrics_table.setItem(row, slot, item)
        self.chart.set_data(
            labels,
            [
                ("Tokens/s", [_number(v["tokens_per_second"]) for v in values]),
                ("Time to first token (s)", [_number(v["ttft_s"]) for v in values]),
            ],
        )

    # -- blind votes --------------------------------------------------------------------------

    @Slot(str)
    def vote(self, winner: str) -> None:
        session = self.session
        if session is None:
            return
        try:
            flagged = session.vote(winner)
        except LlamasideError as exc:
            self._show_notice(str(exc))
            return
        for button in self.vote_buttons.values():
            button.setEnabled(False)
        names = ", ".join(f"{'AB'[s]} was {m.name}" for s, m in enumerate(session.models))
        note = f" This vote stays out of the leaderboard: {flagged}." if flagged else " Vote saved."
        self.vote_label.setText(names + "." + note)
        self._refresh_titles()
        self._refresh_metrics()

    # -- layout -------------------------------------------------------------------------------

    @Slot(int)
    def focus(self, slot: int) -> None:
        """Give one column the width (the others collapse); again to share it evenly."""
        focused = self.columns[slot].focus_button.isChecked()
        for index, column in enumerate(self.columns):
            column.focus_button.setChecked(focused and index == slot)
        total = sum(self.splitter.sizes()) or self.splitter.width()
        if focused:
            sizes = [total if i == slot else 0 for i in range(len(self.columns))]
        else:
            sizes = [total // len(self.columns)] * len(self.columns)
        self.splitter.setSizes(sizes)

    # -- past comparisons, batch, leaderboard --------------------------------------------------

    def _refresh_past(self) -> None:
        current = self.history.currentItem()
        selected = current.data(PAST_ID) if current is not None else None
        self.history.clear()
        for row in self.chat.store.comparisons()[:200]:
            when = str(row["created"])[:16].replace("T", " ")
            # The title first: a narrow list cuts the end of the line.
            item = QListWidgetItem(f"{row['title']} · {when} · {row['kind']}", self.history)
            item.setData(PAST_ID, row["id"])
            item.setToolTip(f"{row['title']}\n{when} · {', '.join(row['models'])}")
            if row["id"] == selected:
                self.history.setCurrentItem(item)

    @Slot(QPoint)
    def _on_history_menu(self, pos: QPoint) -> None:
        """The menu of the row right-clicked, which becomes the selected row. Each action is
        bound to that row's comparison; on empty space there is no menu (each needs a row)."""
        item = self.history.itemAt(pos)
        if item is None:
            return
        self.history.setCurrentItem(item)
        comparison_id = int(item.data(PAST_ID))
        menu = QMenu(self.history)
        menu.addAction("Open").triggered.connect(lambda: self.open_past(comparison_id))
        menu.addAction("Export as JSON…").triggered.connect(lambda: self.export_past(comparison_id))
        menu.exec(self.history.viewport().mapToGlobal(pos))
        menu.deleteLater()

    def export_past(self, comparison_id: int) -> None:
        """One comparison, each prompt and every answer, to a JSON file the user names; the
        notice says where and how much."""
        comparison = self.chat.store.comparison(comparison_id)
        name, _filter = QFileDialog.getSaveFileName(
            self, "Export the comparison", f"comparison-{comparison_id}.json", "JSON (*.json)"
        )
        if not name:
            return
        answers = self.chat.store.comparison_answers(comparison_id)
        data = {"comparison": comparison, "answers": answers}
        try:
            Path(name).write_text(
                json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8"
            )
        except OSError as exc:
            self._show_notice(f"Could not write {name}: {exc.strerror or exc}")
            return
        prompts = len({a["round"] for a in answers})
        self._show_notice(
            f"Exported “{comparison['title']}” ({prompts} prompt(s), {len(answers)} answers) "
            f"to {name}."
        )

    def open_past(self, comparison_id: int) -> None:
        """Show a stored comparison (read only; Send starts a new one with its models)."""
        self.new_comparison()
        comparison = self.chat.store.comparison(comparison_id)
        answers = self.chat.store.comparison_answers(comparison_id)
        models: list[str] = comparison["models"]
        names = {m.id: m.name for m in self._all_models()}
        left_out = self._fill_pickers(models)
        self._set_count(len(models))
        for slot, model_id in enumerate(models):
            column = ColumnWidget(slot, self.splitter)
            column.focus_requested.connect(self.focus)
            column.title.setText(names.get(model_id, model_id))
            self.splitter.addWidget(column)
            self.columns.append(column)
        for answer in answers:
            column = self.columns[int(answer["slot"])]
            column.view.append_user(str(answer["prompt"]))
            model_id = str(answer["model"])
            column.view.begin_answer(0, names.get(model_id, model_id), model_id)
            column.view.finish_answer(
                str(answer["content"]), str(answer["status"]), answer["error"]
            )
        last_round = max((int(a["round"]) for a in answers), default=-1)
        self.metrics_table.setColumnCount(len(models))
        self.metrics_table.setHorizontalHeaderLabels([c.title.text() for c in self.columns])
        latest = [a for a in answers if int(a["round"]) == last_round]
        values = []
        for answer in sorted(latest, key=lambda a: int(a["slot"])):
            usage = answer["usage"] or {}
            local = str(answer["model"]).startswith("local:")
            values.append(metrics_of(usage or None, usage.get("n_ctx"), local))
        self._show_metrics(values, [c.title.text() for c in self.columns])
        note = f" {_left_out_text(left_out)}" if left_out else ""
        self._show_notice(f"Reopened “{comparison['title']}”. Send starts a new comparison.{note}")

    @Slot()
    def show_batch(self) -> None:
        self.batch_dialog = BatchDialog(self.chat, self.chosen_models(), self)
        self.batch_dialog.show()

    @Slot()
    def show_leaderboard(self) -> None:
        self.leaderboard = LeaderboardDialog(self.chat.store, self)
        self.leaderboard.show()

    @Slot(str)
    def _show_notice(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.show()

    def closeEvent(self, event: QCloseEvent) -> None:
        # Every stream stops; what each column showed is saved; the engines end.
        if self.session is not None:
            self.session.close()
        batch = getattr(self, "batch_dialog", None)
        if batch is not None:
            batch.close()
        self.closed.emit()
        super().closeEvent(event)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _reason(model: LocalModel | CloudModel, errors: dict[str, str]) -> str | None:
    """Why a local model failed to load last time (errors: the store's, by path)."""
    return errors.get(model.path) if isinstance(model, LocalModel) else None


def _left_out_text(names: list[str]) -> str:
    listed = ", ".join(f"“{name}”" for name in names)
    return f"{listed} failed to load last time, so it is not chosen; choose it to try again."
