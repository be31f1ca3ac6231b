"""The privacy promise under a guard: an audit hook on socket.connect records every connection
the test process (the window) tries, and the engine child's sockets are inspected.

A local chat, from start to shutdown, connects to nothing but this machine; the engine child
holds no network socket at all. With the offline switch on, a hub search and a repo listing
refuse before any socket is opened, even towards a hub that is up and listening. (The cloud
under the offline switch: tests/services/test_cloud_chat.py counts 0 connections there.)"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from typing import Any

import psutil
import pytest
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.backends.network import Offline
from desktop.core.params import SamplingParams
from desktop.services import model_catalog
from desktop.storage.paths import AppPaths
from tests.hostile.conftest import TIMEOUT_MS
from tests.hubserver import HubServer

LOOPBACK = {"127.0.0.1", "::1", "localhost"}
#: Every connect attempted while a guard is on: (family, address).
_SEEN: list[tuple[int, Any]] = []
_ON: list[bool] = [False]


def _audit(event: str, args: tuple[Any, ...]) -> None:
    # An audit hook stays for the life of the process: it only records while a guard is on.
    if _ON[0] and event == "socket.connect":
        sock, address = args[0], args[1]
        _SEEN.append((getattr(sock, "family", -1), address))


sys.addaudithook(_audit)


@pytest.fixture
def guard() -> Iterator[list[tuple[int, Any]]]:
    _SEEN.clear()
    _ON[0] = True
    try:
        yield _SEEN
    finally:
        _ON[0] = False


def network(seen: list[tuple[int, Any]]) -> list[Any]:
    """The TCP/IP connections among those seen (UNIX sockets never leave the machine)."""
    return [address for family, address in seen if family in (socket.AF_INET, socket.AF_INET6)]


def off_machine(seen: list[tuple[int, Any]]) -> list[Any]:
    """Connections that would leave this machine (UNIX sockets and loopback stay)."""
    return [
        address
        for family, address in seen
        if family in (socket.AF_INET, socket.AF_INET6) and str(address[0]) not in LOOPBACK
    ]


def test_a_local_chat_from_start_to_shutdown_connects_nowhere(
    home: AppPaths, qtbot: QtBot, guard: list[tuple[int, Any]]
) -> None:
    window = build_window(home)
    qtbot.addWidget(window)
    window.show()
    window.chat.sampling = SamplingParams(temperature=0.0, max_tokens=16)
    conversation = window.chat.store.create_conversation("Private")
    window.open_conversation(conversation.id)
    child_sockets: list[Any] = []

    def look_at_child(*_args: object) -> None:
        pid = window.chat.engine.pid
        if pid is not None and not child_sockets:
            child_sockets.append(psutil.Process(pid).net_connections(kind="inet"))

    window.chat.answer_delta.connect(look_at_child)
    with qtbot.waitSignal(window.chat.answer_finished, timeout=TIMEOUT_MS) as finished:
        window.input_box.setPlainText("My bank password is hunter2. Keep it secret.")
        window.send()
    assert finished.args is not None and finished.args[2] == "complete"
    window.close()
    window.chat.store.close()
    assert off_machine(guard) == []
    assert child_sockets == [[]]  # the engine child had no network socket while answering


def test_offline_switch_stops_the_hub_before_any_socket(
    home: AppPaths,
    qtbot: QtBot,
    guard: list[tuple[int, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with HubServer() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        window = build_window(home)
        qtbot.addWidget(window)
        cloud = window.chat.cloud
        assert cloud is not None
        window.offline_action.setChecked(True)  # File → Work offline
        assert cloud.offline
        guard.clear()
        with pytest.raises(Offline):
            model_catalog.search("llama", network=cloud.network)
        with pytest.raises(Offline):
            model_catalog.repo_models("unsloth/Llama-4-Scout-17B-16E-Instruct-GGUF", cloud.network)
        # Not even the loopback hub was tried (UNIX sockets, e.g. the keyring's D-Bus, stay).
        assert network(guard) == []
        # The guard itself sees connections: one made on purpose is recorded.
        host, port = hub.url.split("//")[1].split(":")
        socket.create_connection((host, int(port)), timeout=5).close()
        assert [address[:2] for address in network(guard)] == [(host, int(port))]
        window.close()
        window.chat.store.close()
