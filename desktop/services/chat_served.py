"""The window's chats and the local server on one engine child: ChatService's side of the
sharing (a mixin). While a served request holds the engine, a window turn waits for it, then
goes before any other served request (services.served_window keeps that order)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from desktop.core.models import LocalModel
from desktop.services.engine_host import EngineHost

if TYPE_CHECKING:
    from desktop.services.chat_tools import WindowTurn
    from desktop.services.served_window import WindowJobs


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

    if TYPE_CHECKING:

        def _start_load(self, model: LocalModel) -> None: ...

    def _engine_lent(self) -> bool:
        """Whether a served request holds the engine now."""
        return self.served is not None and self.served.holds_engine

    def _when_engine_free(self, start: Callable[[], None]) -> None:
        """Run a window turn's first engine step now, or once the served request holding the
        engine ends (before any other served request)."""
        served = self.served
        if served is None or not served.holds_engine:
            start()
            return
        turn = self._turn

        def resume() -> None:
            if self._turn is not turn or turn is None:
                return  # stopped meanwhile
            model = turn.model
            loaded = (self._loaded_path, self._loaded_mmproj)
            # The served request loaded another model or crashed the engine: load ours again.
            if isinstance(model, LocalModel) and (
                loaded != (model.path, model.mmproj) or not self.engine.running
            ):
                self._start_load(model)
            else:
                start()

        served.wait_for_engine(resume)

    def _forget_wait(self) -> bool:
        """Stop pressed on a turn still waiting for a served request: True if it was waiting
        (the engine is not the window's to end then)."""
        return self.served is not None and self.served.forget_window_wait()

    def _served_took_engine(self) -> None:
        """A served request loads a model (or its child ended): nothing is loaded for now."""
        self._loaded_path = None

    def _served_loaded(self, model: LocalModel, n_ctx: int) -> None:
        """A served request loaded ``model`` as a window turn would (its load settings, its
        projector): the window's next turn on it does not load it again."""
        self._loaded_path = model.path
        self._loaded_mmproj = model.mmproj
        self.n_ctx = n_ctx
