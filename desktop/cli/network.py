"""The network gate for CLI commands: the same offline switch (a setting) and privacy record (the
history database) as the window, so `llamaside privacy` lists what the CLI sent as well."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from desktop.backends.network import Network, Outbound
from desktop.core.errors import StoreError
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings
from desktop.storage.store import ChatStore, append_outbound


@contextlib.contextmanager
def open_network(paths: AppPaths) -> Iterator[Network]:
    ChatStore(paths.database).close()  # creates or migrates the file before any thread writes

    def record(outbound: Outbound) -> None:
        # Requests leave from worker threads too (compare columns): each write opens its own
        # connection. A full disk must not hide the command's own outcome; that surfaces there.
        with contextlib.suppress(StoreError):
            append_outbound(paths.database, outbound.to_dict())

    yield Network(bool(Settings(paths.settings).get("offline", False)), record)
