"""The app's tools: the MCP servers of mcp.json (started in the background, never on the UI
thread), which of them a chat has on, the user's standing "always allow" choices, and the
limits of a tool turn (seconds per call, model steps per turn).

No widgets here: the Tools page, the per-chat switch and the approval dialog use this object;
ChatService asks it for a chat's ``ToolBox``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QObject, Signal

from desktop.backends.mcp_hub import McpHub, ServerState, ToolCallHandle
from desktop.core.chat_records import Conversation
from desktop.core.errors import LlamasideError
from desktop.core.mcp_config import (
    McpConfigError,
    McpConfigFile,
    McpServerConfig,
    with_secrets_marked,
)
from desktop.core.tools import ToolChoice, ToolSpec
from desktop.services import tool_settings
from desktop.services.relay import Relay
from desktop.services.tool_settings import ALWAYS_ALLOW_KEY, MAX_STEPS_KEY, TIMEOUT_KEY
from desktop.services.tool_turn import ToolBox, ToolGate
from desktop.storage.mcp_store import McpStore
from desktop.storage.settings import Settings

# The keys live with the CLI's readers (no Qt there); the Tools page imports them from here.
__all__ = ["ALWAYS_ALLOW_KEY", "MAX_STEPS_KEY", "TIMEOUT_KEY", "ChatExecutor", "ToolsService"]


class ChatExecutor:
    """The hub as one chat's executor: a chat locked to this computer never reaches an HTTP
    server, even one already connected for another chat."""

    def __init__(self, hub: McpHub, local_only: bool) -> None:
        self.hub = hub
        self.local_only = local_only

    def call(
        self, server: str, tool: str, arguments: dict[str, Any], timeout_s: float = 30.0
    ) -> ToolCallHandle:
        return self.hub.call(server, tool, arguments, timeout_s, local_only=self.local_only)


class ToolsService(QObject):
    """Owns the MCP hub and the tool settings.

    Signals:
        servers_changed(): a server started, stopped or failed, or the file changed.
        problem(str): a sentence the user should read (a bad mcp.json, a failed start).
    """

    servers_changed = Signal()
    problem = Signal(str)

    def __init__(
        self, store: McpStore, settings: Settings, hub: McpHub, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.settings = settings
        self.hub = hub
        self._config = McpConfigFile()
        self._starting: set[str] = set()
        self._lock = threading.Lock()
        #: Servers start and stop on their own threads, which report through it.
        self._relay = Relay(self)

    # -- the file -----------------------------------------------------------------------------

    def load(self) -> McpConfigFile:
        """Read mcp.json (a broken file is reported and left as it is: no servers meanwhile).
        Credentials pasted into it in plain text (an API key in "env", an Authorization
        header) are moved to the system keyring, the file keeping a placeholder."""
        try:
            self._config = self.store.load()
        except McpConfigError as exc:
            self._config = McpConfigFile()
            self.problem.emit(str(exc))
        for line in self._config.problems:
            self.problem.emit(line)
        marked, newly = with_secrets_marked(self._config)
        if newly and self.store.secrets is not None:
            try:
                self.store.save(marked)
            except LlamasideError as exc:  # a keyring that does not answer: left as it was
                self.problem.emit(f"Secrets in mcp.json could not go to the keyring: {exc}")
            else:
                self._config = marked
                self.problem.emit(
                    f"Moved {newly} secret value{'s' if newly != 1 else ''} from mcp.json to the "
                    "system keyring (the file now holds a placeholder)."
                )
        return self._config

    @property
    def config(self) -> McpConfigFile:
        return self._config

    def save(self, config: McpConfigFile) -> None:
        """Write mcp.json (secrets to the keyring); raises McpConfigError or LlamasideError."""
        if self.store.secrets is not None:
            config, _newly = with_secrets_marked(config)
        self.store.save(config)
        self._config = config
        self.servers_changed.emit()

    def servers(self) -> tuple[McpServerConfig, ...]:
        return self._config.servers

    def set_enabled(self, name: str, enabled: bool) -> None:
        server = self._config.server(name)
        if server is None:
            return
        self.save(self._config.with_server(replace(server, enabled=enabled)))
        if enabled:
            self.start_in_background([name])
        else:
            threading.Thread(target=self._stopper(name), daemon=True).start()

    # -- servers ------------------------------------------------------------------------------

    def state(self, name: str) -> ServerState:
        return self.hub.state(name)

    def start_in_background(self, names: Iterable[str] | None = None) -> None:
        """Start these (default: every enabled) servers that are not running, each on its own
        thread: a slow or hanging start never holds the window."""
        wanted = set(names) if names is not None else None
        for server in self._config.servers:
            if not server.enabled or (wanted is not None and server.name not in wanted):
                continue
            if self.hub.state(server.name).status in ("ready", "starting"):
                continue
            with self._lock:
                if server.name in self._starting:
                    continue
                self._starting.add(server.name)
            threading.Thread(
                target=self._starter(server), name=f"mcp-start:{server.name}", daemon=True
            ).start()

    def restart(self, name: str) -> None:
        server = self._config.server(name)
        if server is not None:
            threading.Thread(target=self._starter(server), daemon=True).start()

    def _starter(self, server: McpServerConfig) -> Callable[[], None]:
        """A thread's work that starts the server; it holds no reference to this service."""
        hub, lock, starting, post = self.hub, self._lock, self._starting, self._relay.post

        def start() -> None:
            try:
                state = hub.start(server)
            except Exception as exc:  # the hub reports failures as state; this is a last resort
                post(ToolsService._problem, f"The tool server {server.name} did not start: {exc}")
                state = None
            finally:
                with lock:
                    starting.discard(server.name)
            if state is not None and state.status == "failed" and state.last_error:
                post(
                    ToolsService._problem,
                    f"The tool server {server.name} failed: {state.last_error}",
                )
            post(ToolsService._changed)

        return start

    def _stopper(self, name: str) -> Callable[[], None]:
        hub, post = self.hub, self._relay.post

        def stop() -> None:
            hub.stop(name)
            post(ToolsService._changed)

        return stop

    def _problem(self, message: str) -> None:
        self.problem.emit(message)

    def _changed(self) -> None:
        self.servers_changed.emit()

    def close(self) -> None:
        """End every server (their programs are killed if they do not stop in time)."""
        self.hub.close(timeout_s=5.0)

    # -- a chat's tools -----------------------------------------------------------------------

    def tools_of(self, servers: Iterable[str], local_only: bool = False) -> list[ToolSpec]:
        return self.hub.tools(list(servers), local_only=local_only)

    @property
    def always_allowed(self) -> set[str]:
        return tool_settings.always_allowed(self.settings)

    def remember_always(self, key: str) -> None:
        tool_settings.remember_always(self.settings, key)

    def revoke(self, key: str) -> None:
        """Ask again before this tool runs (the Tools page's "Ask every time")."""
        tool_settings.revoke_always(self.settings, key)

    @property
    def timeout_s(self) -> float:
        return tool_settings.tool_timeout_s(self.settings)

    @property
    def max_steps(self) -> int:
        return tool_settings.tool_max_steps(self.settings)

    def box_for(self, conversation: Conversation, gate: ToolGate) -> ToolBox | None:
        """The tools this chat has on and running (None: none). Chosen servers that are not
        running yet are started for the next message."""
        if not conversation.tools:
            return None
        self.start_in_background(conversation.tools)
        specs = self.tools_of(conversation.tools, conversation.local_only)
        if not specs:
            return None
        return ToolBox(
            specs,
            ChatExecutor(self.hub, conversation.local_only),
            gate,
            always=self.always_allowed,
            timeout_s=self.timeout_s,
            max_steps=self.max_steps,
            choice=_offered(conversation.tool_choice, specs),
            on_always=self.remember_always,
        )


def _offered(choice: ToolChoice, specs: list[ToolSpec]) -> ToolChoice:
    """The chat's choice, unless it names a tool no longer offered (then the model decides)."""
    if choice.mode == "tool" and all(s.name != choice.name for s in specs):
        return ToolChoice()
    return choice
