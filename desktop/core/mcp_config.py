"""MCP servers as the user configures them, in the ``mcpServers`` JSON that Claude Desktop, Cursor
and LM Studio share, so a file from any of them can be imported and ours read by them.

    {"mcpServers": {
        "files": {"command": "npx", "args": ["-y", "@mcp/server-files"], "env": {"ROOT": "~"}},
        "search": {"url": "https://example.com/mcp", "headers": {...}, "type": "http"}}}

Keys we do not know (a server's "alwaysAllow", the file's "globalShortcut") are kept and written
back; ``"disabled": true`` turns a server off. A value kept in the system keyring appears in the
file as ``KEYRING_PLACEHOLDER`` (storage.mcp_store swaps it for the secret). Pure: no file I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import PurePath, PurePosixPath, PureWindowsPath
from typing import Any, Literal

from desktop.core.errors import LlamasideError

Transport = Literal["stdio", "http"]

#: What the file holds instead of a secret's value; a value equal to it marks the key secret.
KEYRING_PLACEHOLDER = "<stored in the system keyring>"
#: The file's own spellings of the HTTP transport (VS Code and LM Studio write "http").
HTTP_TYPES = ("http", "streamable-http", "streamableHttp")
#: Keys of a server entry this module reads; any other key is kept as it was.
_KNOWN_KEYS = frozenset({"command", "args", "env", "cwd", "url", "headers", "type", "disabled"})


class McpConfigError(LlamasideError):
    """An MCP configuration that cannot be read; the message names the file, server and field."""


@dataclass(frozen=True)
class McpServerConfig:
    """One MCP server: a program to run (stdio) or an address to talk to (Streamable HTTP)."""

    name: str
    transport: Transport = "stdio"
    #: stdio: the program and its arguments, extra environment and working folder ("" = ours).
    command: str = ""
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str = ""
    #: http: the endpoint and the headers sent with every request (e.g. Authorization).
    url: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    enabled: bool = True
    #: The env and header keys whose values live in the system keyring, never in the file.
    secret_env: tuple[str, ...] = ()
    secret_headers: tuple[str, ...] = ()
    #: The entry's "type" as the file spelled it, written back unchanged; "" writes none (a
    #: "url" alone means HTTP to every app that reads the file).
    type_name: str = ""
    #: Keys of the entry this module does not know, kept to be written back.
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_entry(self) -> dict[str, Any]:
        """The ``mcpServers`` entry, secrets replaced by the placeholder."""
        entry: dict[str, Any] = dict(self.extra)
        if self.type_name:
            entry["type"] = self.type_name
        if self.transport == "http":
            entry["url"] = self.url
            if self.headers:
                entry["headers"] = _masked(self.headers, self.secret_headers)
        else:
            entry["command"] = self.command
            entry["args"] = list(self.args)
            if self.env:
                entry["env"] = _masked(self.env, self.secret_env)
            if self.cwd:
                entry["cwd"] = self.cwd
        if not self.enabled:
            entry["disabled"] = True
        return entry

    def same_server(self, other: McpServerConfig) -> bool:
        """True when both start the same thing the same way (names and switches aside)."""
        return (self.transport, self.command, self.args, dict(self.env), self.cwd, self.url) == (
            other.transport,
            other.command,
            other.args,
            dict(other.env),
            other.cwd,
            other.url,
        ) and dict(self.headers) == dict(other.headers)


def _masked(values: Mapping[str, str], secret: Sequence[str]) -> dict[str, str]:
    return {k: (KEYRING_PLACEHOLDER if k in secret else v) for k, v in values.items()}


@dataclass(frozen=True)
class McpConfigFile:
    """A whole file: its servers in order, its other top-level keys, and what was skipped."""

    servers: tuple[McpServerConfig, ...] = ()
    #: Top-level keys other than "mcpServers" (another app's settings), kept.
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: Sentences about entries left out (a lenient import) or secrets not found.
    problems: tuple[str, ...] = ()

    def server(self, name: str) -> McpServerConfig | None:
        return next((s for s in self.servers if s.name == name), None)

    def with_server(self, config: McpServerConfig) -> McpConfigFile:
        """This file with ``config`` replacing the server of its name, or added at the end."""
        servers = [config if s.name == config.name else s for s in self.servers]
        if self.server(config.name) is None:
            servers.append(config)
        return replace(self, servers=tuple(servers))

    def without_server(self, name: str) -> McpConfigFile:
        return replace(self, servers=tuple(s for s in self.servers if s.name != name))


def parse_config(text: str, source: str = "mcp.json", *, strict: bool = True) -> McpConfigFile:
    """Read an ``mcpServers`` file. Strict (our own file): any bad entry raises McpConfigError,
    a sentence naming ``source``, the server and the field. Lenient (an import): bad entries are
    left out and said in ``problems``. An empty text is an empty file."""
    if not text.strip():
        return McpConfigFile()
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except _Duplicate as dup:
        raise McpConfigError(f'{source} names the key "{dup.key}" twice; keep one.') from None
    except ValueError as exc:
        raise McpConfigError(f"{source} is not valid JSON ({exc}).") from None
    if not isinstance(data, dict):
        raise McpConfigError(f'{source} must hold a JSON object with an "mcpServers" object.')
    entries = data.get("mcpServers", {})
    if not isinstance(entries, dict):
        raise McpConfigError(f'"mcpServers" in {source} must be an object of named servers.')
    servers: list[McpServerConfig] = []
    problems: list[str] = []
    for name, entry in entries.items():
        try:
            servers.append(server_from_entry(name, entry, source))
        except McpConfigError as exc:
            if strict:
                raise
            problems.append(str(exc))
    extra = {k: v for k, v in data.items() if k != "mcpServers"}
    return McpConfigFile(tuple(servers), extra, tuple(problems))


class _Duplicate(ValueError):
    """A JSON object naming a key twice (json.loads would silently keep the last)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


def server_from_entry(name: str, entry: Any, source: str = "mcp.json") -> McpServerConfig:
    """One ``mcpServers`` entry as a config; McpConfigError names the server and field."""
    where = f'The MCP server "{name}" in {source}'
    if not name.strip():
        raise McpConfigError(f"An MCP server in {source} has an empty name.")
    if not isinstance(entry, dict):
        raise McpConfigError(f'{where} must be an object (with "command" or "url").')
    type_name = entry.get("type", "")
    if not isinstance(type_name, str):
        raise McpConfigError(f'{where} has a "type" that is not text.')
    disabled = entry.get("disabled", False)
    if not isinstance(disabled, bool):
        raise McpConfigError(f'{where} has a "disabled" that is not true or false.')
    extra = {k: v for k, v in entry.items() if k not in _KNOWN_KEYS}
    if type_name == "sse" or (type_name not in ("", "stdio", *HTTP_TYPES)):
        raise McpConfigError(
            f'{where} uses the transport "{type_name}"; Llamaside runs stdio servers and '
            f'Streamable HTTP servers ("type": "http").'
        )
    if "url" in entry or type_name in HTTP_TYPES:
        url = entry.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise McpConfigError(f'{where} needs a "url" starting with http:// or https://.')
        headers = _strings(entry.get("headers", {}), where, "headers")
        return McpServerConfig(
            name=name,
            transport="http",
            url=url,
            headers=headers,
            enabled=not disabled,
            secret_headers=_secret_keys(headers),
            type_name=type_name,
            extra=extra,
        )
    command = entry.get("command")
    if not isinstance(command, str) or not command.strip():
        raise McpConfigError(f'{where} has no "command" (the program to run) and no "url".')
    args = entry.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise McpConfigError(f'{where} has "args" that are not a list of text.')
    cwd = entry.get("cwd", "")
    if not isinstance(cwd, str):
        raise McpConfigError(f'{where} has a "cwd" that is not text.')
    env = _strings(entry.get("env", {}), where, "env")
    return McpServerConfig(
        name=name,
        command=command,
        args=tuple(args),
        env=env,
        cwd=cwd,
        enabled=not disabled,
        secret_env=_secret_keys(env),
        type_name=type_name,
        extra=extra,
    )


def _strings(value: Any, where: str, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise McpConfigError(f'{where} has "{what}" that is not an object of text values.')
    return dict(value)


#: Words of env and header names that hold credentials (as Claude Desktop's and Cursor's
#: examples name them: GITHUB_PERSONAL_ACCESS_TOKEN, BRAVE_API_KEY, Authorization, X-Api-Key).
_SECRET_WORDS = frozenset(
    [
        "KEY",
        "APIKEY",
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "PASS",
        "CREDENTIAL",
        "CREDENTIALS",
        "AUTH",
        "AUTHORIZATION",
        "COOKIE",
        "PAT",
        "BEARER",
    ]
)


def looks_secret(name: str) -> bool:
    """Whether an env or header name is one whose value is a credential (by its words, so
    MONKEY or KEYBOARD_LAYOUT are not)."""
    words = [w for w in re.split(r"[_\-\s.]+", name.upper()) if w]
    return any(
        w in _SECRET_WORDS or w.endswith(("APIKEY", "TOKEN", "SECRET", "PASSWORD")) for w in words
    )


def with_secrets_marked(config: McpConfigFile) -> tuple[McpConfigFile, int]:
    """The file with every credential-looking env value and header marked secret (to be kept
    in the keyring, the file holding a placeholder), and how many were not marked before."""
    servers = []
    newly = 0
    for server in config.servers:
        env = tuple(k for k in server.env if k in server.secret_env or looks_secret(k))
        headers = tuple(k for k in server.headers if k in server.secret_headers or looks_secret(k))
        newly += len(set(env) - set(server.secret_env)) + len(
            set(headers) - set(server.secret_headers)
        )
        servers.append(replace(server, secret_env=env, secret_headers=headers))
    return replace(config, servers=tuple(servers)), newly


def _secret_keys(values: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(k for k, v in values.items() if v == KEYRING_PLACEHOLDER)


def dump_config(config: McpConfigFile) -> str:
    """The file's text: other keys first as they were, then ``mcpServers``; secrets masked."""
    data: dict[str, Any] = dict(config.extra)
    data["mcpServers"] = {s.name: s.to_entry() for s in config.servers}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def known_config_files(
    platform: str, home: PurePath | str, environ: Mapping[str, str]
) -> list[tuple[str, PurePath]]:
    """Where other apps keep their MCP servers on ``platform`` (sys.platform's spelling), for
    Import: (app name, path) whether or not the file exists (the caller looks)."""
    windows = platform.startswith("win")
    root: PurePath = PureWindowsPath(home) if windows else PurePosixPath(home)
    if platform == "darwin":
        claude = root / "Library" / "Application Support" / "Claude"
    elif windows:
        appdata = environ.get("APPDATA")
        claude = (PureWindowsPath(appdata) if appdata else root / "AppData" / "Roaming") / "Claude"
    else:
        config = environ.get("XDG_CONFIG_HOME")
        claude = (PurePosixPath(config) if config else root / ".config") / "Claude"
    return [
        ("Claude Desktop", claude / "claude_desktop_config.json"),
        ("Cursor", root / ".cursor" / "mcp.json"),
        ("LM Studio", root / ".lmstudio" / "mcp.json"),
    ]


@dataclass(frozen=True)
class MergeResult:
    """Servers after an import: what was added, renamed on a name clash, or already there."""

    servers: tuple[McpServerConfig, ...]
    added: tuple[str, ...] = ()
    #: Imported name → the name it got because ours already used it.
    renamed: Mapping[str, str] = field(default_factory=dict)
    #: Imported servers identical to one we have (not added twice).
    skipped: tuple[str, ...] = ()


def merge_imported(
    existing: Sequence[McpServerConfig], imported: Sequence[McpServerConfig]
) -> MergeResult:
    """Add ``imported`` after ``existing``. A server we already have (same command or URL,
    arguments and environment) is skipped; a different one with a taken name is added as
    "name-2" (then -3...), never over ours."""
    servers = list(existing)
    added: list[str] = []
    renamed: dict[str, str] = {}
    skipped: list[str] = []
    for server in imported:
        if any(s.same_server(server) for s in servers):
            skipped.append(server.name)
            continue
        taken = {s.name for s in servers}
        name = server.name
        n = 2
        while name in taken:
            name = f"{server.name}-{n}"
            n += 1
        if name != server.name:
            renamed[server.name] = name
        servers.append(replace(server, name=name))
        added.append(name)
    return MergeResult(tuple(servers), tuple(added), renamed, tuple(skipped))


def network_refusal(config: McpServerConfig, *, local_only: bool, offline: bool) -> str | None:
    """Why this server may not be connected now (a sentence), or None. HTTP servers are network
    services: refused while offline and in a chat locked to this computer, before any
    connection. stdio servers are local programs and allowed (see ``stdio_note``)."""
    if config.transport != "http":
        return None
    where = f'the MCP server "{config.name}" ({config.url})'
    if offline:
        return (
            f"Llamaside is offline, so nothing was sent to {where}. "
            f"Turn off File → Work offline to use it."
        )
    if local_only:
        return (
            f"This chat is locked to this computer, so {where} was not used: it is reached "
            f"over the network."
        )
    return None


def stdio_note(name: str = "") -> str:
    """What a local (stdio) server may do that Llamaside cannot see: shown where one is added."""
    which = f'The MCP server "{name}"' if name else "A local MCP server"
    return (
        f"{which} runs as a program on this computer with your permissions. It may reach the "
        f"network itself: offline mode and the privacy record do not cover what it sends."
    )
