"""Relay: calls posted from worker threads run on the owner's (GUI) thread, in order, and no
worker ever holds the owner, so it is never destroyed on a worker thread."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt
from pytestqt.qtbot import QtBot

from desktop.services.relay import Relay


class Owner(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int, str]] = []
        self.relay = Relay(self)

    def record(self, n: int) -> None:
        self.calls.append((n, threading.current_thread().name))


def test_posts_from_workers_run_on_the_owners_thread_in_order(qtbot: QtBot) -> None:
    owner = Owner()
    post = owner.relay.post

    def work() -> None:
        for n in range(500):
            post(Owner.record, n)

    worker = threading.Thread(target=work, name="worker")
    worker.start()
    worker.join()
    assert owner.calls == []  # queued, not run on the worker
    qtbot.waitUntil(lambda: len(owner.calls) == 500)
    assert [n for n, _ in owner.calls] == list(range(500))
    assert {name for _, name in owner.calls} == {threading.main_thread().name}
    # From the owner's own thread a post runs at once, as a direct signal would.
    post(Owner.record, 500)
    assert owner.calls[-1] == (500, threading.main_thread().name)


def start_worker(post: Callable[..., None], go: threading.Event) -> threading.Thread:
    """A worker that holds only ``post`` (as the services' threads do) and posts when told."""

    def work() -> None:
        go.wait(10)
        post(Owner.record, 1)

    worker = threading.Thread(target=work, name="worker")
    worker.start()
    return worker


def test_the_owner_dies_on_its_own_thread_and_late_posts_do_nothing(qtbot: QtBot) -> None:
    destroyed_on: list[str] = []
    owner = Owner()
    owner.destroyed.connect(
        lambda *_: destroyed_on.append(threading.current_thread().name),
        Qt.ConnectionType.DirectConnection,
    )
    go = threading.Event()
    worker = start_worker(owner.relay.post, go)
    # The window lets go of the owner while its worker still runs: it goes now, here.
    del owner
    gc.collect()
    assert destroyed_on == [threading.main_thread().name]
    go.set()  # the worker's post finds nobody to tell
    worker.join(10)
    assert not worker.is_alive()
    qtbot.wait(50)
    assert destroyed_on == [threading.main_thread().name]
