"""CompareSession: one prompt to 2-4 models at once in the window, blind A/B votes, batches.

The columns and their threads are backends.compare_run's (shared with `llamaside compare`);
this class turns their callbacks into signals on the GUI thread and keeps the history: the
comparison, each column's answer per round (saved when it ends, or as shown when the window
closes mid-stream) and the votes. A round's prompt may carry pictures: every column gets them,
and one whose model cannot see ends at once with the sentence why (``cannot_see``).
"""

from __future__ import annotations

import functools
import random
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from desktop.backends.catalog_file import load_pricing
from desktop.backends.compare_run import (
    Column,
    column_load_params,
    fit_together,
    run_round,
    share_engines,
    threads_each,
    vision_note,
)
from desktop.backends.engine_client import physical_cores
from desktop.backends.engine_modes import ModeMemory
from desktop.backends.lora_check import check_adapter
from desktop.core.adapters import Adapter, with_adapters
from desktop.core.answer import Answer
from desktop.core.compare import (
    MAX_COLUMNS,
    MIN_COLUMNS,
    BatchPrompt,
    ColumnAnswer,
    batch_row,
    batch_summary,
    metrics_of,
    names_itself,
)
from desktop.core.context import title_for
from desktop.core.errors import InvalidParameter, LlamasideError
from desktop.core.messages import MessageStatus
from desktop.core.models import CloudModel, LocalModel
from desktop.core.params import LoadParams, SamplingParams
from desktop.core.parts import Image, Parts, Text
from desktop.core.pricing import PricingError
from desktop.core.ratings import WINNERS
from desktop.core.tools import AUTO, ToolChoice, ToolSpec
from desktop.services.cloud import CloudService
from desktop.services.relay import Relay
from desktop.services.turn import Checkpoints, ComparisonAnswerRow
from desktop.storage.store import ChatStore


def _open_cloud(cloud: CloudService | None, model: CloudModel) -> Any:
    """A column's provider (not a method of the session: the columns' threads must hold no
    reference to it)."""
    if cloud is None:
        raise LlamasideError("Cloud models are not available here.")
    return cloud.open(cloud.provider(model.provider))


def available_ram() -> int | None:
    """This machine's available RAM in bytes (None: no figure, so local columns take turns,
    which always works)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:
        return None


class CompareSession(QObject):
    """Owns one comparison in the window: its columns, rounds, blind votes, batches and history.

    Signals:
    column_delta(int, str): slot, new text.
    column_finished(int, object): slot, ColumnAnswer.
    round_finished(int): the round whose columns have all ended.
    notice(str): something to tell the user (local models taking turns).
    batch_progress(int, int): prompts done, prompts in all.
    batch_finished(object): the batch report (dict), or None when stopped.
    """

    column_delta = Signal(int, str)
    column_finished = Signal(int, object)
    round_finished = Signal(int)
    notice = Signal(str)
    batch_progress = Signal(int, int)
    batch_finished = Signal(object)

    def __init__(
        self,
        store: ChatStore,
        models: list[LocalModel | CloudModel],
        *,
        cloud: CloudService | None,
        sampling: SamplingParams,
        n_ctx: int = 4096,
        ram_available: int | None = None,
        blind: bool = False,
        tag: str = "",
        rng: random.Random | None = None,
        engine_log: Path | None = None,
        modes: ModeMemory | None = None,
        image_root: Path | str = "",
        adapters: Sequence[Sequence[Adapter]] = (),
        load_params_for: Callable[[LocalModel], LoadParams] | None = None,
        parent: QObject | None = None,
    ) -> None:
        """``adapters``: each model's LoRA adapters, in the order of ``models`` (a cloud
        model's are ignored); one that does not fit its model raises AdapterRefused.
        ``load_params_for``: how the app loads a local model (its fit plan and the user's
        settings for it); None loads each with the defaults at ``n_ctx``."""
        super().__init__(parent)
        if not MIN_COLUMNS <= len(models) <= MAX_COLUMNS:
            raise InvalidParameter(f"Pick {MIN_COLUMNS} to {MAX_COLUMNS} models to compare.")
        if blind and len(models) != 2:
            raise InvalidParameter("Blind mode compares exactly two models.")
        self.store = store
        self.cloud = cloud
        self.sampling = sampling
        self.blind = blind
        self.tag = tag
        # Blind mode: the columns show the models in a random order, as A and B.
        order = list(range(len(models)))
        if blind:
            (rng or random.Random()).shuffle(order)
        self.models = [models[i] for i in order]
        chosen = [tuple(adapters[i]) if i < len(adapters) else () for i in order]
        #: Each column's adapters (base vs fine-tune: one model in two columns, one with them).
        self.adapters = [
            a if isinstance(m, LocalModel) else () for m, a in zip(self.models, chosen, strict=True)
        ]
        for model, column_adapters in zip(self.models, self.adapters, strict=True):
            for adapter in column_adapters:  # refused before anything is saved or loaded
                assert isinstance(model, LocalModel)
                check_adapter(adapter, model.path)
        # One engine child per local model file: its columns (base vs fine-tune) share it.
        local = list({m.path: m for m in self.models if isinstance(m, LocalModel)}.values())
        self.local_together = len(local) < 2 or (
            ram_available is not None and fit_together(local, ram_available)
        )
        threads = threads_each(len(local) if self.local_together else 1, physical_cores())

        def params_of(model: LocalModel | CloudModel) -> LoadParams:
            own = LoadParams(n_ctx=n_ctx)
            if load_params_for is not None and isinstance(model, LocalModel):
                own = load_params_for(model)
            return column_load_params(own, threads)

        pricing = None
        if cloud is not None:
            try:
                pricing = load_pricing(cloud.pricing_file)
            except PricingError:
                pricing = load_pricing(None)
        self.columns = [
            Column(
                model,
                load_params=params_of(model),
                open_cloud=functools.partial(_open_cloud, cloud),
                pricing=pricing,
                engine_log=engine_log,
                modes=modes,
                image_root=str(image_root or ""),
                adapters=column_adapters,
            )
            for model, column_adapters in zip(self.models, self.adapters, strict=True)
        ]
        share_engines(self.columns)
        self.comparison_id: int | None = None
        #: Offered alike to every column with each prompt sent (their calls are kept, not run).
        self.tools: tuple[ToolSpec, ...] = ()
        self.tool_choice: ToolChoice = AUTO
        self.round = -1
        self.prompts: list[str] = []
        #: Per round: the pictures sent with its prompt.
        self.images: list[tuple[Image, ...]] = []
        #: Per round, per slot: the result once the column ended.
        self.results: list[list[ColumnAnswer | None]] = []
        self._shown: dict[int, list[str]] = {}
        #: Where each column's answer to the current prompt is kept, and when next written.
        self._rows: dict[int, ComparisonAnswerRow] = {}
        self._checkpoints: dict[int, Checkpoints] = {}
        self._running: set[int] = set()
        self._closed = False
        self._batch_stop = threading.Event()
        self._batch_rows: list[dict[str, Any]] = []
        self._batch_meta: tuple[list[BatchPrompt], int, str] = ([], 0, "")
        self.voted: set[int] = set()
        #: The columns' threads report through it (they hold no reference to this session).
        self._relay = Relay(self)

    # -- columns ------------------------------------------------------------------------------

    def providers_needing_consent(self) -> list[CloudModel]:
        """Cloud columns whose provider has not been agreed to yet (ask before the first send)."""
        if self.cloud is None:
            return []
        seen: dict[str, CloudModel] = {}
        for model in self.models:
            if isinstance(model, CloudModel) and not self.cloud.has_consent(model.provider):
                seen.setdefault(model.provider, model)
        return list(seen.values())

    @property
    def busy(self) -> bool:
        return bool(self._running)

    def label(self, slot: int) -> str:
        """What the column's header says: "A"/"B" in blind mode until the vote."""
        if self.blind and self.round not in self.voted:
            return "AB"[slot]
        return self.name(slot)

    def name(self, slot: int) -> str:
        """The column's model as it answers: "SmolLM2 + my-tune × 0.8"."""
        return with_adapters(self.models[slot].name, self.adapters[slot])

    def cannot_see(self) -> dict[int, str]:
        """The columns whose model takes no pictures, each with the sentence why (a round with
        pictures ends those columns at once with it)."""
        notes = {slot: vision_note(model) for slot, model in enumerate(self.models)}
        return {slot: note for slot, note in notes.items() if note}

    # -- sending ------------------------------------------------------------------------------

    def send(self, prompt: str, images: Sequence[Image] = ()) -> bool:
        """The prompt, after its pictures, to every column at once (follow-ups continue each
        column's thread); a column whose model cannot see gets no request and says why."""
        images = tuple(images)
        if not (prompt.strip() or images) or self._running or self._closed:
            return False
        if self.blind and self.round in self.voted:
            return False  # the names are known now: the next blind round is a new comparison
        if self.comparison_id is None:
            title = title_for(prompt)
            kind = "blind" if self.blind else "compare"
            self.comparison_id = self.store.create_comparison(
                title, kind, [m.id for m in self.models], self.tag, self.adapters
            )
        self.round += 1
        self.prompts.append(prompt)
        self.images.append(images)
        self.results.append([None] * len(self.columns))
        round_index = self.round
        for slot, model in enumerate(self.models):
            self._shown[slot] = []
            row = ComparisonAnswerRow(
                self.store,
                self.comparison_id,
                round_index=round_index,
                slot=slot,
                model_id=model.id,
                prompt=prompt,
            )
            row.checkpoint("")  # the prompt is kept before anything is sent
            self._rows[slot], self._checkpoints[slot] = row, Checkpoints()
        if images:
            self.store.save_comparison_prompt(
                self.comparison_id, round_index, (*images, Text(prompt))
            )
        self._running = set(range(len(self.columns)))
        if not self.local_together:
            self.notice.emit(
                "The local models do not fit in memory together: they answer one after the other."
            )

        post, columns, sampling = self._relay.post, self.columns, self.sampling
        together, tools, tool_choice = self.local_together, self.tools, self.tool_choice

        def delta(slot: int, text: str) -> None:
            post(CompareSession._on_delta, round_index, slot, text)

        def done(slot: int, result: ColumnAnswer) -> None:
            post(CompareSession._on_done, round_index, slot, result)

        def work() -> None:
            run_round(
                columns,
                prompt,
                sampling,
                delta,
                local_together=together,
                on_done=done,
                tools=tools,
                tool_choice=tool_choice,
                images=images,
            )
            post(CompareSession._on_round_done, round_index)

        threading.Thread(target=work, name="compare-round", daemon=True).start()
        return True

    def stop(self, slot: int) -> None:
        if slot in self._running:
            self.columns[slot].cancel()

    def stop_all(self) -> None:
        self._batch_stop.set()
        for slot in list(self._running):
            self.columns[slot].cancel()

    def _on_delta(self, round_index: int, slot: int, text: str) -> None:
        if self._closed or round_index != self.round:
            return
        shown = self._shown.setdefault(slot, [])
        shown.append(text)
        row = self._rows.get(slot)
        if row is not None:
            self._checkpoints[slot].write(row, lambda: "".join(shown))
        self.column_delta.emit(slot, text)

    def _on_done(self, round_index: int, slot: int, result: ColumnAnswer) -> None:
        if self._closed or round_index != self.round:
            return
        self._running.discard(slot)
        self.results[round_index][slot] = result
        if self.comparison_id is not None:
            self._save(round_index, slot, result)
        self.column_finished.emit(slot, result)

    def _save(self, round_index: int, slot: int, result: ColumnAnswer) -> None:
        assert self.comparison_id is not None
        row = ComparisonAnswerRow(
            self.store,
            self.comparison_id,
            round_index=round_index,
            slot=slot,
            model_id=result.model_id,
            prompt=self.prompts[round_index],
        )
        try:
            row.finish(result.answer, MessageStatus(result.status), result.stored_usage())
        except LlamasideError as exc:
            self.notice.emit(str(exc))

    def _on_round_done(self, round_index: int) -> None:
        if not self._closed and round_index == self.round:
            self.round_finished.emit(round_index)

    def metrics(self, round_index: int) -> list[dict[str, Any]]:
        """Each column's metric values for a round (None where unknown)."""
        values = []
        for slot, result in enumerate(self.results[round_index]):
            if result is None:
                local = isinstance(self.models[slot], LocalModel)
                values.append(metrics_of(None, None, local))
            else:
                values.append(result.metrics())
        return values

    # -- blind votes --------------------------------------------------------------------------

    def vote(self, winner: str) -> str:
        """Record the vote on the latest round (A and B as shown). Returns why it is kept out of
        the leaderboard ("" if it counts): an answer that named its own model."""
        if not self.blind or self.round < 0 or self.round in self.voted or self._running:
            raise InvalidParameter("There is no finished blind round to vote on.")
        if winner not in WINNERS:
            raise InvalidParameter(f"A vote is one of {', '.join(WINNERS)}.")
        results = self.results[self.round]
        if any(r is None or r.status == MessageStatus.FAILED.value or not r.text for r in results):
            raise InvalidParameter(
                "One of the answers failed or is empty, so there is nothing fair to vote on. "
                "Start a new comparison."
            )
        flagged = ""
        for slot, result in enumerate(results):
            found = names_itself(result.text) if result is not None else None
            if found:
                flagged = f"answer {'AB'[slot]} said “{found}”"
                break
        self.store.add_vote(
            model_a=self.models[0].id,
            model_b=self.models[1].id,
            winner=winner,
            comparison_id=self.comparison_id,
            round_index=self.round,
            flagged=flagged,
            tag=self.tag,
            adapters_a=self.adapters[0],
            adapters_b=self.adapters[1],
        )
        self.voted.add(self.round)
        return flagged

    # -- batch --------------------------------------------------------------------------------

    def run_batch(
        self, prompts: list[str] | list[BatchPrompt], per_month: int, source: str = ""
    ) -> None:
        """Every prompt (each on its own, no follow-up context) through all columns, in the
        background; progress and the report come back as signals. A prompt's tools are offered
        to every column; where it expects a call, each answer's first call is scored (no tool
        is run)."""
        if self._running or self._closed:
            return
        entries = [p if isinstance(p, BatchPrompt) else BatchPrompt(p) for p in prompts]
        self._batch_stop.clear()
        self.comparison_id = self.store.create_comparison(
            f"Batch: {source or f'{len(prompts)} prompts'}",
            "batch",
            [m.id for m in self.models],
            self.tag,
            self.adapters,
        )
        self._running = set(range(len(self.columns)))
        self._batch_rows = []
        self._batch_meta = (entries, per_month, source)

        post, columns, sampling = self._relay.post, self.columns, self.sampling
        together, stop = self.local_together, self._batch_stop

        def work() -> None:
            for index, entry in enumerate(entries):
                if stop.is_set():
                    break
                for column in columns:
                    column.history.clear()
                results = run_round(
                    columns,
                    entry.text,
                    sampling,
                    lambda _slot, _text: None,
                    local_together=together,
                    tools=entry.tools,
                    tool_choice=entry.tool_choice,
                    images=entry.images,
                )
                post(CompareSession._on_batch_row, index, len(entries), results)
            post(CompareSession._on_batch_end)

        threading.Thread(target=work, name="compare-batch", daemon=True).start()

    @property
    def batch_rows(self) -> list[dict[str, Any]]:
        """The running batch's report rows so far (each prompt's answers, calls and scores)."""
        return self._batch_rows

    def _on_batch_row(self, index: int, total: int, results: list[ColumnAnswer]) -> None:
        if self._closed:
            return
        entry = self._batch_meta[0][index]
        self.prompts.append(entry.text)
        self.images.append(entry.images)
        self.results.append(list(results))
        for slot, result in enumerate(results):
            self._save(index, slot, result)
        if entry.images and self.comparison_id is not None:
            parts: Parts = (*entry.images, Text(entry.text))
            self.store.save_comparison_prompt(self.comparison_id, index, parts)
        self._batch_rows.append(batch_row(entry, list(results)))
        self.batch_progress.emit(index + 1, total)

    def _on_batch_end(self) -> None:
        self._running.clear()
        if self._closed:
            return
        _prompts, per_month, source = self._batch_meta
        models = [with_adapters(m.id, a) for m, a in zip(self.models, self.adapters, strict=True)]
        self.batch_finished.emit(
            {
                "source": source,
                "models": models,
                "per_month": per_month,
                "summary": batch_summary(self._batch_rows, models, per_month),
                "results": self._batch_rows,
            }
        )

    # -- closing ------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop every stream, save what each column showed, end the engines."""
        if self._closed:
            return
        self._batch_stop.set()
        if self.comparison_id is not None and self.round >= 0:
            for slot in list(self._running):
                # As shown: no end was reported, so it is kept as stopped.
                shown = Answer(pieces=list(self._shown.get(slot, [])))
                model = self.models[slot]
                self._save(
                    self.round,
                    slot,
                    ColumnAnswer(
                        model.id, shown, isinstance(model, LocalModel), adapters=self.adapters[slot]
                    ),
                )
        self._closed = True
        for column in self.columns:
            column.close()
        self._running.clear()
