"""Secrets in a real keyring (GNOME Keyring over a private D-Bus), and the refusal to store
them anywhere else when no keyring is usable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keyring
import pytest

from desktop.backends import secrets
from desktop.storage.paths import AppPaths

TOKEN = "hf_abcdefghijklmnopqrstuvwxyz123456"


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
