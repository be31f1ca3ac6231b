"""The local server's requests on the window's own engine child (``WindowJobs``, a JobQueue
for backends.openai_server): the same models and the same child as the window's chats, one
request at a time, fairly with them.

Order: served requests run one at a time in arrival order, and only while the window is not
answering, loading or summarising on the engine (a window turn waiting for the user to approve
a tool call, or for its tool calls to run, leaves the engine to them meanwhile). Whatever the
window starts on the engine while a served request runs (a turn's next step, a summary, an
unload, "Try the fast path") waits for that one only, then goes before every other waiting
request; so the window is never starved, and a served request waits at most for what the user
actually started.

Threads: ``submit`` and ``Job.cancel`` come from uvicorn's thread and cross to the GUI thread
as queued signals; everything else runs there, on EngineHost's signals.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from desktop.backends.served_engine import LOAD_FAILED, NOT_RUN, Job
from desktop.core import protocol as P
from desktop.core.answer import AnswerEvent, Failed, Finished
from desktop.core.errors import ModelNotFound
from desktop.core.models import LOCAL_PREFIX, LocalModel
from desktop.core.params import SamplingParams
from desktop.services.relay import Relay

if TYPE_CHECKING:
    from desktop.services.chat import ChatService


@dataclass
class _Running:
    """The served request holding the engine."""

    job: Job
    #: The engine request of its current step (the load, then the answer).
    request_id: int
    loading: bool
    #: The client was told it ended (the server stopped); the engine's end is still awaited.
    abandoned: bool = False


class WindowJobs(QObject):
    """Served requests in line with the window's chats on ChatService's engine child.

    Attributes:
        skipped: requests whose client left before their turn (the engine never saw them).
        answered: requests the engine answered (or began to).

    Signals:
        changed(): a request was queued, started or ended (``waiting``, ``active`` changed).
    """

    changed = Signal()

    def __init__(self, chat: ChatService, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.chat = chat
        self.engine = chat.engine
        #: Settings a request does not give: the window's, as long an answer as the context.
        self.defaults: SamplingParams = self._defaults()
        self._queue: deque[Job] = deque()
        self._running: _Running | None = None
        #: What the window started while a served request held the engine, in order.
        self._window_next: deque[Callable[[], None]] = deque()
        self.open = False
        self.skipped = 0
        self.answered = 0
        # uvicorn's thread hands jobs and their cancels to the GUI thread through it.
        self._relay = Relay(self)
        self.engine.loaded.connect(self._on_loaded)
        self.engine.answered.connect(self._on_answered)
        # The child's end goes to ChatService through us: one that ends under a served request
        # is that request's failure, not the window's turn's (nor its model's).
        self.engine.exited.disconnect(chat._on_exited)
        self.engine.exited.connect(self._on_exited)
        chat.busy_changed.connect(self._on_window_busy)
        chat.served = self

    def _defaults(self) -> SamplingParams:
        return replace(self.chat.sampling, max_tokens=self.chat.load_params.n_ctx)

    # -- JobQueue (any thread) ------------------------------------------------------------------

    def models(self) -> list[LocalModel]:
        return list(self.chat.models)

    def find(self, ref: str) -> LocalModel:
        """The window's local model with this id, with or without ``local:``."""
        bare = ref.removeprefix(LOCAL_PREFIX)
        for model in list(self.chat.models):
            if bare == model.id.removeprefix(LOCAL_PREFIX):
                return model
        raise ModelNotFound(
            f"The model {ref!r} does not exist here. GET /v1/models lists the models this "
            "server has."
        )

    def submit(self, job: Job) -> None:
        """Queue a job (from uvicorn's thread); it runs on the GUI thread in its turn."""
        post = self._relay.post
        job.stop_engine = lambda: post(WindowJobs._on_cancelled, job)
        # Set from the start, so Job.cancel tells us at once (a queued job leaves the line).
        job._running.set()
        post(WindowJobs._on_submitted, job)

    # -- state (GUI thread) ---------------------------------------------------------------------

    @property
    def holds_engine(self) -> bool:
        """Whether a served request has the engine (loading or answering)."""
        return self._running is not None

    @property
    def waiting(self) -> int:
        """Served requests waiting for the engine."""
        return sum(1 for job in self._queue if not job.cancelled)

    @property
    def active(self) -> str:
        """The model id of the served request holding the engine ("" for none)."""
        running = self._running
        return running.job.model.id if running is not None and not running.abandoned else ""

    def wait_for_engine(self, start: Callable[[], None]) -> None:
        """``start`` (the window's) goes next, as soon as the served request ends, after what
        the window queued before it."""
        self._window_next.append(start)

    def forget_window_wait(self, start: Callable[[], None]) -> bool:
        """Take ``start`` out of the line (Stop pressed): True if it was waiting."""
        if start in self._window_next:
            self._window_next.remove(start)
            return True
        return False

    def engine_free(self) -> None:
        """The window let go of the engine without ending its work (its turn runs tool calls,
        or waits for the user to approve one): the next request may use it meanwhile."""
        QTimer.singleShot(0, self, self._next)

    def set_open(self, open_: bool) -> None:
        """Take requests, or stop: waiting ones are refused, the one answering is stopped (the
        client is told now; the window's turn still waits for the engine to end it)."""
        self.open = open_
        if open_:
            self.defaults = self._defaults()
            return
        while self._queue:
            self._refuse(self._queue.popleft(), "The server was switched off.")
        running = self._running
        if running is not None and not running.abandoned:
            running.abandoned = True
            running.job.emit(Failed("The server was switched off.", code=NOT_RUN))
            if not running.loading:
                self.engine.cancel(running.request_id)
        self.changed.emit()

    def _window_on_engine(self) -> bool:
        chat = self.chat
        if chat._waiting is not None:
            return False  # its turn or summary is in this line, not on the engine yet
        if chat._summary is not None:
            return True
        # Between a local turn's model steps the engine is idle until its tools are done.
        turn = chat._turn
        return turn is not None and not turn.cloud and chat._tool_step is None

    # -- the line -------------------------------------------------------------------------------

    def _on_submitted(self, job: Job) -> None:
        if not self.open:
            self._refuse(job, "The server is switched off.")
            return
        self._queue.append(job)
        self.changed.emit()
        self._next()

    def _on_cancelled(self, job: Job) -> None:
        running = self._running
        if running is not None and running.job is job:
            if not running.loading:
                self.engine.cancel(running.request_id)  # the load's end checks the job itself
            return
        if job in self._queue:
            self._queue.remove(job)
            self.skipped += 1
            self._refuse(job, "The request was cancelled before its turn.")
            self.changed.emit()

    @Slot(bool)
    def _on_window_busy(self, busy: bool) -> None:
        if not busy:
            # After the window's own follow-ups (a summary's waiting message goes at once).
            QTimer.singleShot(0, self, self._next)

    def _next(self) -> None:
        """Give the engine to whoever is next: the window's waiting turn, else a request."""
        if self._running is not None:
            return
        # The window's waiters in order (a waiting turn is not on the engine yet), until one
        # of them puts the window on it.
        while self._window_next:
            self._window_next.popleft()()
            if self._window_on_engine():
                return
        if self._window_on_engine() or not self.open:
            return
        while self._queue:
            job = self._queue.popleft()
            if job.cancelled:
                self.skipped += 1
                self._refuse(job, "The request was cancelled before its turn.")
                continue
            self._run(job)
            break
        self.changed.emit()

    def _run(self, job: Job) -> None:
        model = job.model
        engine = self.engine
        if engine.running and model.path == self.chat._loaded_path:
            self._generate(job)  # the model the window (or the last request) loaded
            return
        self.chat._served_took_engine()
        if engine.running:
            engine.unload()
        params, _advice = self.chat.load_params_for(model)
        params = replace(params, mmproj=model.mmproj)
        self.chat.engine_status.emit(f"Loading {model.name} for a served request…")
        self._running = _Running(job, engine.load(model.path, params), loading=True)

    def _generate(self, job: Job) -> None:
        self.answered += 1
        request_id = self.engine.generate(
            job.messages, job.sampling, tools=job.tools, tool_choice=job.tool_choice
        )
        self._running = _Running(job, request_id, loading=False)

    def _end(self) -> None:
        running = self._running
        assert running is not None
        running.job._running.clear()
        self._running = None
        self.changed.emit()
        self._next()

    @staticmethod
    def _refuse(job: Job, message: str) -> None:
        job._running.clear()
        job.emit(Failed(message, code=NOT_RUN))

    # -- the engine's events --------------------------------------------------------------------

    @Slot(int, dict, float)
    def _on_loaded(self, request_id: int, info: dict[str, Any], _load_s: float) -> None:
        running = self._running
        if running is None or request_id != running.request_id:
            return
        # Loaded as the window loads it: a window turn on this model goes on without a load.
        self.chat._served_loaded(running.job.model, int(info.get("n_ctx") or 0))
        self.chat.engine_status.emit(f"{running.job.model.name} · loaded for a served request")
        if running.abandoned or running.job.cancelled:
            if not running.abandoned:
                self.skipped += 1
                self._refuse(running.job, "The request was cancelled before its answer.")
            self._end()
            return
        self._generate(running.job)

    @Slot(int, object)
    def _on_answered(self, request_id: int, event: AnswerEvent) -> None:
        running = self._running
        if running is None or request_id != running.request_id:
            return
        if running.loading:
            if isinstance(event, Failed):  # the model would not load
                self.engine.unload()
                if not running.abandoned:
                    running.job.emit(Failed(event.message, code=LOAD_FAILED))
                self._end()
            return
        if not running.abandoned:
            running.job.emit(event)
        if isinstance(event, Finished | Failed):
            self._end()

    @Slot(str, bool)
    def _on_exited(self, message: str, expected: bool) -> None:
        running = self._running
        if running is None:
            self.chat._on_exited(message, expected)
            return
        self.chat._served_took_engine()
        self.chat._show_safe_mode()
        if not running.abandoned:
            running.job.emit(Failed(f"The engine stopped: {message}", code=P.CRASHED))
        if not expected:
            self.chat.engine_status.emit(
                "Engine stopped during a served request · it restarts with the next message"
            )
        self._end()

    def close(self) -> None:
        """Stop serving and forget the window (its service is closing)."""
        self.set_open(False)
        if self.chat.served is not self:
            return  # closed already
        self.chat.served = None
        self.engine.exited.disconnect(self._on_exited)
        self.engine.exited.connect(self.chat._on_exited)
