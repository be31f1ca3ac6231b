"""The engine's blocking face, for the CLI, scripts and tests: SyncEngine (an answer as typed
events or as text), LocalSource (a local model as an AnswerSource), probe_engine (what this
llama.cpp build can do) and the exception a blocking caller raises for a Failed event.

No Qt here. The child process itself (spawn, pipes, safe-mode retry) is engine_process's
EngineClient.
"""

from __future__ import annotations

import os
import queue
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

from desktop.backends.engine_modes import ModeMemory
from desktop.backends.engine_process import EV_EXITED, EV_SAFE_MODE, EngineClient
from desktop.core import protocol as P
from desktop.core.adapters import Adapter
from desktop.core.answer import Answer, AnswerEvent, Failed, Finished, Prompt, TextDelta
from desktop.core.errors import ContextOverflow, EngineCrashed, LlamasideError, ModelLoadError
from desktop.core.params import LoadParams, SamplingParams
from desktop.core.tools import AUTO, ToolChoice, ToolSpec


def physical_cores() -> int:
    """Threads for llama.cpp: physical cores. (The library's default, half the logical cores,
    leaves a core idle on a small machine.)"""
    import psutil

    return max(1, psutil.cpu_count(logical=False) or os.cpu_count() or 1)


class SyncEngine:
    """A blocking face of the engine for the CLI, scripts and tests.

    ``events`` yields an answer's typed events; ``stream`` its text alone, after which
    ``last`` holds the whole Answer.
    """

    def __init__(
        self,
        command: list[str] | None = None,
        log_path: Path | None = None,
        modes: ModeMemory | None = None,
    ) -> None:
        self._events: queue.Queue[P.Message] = queue.Queue()
        self.client = EngineClient(self._events.put, command, log_path, modes)
        self.hello: P.Message = {}
        #: EV_SAFE_MODE events seen: the engine fell back to a safer mode (and went on).
        self.fallbacks: list[P.Message] = []
        self.model: P.Message = {}
        self.load_s = 0.0
        #: The last load's progress reports (0..1), in the order they came.
        self.load_progress: list[float] = []
        self.last = Answer()
        #: The request ``stream`` is reading (what cancel_current stops).
        self.current_id: int | None = None

    def __enter__(self) -> SyncEngine:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _next(self, timeout: float | None) -> P.Message:
        try:
            event = self._events.get(timeout=timeout)
        except queue.Empty:
            raise EngineCrashed("The engine did not answer in time.") from None
        if event["ev"] == EV_EXITED:
            raise EngineCrashed(str(event["message"]))
        if event["ev"] == P.EV_HELLO:
            self.hello = event  # callers skip it: it carries no request id
        elif event["ev"] == EV_SAFE_MODE:
            self.fallbacks.append(event)  # no request id either
        return event

    def load(
        self, path: str, params: LoadParams | None = None, timeout: float | None = 600.0
    ) -> P.Message:
        params = params or LoadParams(n_threads=physical_cores())
        if params.n_threads is None:
            params = LoadParams(**{**params.to_dict(), "n_threads": physical_cores()})
        self.client.start()
        rid = self.client.load(path, params)
        self.load_progress = []
        while True:
            event = self._next(timeout)
            if event.get("id") != rid:
                continue
            if event["ev"] == P.EV_LOAD_PROGRESS:
                self.load_progress.append(float(event["progress"]))
                continue
            if event["ev"] == P.EV_ERROR:
                raise ModelLoadError(str(event["message"]))
            self.model = event["model"]
            self.load_s = float(event["load_s"])
            return event

    def events(
        self,
        messages: list[dict[str, Any]],
        sampling: SamplingParams,
        timeout: float | None = 600.0,
        *,
        tools: Sequence[ToolSpec] = (),
        tool_choice: ToolChoice = AUTO,
        adapters: Sequence[Adapter] = (),
    ) -> Generator[AnswerEvent, None, None]:
        """One answer as typed events; the last is Finished or Failed (the engine's error, or
        its death: code CRASHED)."""
        rid = self.client.generate(
            messages, sampling, tools=tools, tool_choice=tool_choice, adapters=adapters
        )
        self.current_id = rid
        while True:
            try:
                event = self._next(timeout)
            except EngineCrashed as exc:
                yield Failed(str(exc), code=P.CRASHED)
                return
            if event.get("id") != rid:
                continue
            answer = P.answer_event(event)
            if answer is not None:
                yield answer
                if isinstance(answer, Finished | Failed):
                    return

    def stream(
        self,
        messages: list[dict[str, Any]],
        sampling: SamplingParams,
        timeout: float | None = 600.0,
    ) -> Generator[str, None, None]:
        """The answer's text alone (scripts, tests); ``last`` holds the whole Answer. A failure
        raises: ContextOverflow, EngineCrashed, or LlamasideError with the engine's sentence."""
        self.last = last = Answer()
        for event in self.events(messages, sampling, timeout):
            last.add(event)
            if isinstance(event, TextDelta):
                yield event.text
            elif isinstance(event, Failed):
                raise failure_error(event)

    def cancel_current(self) -> None:
        """Cancel the request in flight (safe from another thread)."""
        if self.current_id is not None:
            self.client.cancel(self.current_id)

    def finish_cancelled(self, timeout: float = 2.0, into: Answer | None = None) -> None:
        """After cancel_current() interrupted a stream from outside (Ctrl+C), read the rest of
        its events into ``into`` (default ``last``): the text and usage the engine reports."""
        rid = self.current_id
        into = into if into is not None else self.last
        try:
            while True:
                event = self._next(timeout)
                if event.get("id") != rid:
                    continue
                answer = P.answer_event(event)
                if answer is not None:
                    into.add(answer)
                    if isinstance(answer, Finished | Failed):
                        return
        except EngineCrashed:
            pass

    def close(self) -> None:
        self.client.stop()


def probe_engine(timeout: float = 60.0) -> P.Message:
    """What this llama-cpp-python build can do (backend, GPU offload), asked of a short-lived
    engine child so the caller never imports llama_cpp itself."""
    with SyncEngine() as engine:
        engine.client.start()
        while not engine.hello:
            engine._next(timeout)
        return engine.hello


def failure_error(event: Failed) -> LlamasideError:
    """The exception a blocking caller raises for an engine's Failed event."""
    if event.overflow is not None:
        o = event.overflow
        return ContextOverflow(o.n_tokens, o.limit, o.conversation)
    if event.code == P.CRASHED:
        return EngineCrashed(event.message)
    return LlamasideError(event.message)


class LocalSource:
    """A local model as an AnswerSource: an engine child of its own (a SyncEngine), loaded on
    the first answer; for the CLI and the comparison pane (the window keeps one engine child
    for every chat and feeds its events to the same turn)."""

    def __init__(
        self,
        model_id: str,
        path: str,
        params: LoadParams | None = None,
        *,
        log_path: Path | None = None,
        modes: ModeMemory | None = None,
        adapters: Sequence[Adapter] = (),
    ) -> None:
        self.model_id = model_id
        self.path = path
        self.params = params
        #: LoRA adapters applied to every answer (switching them reloads nothing).
        self.adapters = tuple(adapters)
        self.engine = SyncEngine(log_path=log_path, modes=modes)
        self._loaded = False

    def load(self) -> P.Message:
        """Load now (the answer would otherwise do it): raises ModelLoadError."""
        loaded = self.engine.load(self.path, self.params)
        self._loaded = True
        return loaded

    def answer(self, prompt: Prompt) -> Generator[AnswerEvent, None, None]:
        if not self._loaded:
            try:
                self.load()
            except LlamasideError as exc:
                yield Failed(str(exc), code=P.ERROR_LOAD_FAILED)
                return
        yield from self.engine.events(
            prompt.wire(),
            prompt.sampling,
            tools=prompt.tools,
            tool_choice=prompt.tool_choice,
            adapters=self.adapters,
        )

    def cancel(self) -> None:
        self.engine.cancel_current()

    def close(self) -> None:
        self.engine.close()
