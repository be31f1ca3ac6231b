"""The window's chats and the local server on one engine child: ChatService's side of the
sharing (a mixin). While a served request holds the engine, whatever the window starts on it (a
turn or its next step, a summary, an unload, "Try the fast path") waits for that request, then
goes before any other served request (services.served_window keeps that order)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from desktop.core.errors import LlamasideError
from desktop.core.models import LocalModel
from desktop.services.engine_host import EngineHost

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance

    from desktop.services.chat_tools import WindowTurn
    from desktop.services.served_window import WindowJobs


#: What the status line says with no model in the engine.
NO_MODEL = "No model loaded"


class Serving:
    """ChatService's side of serving (a mixin): a window turn asks the served queue before it
    uses the engine, and waits its turn there. (The queue stands between the engine's
    ``exited`` and ChatService: a child that ends under a served request is that request's
    failure, not the window's.)"""

    engine: EngineHost
    _loaded_path: str | None
    _loaded_mmproj: str
    n_ctx: int
    _turn: WindowTurn | None
    #: The local server's queue on this engine, while the window serves (else None).
    served: WindowJobs | None = None
    #: The turn's (or summary's) first engine step while it waits for a served request.
    _waiting: Callable[[], None] | None = None

    if TYPE_CHECKING:
        engine_status: SignalInstance

        @property
        def busy(self) -> bool: ...

        def _start_load(self, model: LocalModel) -> None: ...

    def _engine_lent(self) -> bool:
        """Whether a served request holds the engine now."""
        return self.served is not None and self.served.holds_engine

    def _when_engine_free(self, start: Callable[[], None]) -> None:
        """Run a window turn's next engine step now, or once the served request holding the
        engine ends (before any other served request). Either way the turn's model is loaded
        first if the engine no longer holds it: a served request may have loaded another, or
        ended the engine, meanwhile (while this turn ran its tools, say)."""
        turn = self._turn

        def go() -> None:
            self._waiting = None
            if self._turn is not turn or turn is None:
                return  # stopped meanwhile
            model = turn.model
            loaded = (self._loaded_path, self._loaded_mmproj)
            if isinstance(model, LocalModel) and (
                loaded != (model.path, model.mmproj) or not self.engine.running
            ):
                self._start_load(model)
            else:
                start()

        served = self.served
        if served is None or not served.holds_engine:
            go()
            return
        self._waiting = go
        served.wait_for_engine(go)

    def _after_served(self, start: Callable[[], None], waiting: str) -> None:
        """Run ``start`` now, or once the served request holding the engine ends (it is not
        cut short), saying ``waiting`` meanwhile: an unload, a fresh engine."""
        served = self.served
        if served is None or not served.holds_engine:
            start()
            return
        self.engine_status.emit(waiting)
        served.wait_for_engine(start)

    def unload(self) -> None:
        """Model → Unload model: end the engine child, and with it the model's memory."""
        if self.busy:
            raise LlamasideError("Wait for the answer to end, then unload the model.")

        def unload() -> None:
            self._loaded_path = None
            self.engine.unload()
            self.engine_status.emit(NO_MODEL)

        self._after_served(unload, "The model unloads when the served request ends…")

    def _wait_as_turn(self, start: Callable[[], None]) -> None:
        """Queue ``start`` as the work Stop takes out of the line (a summary)."""
        assert self.served is not None

        def resume() -> None:
            self._waiting = None
            start()

        self._waiting = resume
        self.served.wait_for_engine(resume)

    def _forget_wait(self) -> bool:
        """Stop pressed on a turn still waiting for a served request: True if it was waiting
        (the engine is not the window's to end then)."""
        waiting, self._waiting = self._waiting, None
        return (
            waiting is not None
            and self.served is not None
            and self.served.forget_window_wait(waiting)
        )

    def _tools_running(self) -> None:
        """The turn runs tool calls (or waits for the user's approval): the engine is free."""
        if self.served is not None:
            self.served.engine_free()

    def _served_took_engine(self) -> None:
        """A served request loads a model (or its child ended): nothing is loaded for now."""
        self._loaded_path = None

    def _served_loaded(self, model: LocalModel, n_ctx: int) -> None:
        """A served request loaded ``model`` as a window turn would (its load settings, its
        projector): the window's next turn on it does not load it again."""
        self._loaded_path = model.path
        self._loaded_mmproj = model.mmproj
        self.n_ctx = n_ctx
