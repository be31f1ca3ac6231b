"""MCP tools from a terminal: `llamaside tools list`, and the tool side of `llamaside chat
--tools SERVER`: the named servers started, each call put to the user on the terminal
(``TerminalGate``), run, and said on stderr as it happens, Ctrl+C stopping the turn.

The servers, the "always allow" list and the limits are the window's: mcp.json in the config
folder, and settings.json's keys (services.tool_settings).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import shlex
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from desktop.backends.mcp_hub import McpHub, ServerState, ToolCallHandle
from desktop.backends.secrets import delete_secret, get_secret, set_secret
from desktop.cli.network import open_network
from desktop.core.answer import AnswerEvent, AnswerSource, TextDelta
from desktop.core.errors import InvalidParameter, LlamasideError
from desktop.core.mcp_config import McpConfigError, McpConfigFile, McpServerConfig, stdio_note
from desktop.core.messages import MessageStatus
from desktop.core.parts import ToolCall, ToolResult
from desktop.core.tools import ToolChoice, ToolSpec, arguments_object
from desktop.services.tool_settings import (
    always_allowed,
    remember_always,
    tool_max_steps,
    tool_timeout_s,
)
from desktop.services.tool_turn import Decision, ToolBox, tool_key
from desktop.services.turn import ChatTurn, TurnPipeline
from desktop.storage.mcp_store import McpStore, SecretStore
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings
from desktop.storage.store import ChatStore, Conversation

#: Seconds a server may take to start before `tools list` or a chat gives up on it.
START_WAIT_S = 30.0
#: Lines of a failed server's stderr shown with its reason.
STDERR_LINES = 5
#: The format shown when there is no mcp.json yet.
EXAMPLE = """{
  "mcpServers": {
    "files": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]},
    "search": {"url": "https://example.com/mcp", "headers": {"Authorization": "Bearer KEY"}}
  }
}"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tools = sub.add_parser("tools", help="the MCP tool servers of mcp.json and their tools")
    tools_sub = tools.add_subparsers(dest="tools_command", required=True)
    listing = tools_sub.add_parser(
        "list", help="the servers (started for a moment) and the tools each one offers"
    )
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    listing.add_argument(
        "--no-start", action="store_true", help="only read mcp.json: start no server"
    )
    listing.set_defaults(run=cmd_list)


def add_chat_arguments(chat: argparse.ArgumentParser) -> None:
    """`llamaside chat`'s tool options."""
    chat.add_argument(
        "--tools",
        action="append",
        default=[],
        metavar="SERVER[,SERVER]",
        help="let the model call the tools of these MCP servers (see `llamaside tools list`); "
        "each call is asked about on the terminal",
    )
    chat.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="TOOL",
        help="run this tool (a name, or SERVER/NAME) without asking, for this run only",
    )
    chat.add_argument(
        "--tool-choice",
        default="auto",
        metavar="auto|required|none|TOOL",
        help="whether the model may (auto), must (required) or must not (none) call a tool, "
        "or must call this one",
    )
    setting = " (default: the window's tool setting)"
    chat.add_argument(
        "--tool-timeout", type=float, metavar="S", help="seconds a call may run" + setting
    )
    chat.add_argument("--max-steps", type=int, metavar="N", help="model steps per answer" + setting)


# -- mcp.json --------------------------------------------------------------------------------


def mcp_store(paths: AppPaths) -> McpStore:
    return McpStore(paths.mcp_config, SecretStore(get_secret, set_secret, delete_secret))


def where(server: McpServerConfig) -> tuple[str, str]:
    """("program", its command line) or ("address", its URL)."""
    if server.transport == "http":
        return "address", server.url
    return "program", shlex.join([server.command, *server.args])


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _start_all(hub: McpHub, servers: Iterable[McpServerConfig], local_only: bool) -> None:
    """Start servers side by side, each waited for at most START_WAIT_S."""
    wait = {"local_only": local_only, "timeout_s": START_WAIT_S}
    threads = [threading.Thread(target=hub.start, args=(s,), kwargs=wait) for s in servers]
    for thread in threads:
        thread.daemon = True  # a start that hangs past its wait must not keep us alive
        thread.start()
    for thread in threads:
        thread.join(START_WAIT_S + 5.0)


def failure_reason(state: ServerState) -> str:
    """Why a server is not ready, in a sentence."""
    if state.status == "starting":
        return f'The MCP server "{state.name}" did not start within {START_WAIT_S:g} s.'
    return state.last_error or f'The MCP server "{state.name}" is not running.'


def failure_text(state: ServerState) -> str:
    """Why a server is not ready, with the last lines it wrote to stderr."""
    tail = state.stderr_tail.strip().splitlines()[-STDERR_LINES:]
    return failure_reason(state) + "".join(f"\n  | {line}" for line in tail)


# -- llamaside tools list --------------------------------------------------------------------


def cmd_list(args: argparse.Namespace, paths: AppPaths, out: TextIO) -> int:
    path = paths.mcp_config
    try:
        config = mcp_store(paths).load()
    except McpConfigError as exc:
        sys.stderr.write(f"llamaside: error: {exc}\n")
        return 1
    for problem in config.problems:
        sys.stderr.write(f"llamaside: {problem}\n")
    states: dict[str, ServerState] = {}
    enabled = [s for s in config.servers if s.enabled]
    if enabled and not args.no_start:
        with open_network(paths) as network:
            hub = McpHub(network, connect_timeout_s=START_WAIT_S)
            try:
                _start_all(hub, enabled, local_only=False)
                states = {s.name: hub.state(s.name) for s in enabled}
            finally:
                hub.close()
    if args.json:
        listed = {
            "config": str(path),
            "exists": path.exists(),
            "servers": [_server_json(s, states.get(s.name)) for s in config.servers],
        }
        out.write(json.dumps(listed, ensure_ascii=False, indent=2) + "\n")
        return 0
    if not path.exists():
        out.write(
            f"No MCP servers yet. Create {path} in the format Claude Desktop, Cursor and LM "
            f"Studio use, for example:\n{EXAMPLE}\n"
        )
        return 0
    out.write(f"MCP servers in {path}:\n")
    if not config.servers:
        out.write(f"  (none)\nFor example:\n{EXAMPLE}\n")
    for server in config.servers:
        _server_text(out, server, states.get(server.name))
    return 0


def _status(server: McpServerConfig, state: ServerState | None) -> str:
    if not server.enabled:
        return "disabled"
    return state.status if state is not None else "not started"


def _server_json(server: McpServerConfig, state: ServerState | None) -> dict[str, Any]:
    kind, place = where(server)
    entry: dict[str, Any] = {
        "name": server.name,
        "transport": server.transport,
        kind: place,
        "enabled": server.enabled,
        "status": _status(server, state),
        "error": None,
        "tools": [],
    }
    if state is not None and state.status == "ready":
        entry["tools"] = [
            {"name": t.name, "description": t.description, "parameters": dict(t.parameters)}
            for t in state.tools
        ]
    elif state is not None:
        entry["error"] = failure_reason(state)
        entry["stderr"] = state.stderr_tail.strip().splitlines()[-STDERR_LINES:]
    return entry


def _server_text(out: TextIO, server: McpServerConfig, state: ServerState | None) -> None:
    kind, place = where(server)
    out.write(f"\n{server.name}  [{_status(server, state)}]  {kind}: {place}\n")
    if state is None:  # disabled, or --no-start
        return
    if state.status != "ready":
        out.write("  " + failure_text(state).replace("\n", "\n  ") + "\n")
        return
    if not state.tools:
        out.write("  (no tools)\n")
    width = max((len(t.name) for t in state.tools), default=0)
    for tool in state.tools:
        out.write(f"  {tool.name:<{width}}  {first_line(tool.description)}\n".rstrip() + "\n")


# -- the terminal's say on each call ---------------------------------------------------------


class StdoutLine:
    """Whether the answer's words on stdout stopped mid-line, so that a tool's line on stderr
    starts a line of its own where both go to one terminal (None: stdout shows no words)."""

    def __init__(self, out: TextIO | None) -> None:
        self.out = out
        self.mid = False

    def saw(self, text: str) -> None:
        if text:
            self.mid = not text.endswith("\n")

    def end(self) -> None:
        if self.out is not None and self.mid and self.out.isatty():
            self.out.write("\n")
            self.out.flush()
        self.mid = False


#: What may be typed at the question (anything else, or nothing, is no).
REPLIES = {"y": Decision.ALLOW_ONCE, "yes": Decision.ALLOW_ONCE}
REPLIES |= {"a": Decision.ALWAYS, "always": Decision.ALWAYS}


def call_text(name: str, arguments: dict[str, Any]) -> str:
    """A call as one line: ``weather(city="Paris")``."""
    shown = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in arguments.items())
    return f"{name}({shown})"


class TerminalGate:
    """Asks on the terminal before each call: reads the answer from ``tty`` (/dev/tty, not
    stdin, which may carry the prompt), where the question is written too, so a user whose
    stderr goes to a file still sees what they approve. No terminal: the call is denied and
    ``log`` says why."""

    def __init__(self, log: TextIO, tty: str = "/dev/tty", line: StdoutLine | None = None) -> None:
        self.log = log
        self.tty = tty
        self.line = line or StdoutLine(None)
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        """Ctrl+C: a question waiting for its answer is answered no."""
        self._cancelled.set()

    def decide(self, call: ToolCall, spec: ToolSpec | None) -> Decision:
        server = spec.server if spec is not None else call.server
        self.line.end()
        try:
            fd = os.open(self.tty, os.O_RDWR | os.O_NOCTTY)
        except OSError:
            self.log.write(
                f"llamaside: {call.name} ({server}) denied: not pre-approved (--allow "
                f"{call.name}) and no terminal to ask.\n"
            )
            self.log.flush()
            return Decision.DENY
        try:
            os.write(fd, self._question(call, server, spec).encode("utf-8"))
            reply = self._read_line(fd)
        finally:
            os.close(fd)
        return REPLIES.get(reply.strip().lower(), Decision.DENY)  # the default is no

    @staticmethod
    def _question(call: ToolCall, server: str, spec: ToolSpec | None) -> str:
        about = first_line(spec.description) if spec is not None else ""
        arguments = json.dumps(arguments_object(call.arguments), ensure_ascii=False, indent=2)
        return (
            f"\n⚙ The model wants to call {call.name} on the MCP server {server!r}"
            + (f" ({about})" if about else "")
            + ", with:\n"
            + "".join(f"  {line}\n" for line in arguments.splitlines())
            + "Allow? [y]es once, [a]lways, [N]o: "
        )

    def _read_line(self, fd: int) -> str:
        """One line typed on the terminal; "" at its end or on Ctrl+C (then: no)."""
        got = b""
        while b"\n" not in got and not self._cancelled.is_set():
            ready, _, _ = select.select([fd], [], [], 0.1)
            if not ready:
                continue
            chunk = os.read(fd, 1024)
            if not chunk:
                break
            got += chunk
        return "" if self._cancelled.is_set() else got.decode("utf-8", "replace")


class ShownExecutor:
    """The hub as this chat's executor, saying on stderr which call runs as it starts (a slow
    call is then no mystery); a chat locked to this computer never reaches an HTTP server."""

    def __init__(self, hub: McpHub, local_only: bool, log: TextIO, line: StdoutLine) -> None:
        self.hub = hub
        self.local_only = local_only
        self.log = log
        self.line = line
        #: The current call's line is begun and waits for its outcome.
        self.open_line = False

    def call(
        self, server: str, tool: str, arguments: dict[str, Any], timeout_s: float = 30.0
    ) -> ToolCallHandle:
        self.line.end()
        self.log.write(f"⚙ {call_text(tool, arguments)}")
        self.log.flush()
        self.open_line = True
        return self.hub.call(server, tool, arguments, timeout_s, local_only=self.local_only)


def outcome_text(result: ToolResult) -> str:
    """A result as the end of a call's line: ``→ Sunny in Paris, 21 °C  [ok, 0.1 s]``."""
    text = " ".join(result.content.split())
    if len(text) > 200:
        text = text[:199] + "…"
    return f"→ {text}  [{result.status}, {result.duration_s:.1f} s]"


# -- a chat with tools -----------------------------------------------------------------------


@dataclass
class CliTools:
    """The tools of one `llamaside chat`: the servers running, the box and its gate."""

    hub: McpHub
    box: ToolBox
    gate: TerminalGate
    executor: ShownExecutor
    log: TextIO = field(default_factory=lambda: sys.stderr)
    #: The model steps that ran (the turn's finished-step count while each streamed).
    steps: set[int] = field(default_factory=set)
    #: The calls whose outcome was said.
    shown: set[str] = field(default_factory=set)

    def on_result(self, turn: ChatTurn, result: ToolResult) -> None:
        """Say one call's outcome on stderr as it comes."""
        self.shown.add(result.call_id)
        if self.executor.open_line:
            self.log.write(f" {outcome_text(result)}\n")
            self.executor.open_line = False
        else:
            self.executor.line.end()
            calls = (p for p in turn.answer.parts if isinstance(p, ToolCall))
            call = next((c for c in calls if c.call_id == result.call_id), None)
            name = call.name if call is not None else "?"
            arguments = arguments_object(call.arguments) if call is not None else {}
            self.log.write(f"⚙ {call_text(name, arguments)} {outcome_text(result)}\n")
        self.log.flush()


def server_names(values: Iterable[str]) -> list[str]:
    """--tools a,b --tools c: the servers, in order, once each."""
    names = [n.strip() for value in values for n in value.split(",")]
    return list(dict.fromkeys(n for n in names if n))


def open_tools(
    args: argparse.Namespace,
    paths: AppPaths,
    settings: Settings,
    conversation: Conversation | None,
    *,
    stack: contextlib.ExitStack,
    out: TextIO,
) -> CliTools | None:
    """The servers --tools names, started, and the box for this turn (None: no --tools).
    Everything that can be refused is, here: before a model is loaded or anything saved."""
    if not args.tools:
        if args.allow or args.tool_choice != "auto":
            raise InvalidParameter("--allow and --tool-choice are for a chat with --tools.")
        return None
    if (args.tool_timeout is not None and args.tool_timeout <= 0) or (
        args.max_steps is not None and args.max_steps < 1
    ):
        raise InvalidParameter("--tool-timeout and --max-steps take a number above 0.")
    names = server_names(args.tools)
    config = mcp_store(paths).load()
    for problem in config.problems:
        sys.stderr.write(f"llamaside: {problem}\n")
    servers = [_named(config, name, paths.mcp_config) for name in names]
    local_only = conversation.local_only if conversation is not None else False
    network = stack.enter_context(open_network(paths))
    hub = McpHub(network, connect_timeout_s=START_WAIT_S)
    stack.callback(hub.close)
    for server in servers:
        if server.transport == "stdio":
            sys.stderr.write(f"llamaside: {stdio_note(server.name)}\n")
    _start_all(hub, servers, local_only)
    for server in servers:
        state = hub.state(server.name)
        if state.status != "ready":
            raise LlamasideError(failure_text(state) + "\nNothing was sent.")
    specs = hub.tools(names, local_only=local_only)
    if not specs:
        raise InvalidParameter(f"{', '.join(names)} offer no tools, so nothing was sent.")
    line = StdoutLine(None if args.json else out)
    gate = TerminalGate(sys.stderr, line=line)
    executor = ShownExecutor(hub, local_only, sys.stderr, line)
    box = ToolBox(
        specs,
        executor,
        gate,
        always=always_allowed(settings) | _allowed(args.allow, specs),
        timeout_s=args.tool_timeout or tool_timeout_s(settings),
        max_steps=args.max_steps or tool_max_steps(settings),
        choice=_choice(args.tool_choice, specs),
        on_always=lambda key: remember_always(settings, key),
    )
    return CliTools(hub, box, gate, executor)


def _named(config: McpConfigFile, name: str, path: Path) -> McpServerConfig:
    server = config.server(name)
    if server is None:
        known = ", ".join(s.name for s in config.servers)
        listed = f"servers: {known}" if known else "none yet: `llamaside tools list` says how"
        raise InvalidParameter(
            f'There is no MCP server "{name}" in {path} ({listed}). Nothing was sent.'
        )
    if not server.enabled:
        raise InvalidParameter(
            f'The MCP server "{name}" is turned off ("disabled": true in {path}). Nothing was sent.'
        )
    return server


def _tool_names(specs: list[ToolSpec]) -> str:
    return ", ".join(dict.fromkeys(s.name for s in specs))


def _allowed(values: Iterable[str], specs: list[ToolSpec]) -> set[str]:
    """--allow NAME or SERVER/NAME as "always allow" keys for this run."""
    keys: set[str] = set()
    for value in values:
        found = {
            tool_key(s.server, s.name)
            for s in specs
            if value in (s.name, tool_key(s.server, s.name))
        }
        if not found:
            raise InvalidParameter(
                f"--allow {value}: no such tool (tools: {_tool_names(specs)}). Nothing was sent."
            )
        keys |= found
    return keys


def _choice(value: str, specs: list[ToolSpec]) -> ToolChoice:
    if value in ("auto", "required", "none"):
        return ToolChoice(value)  # type: ignore[arg-type]
    if not any(s.name == value for s in specs):
        raise InvalidParameter(
            f"--tool-choice {value}: give auto, required, none or a tool's name (tools: "
            f"{_tool_names(specs)}). Nothing was sent."
        )
    return ToolChoice("tool", value)


def scratch_store(stack: contextlib.ExitStack) -> ChatStore:
    """--no-save with tools: the turn runs in a database of its own that is then deleted."""
    folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="llamaside-"))
    store = ChatStore(Path(folder) / "scratch.db")
    stack.callback(store.close)
    return store


@dataclass
class ToolRun:
    """How a tool turn ended, for `llamaside chat`."""

    status: MessageStatus | None = None
    pipe_closed: bool = False


def run_turn(
    pipeline: TurnPipeline,
    turn: ChatTurn,
    source: AnswerSource,
    tools: CliTools,
    show: Callable[[AnswerEvent], None],
) -> ToolRun:
    """Model steps and calls on this thread (the store's connection belongs to it), Ctrl+C
    taken by a handler that stops the turn rather than breaking it: the call running is
    cancelled, a question waiting is answered no, the model is stopped, and the turn ends
    stopped with everything so far kept. A second Ctrl+C leaves at once."""
    ran = ToolRun()
    stopping = threading.Event()

    def stop() -> None:
        stopping.set()
        tools.box.cancel()
        tools.gate.cancel()
        # From a thread of its own: this may run in the signal handler while this thread
        # is halfway through writing a request to the engine.
        threading.Thread(target=source.cancel, name="cli-stop", daemon=True).start()

    def on_sigint(_signum: int, _frame: FrameType | None) -> None:
        if stopping.is_set():
            raise KeyboardInterrupt
        ran.status = MessageStatus.STOPPED
        stop()

    def on_event(event: AnswerEvent) -> None:
        tools.steps.add(turn.steps.count)
        if stopping.is_set():
            source.cancel()  # a step that began after Ctrl+C
        if ran.pipe_closed:
            return
        if isinstance(event, TextDelta):
            tools.executor.line.saw(event.text)
        try:
            show(event)
        except BrokenPipeError:  # the reader went away (`| head`): stop, keep what was made
            ran.pipe_closed = True
            ran.status = MessageStatus.STOPPED
            stop()

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if main else None
    try:
        pipeline.run_with_tools(
            turn, source, tools.box, on_event, lambda result: tools.on_result(turn, result)
        )
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    for part in turn.answer.parts if turn.steps.limited else ():  # calls the limit left unrun
        if isinstance(part, ToolResult) and part.call_id not in tools.shown:
            tools.on_result(turn, part)
    if stopping.is_set() and not ran.pipe_closed:
        tools.log.write("\nllamaside: stopped.\n")
    return ran


def report(turn: ChatTurn, tools: CliTools) -> dict[str, Any]:
    """The turn's calls in order with their outcomes, and its model steps, for --json."""
    results = {p.call_id: p for p in turn.answer.parts if isinstance(p, ToolResult)}
    calls = []
    for part in turn.answer.parts:
        if not isinstance(part, ToolCall):
            continue
        spec = tools.box.spec(part.name)
        result = results.get(part.call_id)
        calls.append(
            {
                "name": part.name,
                "server": spec.server if spec is not None else part.server,
                "arguments": arguments_object(part.arguments),
                "status": result.status if result is not None else None,
                "result": result.content if result is not None else None,
                "duration_s": round(result.duration_s, 3) if result is not None else None,
            }
        )
    return {"tool_calls": calls, "steps": len(tools.steps)}
