"""Secrets (API keys, the Hugging Face token) in the operating system's keyring, and only there.

Service "llamaside", one entry per name. An environment variable is read (never written) when
the keyring holds nothing. When no keyring backend is usable (a headless Linux without a Secret
Service) we say so and how to fix it; there is no plaintext fallback.

A keyring that is there but fails (a Secret Service daemon that crashed, a collection the user
would not unlock) is an error with the keyring's own words, never "no key": a missing key would
send the user to paste a key they already stored.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from desktop.core.errors import LlamasideError

T = TypeVar("T")

#: One keyring call at a time from this process: GNOME Keyring fails reads, and can die, under
#: concurrent clients (docs/reliability.md), and a comparison reads keys from several threads.
#: Module-level because the keyring it guards is process-wide too.
_KEYRING_LOCK = threading.Lock()
#: A failed call is tried once more after this pause: another program's write can race ours
#: as our own threads would.
RETRY_PAUSE_S = 0.2

SERVICE = "llamaside"
HF_TOKEN = "huggingface"


class SecretStoreUnavailable(LlamasideError):
    """The keyring is missing or stopped answering; the message says why and how to fix it."""

    pass


def _fix_hint() -> str:
    if sys.platform.startswith("linux"):
        return (
            "install and start a Secret Service (GNOME Keyring or KWallet), e.g. "
            "`sudo apt install gnome-keyring`, then log in again"
        )
    return "check that the system keychain is available"


def _state() -> tuple[str, str | None]:
    """("ok", None); ("none", why) when this machine has no usable keyring; or ("broken", why)
    when the keyring in use stopped answering (a Secret Service that died)."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return "none", "The keyring package is not installed."
    try:
        backend = keyring.get_keyring()
        # SecretService's priority asks D-Bus whether the daemon is there, and raises if not.
        priority = getattr(backend, "priority", 1)
    except Exception as exc:  # a broken backend must not take the app down
        return "broken", (
            f"The system keyring is not answering ({_reason(exc)}); what is stored there cannot "
            f"be read until it runs again ({_fix_hint()})."
        )
    if isinstance(backend, fail.Keyring) or priority <= 0:
        return "none", f"No system keyring is available to store secrets; {_fix_hint()}."
    return "ok", None


def keyring_problem() -> str | None:
    """None when a real keyring backend is usable, else a sentence saying why not."""
    return _state()[1]


def _ready() -> bool:
    """True when the keyring can be asked; False when this machine has none (so nothing is
    stored); raises SecretStoreUnavailable when it has one that stopped answering."""
    state, problem = _state()
    if state == "broken":
        raise SecretStoreUnavailable(problem)
    return state == "ok"


def _serialized(call: Callable[[], T]) -> T:
    """``call`` under the keyring lock, tried a second time if it fails for a reason other than
    the user's (a dismissed unlock prompt is final: asking again would prompt again)."""
    from keyring.errors import KeyringLocked, PasswordDeleteError

    with _KEYRING_LOCK:
        try:
            return call()
        except (KeyringLocked, PasswordDeleteError):
            raise
        except Exception:
            time.sleep(RETRY_PAUSE_S)
            return call()


def get_secret(name: str) -> str | None:
    """The stored secret; None when there is none or no keyring at all. Raises
    SecretStoreUnavailable when the keyring is there but cannot be read."""
    if not _ready():
        return None
    import keyring

    try:
        return _serialized(lambda: keyring.get_password(SERVICE, name))
    except Exception as exc:  # D-Bus and backend errors are not all KeyringError subclasses
        raise SecretStoreUnavailable(
            f"The system keyring could not be read ({_reason(exc)}). Unlock it (or restart "
            f"it) and try again."
        ) from None


def _reason(exc: Exception) -> str:
    return str(exc).strip() or type(exc).__name__


def set_secret(name: str, value: str) -> None:
    problem = keyring_problem()
    if problem is not None:
        raise SecretStoreUnavailable(problem + " The secret was not saved.")
    import keyring

    try:
        _serialized(lambda: keyring.set_password(SERVICE, name, value))
    except Exception as exc:
        raise SecretStoreUnavailable(
            f"The system keyring refused to store it ({_reason(exc)}). The secret was not saved."
        ) from None


def delete_secret(name: str) -> bool:
    """True if something was deleted."""
    if not _ready():
        return False
    import keyring
    from keyring.errors import PasswordDeleteError

    try:
        _serialized(lambda: keyring.delete_password(SERVICE, name))
    except PasswordDeleteError:
        return False
    except Exception as exc:
        raise SecretStoreUnavailable(f"The system keyring failed: {_reason(exc)}") from None
    return True


#: hf_token's source for huggingface_hub's own login token (`hf auth login`).
HF_LOGIN = "hf-login"


def hf_login_token_path() -> Path:
    """Where `hf auth login` keeps its token, as huggingface_hub finds it (HF_TOKEN_PATH, else
    HF_HOME/token, HF_HOME defaulting to $XDG_CACHE_HOME/huggingface or ~/.cache/huggingface)."""
    if os.environ.get("HF_TOKEN_PATH"):
        return Path(os.environ["HF_TOKEN_PATH"]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(os.environ.get("HF_HOME") or cache / "huggingface").expanduser() / "token"


def hf_token() -> tuple[str | None, str]:
    """The Hugging Face token and where it came from: "keyring", "HF_TOKEN", HF_LOGIN (the
    token `hf auth login` saved) or "none". Asked in that order and passed to the hub client
    explicitly, so what `llamaside models token status` says is what is sent.
    Raises SecretStoreUnavailable when the keyring cannot be read."""
    stored = get_secret(HF_TOKEN)
    if stored:
        return stored, "keyring"
    env = os.environ.get("HF_TOKEN", "").strip()
    if env:
        return env, "HF_TOKEN"
    try:
        login = hf_login_token_path().read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        login = ""
    if login:
        return login, HF_LOGIN
    return None, "none"


#: hf_token's sources in words for the user (never the token).
HF_TOKEN_SOURCES = {
    "keyring": "stored in the system keyring",
    "HF_TOKEN": "from HF_TOKEN (read only)",
    HF_LOGIN: "from `hf auth login` (huggingface_hub's token file, read only)",
    "none": "none set",
}
