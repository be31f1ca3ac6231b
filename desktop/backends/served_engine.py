"""The engine as the local server uses it: one engine child, one request at a time, first come
first served (``ServedEngine``), and the served-requests log (``ServedLog``).

Each request is a ``Job``: it waits its turn on a single worker thread, which loads the model
it names if another one is loaded, asks the engine, and hands every event to the asyncio loop
that serves the client. A job cancelled before its turn never reaches the engine; one
cancelled while answering stops within a token (the engine's own cancel), so the next request
does not wait for an answer nobody reads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from desktop.backends.engine_client import SyncEngine
from desktop.core import protocol as P
from desktop.core.answer import AnswerEvent, Failed, Finished
from desktop.core.errors import LlamasideError, ModelNotFound
from desktop.core.models import LOCAL_PREFIX, LocalModel
from desktop.core.params import LoadParams, SamplingParams
from desktop.core.tools import AUTO, ToolChoice, ToolSpec
from desktop.core.usage import StopReason

#: The Failed code of a job whose model would not load.
LOAD_FAILED = P.ERROR_LOAD_FAILED
#: The Failed code of a job cancelled before its turn came.
NOT_RUN = "not_run"


@dataclass
class Job:
    """One request waiting for, or holding, the engine. Its events come out of ``events()``
    on the loop that made it; ``cancel()`` may be called from that loop at any time."""

    model: LocalModel
    messages: list[dict[str, Any]]
    sampling: SamplingParams
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice = AUTO
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.get_running_loop)
    _queue: asyncio.Queue[AnswerEvent] = field(default_factory=asyncio.Queue, init=False)
    _cancelled: threading.Event = field(default_factory=threading.Event, init=False)
    #: Set by the worker while the engine answers this job (cancel must reach the engine).
    _running: threading.Event = field(default_factory=threading.Event, init=False)
    #: Stops the engine's answer in progress; set by the queue that runs the job.
    stop_engine: Callable[[], None] | None = field(default=None, init=False)

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Stop this job: skipped if it has not started, else the engine stops within a token."""
        if self._cancelled.is_set():
            return
        self._cancelled.set()
        if self._running.is_set() and self.stop_engine is not None:
            self.stop_engine()

    def emit(self, event: AnswerEvent) -> None:
        """From the worker thread: hand one event to the client's loop."""
        with contextlib.suppress(RuntimeError):  # the loop has closed: no one is listening
            self.loop.call_soon_threadsafe(self._queue.put_nowait, event)

    async def events(self) -> AsyncIterator[AnswerEvent]:
        """The job's events until its Finished or Failed (included)."""
        while True:
            event = await self._queue.get()
            yield event
            if isinstance(event, Finished | Failed):
                return


class JobQueue(Protocol):
    """What the server needs of an engine: the models it may load, and a fair queue of jobs.
    ServedEngine is one with an engine child of its own; the window can offer one that puts
    the server's jobs in line with its own chats on its engine."""

    #: Settings a request does not give.
    defaults: SamplingParams

    def models(self) -> list[LocalModel]: ...

    def find(self, ref: str) -> LocalModel:
        """The listed model with this id; raises ModelNotFound."""
        ...

    def submit(self, job: Job) -> None:
        """Queue a job: it gets the engine after those queued before it."""
        ...


class ServedEngine:
    """One engine child serving requests one at a time, in the order they came.

    ``models`` lists what clients may ask for (called again for each lookup, so a model added
    meanwhile is found); only those are loaded, never a path a client names. One model is
    loaded at a time; a request for another loads it in its turn.
    """

    def __init__(
        self,
        engine: SyncEngine,
        models: Callable[[], Sequence[LocalModel]],
        load_params: LoadParams | Callable[[LocalModel], LoadParams],
        defaults: SamplingParams | None = None,
    ) -> None:
        """``load_params``: how to load every model, or how to load each one."""
        self.engine = engine
        self._models = models
        self.load_params = load_params
        #: Settings a request does not give (the app's own defaults).
        self.defaults = defaults or SamplingParams()
        #: The model the engine holds ("" for none).
        self.loaded_path = ""
        # One worker, so its queue is the FIFO: requests reach the engine in arrival order.
        self._worker = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="llamaside-serve"
        )
        self._closed = False
        #: Answers the engine stopped before their end (a client gone, a stop string met).
        self.stopped = 0
        #: Requests whose client left before their turn: the engine never saw them.
        self.skipped = 0
        self._waiting = 0
        self._count_lock = threading.Lock()

    @property
    def waiting(self) -> int:
        """Requests queued behind the one the engine is answering."""
        return self._waiting

    def models(self) -> list[LocalModel]:
        return list(self._models())

    def find(self, ref: str) -> LocalModel:
        """The listed model with this id, with or without ``local:``; ModelNotFound if none."""
        bare = ref.removeprefix(LOCAL_PREFIX)
        for model in self._models():
            if bare == model.id.removeprefix(LOCAL_PREFIX):
                return model
        raise ModelNotFound(
            f"The model {ref!r} does not exist here. GET /v1/models lists the models this "
            "server has."
        )

    def load(self, model: LocalModel) -> None:
        """Load a model now, on the worker (the CLI does it before serving)."""
        self._worker.submit(self._ensure_loaded, model).result()

    def submit(self, job: Job) -> None:
        """Queue a job; its events arrive through ``job.events()``."""
        job.stop_engine = self.engine.cancel_current
        if self._closed:
            job.emit(Failed("The server is shutting down.", code=NOT_RUN))
            return
        with self._count_lock:
            self._waiting += 1
        self._worker.submit(self._run, job)

    def _ensure_loaded(self, model: LocalModel) -> None:
        if self.loaded_path == model.path:
            return
        self.loaded_path = ""
        own = self.load_params
        own = own if isinstance(own, LoadParams) else own(model)
        params = LoadParams.from_dict({**own.to_dict(), "mmproj": model.mmproj})
        self.engine.load(model.path, params)
        self.loaded_path = model.path

    def _run(self, job: Job) -> None:
        with self._count_lock:
            self._waiting -= 1
        if job.cancelled or self._closed:
            self.skipped += 1
            job.emit(Failed("The request was cancelled before its turn.", code=NOT_RUN))
            return
        try:
            self._ensure_loaded(job.model)
        except LlamasideError as exc:
            job.emit(Failed(str(exc), code=LOAD_FAILED))
            return
        job._running.set()
        try:
            stopping = False
            for event in self.engine.events(
                job.messages, job.sampling, tools=job.tools, tool_choice=job.tool_choice
            ):
                if job.cancelled and not stopping:
                    # Gone client: stop the engine, read its last events, pass them on.
                    stopping = True
                    self.engine.cancel_current()
                job.emit(event)
                if isinstance(event, Finished) and event.usage.stop_reason == StopReason.CANCELLED:
                    self.stopped += 1
                if isinstance(event, Failed) and event.code == P.CRASHED:
                    self.loaded_path = ""  # a new child has nothing loaded
        finally:
            job._running.clear()

    def close(self) -> None:
        """Stop taking jobs, cancel waiting ones, end the engine child."""
        self._closed = True
        self._worker.shutdown(wait=False, cancel_futures=True)
        self.engine.cancel_current()
        self._worker.shutdown(wait=True)
        self.engine.close()


#: The served-requests log keeps this many lines (the oldest go first).
LOG_KEEP = 5000


class ServedLog:
    """The served-requests log: one JSON line per request (time, client, model, status,
    tokens, seconds; never what was asked or answered), the last ``keep`` lines kept.

    ``on_entry`` is told of each entry too (the CLI prints it).
    """

    def __init__(
        self,
        path: Path,
        keep: int = LOG_KEEP,
        on_entry: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.path = path
        self.keep = keep
        self.on_entry = on_entry
        self._lock = threading.Lock()
        self._lines: int | None = None

    def _count(self) -> int:
        try:
            with self.path.open("rb") as file:
                return sum(1 for _ in file)
        except OSError:
            return 0

    def write(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as file:
                    file.write(line)
                if self._lines is None:
                    self._lines = self._count()
                else:
                    self._lines += 1
                # Trimmed in steps of a tenth, so a full log is not rewritten per request.
                if self._lines > self.keep + max(1, self.keep // 10):
                    self._trim()
            except OSError:
                pass  # a full disk must not fail the request; the log is a record, not a need
        if self.on_entry is not None:
            self.on_entry(entry)

    def _trim(self) -> None:
        kept = self.path.read_text(encoding="utf-8").splitlines(keepends=True)[-self.keep :]
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text("".join(kept), encoding="utf-8")
        temporary.replace(self.path)
        self._lines = len(kept)

    def entries(self) -> list[dict[str, Any]]:
        """The entries kept, oldest first."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def log_entry(
    *,
    client: str,
    path: str,
    model: str,
    status: int,
    started: float,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    stream: bool = False,
    finish: str = "",
    error: str = "",
) -> dict[str, Any]:
    """One served-requests log line (``started`` from time.monotonic())."""
    entry: dict[str, Any] = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "client": client,
        "path": path,
        "model": model,
        "status": status,
        "stream": stream,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "seconds": round(time.monotonic() - started, 3),
    }
    if finish:
        entry["finish"] = finish
    if error:
        entry["error"] = error
    return entry
