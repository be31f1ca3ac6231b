"""The window's local OpenAI-compatible server: the switch behind the window's panel. It serves
the window's own models from the window's own engine child (services.served_window), on
uvicorn on a thread of its own; loopback unless the user allows other devices, which needs the
API key kept in the keyring (backends.serve_policy). Each request is one line in the same
served-requests log that `llamaside serve` writes; nothing of a request leaves the machine.
"""

from __future__ import annotations

import functools
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from desktop.backends import secrets
from desktop.backends.serve_policy import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    KEY_NAME,
    ServerRefused,
    new_key,
)
from desktop.backends.served_engine import ServedLog
from desktop.core.errors import LlamasideError
from desktop.services.relay import Relay
from desktop.services.served_window import WindowJobs

if TYPE_CHECKING:
    from desktop.backends.openai_server import BackgroundServer
    from desktop.backends.served_images import ServedImages
    from desktop.services.chat import ChatService

#: Every address of this machine: what "allow other devices" listens on.
ALL_ADDRESSES = "0.0.0.0"
#: How many of the log's last entries the panel shows.
SHOWN_ENTRIES = 200


def _can_listen(host: str, port: int) -> bool:
    """Whether the port is free to listen on, tried as uvicorn binds it (SO_REUSEADDR)."""
    if port == 0:
        return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


class LocalServer(QObject):
    """Owns the server's switch, its settings (port, other devices), the API key's creation
    and the served-requests log, and the queue that puts its requests on the window's engine.

    Signals:
        state_changed(): switched on or off, or a request was queued, started or ended.
        served(object): a served-requests log entry (a dict: time, client, model, status,
            tokens, seconds; never text), on the GUI thread.
    """

    state_changed = Signal()
    served = Signal(object)

    def __init__(
        self,
        chat: ChatService,
        log_path: Path,
        parent: QObject | None = None,
        *,
        image_dir: Path | None = None,
    ) -> None:
        super().__init__(parent)
        #: Where pictures in requests are kept for the engine (None: the server takes text).
        self.image_dir = image_dir
        self.settings = chat.settings
        self.jobs = WindowJobs(chat, self)
        # Entries are written on uvicorn's thread; the relay brings each to the GUI thread.
        self.log = ServedLog(
            log_path, on_entry=functools.partial(Relay(self).post, LocalServer._on_entry)
        )
        self._server: BackgroundServer | None = None
        self.jobs.changed.connect(self.state_changed)

    # -- settings -------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self.settings.get("server_port", DEFAULT_PORT))

    def set_port(self, port: int) -> None:
        self.settings.set("server_port", int(port))
        self.state_changed.emit()

    @property
    def other_devices(self) -> bool:
        """Whether other devices on the network may connect (with the key)."""
        return bool(self.settings.get("server_other_devices", False))

    def set_other_devices(self, allowed: bool) -> None:
        self.settings.set("server_other_devices", bool(allowed))
        self.state_changed.emit()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def address(self) -> str:
        """The base URL clients on this machine use."""
        port = self._server.port if self._server is not None else self.port
        return f"http://{DEFAULT_HOST}:{port}/v1"

    @property
    def network_address(self) -> str:
        """The base URL other devices use (by this machine's name)."""
        port = self._server.port if self._server is not None else self.port
        return f"http://{socket.gethostname()}:{port}/v1"

    def key(self) -> str | None:
        """The API key in the keyring (SecretStoreUnavailable when it cannot be read)."""
        return secrets.get_secret(KEY_NAME)

    def new_key(self) -> str:
        """A new API key, stored in the keyring (replacing the old one, as `serve --new-key`)."""
        key = new_key()
        secrets.set_secret(KEY_NAME, key)
        self.state_changed.emit()
        return key

    # -- the switch -----------------------------------------------------------------------------

    def start(self) -> None:
        """Listen; ServerRefused (or SecretStoreUnavailable) says in a sentence why not."""
        if self._server is not None:
            return
        key: str | None = None
        host = DEFAULT_HOST
        if self.other_devices:
            host = ALL_ADDRESSES
            key = self.key()
            if not key:
                raise ServerRefused(
                    "Other devices may use your models only with an API key, and none is set. "
                    "Create one with New key (it is kept in the system keyring)."
                )
        # The HTTP stack only when the server is switched on, not at every start of the app.
        from desktop.backends.openai_server import BackgroundServer, OpenAIServer

        port = self.port
        in_use = ServerRefused(
            f"Port {port} is in use by another program (or cannot be opened here). Choose "
            "another port, or end the program that uses it."
        )
        if not _can_listen(host, port):
            raise in_use  # said here: uvicorn would end its thread with SystemExit
        self.jobs.set_open(True)
        server = BackgroundServer(
            OpenAIServer(self.jobs, self.log, api_key=key, images=self._images()).app, host, port
        )
        try:
            server.start()
        except ServerRefused:
            self.jobs.set_open(False)
            raise in_use from None
        self._server = server
        self.settings.set("server_on", True)  # on again at the next start, as LM Studio's is
        self.state_changed.emit()

    def _images(self) -> ServedImages | None:
        from desktop.backends.served_images import ServedImages

        return ServedImages(self.image_dir) if self.image_dir is not None else None

    def resume(self) -> str:
        """At the app's start: switch on if it was on when the app last quit. Returns why it
        could not ("" when it is on, or was off)."""
        if not self.settings.get("server_on", False):
            return ""
        try:
            self.start()
        except LlamasideError as exc:
            return str(exc)
        return ""

    def stop(self, *, remember: bool = True) -> None:
        """Stop listening: waiting requests are refused, the one answering is stopped.
        ``remember``: the user switched it off (it stays off at the next start)."""
        if remember:
            self.settings.set("server_on", False)
        server = self._server
        if server is None:
            return
        self.jobs.set_open(False)
        server.stop()
        self._server = None
        self.state_changed.emit()

    def close(self) -> None:
        """The app quits: stop (on again at the next start), let go of the window's engine."""
        self.stop(remember=False)
        self.jobs.close()

    # -- the log --------------------------------------------------------------------------------

    def entries(self) -> list[dict[str, Any]]:
        """The log's last entries, oldest first."""
        return self.log.entries()[-SHOWN_ENTRIES:]

    def _on_entry(self, entry: dict[str, Any]) -> None:
        self.served.emit(entry)
