"""mcp.json in the config folder: read, and written atomically, with secrets in the keyring.

An env or header value marked secret is stored in the system keyring under
``mcp:<server>:<env|header>:<KEY>``; the file holds core.mcp_config.KEYRING_PLACEHOLDER instead,
and ``load`` puts the secret back. The keyring is handed in (``SecretStore``: the services pass
backends.secrets' functions), since storage does not import backends.

A file that cannot be read raises McpConfigError and is never overwritten: ``save`` first copies
such a file aside (mcp.json.broken, .broken-2...) so hand edits are not lost.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from desktop.core.mcp_config import (
    KEYRING_PLACEHOLDER,
    McpConfigError,
    McpConfigFile,
    McpServerConfig,
    dump_config,
    parse_config,
)


@dataclass(frozen=True)
class SecretStore:
    """The keyring's three calls (backends.secrets' get_secret, set_secret, delete_secret)."""

    get: Callable[[str], str | None]
    set: Callable[[str, str], None]
    delete: Callable[[str], bool]


def secret_name(server: str, kind: str, key: str) -> str:
    """The keyring entry of one secret value: kind is "env" or "header"."""
    return f"mcp:{server}:{kind}:{key}"


def _secrets_of(config: McpConfigFile) -> Iterator[tuple[McpServerConfig, str, str]]:
    """(server, kind, key) for every secret value in the file."""
    for server in config.servers:
        for key in server.secret_env:
            yield server, "env", key
        for key in server.secret_headers:
            yield server, "header", key


class McpStore:
    """The MCP servers file; ``secrets`` None means no keyring (secret values cannot be kept)."""

    def __init__(self, path: Path, secrets: SecretStore | None = None) -> None:
        self.path = path
        self.secrets = secrets

    def _read(self) -> McpConfigFile:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return McpConfigFile()
        except (OSError, UnicodeDecodeError) as exc:
            raise McpConfigError(f"{self.path} could not be read ({exc}).") from None
        return parse_config(text, str(self.path))

    def load(self) -> McpConfigFile:
        """The servers, secrets filled in from the keyring. A missing file is no servers; a
        secret the keyring does not hold is left empty and named in ``problems``. Raises
        McpConfigError for a file that cannot be read (and leaves it as it is)."""
        config = self._read()
        problems = list(config.problems)
        servers = []
        for server in config.servers:
            env = dict(server.env)
            headers = dict(server.headers)
            for kind, keys, values in (
                ("env", server.secret_env, env),
                ("header", server.secret_headers, headers),
            ):
                for key in keys:
                    secret = self._get(secret_name(server.name, kind, key))
                    if secret is None:
                        problems.append(
                            f'The secret {kind} value {key} of the MCP server "{server.name}" '
                            f"is not in the system keyring; enter it again."
                        )
                    values[key] = secret or ""
            servers.append(replace(server, env=env, headers=headers))
        return replace(config, servers=tuple(servers), problems=tuple(problems))

    def _get(self, name: str) -> str | None:
        return self.secrets.get(name) if self.secrets is not None else None

    def save(self, config: McpConfigFile) -> None:
        """Secrets to the keyring first (so a keyring failure writes nothing), then the file,
        atomically. Secrets no longer in the file are deleted from the keyring."""
        try:
            before: McpConfigFile | None = self._read()
        except McpConfigError:
            before = None
            self._set_aside()
        wanted = set()
        for server, kind, key in _secrets_of(config):
            values = server.env if kind == "env" else server.headers
            value = values.get(key, "")
            # Never loaded, or not found at load and not entered again: the keyring keeps
            # whatever it has rather than an empty value.
            if value in (KEYRING_PLACEHOLDER, ""):
                wanted.add(secret_name(server.name, kind, key))
                continue
            if self.secrets is None:
                raise McpConfigError(
                    f'The {kind} value {key} of the MCP server "{server.name}" is marked '
                    f"secret, but no system keyring is available to keep it. Nothing was saved."
                )
            self.secrets.set(secret_name(server.name, kind, key), value)
            wanted.add(secret_name(server.name, kind, key))
        self._write(dump_config(config))
        if before is not None and self.secrets is not None:
            for server, kind, key in _secrets_of(before):
                name = secret_name(server.name, kind, key)
                if name not in wanted:
                    self.secrets.delete(name)

    def _set_aside(self) -> None:
        """Copy a file we cannot read to mcp.json.broken (-2, -3...) before replacing it."""
        target = self.path.with_name(self.path.name + ".broken")
        n = 2
        while target.exists():
            target = self.path.with_name(f"{self.path.name}.broken-{n}")
            n += 1
        shutil.copy2(self.path, target)

    def _write(self, text: str) -> None:
        """Write to a temporary file beside it, then replace: a crash leaves old or new whole."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=self.path.name + ".", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(text)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
