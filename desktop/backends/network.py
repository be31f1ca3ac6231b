"""The one gate every outbound request passes: the app-wide offline switch and the privacy record.

Cloud providers call ``Network.check`` from an HTTP request hook, i.e. after everything above has
decided to send and before a socket is opened, so "offline" holds even for code paths that forgot
to ask; the hub and the downloader ask before they start. Each request that does leave is
described by an ``Outbound`` (never its headers: they carry the key) and handed to ``record``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from desktop.core.errors import Offline as Offline  # noqa: PLC0414 (re-export: callers import it from here)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Outbound:
    """One request that left this machine, as the privacy record shows it."""

    #: The provider's name ("openai", "my-vllm") or "huggingface".
    destination: str
    host: str
    #: chat, models (listing), test (Test connection), search, files, download.
    purpose: str
    model: str = ""
    conversation_id: int | None = None
    #: Bytes of the request line and body (the text of the conversation, for a chat).
    bytes_sent: int = 0
    at: str = field(default_factory=_now)
    #: Pictures in the body, and their own bytes (before base64, which bytes_sent counts).
    images: int = 0
    image_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Network:
    """Shared by every part of the app that talks to the network; safe to use from any thread."""

    def __init__(
        self, offline: bool = False, record: Callable[[Outbound], None] | None = None
    ) -> None:
        self._offline = offline
        self._record = record
        self._lock = threading.Lock()

    @property
    def offline(self) -> bool:
        return self._offline

    def set_offline(self, offline: bool) -> None:
        self._offline = offline

    def check(self, what: str) -> None:
        """Raise Offline (naming what was blocked) while the app is offline."""
        if self._offline:
            raise Offline(
                f"Llamaside is offline, so nothing was sent to {what}. "
                f"Turn off File → Work offline to use the network."
            )

    def sent(self, outbound: Outbound) -> None:
        """A request left the machine: add it to the privacy record."""
        if self._record is not None:
            with self._lock:
                self._record(outbound)
