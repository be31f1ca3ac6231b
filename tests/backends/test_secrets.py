"""Secrets in a real keyring (GNOME Keyring over a private D-Bus), and the refusal to store
them anywhere else when no keyring is usable."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import keyring
import pytest
from pytestqt.qtbot import QtBot

from desktop.backends import secrets
from desktop.backends.providers import ProviderConfig, key_for, open_provider
from desktop.services.cloud import CloudService
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings
from desktop.storage.store import ChatStore
from tests.conftest import _Keyring, restart_keyring, start_keyring

TOKEN = "hf_abcdefghijklmnopqrstuvwxyz123456"
#: How long the concurrent test runs. Without the lock and the retry, 4 of 5 runs of 8 s failed
#: here (5 s: 1 of 4). With them the daemon still died once in about 500 s of this churn.
STRESS_S = 8.0


def test_token_round_trip_in_the_keyring(
    secret_service: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    assert secrets.keyring_problem() is None
    assert secrets.hf_token() == (None, "none")
    secrets.set_secret(secrets.HF_TOKEN, TOKEN)
    assert keyring.get_password("llamaside", "huggingface") == TOKEN  # really in the keyring
    assert secrets.hf_token() == (TOKEN, "keyring")
    assert secrets.delete_secret(secrets.HF_TOKEN)
    assert not secrets.delete_secret(secrets.HF_TOKEN)
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    assert secrets.hf_token() == ("hf_from_env", "HF_TOKEN")


def _cli(
    home: AppPaths, env_extra: dict[str, str], *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LLAMASIDE_HOME": str(home.data.parent), **env_extra}
    env.pop("HF_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "desktop", "models", "token", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_cli_token_set_status_delete(home: AppPaths, secret_service: dict[str, str]) -> None:
    saved = _cli(home, secret_service, "set", stdin=TOKEN + "\n")
    assert saved.returncode == 0, saved.stderr
    assert TOKEN not in saved.stdout + saved.stderr
    status = _cli(home, secret_service, "status")
    assert "stored in the system keyring" in status.stdout
    assert _cli(home, secret_service, "delete").returncode == 0
    assert "none set" in _cli(home, secret_service, "status").stdout
    # Nothing of it in the app's files.
    for path in Path(home.data.parent).rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_no_keyring_means_no_storing_and_a_clear_message(home: AppPaths) -> None:
    no_keyring = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    refused = _cli(home, no_keyring, "set", stdin=TOKEN + "\n")
    assert refused.returncode == 1
    assert "No system keyring is available" in refused.stderr
    assert "was not saved" in refused.stderr
    assert TOKEN not in refused.stdout + refused.stderr
    for path in Path(home.data.parent).rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def _stress(names: list[str]) -> list[str]:
    """One thread storing and deleting a key while others read theirs, for STRESS_S; the
    faults seen (a read that failed or got another value)."""
    for name in names:
        secrets.set_secret(name, f"key-{name}")
    stop = threading.Event()
    faults: list[str] = []

    def write() -> None:
        count = 0
        while not stop.is_set():
            count += 1
            try:
                secrets.set_secret("stress-w", f"v{count}")
                secrets.delete_secret("stress-w")
            except Exception as exc:
                faults.append(f"write: {exc!r}")

    def read(name: str) -> None:
        while not stop.is_set():
            try:
                value = secrets.get_secret(name)
            except Exception as exc:
                faults.append(f"read {name}: {exc!r}")
                continue
            if value != f"key-{name}":
                faults.append(f"read {name}: {value!r}")

    threads = [threading.Thread(target=write)]
    threads += [threading.Thread(target=read, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    try:
        stop.wait(STRESS_S)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    return faults


def test_threads_reading_while_another_writes_all_get_their_keys(
    secret_service: dict[str, str], _session_keyring: _Keyring
) -> None:
    """A comparison reads its columns' keys on their own threads while the settings page may be
    storing one. GNOME Keyring garbles reads beside a write ("Item does not exist!") and can
    die of it; our calls go one at a time. Fails within seconds when they do not.

    gnome-keyring-daemon 42 has also died here with our calls one at a time, on a busy CI
    machine (no fault before its death; cause not found): a run in which the daemon itself
    died is said on stderr and run once more on a new daemon, where any fault fails."""
    names = ["stress-a", "stress-b", "stress-c"]
    faults = _stress(names)
    if faults and _session_keyring.daemon.poll() is not None:
        print(
            f"gnome-keyring-daemon died during the stress (exit "
            f"{_session_keyring.daemon.returncode}; first fault: {faults[0][:200]}); once more "
            f"on a new daemon",
            file=sys.stderr,
        )
        restart_keyring(_session_keyring)
        faults = _stress(names)
    try:
        assert faults == [], faults[:5]
    finally:
        for name in names:
            secrets.delete_secret(name)


def test_a_keyring_that_dies_says_so_instead_of_no_key(
    secret_service: dict[str, str], monkeypatch: pytest.MonkeyPatch, home: AppPaths, qtbot: QtBot
) -> None:
    """The Secret Service crashes after the key was stored: sending says the keyring could not
    be read (and sends nothing), not "No API key", which would have the user paste it again."""
    # Its own bus and daemon: the session's keyring stays up for the other tests.
    keyring_home = tempfile.mkdtemp(prefix="llamaside-dying-")
    address, bus_pid, daemon = start_keyring(keyring_home)
    try:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)  # the backend reads it per call
        monkeypatch.delenv("MYCLOUD_API_KEY", raising=False)
        config = ProviderConfig("mycloud", "openai", "http://127.0.0.1:9/v1", enabled=True)
        secrets.set_secret("mycloud", "sk-stored")
        assert key_for(config) == ("sk-stored", "keyring")
        daemon.kill()
        daemon.wait(timeout=10)
        with pytest.raises(secrets.SecretStoreUnavailable, match="not answering") as raised:
            open_provider(config)
        assert "No API key" not in str(raised.value)
        with pytest.raises(secrets.SecretStoreUnavailable):
            secrets.hf_token()
        # The environment variable is still read when the keyring cannot be.
        monkeypatch.setenv("MYCLOUD_API_KEY", "sk-from-env")
        assert key_for(config) == ("sk-from-env", "MYCLOUD_API_KEY")
        monkeypatch.delenv("MYCLOUD_API_KEY")
        # What the providers page shows for it.
        store = ChatStore(home.database)
        cloud = CloudService(store, Settings(home.settings), home.pricing)
        cloud.add_endpoint("mycloud", config.base_url, "openai")
        assert cloud.key_source("mycloud") == "unreadable"
        assert "could not be read" in cloud.key_source_text("mycloud")
        store.close()
    finally:
        daemon.kill()
        os.kill(bus_pid, signal.SIGTERM)
        shutil.rmtree(keyring_home, ignore_errors=True)
