"""The app's MCP clients: one background thread with an asyncio loop (anyio) holding a session
with each running server, behind a thread-safe, blocking API for the rest of the app.

Each server's whole session (transport, ClientSession, initialize, tools/list, then waiting) runs
inside one task of its own, because anyio's cancel scopes must be entered and left in the same
task; a call is a task of its own that uses that session. Stopping a server cancels its task,
and the SDK's stdio transport then closes the program's stdin, waits, and kills its process tree.

A stdio server's stderr goes through a pipe to a thread that keeps only its last bytes
(mcp_io.StderrTail): a server that floods stderr costs a bounded buffer, never memory; results
are made text and cut to a cap there too. HTTP servers
are refused while offline or in a chat locked to this computer (core.mcp_config.network_refusal)
before any connection, and every HTTP request is checked against the offline switch and recorded
(``Network.sent`` and ``on_http_request``) from the HTTP client's request hook, as cloud.py does.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import anyio
from anyio.from_thread import BlockingPortal

from desktop.backends.mcp_io import (
    DEFAULT_RESULT_CAP,
    DEFAULT_STDERR_TAIL,
    MARKER_ENV,
    StderrTail,
    ToolCallHandle,
    ToolOutcome,
    find_pid,
    kill_tree,
    outcome_of,
)
from desktop.backends.network import Network, Offline, Outbound
from desktop.core.mcp_config import McpServerConfig, network_refusal
from desktop.core.parts import TOOL_DENIED, TOOL_FAILED, TOOL_TIMED_OUT
from desktop.core.tools import ToolSpec

if TYPE_CHECKING:
    import httpx2
    from mcp.client.session import ClientSession

__all__ = [
    "MARKER_ENV",
    "McpHub",
    "ServerState",
    "StderrTail",
    "ToolCallHandle",
    "ToolOutcome",
]

Status = Literal["stopped", "starting", "ready", "failed"]
#: Longest SSE event taken from an HTTP server (the SDK's default, 1 MB, is below our cap's
#: reason to exist: a big result is cut here, not refused there).
MAX_SSE_EVENT = 64 * 1024 * 1024


@dataclass(frozen=True)
class ServerState:
    """A snapshot of one server, for the UI: how it is, its tools, and why it failed."""

    name: str
    status: Status = "stopped"
    tools: tuple[ToolSpec, ...] = ()
    last_error: str = ""
    #: The last bytes it wrote to stderr (stdio servers).
    stderr_tail: str = ""
    pid: int | None = None


@dataclass
class _Server:
    """The hub's own record of a server (mutated on the loop thread, under the hub's lock)."""

    config: McpServerConfig
    status: Status = "starting"
    tools: tuple[ToolSpec, ...] = ()
    last_error: str = ""
    pid: int | None = None
    tail: StderrTail | None = None
    session: ClientSession | None = None
    future: concurrent.futures.Future[None] | None = None
    marker: str = field(default_factory=lambda: uuid.uuid4().hex)
    #: Set (on the loop) to end a ready session, or by the dispatcher when the connection ends.
    wake: anyio.Event | None = None
    stopping: bool = False
    #: Set when it leaves "starting" (ready or failed) and when its task has ended.
    settled: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)


class McpHub:
    """The MCP servers the app runs: start, stop, their state and tools, and tool calls.
    Every method is safe from any thread; blocking ones take a timeout."""

    def __init__(
        self,
        network: Network | None = None,
        on_http_request: Callable[[str, str, str, int], None] | None = None,
        *,
        result_cap: int = DEFAULT_RESULT_CAP,
        stderr_tail: int = DEFAULT_STDERR_TAIL,
        connect_timeout_s: float = 30.0,
    ) -> None:
        self.network = network
        #: (server, method, url, bytes sent) for each HTTP request, as it leaves.
        self.on_http_request = on_http_request
        self.result_cap = result_cap
        self.stderr_tail = stderr_tail
        self.connect_timeout_s = connect_timeout_s
        self._lock = threading.Lock()
        self._servers: dict[str, _Server] = {}
        self._portal: BlockingPortal | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- the loop thread ----------------------------------------------------------------------

    def _ensure_loop(self) -> BlockingPortal:
        """The loop's portal, starting its thread at first use (an app without MCP has none)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("The MCP hub is closed.")
            if self._portal is not None:
                return self._portal
            ready: concurrent.futures.Future[BlockingPortal] = concurrent.futures.Future()

            async def serve() -> None:
                async with BlockingPortal() as portal:
                    ready.set_result(portal)
                    await portal.sleep_until_stopped()

            self._thread = threading.Thread(
                target=lambda: anyio.run(serve), name="mcp-hub", daemon=True
            )
            self._thread.start()
            self._portal = ready.result(timeout=10)
            return self._portal

    def _offline(self) -> bool:
        return self.network is not None and self.network.offline

    # -- servers --------------------------------------------------------------------------------

    def start(
        self, config: McpServerConfig, *, local_only: bool = False, timeout_s: float = 30.0
    ) -> ServerState:
        """Start (or restart) a server and wait until it is ready or failed, at most
        ``timeout_s`` (then it is still "starting"). An HTTP server that may not be reached
        now fails with the reason and nothing is sent."""
        self.stop(config.name)
        server = _Server(config)
        refusal = network_refusal(config, local_only=local_only, offline=self._offline())
        if refusal is not None:
            server.status, server.last_error = "failed", refusal
            server.settled.set()
            server.finished.set()
            with self._lock:
                self._servers[config.name] = server
            return self._snapshot(server)
        portal = self._ensure_loop()
        with self._lock:
            self._servers[config.name] = server
        server.future = portal.start_task_soon(self._session, server, name=f"mcp:{config.name}")
        server.settled.wait(timeout_s)
        return self._snapshot(server)

    def stop(self, name: str, timeout_s: float = 10.0) -> ServerState:
        """Stop a server and wait for it, at most ``timeout_s``: its session ends as the
        protocol asks (stdin closed, or the HTTP session deleted), then it is cancelled, and a
        program still running after that is killed. Its calls in flight end failed."""
        with self._lock:
            server = self._servers.get(name)
        if server is None:
            return ServerState(name)
        self._end([server], time.monotonic() + timeout_s)
        with self._lock:
            if server.status != "failed":
                server.status = "stopped"
            server.tools = ()
        return self._snapshot(server)

    def _end(self, servers: list[_Server], deadline: float) -> None:
        """Ask each server's session to end, then cancel it, then kill its program."""
        portal = self._portal
        servers = [s for s in servers if s.future is not None and not s.finished.is_set()]
        for server in servers:
            server.stopping = True
            if portal is not None and server.future is not None:
                with contextlib.suppress(Exception):  # a loop already gone has nothing to wake
                    portal.call(_wake, server)
        for server in servers:  # the SDK's own shutdown takes up to about 4.5 s
            waited = server.finished.wait(max(0.0, deadline - time.monotonic() - 2.0))
            if not waited and server.future is not None:
                server.future.cancel()
        for server in servers:
            if not server.finished.wait(max(0.0, deadline - time.monotonic() - 0.5)):
                kill_tree(server.pid)

    def restart(
        self, name: str, *, local_only: bool = False, timeout_s: float = 30.0
    ) -> ServerState:
        with self._lock:
            server = self._servers.get(name)
        if server is None:
            return ServerState(name, "failed", last_error=f'No MCP server is called "{name}".')
        return self.start(server.config, local_only=local_only, timeout_s=timeout_s)

    def state(self, name: str) -> ServerState:
        with self._lock:
            server = self._servers.get(name)
        return ServerState(name) if server is None else self._snapshot(server)

    def _snapshot(self, server: _Server) -> ServerState:
        with self._lock:
            return ServerState(
                name=server.config.name,
                status=server.status,
                tools=server.tools,
                last_error=server.last_error,
                stderr_tail=server.tail.text() if server.tail is not None else "",
                pid=server.pid if server.status in ("starting", "ready") else None,
            )

    def tools(
        self, names: Iterable[str] | None = None, *, local_only: bool = False
    ) -> list[ToolSpec]:
        """The tools of the ready servers among ``names`` (all when None), in that order;
        servers that ``local_only`` or offline rule out give none."""
        offline = self._offline()
        with self._lock:
            wanted = list(self._servers) if names is None else list(names)
            return [
                tool
                for server in (self._servers[n] for n in wanted if n in self._servers)
                if server.status == "ready"
                and network_refusal(server.config, local_only=local_only, offline=offline) is None
                for tool in server.tools
            ]

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop every server and the loop within about ``timeout_s``; programs still running
        after that are killed. The hub cannot be used afterwards."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            self._closed = True
            servers = list(self._servers.values())
            portal, thread = self._portal, self._thread
        self._end(servers, deadline)
        if portal is not None and thread is not None:
            with contextlib.suppress(Exception):  # a loop already gone has nothing to stop
                portal.start_task_soon(portal.stop, True)
            thread.join(max(0.1, deadline - time.monotonic()))

    # -- calls ----------------------------------------------------------------------------------

    def call(
        self,
        server: str,
        tool: str,
        arguments: Mapping[str, Any],
        timeout_s: float = 30.0,
        *,
        local_only: bool = False,
    ) -> ToolCallHandle:
        """Start a tool call; returns at once. Its outcome is failed when the server is not
        ready, denied when the network is ruled out, timed_out after ``timeout_s``."""
        with self._lock:
            record = self._servers.get(server)
            status = record.status if record is not None else "stopped"
            session = record.session if record is not None and status == "ready" else None
        if record is None or session is None:
            how = "is still starting" if status == "starting" else "is not running"
            why = f'The MCP server "{server}" {how}, so {tool} was not called.'
            return ToolCallHandle(outcome=ToolOutcome(why, True, TOOL_FAILED, 0.0))
        refusal = network_refusal(record.config, local_only=local_only, offline=self._offline())
        if refusal is not None:
            return ToolCallHandle(outcome=ToolOutcome(refusal, True, TOOL_DENIED, 0.0))
        future = self._ensure_loop().start_task_soon(
            self._call, record, session, tool, dict(arguments), timeout_s
        )
        return ToolCallHandle(future)

    async def _call(
        self,
        server: _Server,
        session: ClientSession,
        tool: str,
        arguments: dict[str, Any],
        timeout_s: float,
    ) -> ToolOutcome:
        started = time.monotonic()
        failure: Exception | None = None
        with anyio.move_on_after(timeout_s):
            try:
                result = await session.call_tool(tool, arguments)
            except Exception as exc:
                failure = exc  # explained below, outside the call's deadline
            else:
                return outcome_of(result, self.result_cap, time.monotonic() - started)
        if failure is not None:
            took = time.monotonic() - started
            return ToolOutcome(
                await self._call_failure(server, tool, failure), True, TOOL_FAILED, took
            )
        return ToolOutcome(
            f'{tool} on the MCP server "{server.config.name}" did not answer within '
            f"{timeout_s:g} s, so it was stopped.",
            True,
            TOOL_TIMED_OUT,
            time.monotonic() - started,
        )

    async def _call_failure(self, server: _Server, tool: str, exc: Exception) -> str:
        name = server.config.name
        reason = _reason(exc)
        if "closed" in reason.lower():  # the connection ended: the server stopped or crashed
            with anyio.move_on_after(2.0):  # its state says so before the caller hears of it
                while not server.finished.is_set():
                    await anyio.sleep(0.02)
            await _wait_closed(server.tail)
            said = server.tail.last_line() if server.tail is not None else ""
            return f'The MCP server "{name}" stopped before {tool} answered.' + (
                f" It last said: {said}" if said else ""
            )
        return f'{tool} on the MCP server "{name}" failed: {reason}'

    # -- one server's session (its own task) -----------------------------------------------------

    async def _session(self, server: _Server) -> None:
        from mcp.client.session import ClientSession
        from mcp_types import Implementation

        name = server.config.name
        try:
            async with contextlib.AsyncExitStack() as stack:
                if server.config.transport == "http":
                    streams = await stack.enter_async_context(self._http(server))
                else:
                    streams = await stack.enter_async_context(self._stdio(server))
                wake = server.wake = anyio.Event()
                dispatcher = _watched_dispatcher(wake, *streams)
                session = await stack.enter_async_context(
                    ClientSession(
                        dispatcher=dispatcher,
                        client_info=Implementation(name="llamaside", version="0.1"),
                    )
                )
                with anyio.fail_after(self.connect_timeout_s):
                    await session.initialize()
                    tools = await _list_tools(session, name)
                pid = None
                if server.config.transport == "stdio":
                    pid = await anyio.to_thread.run_sync(find_pid, server.marker)
                with self._lock:
                    server.session, server.tools, server.pid = session, tools, pid
                    server.status = "ready"
                server.settled.set()
                await wake.wait()
                if server.stopping:
                    return  # leaving the contexts ends the session as the protocol asks
                await _wait_closed(server.tail)
                said = server.tail.last_line() if server.tail is not None else ""
                raise _Gone(
                    f'The MCP server "{name}" stopped unexpectedly.'
                    + (f" It last said: {said}" if said else "")
                )
        except Exception as exc:
            why = await self._start_failure(server, exc)
            with self._lock:
                server.status, server.last_error = "failed", why
        finally:
            with self._lock:
                server.session = None
                if server.status != "failed":  # stopped by us (woken or cancelled)
                    server.status = "stopped"
            server.settled.set()
            server.finished.set()

    async def _start_failure(self, server: _Server, exc: Exception) -> str:
        name = server.config.name
        leaf = _leaf(exc)
        if isinstance(leaf, _Gone | Offline):
            return str(leaf)
        if isinstance(leaf, TimeoutError):
            return f'The MCP server "{name}" did not answer within {self.connect_timeout_s:g} s.'
        if isinstance(leaf, FileNotFoundError) and server.config.transport == "stdio":
            return (
                f'The MCP server "{name}" could not be started: the program '
                f'"{server.config.command}" was not found.'
            )
        import httpx2

        if isinstance(leaf, httpx2.TransportError):
            return f'The MCP server "{name}" ({server.config.url}) could not be reached: ' + (
                _reason(leaf)
            )
        await _wait_closed(server.tail)
        said = server.tail.last_line() if server.tail is not None else ""
        if "connection closed" in str(leaf).lower():  # the program ended before it answered
            why = f'The MCP server "{name}" stopped while starting.'
        else:
            why = f'The MCP server "{name}" failed: {_reason(leaf)}'
        return why + (f" It last said: {said}" if said else "")

    @contextlib.asynccontextmanager
    async def _stdio(self, server: _Server) -> AsyncIterator[tuple[Any, Any]]:
        from mcp.client.stdio import StdioServerParameters, stdio_client

        config = server.config
        tail = StderrTail(self.stderr_tail)
        with self._lock:
            server.tail = tail
        params = StdioServerParameters(
            command=config.command,
            args=list(config.args),
            env={**config.env, MARKER_ENV: server.marker},
            cwd=config.cwd or None,
        )
        try:
            async with stdio_client(params, errlog=tail.writer) as streams:
                tail.close_writer()  # the child has its copy: EOF comes when it exits
                yield streams
        finally:
            tail.close_writer()

    @contextlib.asynccontextmanager
    async def _http(self, server: _Server) -> AsyncIterator[tuple[Any, Any]]:
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        config = server.config

        async def on_request(request: httpx2.Request) -> None:
            self._sent(config, request)

        client = httpx2.AsyncClient(
            headers=dict(config.headers),
            timeout=httpx2.Timeout(30.0, read=300.0),
            event_hooks={"request": [on_request]},
        )
        async with (
            client,
            streamable_http_client(
                config.url, http_client=client, max_sse_event_size=MAX_SSE_EVENT
            ) as streams,
        ):
            yield streams

    def _sent(self, config: McpServerConfig, request: httpx2.Request) -> None:
        """Runs in the HTTP client for every request, before it is sent: offline stops it,
        else it goes in the privacy record (never its headers: they may carry a key)."""
        if self.network is not None:
            self.network.check(f'the MCP server "{config.name}" ({config.url})')
        try:
            body = len(request.content)
        except Exception:  # a streamed body not read yet: its size is not known
            body = 0
        sent = len(request.method) + len(str(request.url)) + body
        if self.network is not None:
            self.network.sent(
                Outbound(
                    destination=config.name,
                    host=str(request.url.host),
                    purpose="mcp",
                    bytes_sent=sent,
                )
            )
        if self.on_http_request is not None:
            self.on_http_request(config.name, request.method, str(request.url), sent)


class _Gone(Exception):
    """The server ended the session (a crash, or it exited) while we were using it."""


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups, as task groups wrap them."""
    while inner := getattr(exc, "exceptions", None):  # BaseExceptionGroup (3.11+ or backport)
        exc = inner[0]
    return exc


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if text.endswith(".") else text + "."


async def _wait_closed(tail: StderrTail | None, timeout_s: float = 1.0) -> None:
    """Give the stderr thread a moment to read a dead server's last words."""
    if tail is None:
        return
    with anyio.move_on_after(timeout_s):
        while not tail.closed.is_set():
            await anyio.sleep(0.02)


async def _list_tools(session: ClientSession, server: str) -> tuple[ToolSpec, ...]:
    """Every page of tools/list (at most 100 pages: a paginator that never ends)."""
    from mcp_types import PaginatedRequestParams

    tools: list[ToolSpec] = []
    cursor: str | None = None
    for _ in range(100):
        params = PaginatedRequestParams(cursor=cursor) if cursor else None
        page = await session.list_tools(params=params)
        tools += [
            ToolSpec(t.name, t.description or "", dict(t.input_schema), server) for t in page.tools
        ]
        cursor = page.next_cursor
        if not cursor:
            break
    return tuple(tools)


def _wake(server: _Server) -> None:
    """On the loop: end a ready session by waking it, or cancel one still starting."""
    if server.wake is not None and server.status == "ready":
        server.wake.set()
    elif server.future is not None:
        server.future.cancel()


def _watched_dispatcher(ended: anyio.Event, read_stream: Any, write_stream: Any) -> Any:
    """The SDK's JSON-RPC dispatcher, setting ``ended`` when its read loop ends (the server
    closed the connection or died): the session has no other way to say so."""
    from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher

    class Watched(JSONRPCDispatcher[Any]):
        """Sets ``ended`` when run() returns, however it ends."""

        async def run(self, *args: Any, **kwargs: Any) -> None:
            try:
                await super().run(*args, **kwargs)
            finally:
                ended.set()

    return Watched(read_stream, write_stream)
