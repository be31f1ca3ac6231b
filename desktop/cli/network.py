"""The network gate for CLI commands: the same offline switch (a setting) and privacy record (the
history database) as the window, so `llamaside privacy` lists what the CLI sent as well."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from desktop.backends.network import Network, Outbound
from desktop.core.errors import StoreError
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings
from desktop.storage.store import ChatStore


@contextlib.contextmanager
def open_network(paths: AppPaths) -> Iterator[Network]:
    store = ChatStore(paths.database)

    def record(outbound: Outbound) -> None:
        # A full disk must not hide the command's own outcome; that error surfaces there.
        with contextlib.suppress(StoreError):
            store.record_outbound(outbound.to_dict())

    try:
        yield Network(bool(Settings(paths.settings).get("offline", False)), record)
    finally:
        store.close()
