"""One prompt through several models at once, for `llamaside compare` and the compare window.

Each column is one model with its own thread of messages (follow-ups go to every column, each
continuing its own conversation). A local column owns an engine child; a cloud column opens its
provider per answer, through the same network gate as chat (offline switch, privacy record). A
round runs every column on its own thread; local columns that do not fit in memory together run
one after the other instead. A column that fails reports why and the others carry on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop.backends.cloud import AnthropicProvider, CloudError, OpenAIProvider
from desktop.backends.engine_client import SyncEngine
from desktop.backends.engine_modes import ModeMemory
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
    #: The engine's safe mode for this machine (shared with the chat's engine).
    modes: ModeMemory | None = None
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
        self,
        prompt: str,
        sampling: SamplingParams,
        on_delta: Callable[[str], None],
        *,
        local_busy: threading.Event | None = None,
    ) -> ColumnResult:
        """One answer. ``local_busy``: for a cloud column, set while a local model of the same
        round is still answering (the column then reads its stream in bursts: Coalescer)."""
        if self._cancel.is_set() or self._closed:
            return self._stopped()
        try:
            if isinstance(self.model, LocalModel):
                result = self._run_local(self.model, prompt, sampling, on_delta)
            else:
                result = self._run_cloud(self.model, prompt, sampling, on_delta, local_busy)
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
            engine = SyncEngine(log_path=self.engine_log, modes=self.modes)
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
        local_busy: threading.Event | None,
    ) -> ColumnResult:
        if self.open_cloud is None:
            raise LlamasideError("Cloud models are not available here.")
        provider = self._provider = self.open_cloud(model)
        pace = Coalescer(self._cancel, CLOUD_COALESCE_S, local_busy)
        try:
            for piece in provider.stream(
                self.messages(prompt), model.model, sampling, self._cancel
            ):
                on_delta(piece)
                pace.after_piece()
            result = provider.last
        finally:
            self._provider = None
            provider.close()
        status = status_after(result.usage.stop_reason)
        usage = result.usage.to_dict() if result.finished else None
        if usage is not None:
            usage.update(cloud_cost(self.pricing, model, result.usage, provider.base_url))
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


def cloud_cost(
    pricing: Pricing | None, model: CloudModel, usage: Usage, base_url: str = ""
) -> dict[str, Any]:
    if pricing is None:
        return {"cost_usd": None}
    return pricing.answer_cost(model.provider, model.model, usage, base_url)


def threads_each(n_local_running: int, cores: int) -> int:
    """CPU threads per engine when several run at once. llama.cpp's threads spin while they
    wait, so more threads than cores in total makes every engine crawl (two SmolLM2 columns
    with 2 threads each on 2 cores: first token after 7.8 s instead of 0.18 s)."""
    return max(1, cores // max(1, n_local_running))


def fit_together(models: list[LocalModel], ram_available: int) -> bool:
    """Whether all these local models can be loaded at once (file size plus working memory)."""
    need = sum((m.size_bytes or Path(m.path).stat().st_size) + LOAD_OVERHEAD_BYTES for m in models)
    return need <= ram_available


#: A cloud column beside a local model reads its stream at most this often (see Coalescer).
CLOUD_COALESCE_S = 0.05
#: Pieces handled closer together than this came from one read of the socket.
BURST_GAP_S = 0.002


class Coalescer:
    """Lets a cloud stream's pieces gather in the socket for a moment before reading on.

    Each piece a provider sends wakes the column's thread; on a machine whose cores the local
    model keeps busy, every wake-up takes a core from llama.cpp's threads, which then all wait
    for it (they meet at a barrier after every step). A wake-up costs far more than parsing
    one more piece (here ~300 us a wake-up vs ~15 us a piece), so after each wake-up the thread
    waits ``interval_s`` and then takes whatever arrived in one go: at 75 pieces a second,
    two wake-ups per four pieces instead of four. Pieces reach the screen up to that much later
    (still 20 updates a second), and an answer's measured end with them: its tokens/s reads up
    to 50 ms short, about 1% of a 4-second answer. The first piece, and so time to first token,
    is never held. Stop ends the wait at once. Only while a local model is answering: a cloud
    answer that outlasts it is read as it comes again, and its end measured exactly.
    """

    def __init__(
        self, cancel: threading.Event, interval_s: float, local_busy: threading.Event | None
    ) -> None:
        self._cancel = cancel
        self._interval = interval_s
        self._local_busy = local_busy
        self._last = time.perf_counter()

    def after_piece(self) -> None:
        if self._interval <= 0 or self._local_busy is None or not self._local_busy.is_set():
            return
        now = time.perf_counter()
        if now - self._last > BURST_GAP_S:  # this piece woke the thread: let more gather
            self._cancel.wait(self._interval)
            now = time.perf_counter()
        self._last = now


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
    #: Set while any local column is still answering; locals_left: those not done yet.
    local_busy = threading.Event()
    locals_left = sum(c.local for c in columns)
    lock = threading.Lock()
    if locals_left:
        local_busy.set()

    def run(slot: int) -> None:
        nonlocal locals_left
        column = columns[slot]
        # Not niced as well: lowering these threads' priority measured no better, if anything
        # worse (0.97 of alone vs 0.98-0.99, interleaved rounds, Linux 6.18's EEVDF).
        beside_local = not column.local and local_busy.is_set()
        try:
            result = column.run(
                prompt,
                sampling,
                lambda text: on_delta(slot, text),
                local_busy=local_busy if beside_local else None,
            )
        except Exception as exc:  # a column must always report back
            result = ColumnResult(
                column.model.id, "", MessageStatus.FAILED.value, f"{type(exc).__name__}: {exc}"
            )
        if column.local:
            with lock:
                locals_left -= 1
                if not locals_left:
                    local_busy.clear()
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
