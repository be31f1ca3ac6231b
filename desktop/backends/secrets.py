"""Secrets (API keys, the Hugging Face token) in the operating system's keyring, and only there.

Service "llamaside", one entry per name. An environment variable is read (never written) when
the keyring holds nothing. When no keyring backend is usable (a headless Linux without a Secret
Service) we say so and how to fix it; there is no plaintext fallback.
"""

from __future__ import annotations

import os
import sys

from desktop.core.errors import LlamasideError

SERVICE = "llamaside"
HF_TOKEN = "huggingface"


class SecretStoreUnavailable(LlamasideError):
    pass


def _fix_hint() -> str:
    if sys.platform.startswith("linux"):
        return (
            "install and start a Secret Service (GNOME Keyring or KWallet), e.g. "
            "`sudo apt install gnome-keyring`, then log in again"
        )
    return "check that the system keychain is available"


def keyring_problem() -> str | None:
    """None when a real keyring backend is usable, else a sentence saying why not."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return "The keyring package is not installed."
    try:
        backend = keyring.get_keyring()
    except Exception as exc:  # a broken backend must not take the app down
        return f"The system keyring failed to start ({exc}); {_fix_hint()}."
    if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 1) <= 0:
        return f"No system keyring is available to store secrets; {_fix_hint()}."
    return None


def get_secret(name: str) -> str | None:
    if keyring_problem() is not None:
        return None
    import keyring
    from keyring.errors import KeyringError

    try:
        return keyring.get_password(SERVICE, name)
    except KeyringError:
        return None


def set_secret(name: str, value: str) -> None:
    problem = keyring_problem()
    if problem is not None:
        raise SecretStoreUnavailable(problem + " The secret was not saved.")
    import keyring
    from keyring.errors import KeyringError

    try:
        keyring.set_password(SERVICE, name, value)
    except KeyringError as exc:
        raise SecretStoreUnavailable(
            f"The system keyring refused to store it ({exc}). The secret was not saved."
        ) from None


def delete_secret(name: str) -> bool:
    """True if something was deleted."""
    if keyring_problem() is not None:
        return False
    import keyring
    from keyring.errors import KeyringError, PasswordDeleteError

    try:
        keyring.delete_password(SERVICE, name)
    except PasswordDeleteError:
        return False
    except KeyringError as exc:
        raise SecretStoreUnavailable(f"The system keyring failed: {exc}") from None
    return True


def hf_token() -> tuple[str | None, str]:
    """The Hugging Face token and where it came from: "keyring", "HF_TOKEN" or "none"."""
    stored = get_secret(HF_TOKEN)
    if stored:
        return stored, "keyring"
    env = os.environ.get("HF_TOKEN")
    if env:
        return env, "HF_TOKEN"
    return None, "none"
