"""Batch comparison: a prompt file through the compare window's models, with progress, a
prompt x model table, a summary (mean latency, tokens/s, cost and cost at the user's monthly
volume; tool-call accuracy where the prompts expect calls) and export to Markdown, CSV and
JSON. Models are named as the chat names them (the id in a tooltip); an answer's cell shows
its Markdown as plain text, and Enter or a double-click on it opens the whole answer rendered."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QCloseEvent, QKeySequence, QPalette, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.core.adapters import Adapter
from desktop.core.compare import (
    ACCURACY_COLUMNS,
    BatchPrompt,
    PromptFileError,
    batch_export,
    batch_prompt,
    format_metric,
    names_itself,
    parse_prompts,
)
from desktop.core.errors import LlamasideError
from desktop.core.models import CloudModel, LocalModel
from desktop.core.tool_score import format_share
from desktop.core.tools import ToolSpec
from desktop.services.chat import ChatService
from desktop.services.compare import CompareSession
from desktop.services.comparisons import Comparisons
from desktop.ui.answer_cell import AnswerDialog, plain_text
from desktop.ui.compare_calls import answer_cell, call_line
from desktop.ui.design import SPACE, set_tone
from desktop.ui.tone_colours import TableTones, tone_item

SUMMARY_COLUMNS = (
    "Model",
    "Answers",
    "Failed",
    "Mean first token",
    "Mean tok/s",
    "Batch cost",
    "Cost per month",
    # Tool-call accuracy over the prompts that expect a call ("–" where none does).
    *(head for _key, head in ACCURACY_COLUMNS),
)
#: After the name of a model that failed to load last time, as in the main window's picker.
FAILED_MARK = " · ⚠ failed to load"
#: How much of an answer a cell shows (one or two lines; the cell elides the rest).
CELL_CHARS = 160
OPEN_HINT = "Enter or double-click: the whole answer"


class BatchDialog(QDialog):
    """Runs a prompt file through the chosen models and shows, exports and votes on the results."""

    def __init__(
        self,
        chat: ChatService,
        comparisons: Comparisons,
        models: list[LocalModel | CloudModel],
        parent: QWidget | None = None,
        tools: tuple[ToolSpec, ...] = (),
        *,
        adapters: Sequence[Sequence[Adapter]] = (),
    ) -> None:
        super().__init__(parent)
        self.chat = chat
        self.comparisons = comparisons
        self.models = models
        #: Each column's LoRA adapters, as the compare window's columns have them.
        self.adapters = adapters
        #: The compare window's tools, for the prompts that carry none of their own.
        self.tools = tools
        self.session: CompareSession | None = None
        self.report: dict[str, Any] | None = None
        #: The batch report's row behind each row of the table, in order.
        self.shown_rows: list[dict[str, Any]] = []
        self.answer_dialog: AnswerDialog | None = None
        self.blind_run = False
        self.setWindowTitle("Batch comparison")
        self.setObjectName("batchDialog")
        self.resize(1100, 700)
        self.file_edit = QLineEdit(self)
        self.file_edit.setAccessibleName("Prompt file")
        self.file_edit.setPlaceholderText("A .jsonl, .csv (with a prompt column) or .txt file")
        browse = QPushButton("Choose…", self)
        browse.clicked.connect(self._choose)
        self.per_month = QSpinBox(self)
        self.per_month.setAccessibleName("Requests per month")
        self.per_month.setRange(1, 100_000_000)
        self.per_month.setValue(10_000)
        self.per_month.setGroupSeparatorShown(True)
        self.blind_box = QCheckBox("Hide the answers (to vote blind on them afterwards)", self)
        self.blind_box.setAccessibleName("Hide the answers for a blind vote")
        self.run_button = QPushButton("Run", self)
        self.run_button.clicked.connect(self.run)
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        top = QHBoxLayout()
        self.saved_picker = QComboBox(self)
        self.saved_picker.setAccessibleName("A saved prompt list")
        self._refresh_saved()
        save_list = QPushButton("Save as list…", self)
        save_list.setAccessibleName("Save the file's prompts as a named list")
        save_list.clicked.connect(self.save_list)
        top.addWidget(QLabel("Prompts:", self))
        top.addWidget(self.file_edit, 1)
        top.addWidget(browse)
        top.addWidget(self.saved_picker)
        top.addWidget(save_list)
        top.addWidget(QLabel("Requests per month:", self))
        top.addWidget(self.per_month)
        top.addWidget(self.run_button)
        top.addWidget(self.stop_button)
        # A model that failed to load last time is marked, and why is said before Run.
        reasons = {m.id: chat.model_error(m) for m in models}
        failed = [f"{m.name}: {reasons[m.id]}" for m in models if reasons[m.id]]
        names = [m.name + (FAILED_MARK if reasons[m.id] else "") for m in models]
        offered = f" · tools: {', '.join(t.name for t in tools)}" if tools else ""
        self.models_label = QLabel("Models: " + ", ".join(names) + offered, self)
        self.models_label.setToolTip("\n".join(failed))
        self.failed_warning = QLabel(self)
        self.failed_warning.setObjectName("failedModelsWarning")
        self.failed_warning.setWordWrap(True)
        self.failed_warning.setTextFormat(Qt.TextFormat.PlainText)  # a reason is not markup
        set_tone(self.failed_warning, "danger")
        self.failed_warning.setText(
            "⚠ Failed to load last time, so Run may fail for it again: " + "; ".join(failed)
        )
        self.failed_warning.setVisible(bool(failed))
        self.problems = QLabel(self)
        self.problems.setWordWrap(True)
        set_tone(self.problems, "danger")
        self.progress = QProgressBar(self)
        self.progress.setAccessibleName("Batch progress")
        self.results = QTableWidget(0, len(models), self)
        self.result_tones = TableTones(self.results)  # a failure's red follows a theme switch
        self.results.setObjectName("batchResults")
        self.results.setAccessibleName("Answers, one row per prompt")
        self.results.setHorizontalHeaderLabels([m.name for m in models])
        for column, model in enumerate(models):
            header_item = self.results.horizontalHeaderItem(column)
            if header_item is not None:
                header_item.setToolTip(model.id)
        self.results.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.results.setWordWrap(True)
        self.results.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.results.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.results.verticalHeader().setDefaultSectionSize(2 * self.fontMetrics().height() + 8)
        self.results.cellDoubleClicked.connect(self.show_answer)
        for key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            # On the table only: Enter elsewhere in the dialog keeps its usual meaning.
            opener = QShortcut(QKeySequence(key), self.results)
            opener.setContext(Qt.ShortcutContext.WidgetShortcut)
            opener.activated.connect(self._show_current_answer)
        self.summary = QTableWidget(len(models), len(SUMMARY_COLUMNS), self)
        self.summary.setObjectName("batchSummary")
        self.summary.setAccessibleName("Summary per model")
        self.summary.setHorizontalHeaderLabels(SUMMARY_COLUMNS)
        self.summary.verticalHeader().setVisible(False)
        self.summary.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.summary.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.summary.setMaximumHeight(60 + 30 * len(models))
        export = QHBoxLayout()
        self.vote_button = QPushButton("Vote blind on the answers…", self)
        self.vote_button.setAccessibleName("Vote blind on each prompt's two answers")
        self.vote_button.setEnabled(False)
        self.vote_button.setVisible(len(models) == 2)
        self.vote_button.clicked.connect(self.vote_blind)
        export.addWidget(self.vote_button)
        export.addStretch(1)
        self.export_buttons = []
        for suffix in ("md", "csv", "json"):
            button = QPushButton(f"Export {suffix.upper()}…", self)
            button.setEnabled(False)
            button.clicked.connect(lambda _checked=False, s=suffix: self._export_dialog(s))
            export.addWidget(button)
            self.export_buttons.append(button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.models_label)
        layout.addWidget(self.failed_warning)
        layout.addWidget(self.blind_box)
        layout.addWidget(self.problems)
        layout.addWidget(self.progress)
        layout.addWidget(self.results, 1)
        layout.addWidget(self.summary)
        layout.addLayout(export)

    @Slot()
    def _choose(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(
            self, "Prompt file", "", "Prompts (*.jsonl *.json *.csv *.txt);;All files (*)"
        )
        if path:
            self.file_edit.setText(path)

    def _saved_lists(self) -> dict[str, list[Any]]:
        saved = self.chat.settings.get("prompt_lists", {})
        return saved if isinstance(saved, dict) else {}

    def _refresh_saved(self) -> None:
        self.saved_picker.clear()
        self.saved_picker.addItem("or a saved list…", None)
        for name, prompts in sorted(self._saved_lists().items()):
            self.saved_picker.addItem(f"{name} ({len(prompts)})", name)

    def _read_file(self) -> tuple[list[BatchPrompt], str] | None:
        """The file's prompts (with their tools and expected calls) and its name; problems
        (skipped lines) are shown."""
        source = Path(self.file_edit.text().strip())
        try:
            prompt_set = parse_prompts(source.read_text(encoding="utf-8"), source.name, self.tools)
        except (OSError, UnicodeDecodeError) as exc:
            self.problems.setText(f"Cannot read {source}: {exc}")
            return None
        except PromptFileError as exc:
            self.problems.setText(str(exc))
            return None
        self.problems.setText(
            "; ".join(f"{source.name}: {p} (skipped)" for p in prompt_set.problems)
        )
        if not prompt_set.prompts:
            self.problems.setText(f"{source} has no usable prompts.")
            return None
        return prompt_set.entries, source.name

    @Slot()
    def save_list(self) -> None:
        found = self._read_file()
        if found is None:
            return
        name, ok = QInputDialog.getText(self, "Save prompt list", "Name:", text=found[1])
        if ok and name.strip():
            # A prompt with tools or an expected call is kept whole; a plain one as its text.
            kept = [entry.to_json() for entry in found[0]]
            self.chat.settings.set("prompt_lists", {**self._saved_lists(), name.strip(): kept})
            self._refresh_saved()
            self.saved_picker.setCurrentIndex(self.saved_picker.findData(name.strip()))

    @Slot()
    def run(self) -> None:
        chosen = self.saved_picker.currentData()
        if chosen is not None:
            prompts, source_name = self._saved_entries(str(chosen)), str(chosen)
        else:
            found = self._read_file()
            if found is None:
                return
            prompts, source_name = found
        if not prompts:
            return
        if self.session is not None:
            self.session.close()  # a previous run's engines end before new ones load
        self.blind_run = self.blind_box.isChecked()
        try:
            self.session = self.comparisons.session(
                self.models,
                cloud=self.chat.cloud,
                sampling=self.chat.sampling,
                n_ctx=self.chat.load_params.n_ctx,
                modes=self.chat.engine.modes,
                adapters=self.adapters,
                parent=self,
            )
        except LlamasideError as exc:
            self.problems.setText(str(exc))
            return
        for model in self.session.providers_needing_consent():
            if not self._ask_consent(model):
                return
        self.session.batch_progress.connect(self._on_progress)
        self.session.batch_finished.connect(self._on_finished)
        self.results.setRowCount(0)
        self.shown_rows = []
        self.progress.setRange(0, len(prompts))
        self.progress.setValue(0)
        self.run_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.session.run_batch(prompts, self.per_month.value(), source_name)

    def _saved_entries(self, name: str) -> list[BatchPrompt]:
        """A saved list's prompts (an entry this version cannot read is left out, and said)."""
        entries, bad = [], 0
        for value in self._saved_lists().get(name, []):
            try:
                entries.append(batch_prompt(value, self.tools))
            except ValueError:
                bad += 1
        self.problems.setText(f"{bad} saved prompt(s) could not be read (skipped)." if bad else "")
        return entries

    def _ask_consent(self, model: CloudModel) -> bool:
        assert self.chat.cloud is not None
        answer = QMessageBox.question(
            self,
            f"Send to {model.provider_label}?",
            self.chat.consent_text(model).replace("This chat's messages", "The batch's prompts"),
        )
        if answer != QMessageBox.StandardButton.Yes:
            return False
        self.chat.cloud.grant_consent(model.provider)
        return True

    @Slot()
    def stop(self) -> None:
        if self.session is not None:
            self.session.stop_all()

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        assert self.session is not None
        self.progress.setValue(done)
        results = self.session.results[-1]
        report_row = self.session.batch_rows[-1]
        self.shown_rows.append(report_row)
        row = self.results.rowCount()
        self.results.insertRow(row)
        self.results.setVerticalHeaderItem(row, QTableWidgetItem(self.session.prompts[-1][:40]))
        for slot, result in enumerate(results):
            if result is None:
                continue
            answer = report_row["answers"][slot]
            # The words as a reader of the rendered answer reads them, not its Markdown.
            text, tip = answer_cell({**answer, "text": plain_text(answer.get("text") or "")})
            if result.status == "failed":
                text = tip = f"[failed] {result.error}"
            if self.blind_run:
                # A blind vote comes later: show that it answered, not what.
                text = "failed" if result.status == "failed" else "answered (hidden)"
            short = " ".join(text.split())
            item = QTableWidgetItem(
                short if len(short) <= CELL_CHARS else short[: CELL_CHARS - 1] + "…"
            )
            if not self.blind_run:
                item.setToolTip(f"{tip[:600]}\n\n{OPEN_HINT}")
            if result.status == "failed":
                tone_item(item, "danger")
            self.results.setItem(row, slot, item)

    @Slot(object)
    def _on_finished(self, report: Any) -> None:
        self.report = report
        self.run_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        for button in self.export_buttons:
            button.setEnabled(True)
        self.vote_button.setEnabled(len(self.models) == 2 and bool(report["results"]))
        for row, entry in enumerate(report["summary"]):
            cells = (
                self.chat.model_name(entry["model"]),
                str(entry["answers"]),
                str(entry["failed"]),
                format_metric("ttft_s", entry["mean_ttft_s"]),
                format_metric("tokens_per_second", entry["mean_tokens_per_second"]),
                format_metric("cost_usd", entry["total_cost_usd"]),
                format_metric("cost_usd", entry["cost_per_month_usd"]),
                *(
                    format_share((entry.get("tool_calls") or {}).get(key))
                    for key, _head in ACCURACY_COLUMNS
                ),
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column == 0:
                    item.setToolTip(entry["model"])
                self.summary.setItem(row, column, item)

    @Slot()
    def _show_current_answer(self) -> None:
        self.show_answer(self.results.currentRow(), self.results.currentColumn())

    @Slot(int, int)
    def show_answer(self, row: int, column: int) -> AnswerDialog | None:
        """The whole answer of a cell, rendered (not in a blind run: it is hidden for the vote)."""
        if self.blind_run or not 0 <= row < len(self.shown_rows):
            return None
        answers = self.shown_rows[row]["answers"]
        if not 0 <= column < len(answers):
            return None
        answer = answers[column]
        if answer["status"] == "failed":
            body = f"**Failed:** {answer.get('error') or 'no answer'}"
        else:
            score = answer.get("score")
            calls = [f"`{call_line(call)}`" for call in answer.get("calls") or []]
            notes = [f"*{score['detail']}*"] if score and score.get("detail") else []
            body = "\n\n".join([*notes, *calls, answer.get("text") or ""]).strip()
        if self.answer_dialog is not None:
            self.answer_dialog.close()
        self.answer_dialog = AnswerDialog(
            f"{self.chat.model_name(answer['model'])} — prompt {row + 1}",
            self.shown_rows[row]["prompt"],
            body,
            self,
        )
        self.answer_dialog.show()
        return self.answer_dialog

    @Slot()
    def vote_blind(self) -> BatchVoteDialog | None:
        if self.report is None or self.session is None or self.session.comparison_id is None:
            return None
        self.vote_dialog = BatchVoteDialog(
            self.comparisons,
            self.report,
            self.session.comparison_id,
            random.Random(),
            self,
            model_name=self.chat.model_name,
            seen="" if self.blind_run else "the answers were shown with their models first",
        )
        self.vote_dialog.show()
        return self.vote_dialog

    def _export_dialog(self, suffix: str) -> None:
        path, _filter = QFileDialog.getSaveFileName(
            self, "Export the batch", f"batch.{suffix}", f"{suffix.upper()} (*.{suffix})"
        )
        if path:
            self.export_to(Path(path))

    def export_to(self, path: Path) -> None:
        """Markdown, CSV or JSON by the file's extension."""
        if self.report is None:
            return
        try:
            # newline="": the CSV's own row ends (\r\n) are written as they are.
            with path.open("w", newline="", encoding="utf-8") as handle:
                handle.write(batch_export(self.report, path.suffix))
        except OSError as exc:
            QMessageBox.warning(self, "Export", f"Could not write {path}: {exc.strerror or exc}")

    def done(self, result: int) -> None:
        # Esc and Close end the batch too: nothing keeps running (or paying) unseen.
        if self.session is not None:
            self.session.close()
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.session is not None:
            self.session.close()
        super().closeEvent(event)


class BatchVoteDialog(QDialog):
    """Blind votes over a finished batch: each prompt's two answers as A and B, in random
    places, names hidden until the end; votes go to the leaderboard like the arena's."""

    def __init__(
        self,
        comparisons: Comparisons,
        report: dict[str, Any],
        comparison_id: int,
        rng: random.Random,
        parent: QWidget | None = None,
        *,
        model_name: Callable[[str], str] = str,
        seen: str = "",
    ) -> None:
        super().__init__(parent)
        self.comparisons = comparisons
        #: A model's name from its id, for the names shown after the votes.
        self.model_name = model_name
        self.report = report
        #: Why these votes are not blind (kept out of the leaderboard by default), if so.
        self.seen = seen
        self.comparison_id = comparison_id
        self.rng = rng
        # Only prompts where both answers exist are worth a vote.
        self.rounds = [
            i
            for i, row in enumerate(report["results"])
            if all(a["status"] != "failed" for a in row["answers"])
        ]
        self.position = 0
        self.votes = 0
        self.setWindowTitle("Blind votes on the batch")
        self.setObjectName("batchVoteDialog")
        self.resize(1000, 600)
        self.prompt_label = QLabel(self)
        self.prompt_label.setWordWrap(True)
        self.answer_a = QLabel(self)
        self.answer_b = QLabel(self)
        for label in (self.answer_a, self.answer_b):
            label.setWordWrap(True)
            label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            # A panel in the theme's text background (a fixed white one was unreadable in dark).
            label.setFrameShape(QFrame.Shape.StyledPanel)
            label.setBackgroundRole(QPalette.ColorRole.Base)
            label.setAutoFillBackground(True)
            label.setMargin(SPACE.s)
        answers = QHBoxLayout()
        answers.addWidget(self.answer_a, 1)
        answers.addWidget(self.answer_b, 1)
        buttons = QHBoxLayout()
        self.status = QLabel(self)
        buttons.addWidget(self.status, 1)
        for winner, text in (
            ("a", "A is better"),
            ("b", "B is better"),
            ("tie", "Tie"),
            ("bad", "Both are bad"),
        ):
            button = QPushButton(text, self)
            button.clicked.connect(lambda _checked=False, w=winner: self.vote(w))
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.prompt_label)
        layout.addLayout(answers, 1)
        layout.addLayout(buttons)
        self._show()

    def _show(self) -> None:
        if self.position >= len(self.rounds):
            first, second = (self.model_name(m) for m in self.report["models"][:2])
            self.prompt_label.setText(
                f"Done: {self.votes} votes on {first} vs {second}, saved to the leaderboard."
            )
            self.answer_a.clear()
            self.answer_b.clear()
            return
        index = self.rounds[self.position]
        row = self.report["results"][index]
        self.order = [0, 1]
        self.rng.shuffle(self.order)
        self.prompt_label.setText(
            f"Prompt {self.position + 1} of {len(self.rounds)}: {row['prompt']}"
        )
        for label, letter, slot in (
            (self.answer_a, "A", self.order[0]),
            (self.answer_b, "B", self.order[1]),
        ):
            answer = row["answers"][slot]
            # Its calls too: an answer that only called a tool has no words to judge.
            calls = [call_line(call) for call in answer.get("calls") or []]
            label.setText("\n\n".join(part for part in (letter, answer["text"], *calls) if part))

    @Slot(str)
    def vote(self, winner: str) -> None:
        if self.position >= len(self.rounds):
            return
        index = self.rounds[self.position]
        answers = self.report["results"][index]["answers"]
        shown = [answers[self.order[0]], answers[self.order[1]]]
        flagged = self.seen
        for letter, answer in zip("AB", shown, strict=True):
            found = names_itself(answer["text"])
            if found:
                flagged = f"answer {letter} said “{found}”"
                break
        self.comparisons.add_vote(
            model_a=shown[0]["model"],
            model_b=shown[1]["model"],
            winner=winner,
            comparison_id=self.comparison_id,
            round_index=index,
            flagged=flagged,
        )
        self.votes += 1
        self.position += 1
        self._show()
