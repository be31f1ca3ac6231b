"""One prompt through several models at once, for `llamaside compare` and the compare window.

Each column is one model with its own thread of messages (follow-ups go to every column, each
continuing its own conversation), answered by an AnswerSource as chat's are: a local column owns
an engine child (LocalSource); a cloud column opens its provider per answer (CloudSource),
through the same network gate as chat (offline switch, privacy record). Its result is the
source's Answer in a ColumnAnswer. A round runs every column on its own thread; local columns
that do not fit in memory together run one after the other instead. Local columns of one model
(base vs fine-tune: the same model, with and without LoRA adapters) share one engine child
(share_engines): the model is loaded once, each answer carries its column's adapters (the
engine switches them without reloading), and those columns take turns on it. A column that
fails reports why and the others carry on. A prompt may carry pictures: a column whose model
cannot see is not asked, and ends at once with the sentence that says why.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from desktop.backends.cloud import AnthropicProvider, CloudSource, OpenAIProvider
from desktop.backends.engine_client import LocalSource
from desktop.backends.engine_modes import ModeMemory
from desktop.core.adapters import Adapter
from desktop.core.answer import (
    Answer,
    AnswerEvent,
    Prompt,
    PromptMessage,
    TextDelta,
    collect,
)
from desktop.core.compare import ColumnAnswer
from desktop.core.errors import LlamasideError
from desktop.core.messages import MessageStatus, Role
from desktop.core.models import CloudModel, LocalModel
from desktop.core.params import LoadParams, SamplingParams
from desktop.core.parts import TOOL_CANCELLED, Image, Text, ToolResult
from desktop.core.pricing import Pricing
from desktop.core.tools import AUTO, ToolChoice, ToolSpec
from desktop.core.usage import Usage
from desktop.core.vision import cannot_see_note, cloud_model_sees

#: The result a comparison's calls are given in a column's thread: it offers tools, runs none.
NOT_RUN = "Not run: a comparison offers tools to the models but does not run them."
#: Memory a loaded model needs beyond its file (context, buffers), for the fits-together check.
LOAD_OVERHEAD_BYTES = 600 * 1024 * 1024

Provider = OpenAIProvider | AnthropicProvider
Source = LocalSource | CloudSource


class SharedEngine:
    """One engine child for the local columns of one model: loaded by the first that answers,
    used in turn by each (with its own adapters), ended when the last of them closes.
    ``columns``: how many columns use it and have not closed."""

    def __init__(self) -> None:
        self.source: LocalSource | None = None
        self.n_ctx: int | None = None
        self.columns = 0


@dataclass
class Column:
    """One model of a comparison: its own thread of messages and the AnswerSource that answers
    it, a LocalSource (an engine child of its own, loaded on the first answer and kept) or a
    CloudSource (its provider opened for each answer). ``run`` blocks and returns the
    source's Answer in a ColumnAnswer; ``cancel`` may be called from any thread."""

    model: LocalModel | CloudModel
    load_params: LoadParams = field(default_factory=LoadParams)
    open_cloud: Callable[[CloudModel], Provider] | None = None
    pricing: Pricing | None = None
    engine_log: Path | None = None
    #: The engine's safe mode for this machine (shared with the chat's engine).
    modes: ModeMemory | None = None
    system_prompt: str = ""
    #: Where the prompts' pictures are stored (the Prompt's image_root).
    image_root: str = ""
    #: This column's own thread of messages (a follow-up continues it).
    history: list[PromptMessage] = field(default_factory=list)
    #: The LoRA adapters a local model answers with (base vs fine-tune: two columns of one
    #: model, one with them); applied per answer, so they reload nothing.
    adapters: tuple[Adapter, ...] = ()
    #: The engine child this column shares with others of its model (share_engines); None: its
    #: own.
    share: SharedEngine | None = None

    def __post_init__(self) -> None:
        self._cancel = threading.Event()
        #: The source answering now (a local one stays between answers).
        self._source: Source | None = None
        self._n_ctx: int | None = None
        #: Guards the source against close() racing a load on the column's thread.
        self._lock = threading.Lock()
        self._closed = False
        #: Whether a request of this column is in flight (a shared engine's cancel stops the
        #: request it is running, which may be another column's).
        self._answering = False

    def reset(self) -> None:
        """Before a round starts (not when this column's turn comes: a Stop pressed while
        local models take turns must hold for a column that has not started yet)."""
        self._cancel.clear()

    @property
    def local(self) -> bool:
        return isinstance(self.model, LocalModel)

    def _result(
        self, answer: Answer | None = None, cost: dict[str, Any] | None = None
    ) -> ColumnAnswer:
        return ColumnAnswer(
            self.model.id, answer or Answer(), self.local, self._n_ctx, cost or {}, self.adapters
        )

    def prompt(
        self,
        text: str,
        sampling: SamplingParams,
        tools: tuple[ToolSpec, ...] = (),
        tool_choice: ToolChoice = AUTO,
        images: Sequence[Image] = (),
    ) -> Prompt:
        """What the source is asked: this column's thread so far, then ``text`` after its
        pictures, with the tools every column of the round is offered."""
        question = PromptMessage(Role.USER, (*images, Text(text)))
        return Prompt(
            (*self.history, question),
            sampling,
            self.system_prompt,
            tools=tools,
            tool_choice=tool_choice if tools else AUTO,
            image_root=self.image_root,
        )

    def run(
        self,
        prompt: str,
        sampling: SamplingParams,
        on_delta: Callable[[str], None],
        *,
        local_busy: threading.Event | None = None,
        tools: tuple[ToolSpec, ...] = (),
        tool_choice: ToolChoice = AUTO,
        images: Sequence[Image] = (),
    ) -> ColumnAnswer:
        """One answer: one model step, whose tool calls are kept and never run. ``local_busy``:
        for a cloud column, set while a local model of the same round is still answering (the
        column then reads its stream in bursts: Coalescer). With ``images`` for a model that
        cannot see, nothing is asked: the answer fails at once with the sentence why."""
        note = vision_note(self.model) if images else ""
        if self._cancel.is_set() or self._closed or note:
            ended = self._cancel.is_set() or self._closed
            return self._result(None if ended else Answer(error=note))
        try:
            source = self._open()
        except LlamasideError as exc:
            if self._closed or self._cancel.is_set():
                return self._result()
            return self._result(Answer(error=str(exc)))
        if source is None:
            return self._result()  # closed while it loaded
        if self._cancel.is_set():
            self._release(source)
            return self._result()
        asked = self.prompt(prompt, sampling, tools, tool_choice, images)
        pace = Coalescer(self._cancel, CLOUD_COALESCE_S, local_busy)
        cancel_sent = False

        def on_event(event: AnswerEvent) -> None:
            nonlocal cancel_sent
            if isinstance(event, TextDelta):
                on_delta(event.text)
                pace.after_piece()
            if self._cancel.is_set() and not cancel_sent:
                # A Stop that came before the request was under way reaches the source now.
                source.cancel()
                cancel_sent = True

        self._answering = True
        try:
            answer = collect(source, asked, on_event)
        finally:
            self._answering = False
            self._release(source)
        cost = self._cost(source, answer)
        if answer.status != MessageStatus.FAILED and (answer.text or answer.calls):
            # This column's own thread: its next answer follows from this one. Its calls were
            # not run, and every API wants each call answered, so each gets a "not run" result.
            not_run = tuple(
                ToolResult(call.call_id, NOT_RUN, is_error=True, status=TOOL_CANCELLED)
                for call in answer.calls
            )
            said = PromptMessage(Role.ASSISTANT, (*answer.parts, *not_run))
            self.history += [asked.messages[-1], said]
        return self._result(answer, cost)

    def _open(self) -> Source | None:
        """The source for this answer (None: the column was closed meanwhile). A local model
        is loaded here, once; a cloud provider is opened through the network gate."""
        if isinstance(self.model, CloudModel):
            if self.open_cloud is None:
                raise LlamasideError("Cloud models are not available here.")
            source = CloudSource(self.open_cloud(self.model), self.model.id, self.model.model)
            with self._lock:
                if self._closed:
                    source.close()
                    return None
                self._source = source
            return source
        share = self.share
        if share is not None and self._source is not share.source:
            # Loaded by another of its columns (or ended after one's engine died: None).
            self._source, self._n_ctx = share.source, share.n_ctx
        if self._source is not None:
            assert isinstance(self._source, LocalSource)
            self._source.adapters = self.adapters  # this column's, on an engine it may share
            return self._source
        local = LocalSource(
            self.model.id,
            self.model.path,
            replace(self.load_params, mmproj=self.model.mmproj),
            log_path=self.engine_log,
            modes=self.modes,
            adapters=self.adapters if self.local else (),
        )
        with self._lock:
            if self._closed:
                return None
            self._source = local  # close() ends it even in the middle of the load
        try:
            loaded = local.load()
        except LlamasideError:
            local.close()
            with self._lock:
                if self._source is local:
                    self._source = None
            raise
        with self._lock:
            if self._closed:
                local.close()  # closed while loading: no child may outlive the column
                return None
        self._n_ctx = int(loaded["model"].get("n_ctx") or 0) or None
        if share is not None:
            share.source, share.n_ctx = local, self._n_ctx
        return local

    def _release(self, source: Source) -> None:
        """After an answer: a cloud provider is closed; a local engine that died is ended (the
        next answer starts a new one)."""
        if isinstance(source, LocalSource) and source.engine.client.running:
            return  # kept for the column's next answer
        source.close()
        with self._lock:
            if self._source is source:
                self._source = None
        if self.share is not None and self.share.source is source:
            self.share.source = None  # the next answer of any of its columns starts a new one

    def _cost(self, source: Source, answer: Answer) -> dict[str, Any]:
        usage = answer.usage
        if not isinstance(source, CloudSource) or not answer.finished or usage is None:
            return {}
        assert isinstance(self.model, CloudModel)
        return cloud_cost(self.pricing, self.model, usage, source.provider.base_url)

    def cancel(self) -> None:
        self._cancel.set()
        source = self._source
        if source is not None and (self.share is None or self._answering):
            source.cancel()

    def close(self) -> None:
        """Stop and end the engine child, also one still loading (a shared one when the last
        of its columns closes)."""
        self.cancel()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            source, self._source = self._source, None
        share = self.share
        if share is not None:
            share.columns -= 1
            if share.columns > 0:  # the others still use it
                if isinstance(source, LocalSource) and source is not share.source:
                    source.close()  # its own load, not shared yet
                return
            shared, share.source = share.source, None
            if shared is not None and shared is not source:
                shared.close()
        if isinstance(source, LocalSource):
            source.close()


def share_engines(columns: Sequence[Column]) -> int:
    """Local columns of the same model file and load settings share one engine child (base vs
    fine-tune: their adapters differ, applied per answer). Returns how many engine children
    the local columns need."""
    shares: dict[tuple[str, str], SharedEngine] = {}
    engines = 0
    for column in columns:
        model = column.model
        if not isinstance(model, LocalModel):
            continue
        key = (model.path, repr(column.load_params))
        share = shares.get(key)
        if share is None:
            share = shares[key] = SharedEngine()
            engines += 1
        share.columns += 1
        column.share = share
    for share in shares.values():
        if share.columns == 1:  # alone: its own engine, run beside the others
            for column in columns:
                if column.share is share:
                    column.share = None
    return engines


def vision_note(model: LocalModel | CloudModel) -> str:
    """ "" when the model takes pictures, else the sentence that says why not (the one chat's
    send path and attach button say: services.chat_images.vision_note)."""
    if isinstance(model, LocalModel):
        return "" if model.mmproj else cannot_see_note(model.name, local=True)
    return "" if cloud_model_sees(model.model) else cannot_see_note(model.name, local=False)


def cloud_cost(
    pricing: Pricing | None, model: CloudModel, usage: Usage, base_url: str = ""
) -> dict[str, Any]:
    if pricing is None:
        return {"cost_usd": None}
    return pricing.answer_cost(model.provider, model.model, usage, base_url)


def threads_each(n_local_running: int, cores: int) -> int:
    """CPU threads per engine when several run at once. llama.cpp's threads spin while they
    wait, so more threads than cores in total makes every engine crawl."""
    return max(1, cores // max(1, n_local_running))


def column_load_params(own: LoadParams, threads: int) -> LoadParams:
    """A local column's load settings: its model's own (the fit plan and what the user set for
    it, as the main window loads it), with no more than ``threads`` CPU threads, this column's
    share of the cores while several engines run at once."""
    return replace(own, n_threads=min(own.n_threads or threads, threads))


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

    Each piece wakes the column's thread, and on cores the local model keeps busy a wake-up
    stalls all of llama.cpp's threads (they meet at a barrier after every step): it costs far
    more than parsing one more piece. So, only while a local model answers, the thread waits
    ``interval_s`` after each wake-up and takes whatever arrived in one go. Pieces (and the
    answer's measured end) come up to that much later; the first piece, and so time to first
    token, is never held, and Stop ends the wait at once (numbers: docs/benchmarks.md).
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
    on_done: Callable[[int, ColumnAnswer], None] | None = None,
    tools: tuple[ToolSpec, ...] = (),
    tool_choice: ToolChoice = AUTO,
    images: Sequence[Image] = (),
) -> list[ColumnAnswer]:
    """Send the prompt to every column at once and wait for all answers. With
    ``local_together`` False the local columns take turns (one thread runs them in order).
    ``tools``: offered alike to every column; their calls are kept in the answers, not run.
    ``images``: sent with the prompt to every column that can see (the others say so)."""
    results: list[ColumnAnswer | None] = [None] * len(columns)
    #: Set while any local column is still answering; locals_left: those not done yet.
    local_busy = threading.Event()
    locals_left = sum(c.local for c in columns)
    lock = threading.Lock()
    if locals_left:
        local_busy.set()

    def run(slot: int) -> None:
        nonlocal locals_left
        column = columns[slot]
        # Not niced: lowering these threads' priority did not help the local column.
        beside_local = not column.local and local_busy.is_set()
        try:
            result = column.run(
                prompt,
                sampling,
                lambda text: on_delta(slot, text),
                local_busy=local_busy if beside_local else None,
                tools=tools,
                tool_choice=tool_choice,
                images=images,
            )
        except Exception as exc:  # a column must always report back
            failed = Answer(error=f"{type(exc).__name__}: {exc}")
            result = ColumnAnswer(column.model.id, failed, column.local, adapters=column.adapters)
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
        # Columns sharing an engine child take turns on it; the others each run at once.
        by_engine: dict[int, list[int]] = {}
        for i, column in enumerate(columns):
            key = id(column.share) if column.share is not None else -1 - i
            by_engine.setdefault(key, []).append(i)
        groups = list(by_engine.values())
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
        r
        if r is not None
        else ColumnAnswer(columns[i].model.id, local=columns[i].local, adapters=columns[i].adapters)
        for i, r in enumerate(results)
    ]
