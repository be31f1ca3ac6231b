"""One prompt through several models at once, for `llamaside compare` and the compare window.

Each column is one model with its own thread of messages (follow-ups go to every column, each
continuing its own conversation). A local column owns an engine child; a cloud column opens its
provider per answer, through the same network gate as chat (offline switch, privacy record). A
round runs every column on its own thread; local columns that do not fit in memory together run
one after the other instead. A column that fails reports why and the others carry on.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop.backends.cloud import AnthropicProvider, CloudError, OpenAIProvider
from desktop.backends.engine_client import SyncEngine
from desktop.core.errors import LlamasideError
from desktop.core.messages import MessageStatus, status_after
from desktop.core.models import CloudModel, LocalModel
from desktop.core.params import LoadParams, SamplingParams
from desktop.core.pricing import Pricing
from desktop.core.usage import Usage

#: Memory a loaded model needs beyond its file (context, buffers), for the fits-together check.
LOAD_OVERHEAD_BYTES = 600 * 1024 * 1024

Provider = OpenAIProvider | AnthropicProvider


@dataclass
class ColumnResult:
    model_id: str
    text: str = ""
    status: str = MessageStatus.COMPLETE.value
    error: str | None = None
    #: Usage.to_dict(), plus cost_usd / price_checked for a cloud answer; None if unknown.
    usage: dict[str, Any] | None = None
    #: The loaded context size (local), for "context used".
    n_ctx: int | None = None


@dataclass
class Column:
    """One model of a comparison. ``run`` blocks; ``cancel`` may be called from any thread."""

    model: LocalModel | CloudModel
    load_params: LoadParams = field(default_factory=LoadParams)
    open_cloud: Callable[[CloudModel], Provider] | None = None
    pricing: Pricing | None = None
    engine_log: Path | None = None
    system_prompt: str = ""
    history: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._engine: SyncEngine | None = None
        self._cancel = threading.Event()
        self._provider: Provider | None = None
        self._n_ctx: int | None = None
        #: Guards the engine against close() racing a load on the column's thread.
        self._lock = threading.Lock()
        self._closed = False
        self._loading: SyncEngine | None = None

    def reset(self) -> None:
        """Before a round starts (not when this column's turn comes: a Stop pressed while
        local models take turns must hold for a column that has not started yet)."""
        self._cancel.clear()

    def _stopped(self, text: str = "") -> ColumnResult:
        return ColumnResult(self.model.id, text, MessageStatus.STOPPED.value, n_ctx=self._n_ctx)

    @property
    def local(self) -> bool:
        return isinstance(self.model, LocalModel)

    def messages(self, prompt: str) -> list[dict[str, str]]:
        system = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return [*system, *self.history, {"role": "user", "content": prompt}]

    def run(
        self, prompt: str, sampling: SamplingParams, on_delta: Callable[[str], None]
    ) -> ColumnResult:
        if self._cancel.is_set() or self._closed:
            return self._stopped()
        try:
            if isinstance(self.model, LocalModel):
                result = self._run_local(self.model, prompt, sampling, on_delta)
            else:
                result = self._run_cloud(self.model, prompt, sampling, on_delta)
        except CloudError as exc:
            result = ColumnResult(self.model.id, exc.partial, MessageStatus.FAILED.value, str(exc))
        except LlamasideError as exc:
            result = ColumnResult(self.model.id, "", MessageStatus.FAILED.value, str(exc))
        if result.status != MessageStatus.FAILED.value and result.text:
            # This column's own thread: its next answer follows from this one.
            self.history += [
                {"role": "user", "content": prompt},
                {"role": "assistant", "content": result.text},
            ]
        return result

    def _run_local(
        self,
        model: LocalModel,
        prompt: str,
        sampling: SamplingParams,
        on_delta: Callable[[str], None],
    ) -> ColumnResult:
        if self._engine is None:
            engine = SyncEngine(log_path=self.engine_log)
            with self._lock:
                if self._closed:
                    return self._stopped()
                self._loading = engine  # close() ends it even in the middle of the load
            try:
                loaded = engine.load(model.path, self.load_params)
            except LlamasideError:
                engine.close()
                if self._closed or self._cancel.is_set():
                    return self._stopped()
                raise
            finally:
                with self._lock:
                    self._loading = None
            with self._lock:
                if self._closed:
                    engine.close()  # closed while loading: no child may outlive the column
                    return self._stopped()
                self._engine = engine
            self._n_ctx = int(loaded["model"].get("n_ctx") or 0) or None
        engine = self._engine
        if self._cancel.is_set():
            return self._stopped()
        pieces: list[str] = []
        cancel_sent = False
        try:
            for piece in engine.stream(self.messages(prompt), sampling):
                pieces.append(piece)
                on_delta(piece)
                if self._cancel.is_set() and not cancel_sent:
                    # A Stop that came before the request had its id reaches the engine now.
                    engine.cancel_current()
                    cancel_sent = True
        except LlamasideError as exc:
            if not engine.client.running:
                self._engine = None  # it died: the next answer starts a new one
                engine.close()
            return ColumnResult(
                model.id, "".join(pieces), MessageStatus.FAILED.value, str(exc), n_ctx=self._n_ctx
            )
        usage = engine.last.usage
        status = status_after(usage.stop_reason)
        return ColumnResult(
            model.id, "".join(pieces), status.value, None, usage.to_dict(), self._n_ctx
        )

    def _run_cloud(
        self,
        model: CloudModel,
        prompt: str,
        sampling: SamplingParams,
        on_delta: Callable[[str], None],
    ) -> ColumnResult:
        if self.open_cloud is None:
            raise LlamasideError("Cloud models are not available here.")
        provider = self._provider = self.open_cloud(model)
        try:
            for piece in provider.stream(
                self.messages(prompt), model.model, sampling, self._cancel
            ):
                on_delta(piece)
            result = provider.last
        finally:
            self._provider = None
            provider.close()
        status = status_after(result.usage.stop_reason)
        usage = result.usage.to_dict() if result.finished else None
        if usage is not None:
            usage.update(cloud_cost(self.pricing, model, result.usage))
        return ColumnResult(model.id, result.text, status.value, None, usage)

    def cancel(self) -> None:
        self._cancel.set()
        provider = self._provider
        if provider is not None:
            provider.abort()
        engine = self._engine
        if engine is not None:
            engine.cancel_current()

    def close(self) -> None:
        """Stop and end the engine child, also one still loading."""
        self.cancel()
        with self._lock:
            self._closed = True
            engines = [e for e in (self._engine, self._loading) if e is not None]
            self._engine = None
        for engine in engines:
            engine.close()


def cloud_cost(pricing: Pricing | None, model: CloudModel, usage: Usage) -> dict[str, Any]:
    if pricing is None:
        return {"cost_usd": None}
    return pricing.answer_cost(
        model.provider, model.model, usage.prompt_tokens, usage.output_tokens
    )


def threads_each(n_local_running: int, cores: int) -> int:
    """CPU threads per engine when several run at once. llama.cpp's threads spin while they
    wait, so more threads than cores in total makes every engine crawl (two SmolLM2 columns
    with 2 threads each on 2 cores: first token after 7.8 s instead of 0.18 s)."""
    return max(1, cores // max(1, n_local_running))


def fit_together(models: list[LocalModel], ram_available: int) -> bool:
    """Whether all these local models can be loaded at once (file size plus working memory)."""
    need = sum((m.size_bytes or Path(m.path).stat().st_size) + LOAD_OVERHEAD_BYTES for m in models)
    return need <= ram_available


#: How much lower a cloud column's thread runs than the local model's (Linux nice steps).
CLOUD_NICENESS = 10


def yield_to_local_model() -> None:
    """Lower this thread's scheduling priority, for a cloud column streaming beside a local one.

    On a machine with few cores the local model's llama.cpp threads use every core and wait
    for each other at every step by spinning: a core taken for a moment by a cloud column's
    HTTP and SSE parsing stalls all of them. A cloud column needs little CPU and no haste
    (its tokens arrive at network pace), so it runs niced and the scheduler lets the local
    model's threads go first. Linux only (there a thread is a task with its own priority); the
    thread is a column's own and ends with the round, so the lowering never outlives it.
    """
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError):
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + CLOUD_NICENESS)


def run_round(
    columns: list[Column],
    prompt: str,
    sampling: SamplingParams,
    on_delta: Callable[[int, str], None],
    *,
    local_together: bool = True,
    on_done: Callable[[int, ColumnResult], None] | None = None,
) -> list[ColumnResult]:
    """Send the prompt to every column at once and wait for all answers. With
    ``local_together`` False the local columns take turns (one thread runs them in order)."""
    results: list[ColumnResult | None] = [None] * len(columns)

    def run(slot: int) -> None:
        column = columns[slot]
        if not column.local and any(c.local for c in columns):
            yield_to_local_model()
        try:
            result = column.run(prompt, sampling, lambda text: on_delta(slot, text))
        except Exception as exc:  # a column must always report back
            result = ColumnResult(
                column.model.id, "", MessageStatus.FAILED.value, f"{type(exc).__name__}: {exc}"
            )
        results[slot] = result
        if on_done is not None:
            on_done(slot, result)

    for column in columns:
        column.reset()
    groups: list[list[int]] = []
    local_slots = [i for i, c in enumerate(columns) if c.local]
    if local_together:
        groups = [[i] for i in range(len(columns))]
    else:
        groups = [[i] for i, c in enumerate(columns) if not c.local]
        if local_slots:
            groups.append(local_slots)

    def run_group(slots: list[int]) -> None:
        for slot in slots:
            run(slot)

    threads = [
        threading.Thread(target=run_group, args=(slots,), name="compare-column", daemon=True)
        for slots in groups
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [
        r if r is not None else ColumnResult(columns[i].model.id) for i, r in enumerate(results)
    ]
