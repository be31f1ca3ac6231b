"""The compare window: one prompt to 2-4 models, answers streaming side by side, each with its
metrics under it (the best in each row marked) and a bar chart; blind A/B voting; batches.

Each column is a ChatView (the same incremental streaming as the chat), its own Stop, and a
Focus button that gives it the width while the others collapse. The model set is remembered,
but a model that failed to load last time is never chosen for the user: it is marked, and
warned about when they choose it. Past comparisons are a list; each row has its own menu.

The window wires the parts: a column and the chart are compare_parts.py's, the metrics' strips
compare_metrics.py's, filling the
pickers compare_pickers.py's, the past comparisons' list compare_past.py's, the prompt's
pictures (and the marks of models that cannot see them) compare_images.py's, each column's
LoRA adapters (base vs fine-tune) compare_adapters.py's.
"""

from __future__ import annotations

import random

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop.core.adapters import with_adapters
from desktop.core.compare import MAX_COLUMNS, MIN_COLUMNS, ColumnAnswer, metrics_of
from desktop.core.errors import LlamasideError
from desktop.core.models import CloudModel, LocalModel
from desktop.core.ratings import A_WINS, B_WINS, BOTH_BAD, TIE
from desktop.services.chat import ChatService
from desktop.services.compare import CompareSession, available_ram
from desktop.services.comparisons import Comparisons
from desktop.services.images import ImageService
from desktop.ui.batch_dialog import BatchDialog
from desktop.ui.compare_adapters import ColumnAdapters
from desktop.ui.compare_calls import ToolsPicker, calls_html
from desktop.ui.compare_images import ComparePictures, image_service_of
from desktop.ui.compare_metrics import Ended, show_round, speed_groups
from desktop.ui.compare_parts import BarChart, ColumnWidget, focus_column
from desktop.ui.compare_past import PastComparisons
from desktop.ui.compare_pickers import fill_pickers, left_out_text, model_picker, show_warnings
from desktop.ui.design import set_tone
from desktop.ui.leaderboard_dialog import LeaderboardDialog
from desktop.ui.screen_fit import fit_to_screen
from desktop.ui.widgets import InputBox

#: A blind column's failure: the reason names the provider, so it stays hidden.
BLIND_FAILURE = "this answer failed (the reason names the provider, so it is hidden)"


class CompareWindow(QWidget):
    """Lays out and wires the comparison: pickers, columns, metrics, votes, history.

    ``images``: the service of the prompt's pictures (None: its parent's, if that has one).

    Signals:
        closed(): the window closed (its engines ended, its streams saved).
    """

    closed = Signal()

    def __init__(
        self,
        chat: ChatService,
        comparisons: Comparisons,
        parent: QWidget | None = None,
        *,
        images: ImageService | None = None,
    ) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.chat = chat
        self.pictures = ComparePictures(images or image_service_of(parent), chat, self)
        self.comparisons = comparisons
        self.session: CompareSession | None = None
        self.columns: list[ColumnWidget] = []
        self.rng: random.Random | None = None  # tests seed it; None: fresh randomness
        self._count = MIN_COLUMNS
        #: The pickers whose model the user chose themselves (which may be a failed one).
        self._picked: set[int] = set()
        self.setWindowTitle("Compare models — Llamaside")
        self.setObjectName("compareWindow")
        fit_to_screen(self, 1280, 820)
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
        self.lora = ColumnAdapters(self.chat, self)
        self.lora.notice.connect(self._show_notice)
        for index in range(MAX_COLUMNS):
            picker, warning = model_picker(self, index)
            picker.activated.connect(lambda _index, slot=index: self._picked.add(slot))
            picker.currentIndexChanged.connect(lambda _index: self._refresh_warnings())
            self.pickers.append(picker)
            self.warnings.append(warning)
            stack = QVBoxLayout()
            stack.addWidget(picker)
            # Its model's LoRA adapters under it: beside it, four columns outgrow a laptop.
            stack.addWidget(self.lora.add(picker), 0, Qt.AlignmentFlag.AlignLeft)
            stack.addWidget(warning)
            stack.addWidget(self.pictures.mark_for(picker))
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
        self.tools_picker = ToolsPicker(self)
        self.tools_picker.notice.connect(self._show_notice)
        mode_row.addWidget(self.tools_picker)
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
        set_tone(self.notice, "warning")
        self.notice.hide()
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setChildrenCollapsible(True)
        self.history = PastComparisons(self.comparisons, self.chat.model_name, self)
        self.history.open_requested.connect(self.open_past)
        self.history.notice.connect(self._show_notice)
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

        # Each column's numbers are in its strip; the chart sets their speeds side by side.
        self.chart = BarChart(self)
        self.chart.setMaximumHeight(130)
        self.chart.hide()

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
        layout.addWidget(self.chart)
        layout.addWidget(self.vote_bar)
        self.pictures.place(self.input_box, buttons, layout, self._refresh_warnings)
        layout.addLayout(input_row)
        self._count = MIN_COLUMNS

    def _fill_pickers(self, chosen: list[str], on_purpose: set[int] | None = None) -> list[str]:
        """Fill the pickers (compare_pickers.fill_pickers; on_purpose: the pickers the user
        chose themselves). Returns the failed models left out."""
        kept = on_purpose or set()
        left_out = fill_pickers(self.pickers, self.chat, chosen, kept)
        self.lora.refresh_all()
        self._picked = set(kept)
        self._refresh_warnings()
        return left_out

    def _restore_models(self) -> None:
        saved = self.chat.settings.get("compare_models", [])
        chosen = [str(m) for m in saved] if isinstance(saved, list) else []
        left_out = self._fill_pickers(chosen)
        self._set_count(max(MIN_COLUMNS, min(MAX_COLUMNS, len(chosen) or MIN_COLUMNS)))
        if left_out:
            self._show_notice(left_out_text(left_out))

    def _refresh_warnings(self) -> None:
        show_warnings(self.pickers, self.warnings, self.chat, self._count)
        self.pictures.refresh(self.session, self.columns)

    @Slot()
    def _on_models_changed(self) -> None:
        # A model was added, removed or marked failed: the pickers say so, the choices stay.
        if self.session is None:
            chosen = [str(p.currentData()) for p in self.pickers]
            left_out = self._fill_pickers(chosen, self._picked)
            if left_out:
                self._show_notice(left_out_text(left_out))

    def _set_count(self, count: int) -> None:
        if self.blind_box.isChecked():
            count = 2
        self._count = max(MIN_COLUMNS, min(MAX_COLUMNS, count))
        for index, picker in enumerate(self.pickers):
            picker.setVisible(index < self._count)
        self.lora.set_enabled(self.session is None, self._count)
        self.add_button.setEnabled(self._count < MAX_COLUMNS and not self.blind_box.isChecked())
        self.remove_button.setEnabled(self._count > MIN_COLUMNS)
        self._refresh_warnings()

    @Slot(bool)
    def _on_blind_toggled(self, blind: bool) -> None:
        self._set_count(2 if blind else self._count)

    def chosen_models(self) -> list[LocalModel | CloudModel]:
        by_id = {m.id: m for m in self.chat.all_models}
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
        try:
            session = self.comparisons.session(
                models,
                cloud=self.chat.cloud,
                sampling=self.chat.sampling,
                n_ctx=self.chat.load_params.n_ctx,
                ram_available=available_ram(),
                blind=self.blind_box.isChecked(),
                tag=self.tag_edit.text().strip(),
                rng=self.rng,
                modes=self.chat.engine.modes,
                adapters=self.lora.chosen(len(models)),
                load_params_for=lambda model: self.chat.load_params_for(model)[0],
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
        self.lora.set_enabled(False, self._count)
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
            column.stop_requested.connect(self.session.stop)
            column.focus_requested.connect(self.focus)
            self.pictures.add_column(column)
            self.splitter.addWidget(column)
            self.columns.append(column)
        self._refresh_titles()
        self._refresh_warnings()  # and the columns' marks, while pictures are attached

    def _refresh_titles(self) -> None:
        if self.session is None:
            return
        for slot, column in enumerate(self.columns):
            label = self.session.label(slot)
            column.title.setText(f"{label}" if not self.session.blind else f"Answer {label}")
            if self.session.blind and self.session.round in self.session.voted:
                column.title.setText(f"{'AB'[slot]}: {self.session.name(slot)}")

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
        self.pictures.reset()
        self.chart.set_data([], [])
        self.chart.hide()
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
        pictures = self.pictures.ready()
        if not (text.strip() or pictures) or (self.session is not None and self.session.busy):
            return
        if self.pictures.waiting():  # the prompt goes with its pictures, not without
            self._show_notice(self.pictures.waiting())
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
        session.tools = self.tools_picker.tools  # the same tools for every column
        if not session.send(text, images=pictures):
            return
        self.input_box.clear()
        self.pictures.sent()
        self.vote_bar.hide()
        for slot, column in enumerate(self.columns):
            self.pictures.show_prompt(column, text, session.round, pictures)
            shown = session.models[slot]
            if session.blind:
                column.view.begin_answer(slot, f"Answer {session.label(slot)}", marked=False)
            else:
                name = session.name(slot)  # with its adapters: "SmolLM2 + my-tune"
                column.view.begin_answer(slot, name, shown.id, pictures=len(pictures))
            column.stop_button.setEnabled(True)
            column.metrics.start(blind=session.blind)
        self.chart.hide()  # the latest round's speeds, once they are known
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
        error = result.error
        if self.session is not None and self.session.blind and error:
            error = BLIND_FAILURE
        # Its calls (offered tools are never run here) under its words; its numbers are in
        # its strip, under the view.
        column.view.finish_answer(
            result.text, result.status, error, calls_html(result.answer.calls)
        )
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
        ended = [
            None
            if r is None
            else Ended(r.metrics(), r.local, r.status, BLIND_FAILURE if hidden else r.error)
            for r in session.results[session.round]
        ]
        self._show_ended(ended, hidden)

    def _show_ended(self, ended: list[Ended | None], hidden: bool) -> None:
        """The strips of the ended columns filled in; the chart of their speeds once any is
        known (blind: after the vote)."""
        show_round([c.metrics for c in self.columns], ended, hidden)
        groups = [] if hidden else speed_groups(ended)  # blind: not even in its description
        self.chart.set_data([c.title.text() for c in self.columns], groups)
        known = any(v is not None for _, values in groups for v in values)
        self.chart.setVisible(known and not hidden)

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
        names = ", ".join(f"{'AB'[s]} was {session.name(s)}" for s in range(len(session.models)))
        note = f" This vote stays out of the leaderboard: {flagged}." if flagged else " Vote saved."
        self.vote_label.setText(names + "." + note)
        self._refresh_titles()
        self._refresh_metrics()

    # -- layout -------------------------------------------------------------------------------

    @Slot(int)
    def focus(self, slot: int) -> None:
        """Give one column the width (the others collapse); again to share it evenly."""
        focus_column(self.splitter, self.columns, slot)

    # -- past comparisons, batch, leaderboard --------------------------------------------------

    def _refresh_past(self) -> None:
        self.history.refresh()

    def open_past(self, comparison_id: int) -> None:
        """Show a stored comparison (read only; Send starts a new one with its models)."""
        self.new_comparison()
        comparison = self.comparisons.comparison(comparison_id)
        answers = self.comparisons.answers(comparison_id)
        models = list(comparison.models)
        names = {m.id: m.name for m in self.chat.all_models}
        left_out = self._fill_pickers(models)
        self._set_count(len(models))
        self.lora.show(comparison.adapters)
        for slot, model_id in enumerate(models):
            column = ColumnWidget(slot, self.splitter)
            column.focus_requested.connect(self.focus)
            title = names.get(model_id, model_id)
            column.title.setText(with_adapters(title, comparison.column_adapters(slot)))
            self.pictures.add_column(column)
            self.splitter.addWidget(column)
            self.columns.append(column)
        for answer in answers:
            column = self.columns[answer.slot]
            self.pictures.show_prompt(column, answer.prompt, answer.round, answer.prompt_images)
            who = with_adapters(names.get(answer.model, answer.model), answer.adapters)
            sent = len(answer.prompt_images)
            column.view.begin_answer(0, who, answer.model, pictures=sent)
            column.view.finish_answer(
                answer.content, answer.status, answer.error, calls_html(answer.parts)
            )
        last_round = max((a.round for a in answers), default=-1)
        ended: list[Ended | None] = [None] * len(self.columns)
        for answer in answers:
            if answer.round == last_round and answer.slot < len(ended):
                usage, local = answer.usage or {}, answer.model.startswith("local:")
                values = metrics_of(usage or None, usage.get("n_ctx"), local)
                ended[answer.slot] = Ended(values, local, answer.status, answer.error)
        self._show_ended(ended, hidden=False)
        note = f" {left_out_text(left_out)}" if left_out else ""
        self._show_notice(f"Reopened “{comparison.title}”. Send starts a new comparison.{note}")

    @Slot()
    def show_batch(self) -> None:
        models = self.chosen_models()
        lora = self.lora.chosen(len(models))
        self.batch_dialog = BatchDialog(
            self.chat, self.comparisons, models, self, self.tools_picker.tools, adapters=lora
        )
        self.batch_dialog.show()

    @Slot()
    def show_leaderboard(self) -> None:
        self.leaderboard = LeaderboardDialog(
            self.comparisons.leaderboard, self.chat.model_name, self
        )
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
