"""Who may reach the local OpenAI-compatible server: its default address (loopback), the rule
that any other address needs an API key, and that key (kept in the keyring, entry KEY_NAME).

Apart from backends.openai_server so the CLI can read it without importing the HTTP stack.
"""

from __future__ import annotations

import ipaddress
import secrets

from desktop.core.errors import LlamasideError

#: Not LM Studio's 1234, Jan's 1337 or Ollama's 11434, so the app runs beside them.
DEFAULT_PORT = 8777
DEFAULT_HOST = "127.0.0.1"
#: The keyring entry (backends.secrets) that holds the server's API key.
KEY_NAME = "local-server"


class ServerRefused(LlamasideError):
    """The server will not start as asked; the message says why and what to do."""


def is_loopback(host: str) -> bool:
    """Whether an address is this machine alone (127.0.0.0/8, ::1, "localhost")."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve beyond this machine


def check_bind(host: str, api_key: str | None) -> None:
    """Refuse to listen beyond this machine without an API key (ServerRefused)."""
    if not is_loopback(host) and not api_key:
        raise ServerRefused(
            f"Listening on {host} would let other machines use your models, so it needs an API "
            "key, and none is set. Create one with `llamaside serve --new-key` (it is kept in "
            "the system keyring), or listen on 127.0.0.1 only."
        )


def new_key() -> str:
    """A fresh random API key."""
    return "sk-llamaside-" + secrets.token_urlsafe(32)
