"""EngineHost: the engine child as a QObject. Protocol events become signals on the GUI thread."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from desktop.backends.engine_modes import ModeMemory
from desktop.backends.engine_process import CANCEL_GRACE_S, EV_EXITED, EV_SAFE_MODE, EngineClient
from desktop.core import protocol as P
from desktop.core.adapters import Adapter
from desktop.core.engine_mode import SafeMode
from desktop.core.params import LoadParams, SamplingParams
from desktop.core.tools import AUTO, ToolChoice, ToolSpec
from desktop.services.relay import Relay


class EngineHost(QObject):
    """Starts, talks to and ends the engine child.

    Signals:
        hello(dict): the child started (backend, gpu_offload, llama_cpp_version).
        load_progress(int, str, float): request id, model path, the share of its weights
            read so far (0..1, rising, a few times a second; 1.0 before ``loaded``).
        loaded(int, dict, float): request id, model info, load seconds.
        started(int, int): request id, prompt tokens (the prompt fits; decoding begins).
        answered(int, object): request id, an AnswerEvent (text, thinking, Finished with
            the usage, or Failed: the engine's error, a load's included).
        exited(str, bool): the child ended: message, and whether we asked it to.
        safe_mode(): the child crashed loading a model or reading its first prompt and goes
            on in a safer mode, the request in flight with it (safe_mode_in_force says which).
    """

    hello = Signal(dict)
    load_progress = Signal(int, str, float)
    loaded = Signal(int, dict, float)
    started = Signal(int, int)
    answered = Signal(int, object)
    exited = Signal(str, bool)
    safe_mode = Signal()

    def __init__(
        self,
        command: list[str] | None = None,
        log_path: Path | None = None,
        parent: QObject | None = None,
        *,
        modes_path: Path | None = None,
    ) -> None:
        super().__init__(parent)
        modes = ModeMemory(modes_path) if modes_path is not None else None
        #: The safe mode remembered for this machine, for other engines of the app (compare).
        self.modes = modes
        # The client's reader thread hands each event to the GUI thread through the relay.
        relay = Relay(self)
        self._client = EngineClient(
            functools.partial(relay.post, EngineHost._on_event), command, log_path, modes
        )
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._on_cancel_grace_over)
        self._cancelling: int | None = None
        #: The model path of each load in flight, by request id (for load_progress).
        self._loading: dict[int, str] = {}

    @property
    def running(self) -> bool:
        return self._client.running

    @property
    def pid(self) -> int | None:
        return self._client.pid

    @property
    def safe_mode_in_force(self) -> SafeMode | None:
        """The safe mode models load in on this machine (None: the fast path)."""
        return self._client.safe_mode

    def try_fast_path(self) -> None:
        """Forget the safe mode and end the child, so the next load takes the fast path."""
        self._client.try_fast_path()
        self.unload()

    def load(self, path: str, params: LoadParams) -> int:
        self._client.start()
        rid = self._client.load(path, params)
        self._loading[rid] = path
        return rid

    def generate(
        self,
        messages: list[dict[str, Any]],
        sampling: SamplingParams,
        *,
        tools: Sequence[ToolSpec] = (),
        tool_choice: ToolChoice = AUTO,
        adapters: Sequence[Adapter] = (),
    ) -> int:
        return self._client.generate(
            messages, sampling, tools=tools, tool_choice=tool_choice, adapters=adapters
        )

    def cancel(self, request_id: int) -> None:
        """Stop an answer: the child ends it within a token; if it cannot (a long prompt on a
        backend that ignores the abort callback), the child is killed after a grace period."""
        self._cancelling = request_id
        self._client.cancel(request_id)
        self._kill_timer.start(int(CANCEL_GRACE_S * 1000))

    def unload(self) -> None:
        """End the child; the operating system takes back all of the model's memory."""
        self._kill_timer.stop()
        self._client.stop()

    def kill(self) -> None:
        self._client.kill()

    @Slot()
    def _on_cancel_grace_over(self) -> None:
        if self._cancelling is not None:
            self._client.kill()

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("ev")
        rid = int(event.get("id", -1))
        if kind in (P.EV_DONE, P.EV_ERROR) and rid == self._cancelling:
            self._cancelling = None
            self._kill_timer.stop()
        if kind in (P.EV_LOADED, P.EV_ERROR):
            self._loading.pop(rid, None)
        answer = P.answer_event(event)
        if kind == P.EV_LOAD_PROGRESS and rid in self._loading:
            self.load_progress.emit(rid, self._loading[rid], float(event["progress"]))
        elif answer is not None:
            self.answered.emit(rid, answer)
        elif kind == P.EV_STARTED:
            self.started.emit(rid, int(event["prompt_tokens"]))
        elif kind == P.EV_LOADED:
            self.loaded.emit(rid, dict(event["model"]), float(event["load_s"]))
        elif kind == P.EV_HELLO:
            self.hello.emit(event)
        elif kind == EV_SAFE_MODE:
            self.safe_mode.emit()
        elif kind == EV_EXITED:
            if self._client.running and event.get("pid") != self._client.pid:
                return  # a previous child, replaced already; its end is old news
            self._kill_timer.stop()
            self._loading.clear()
            expected = bool(event["expected"]) or self._cancelling is not None
            self._cancelling = None
            self.exited.emit(str(event["message"]), expected)
