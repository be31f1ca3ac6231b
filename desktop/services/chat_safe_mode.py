"""The engine's safe mode as the chat service shows it: what is in force on this machine, and
the user's "try the fast path again" (a mixin: ChatService holds the engine and the signals)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from desktop.core.errors import LlamasideError
from desktop.services.engine_host import EngineHost

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance


class ChatSafeMode:
    """Reads the safe mode from the engine (which keeps the one in force) and announces it
    when it changes."""

    engine: EngineHost
    _loaded_path: str | None
    _safe_note: str
    if TYPE_CHECKING:
        engine_status: SignalInstance
        safe_mode_changed: SignalInstance

        @property
        def busy(self) -> bool: ...

        def _after_served(self, start: Callable[[], None], waiting: str) -> None: ...

    def safe_mode(self) -> tuple[str, str, str]:
        """The engine's safe mode on this machine: a few words, a note and the longer story
        (all empty: the fast path)."""
        mode = self.engine.safe_mode_in_force
        return (mode.short, mode.note, mode.detail) if mode is not None else ("", "", "")

    def try_fast_path(self) -> None:
        """Forget the safe mode; the next message loads its model the fast way (and the engine
        falls back again, answering all the same, if that still crashes)."""
        if self.busy:
            raise LlamasideError("Wait for the answer to end, then try the fast path.")

        def fresh() -> None:
            self._loaded_path = None
            self.engine.try_fast_path()
            self.engine_status.emit("No model loaded · the next message loads it the fast way")
            self._show_safe_mode()

        # A served request answering now ends first (chat_served).
        self._after_served(fresh, "The fast path is tried when the served request ends…")

    def _show_safe_mode(self) -> None:
        """Say the engine's safe mode if it changed."""
        short, note, detail = self.safe_mode()
        if note != self._safe_note:
            self._safe_note = note
            self.safe_mode_changed.emit(short, note, detail)
