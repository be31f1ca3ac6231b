"""The privacy promise under a guard: an audit hook on socket.connect records every connection
the test process (the window) tries, and the engine child's sockets are inspected.

A local chat, from start to shutdown, connects to nothing but this machine; the engine child
holds no network socket at all. With the offline switch on, a hub search and a repo listing
refuse before any socket is opened, even towards a hub that is up and listening; so do cloud
chats, model lists, connection tests and compare columns, in the real window from its start to
its shutdown, towards a cloud server that is up (it sees no connection at all).

After cloud chats (answered, refused with 401, rate-limited) with keys in the real keyring, the
keys' bytes (plain, base64, UTF-16) are in no file under the app's folders, in no export, and in
no line logged through Python's logging or written to stdout or stderr."""

from __future__ import annotations

import base64
import logging
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.backends import secrets
from desktop.backends.network import Offline
from desktop.core.messages import MessageStatus
from desktop.core.params import SamplingParams
from desktop.services import model_catalog
from desktop.storage.paths import AppPaths
from desktop.ui.main_window import MainWindow
from tests.cloudserver import CloudServer
from tests.hostile.conftest import TIMEOUT_MS
from tests.hostile.test_network import (
    MODELS,
    PROXY_VARS,
    connect,
    pick,
    send_to_all,
    type_and_send,
)
from tests.hubserver import HubServer
from tests.ui.driving import answer_modal, button_named, choose_compare_models, file_dialog_answer
from tests.ui.test_preferences import open_cloud_keys

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
    window.input_box.setFocus()
    qtbot.keyClicks(window.input_box, "My bank password is hunter2. Keep it secret.")
    with qtbot.waitSignal(window.chat.answer_finished, timeout=TIMEOUT_MS) as finished:
        qtbot.keyClick(window.input_box, Qt.Key.Key_Return)
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


#: Keys that look like real ones and appear nowhere else: any sighting is a leak.
CLOUD_KEYS = {
    "openai": "sk-proj-PRIVACY-GUARD-6b1f0e9d4c2a7358",
    "anthropic": "sk-ant-api03-PRIVACY-GUARD-2e8c5a1f9b7d",
}


@pytest.fixture
def keyring_keys(
    secret_service: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """Keys only in the real keyring (no environment variable); removed afterwards, as the
    keyring outlives the test."""
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", *PROXY_VARS):
        monkeypatch.delenv(name, raising=False)
    yield CLOUD_KEYS
    for name in CLOUD_KEYS:
        secrets.delete_secret(name)


def _open(home: AppPaths, qtbot: QtBot) -> MainWindow:
    window = build_window(home)
    window.chat.sampling = SamplingParams(temperature=0.0, max_tokens=16)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def _quit(window: MainWindow) -> None:
    window.close()
    window.chat.store.close()


def test_offline_switch_stops_every_cloud_request_before_any_socket(
    home: AppPaths,
    qtbot: QtBot,
    guard: list[tuple[int, Any]],
    keyring_keys: dict[str, str],
) -> None:
    with CloudServer() as server:
        server.state.models = list(MODELS.values())
        # Set up while online, as the user did before going offline; then quit.
        first = _open(home, qtbot)
        for provider in ("openai", "anthropic"):
            base = server.base_url + ("/v1" if provider == "openai" else "")
            connect(first, qtbot, provider, base, key=keyring_keys[provider])
        pick(first, "openai:gpt-4o")
        first.offline_action.trigger()  # File → Work offline
        _quit(first)
        before = (server.connections, len(server.state.requests))
        guard.clear()

        # From here on, from the start of the app to its end: not one TCP/IP connection.
        window = _open(home, qtbot)
        cloud = window.chat.cloud
        assert cloud is not None and cloud.offline  # remembered
        assert window.offline_label.isVisibleTo(window)
        for model_id in ("openai:gpt-4o", f"anthropic:{MODELS['anthropic']}"):
            pick(window, model_id)
            text = f"My diary, for {model_id} only if online."
            window.input_box.setFocus()
            window.input_box.setPlainText(text)
            qtbot.keyClick(window.input_box, Qt.Key.Key_Return)
            banner = window.banner.label.text()
            assert "Llamaside is offline, so nothing was sent to" in banner, banner
            assert "Turn off File → Work offline" in banner
            assert window.input_box.toPlainText() == text  # given back, not lost
            assert window.chat.store.messages(window.conversation_id or 0) == []
            assert not window.chat.busy

        # The providers page: Refresh list and Test connection, for each provider.
        dialog = open_cloud_keys(window)
        for row, name in enumerate(("openai", "anthropic")):
            dialog.provider_list.setCurrentRow(row)
            assert dialog.selected == name
            for button in (dialog.refresh_button, dialog.test_button):
                with qtbot.waitSignal(cloud.checked, timeout=TIMEOUT_MS) as checked:
                    button.click()
                assert checked.args is not None and not checked.args[2]
                assert "offline, so nothing was sent" in dialog.test_result.text()
            assert cloud.cached_models(name) == sorted(MODELS.values())  # the old list stays
        dialog.window().close()

        # A comparison of both: each column says so, nothing is sent.
        window.compare_action.trigger()
        compare = window.compare_window
        assert compare is not None
        choose_compare_models(compare, "openai:gpt-4o", f"anthropic:{MODELS['anthropic']}")
        send_to_all(qtbot, compare, "Compare, privately.")
        session = compare.session
        assert session is not None
        if session.busy:
            with qtbot.waitSignal(session.round_finished, timeout=TIMEOUT_MS):
                pass
        for result in session.results[0]:
            assert result is not None and result.status == "failed"
            assert "offline, so nothing was sent" in (result.error or "")
        _quit(window)
        assert network(guard) == []  # not even the loopback server
        assert (server.connections, len(server.state.requests)) == before


def _forms(key: str) -> dict[str, bytes]:
    """The key as bytes in every form a file could hold it: plain, UTF-16, and base64 at each
    of the three alignments (standard and URL-safe), so that a key inside a larger encoded
    blob (an HTTP Basic header, a JSON-in-base64 settings value) is found too."""
    raw = key.encode()
    forms = {"plain": raw, "utf-16-le": key.encode("utf-16-le")}
    for offset in range(3):
        for name, encode in (("b64", base64.b64encode), ("b64url", base64.urlsafe_b64encode)):
            encoded = encode(b"\0" * offset + raw)
            # The first group mixes in what precedes the key, the last what follows it.
            forms[f"{name}+{offset}"] = encoded[4 if offset else 0 : -4]
    return forms


def _leaks(paths: list[Path], keys: dict[str, str]) -> list[str]:
    """Each file (read as bytes) that holds a key in any form, or names it."""
    found = []
    for path in paths:
        data = path.read_bytes()
        for key in keys.values():
            if key in str(path):
                found.append(f"{path}: in its name")
            found += [f"{path}: {form}" for form, bytes_ in _forms(key).items() if bytes_ in data]
    return found


def _every_file(*folders: Path) -> list[Path]:
    return sorted({p for folder in folders for p in folder.rglob("*") if p.is_file()})


def test_after_cloud_chats_no_file_export_or_log_line_holds_the_key(
    home: AppPaths,
    qtbot: QtBot,
    tmp_path: Path,
    keyring_keys: dict[str, str],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # Everything any library logs, down to DEBUG (the SDKs and their HTTP client included).
    caplog.set_level(logging.DEBUG)
    exports = tmp_path / "exports"
    exports.mkdir()
    with CloudServer() as server:
        server.state.models = list(MODELS.values())
        window = _open(home, qtbot)
        window.chat.sampling = SamplingParams(temperature=0.0, max_tokens=100)
        # The OpenAI key typed into the providers page, as a user would.
        dialog = open_cloud_keys(window)
        assert window.chat.cloud is not None
        dialog.provider_list.setCurrentRow(0)
        assert dialog.selected == "openai"
        dialog.url_edit.clear()
        qtbot.keyClicks(dialog.url_edit, server.base_url + "/v1")
        qtbot.mouseClick(button_named(dialog, "Apply the base URL"), Qt.MouseButton.LeftButton)
        assert window.chat.cloud.provider("openai").base_url == server.base_url + "/v1"
        qtbot.keyClicks(dialog.key_edit, keyring_keys["openai"])
        qtbot.keyClick(dialog.key_edit, Qt.Key.Key_Return)
        with qtbot.waitSignal(window.chat.cloud.checked, timeout=TIMEOUT_MS):
            dialog.enabled_box.setChecked(True)
        with qtbot.waitSignal(window.chat.cloud.checked, timeout=TIMEOUT_MS):
            dialog.test_button.click()
        dialog.window().close()
        window.chat.cloud.grant_consent("openai")
        connect(window, qtbot, "anthropic", server.base_url, key=keyring_keys["anthropic"])

        # A local answer first: the engine child starts and writes its log.
        pick(window, window.chat.models[0].id)
        assert type_and_send(qtbot, window, "Hello, local.").status == MessageStatus.COMPLETE
        for provider in ("openai", "anthropic"):
            # A chat of its own: this chat's earlier messages would go with it only after a
            # question (historyConsentDialog), which is not what this test is about.
            qtbot.mouseClick(window.new_button, Qt.MouseButton.LeftButton)
            pick(window, f"{provider}:{MODELS[provider]}")
            assert type_and_send(qtbot, window, "Hi.").status == MessageStatus.COMPLETE
            server.state.statuses = [401]
            assert type_and_send(qtbot, window, "Again.").status == MessageStatus.FAILED
            server.state.statuses = [429, 429]
            server.state.retry_after = "0.1"
            rate_limited = type_and_send(qtbot, window, "Once more.")
            assert rate_limited.status == MessageStatus.FAILED
            assert "rate-limiting" in (rate_limited.error or "")
            server.state.retry_after = None
        # Both keys really went out, in their headers: the server saw them.
        headers = repr([r["headers"] for r in server.state.requests])
        assert all(key in headers for key in keyring_keys.values())

        # Every way out of the app: chats as Markdown and JSON, the privacy record.
        for name in ("chats.md", "chats.json"):  # File → Export all chats…
            failures = answer_modal(file_dialog_answer(exports / name), QFileDialog)
            window.export_all_action.trigger()
            assert not failures, failures
            assert (exports / name).is_file()
        window.privacy_action.trigger()  # Cloud → Privacy record…, its Export… button
        assert window.privacy_dialog is not None
        failures = answer_modal(file_dialog_answer(exports / "privacy.json"), QFileDialog)
        export = button_named(window.privacy_dialog, "Export the privacy record")
        qtbot.mouseClick(export, Qt.MouseButton.LeftButton)
        assert not failures, failures
        _quit(window)

    written = _every_file(home.data, home.config, home.cache, home.logs, exports)
    names = {p.name for p in written}
    # The walk saw what the app wrote: the history, its settings, the engine's log, exports.
    assert {"history.db", "settings.json", "engine.log", "chats.md", "privacy.json"} <= names
    assert home.engine_log in written  # the engine child ran (its stderr goes there)
    assert b"rejected the API key (401)" in (exports / "chats.json").read_bytes()
    assert _leaks(written, keyring_keys) == []
    # ...and it would have seen a key: plain, UTF-16, or base64 inside a larger blob at any of
    # the three alignments.
    canary = tmp_path / "canary.bin"
    raw = keyring_keys["openai"].encode()
    wrapped = [base64.b64encode(b"x" * n + b'{"key": "' + raw + b'"}') for n in range(3)]
    for blob in (raw, keyring_keys["openai"].encode("utf-16-le"), *wrapped):
        canary.write_bytes(b"prefix " + blob + b" suffix")
        assert _leaks([canary], keyring_keys), blob

    # Logs: the SDKs and the HTTP client logged the requests, none of them the key.
    assert any("HTTP Request" in record.getMessage() for record in caplog.records)
    for key in keyring_keys.values():
        assert key not in caplog.text
        assert all(key not in record.getMessage() for record in caplog.records)
    out, err = capfd.readouterr()
    for key in keyring_keys.values():
        assert key not in out and key not in err
