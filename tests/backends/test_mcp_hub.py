"""The MCP hub against real servers (tests/mcp_servers/toolbox.py, the SDK's own server) over
stdio and Streamable HTTP: tools listed and called, and what misbehaving servers cannot do to us
(hang, crash, flood stderr, answer 10 MB), Stop, the offline and local-only refusals with proof
that nothing was sent, the privacy record, and a bounded close."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from desktop.backends.mcp_hub import MARKER_ENV, McpHub
from desktop.backends.network import Network, Outbound
from desktop.core.mcp_config import McpServerConfig
from desktop.core.parts import TOOL_CANCELLED, TOOL_DENIED, TOOL_FAILED, TOOL_OK, TOOL_TIMED_OUT

ROOT = Path(__file__).resolve().parents[2]


def toolbox(name: str = "toolbox", *args: str) -> McpServerConfig:
    return McpServerConfig(
        name, command=sys.executable, args=("-m", "tests.mcp_servers.toolbox", *args), cwd=str(ROOT)
    )


@dataclass
class HttpServer:
    """The toolbox over Streamable HTTP, with its log of the requests it received."""

    url: str
    log: Path

    def requests(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[HttpServer]:
    log = tmp_path / "requests.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.mcp_servers.toolbox", "--http", "--log", str(log)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # "PORT n" once it listens
        assert line.startswith("PORT "), f"the HTTP toolbox did not start: {line!r}"
        yield HttpServer(f"http://127.0.0.1:{int(line.split()[1])}/mcp", log)
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


@dataclass
class Hub:
    """A hub with its network switch and everything its privacy hooks saw."""

    hub: McpHub
    network: Network
    record: list[Outbound]
    seen: list[tuple[str, str, str, int]]


@pytest.fixture
def hub() -> Iterator[Hub]:
    record: list[Outbound] = []
    seen: list[tuple[str, str, str, int]] = []
    network = Network(record=record.append)
    mcp = McpHub(
        network,
        on_http_request=lambda *request: seen.append(request),
        result_cap=64 * 1024,
        stderr_tail=4096,
        connect_timeout_s=20,
    )
    yield Hub(mcp, network, record, seen)
    mcp.close()


def _web(server: HttpServer) -> McpServerConfig:
    return McpServerConfig(
        "web", transport="http", url=server.url, headers={"Authorization": "Bearer t0ken"}
    )


def test_a_stdio_server_lists_its_tools_and_answers(hub: Hub) -> None:
    state = hub.hub.start(toolbox())
    assert state.status == "ready", state.last_error
    names = [tool.name for tool in state.tools]
    assert {"add", "echo", "weather", "hang", "crash", "flood", "big"} <= set(names)
    add = next(tool for tool in state.tools if tool.name == "add")
    assert add.server == "toolbox" and add.description == "Add two integers."
    assert add.parameters["properties"]["a"]["type"] == "integer"
    assert hub.hub.tools(["toolbox"]) == list(state.tools)
    # Its pid is the real program's.
    assert state.pid is not None and MARKER_ENV in psutil.Process(state.pid).environ()

    outcome = hub.hub.call("toolbox", "add", {"a": 2, "b": 40}).result(10)
    assert (outcome.content, outcome.is_error, outcome.status) == ("42", False, TOOL_OK)
    assert outcome.duration_s > 0
    assert hub.hub.call("toolbox", "weather", {"city": "Oslo"}).result(10).content == (
        "Sunny in Oslo, 21 °C"
    )
    picture = hub.hub.call("toolbox", "picture", {}).result(10)
    assert picture.content == "A dot:\n[image/png, 1 KB]"
    # A tool the server reports an error for: the model reads why.
    unknown = hub.hub.call("toolbox", "nosuch", {}).result(10)
    assert unknown.is_error and unknown.status == TOOL_OK and "nosuch" in unknown.content
    # A server not running answers at once, failed.
    missing = hub.hub.call("nobody", "add", {}).result(1)
    assert missing.status == TOOL_FAILED and '"nobody" is not running' in missing.content


def test_an_http_server_answers_and_each_request_is_in_the_privacy_record(
    hub: Hub, http_server: HttpServer
) -> None:
    state = hub.hub.start(_web(http_server))
    assert state.status == "ready", state.last_error
    assert "weather" in [tool.name for tool in state.tools]
    outcome = hub.hub.call("web", "echo", {"text": "over HTTP"}).result(10)
    assert (outcome.content, outcome.status) == ("over HTTP", TOOL_OK)
    hub.hub.stop("web")
    received = http_server.requests()
    # Every request the server received was seen, checked and recorded as it left.
    assert len(hub.seen) == len(received) >= 4  # initialize, initialized, list, call...
    assert [f"{method} /mcp" for _, method, _, _ in hub.seen] == received
    assert all(server == "web" and url == http_server.url for server, _, url, _ in hub.seen)
    assert len(hub.record) == len(received)
    assert all(o.destination == "web" and o.host == "127.0.0.1" for o in hub.record)
    assert all(o.purpose == "mcp" and o.bytes_sent > 0 for o in hub.record)
    # The key in the headers is never in the record.
    assert "t0ken" not in repr(hub.record)


def test_offline_and_local_only_refuse_http_before_any_connection(
    hub: Hub, http_server: HttpServer
) -> None:
    locked = hub.hub.start(_web(http_server), local_only=True)
    assert locked.status == "failed" and "locked to this computer" in locked.last_error
    hub.network.set_offline(True)
    offline = hub.hub.start(_web(http_server))
    assert offline.status == "failed" and "offline" in offline.last_error
    assert http_server.requests() == [] and hub.seen == [] and hub.record == []
    # Connected first, then offline or a local chat: calls are denied, nothing sent.
    hub.network.set_offline(False)
    assert hub.hub.start(_web(http_server)).status == "ready"
    before = len(http_server.requests())
    hub.network.set_offline(True)
    denied = hub.hub.call("web", "echo", {"text": "x"}).result(5)
    assert denied.status == TOOL_DENIED and "offline" in denied.content
    assert hub.hub.tools(["web"]) == []
    hub.network.set_offline(False)
    local = hub.hub.call("web", "echo", {"text": "x"}, local_only=True).result(5)
    assert local.status == TOOL_DENIED and "locked to this computer" in local.content
    assert hub.hub.tools(["web"], local_only=True) == []
    assert len(http_server.requests()) == before
    # stdio servers are local programs: allowed offline and in a local chat.
    hub.network.set_offline(True)
    assert hub.hub.start(toolbox(), local_only=True).status == "ready"
    assert (
        hub.hub.call("toolbox", "echo", {"text": "ok"}, local_only=True).result(10).content == "ok"
    )


def test_a_hanging_tool_times_out_and_the_hub_still_answers(hub: Hub) -> None:
    assert hub.hub.start(toolbox()).status == "ready"
    started = time.monotonic()
    outcome = hub.hub.call("toolbox", "hang", {}, timeout_s=1.0).result(10)
    assert outcome.status == TOOL_TIMED_OUT and outcome.is_error
    assert "did not answer within 1 s" in outcome.content
    assert 1.0 <= time.monotonic() - started < 3.0
    assert hub.hub.call("toolbox", "echo", {"text": "still here"}).result(5).content == "still here"
    assert hub.hub.state("toolbox").status == "ready"


def test_stop_cancels_the_call_in_flight(hub: Hub) -> None:
    assert hub.hub.start(toolbox()).status == "ready"
    handle = hub.hub.call("toolbox", "hang", {}, timeout_s=60)
    time.sleep(0.3)
    assert not handle.done()
    handle.cancel()
    outcome = handle.result(2)
    assert outcome.status == TOOL_CANCELLED and outcome.duration_s < 2
    assert hub.hub.call("toolbox", "add", {"a": 1, "b": 1}).result(5).content == "2"


def test_a_crash_fails_the_server_with_its_stderr_and_ends_pending_calls(hub: Hub) -> None:
    assert hub.hub.start(toolbox()).status == "ready"
    pending = hub.hub.call("toolbox", "hang", {}, timeout_s=30)
    crash = hub.hub.call("toolbox", "crash", {}).result(10)
    assert crash.status == TOOL_FAILED
    assert "stopped before crash answered" in crash.content
    assert "crashing on purpose" in crash.content
    assert pending.result(5).status == TOOL_FAILED
    state = hub.hub.state("toolbox")
    assert state.status == "failed" and state.pid is None
    assert "stopped unexpectedly" in state.last_error
    assert "toolbox: crashing on purpose" in state.stderr_tail
    assert hub.hub.tools() == []
    # Restart brings it back.
    assert hub.hub.restart("toolbox").status == "ready"


def test_a_program_that_is_not_there_is_said(hub: Hub) -> None:
    state = hub.hub.start(McpServerConfig("ghost", command="no-such-mcp-server-program"))
    assert state.status == "failed"
    assert state.last_error == (
        'The MCP server "ghost" could not be started: the program '
        '"no-such-mcp-server-program" was not found.'
    )


def test_a_program_that_is_no_mcp_server_and_an_address_no_one_answers(hub: Hub) -> None:
    quits = McpServerConfig(
        "quits",
        command=sys.executable,
        args=("-c", "import sys; print('missing module foo', file=sys.stderr); sys.exit(1)"),
    )
    state = hub.hub.start(quits)
    assert state.status == "failed"
    assert state.last_error == (
        'The MCP server "quits" stopped while starting. It last said: missing module foo'
    )
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/mcp"
    state = hub.hub.start(McpServerConfig("away", transport="http", url=url))
    assert state.status == "failed"
    assert state.last_error.startswith(f'The MCP server "away" ({url}) could not be reached: ')


def test_a_stderr_flood_keeps_only_its_tail(hub: Hub) -> None:
    assert hub.hub.start(toolbox()).status == "ready"
    assert hub.hub.call("toolbox", "flood", {"megabytes": 8}).result(20).content == "flooded"
    deadline = time.monotonic() + 5
    while "the last line" not in hub.hub.state("toolbox").stderr_tail:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    tail = hub.hub.state("toolbox").stderr_tail
    assert len(tail.encode()) <= 4096 and tail.endswith("flood: the last line\n")
    # Megabytes on stderr before it answers initialize: drained, so it does not block.
    noisy = hub.hub.start(toolbox("noisy", "--stderr-at-start", "3072"))
    assert noisy.status == "ready", noisy.last_error
    assert "startup noise" in noisy.stderr_tail and len(noisy.stderr_tail) <= 4096


def test_a_10_mb_answer_is_cut_quickly(hub: Hub, http_server: HttpServer) -> None:
    assert hub.hub.start(toolbox()).status == "ready"
    assert hub.hub.start(_web(http_server)).status == "ready"
    for server in ("toolbox", "web"):
        started = time.monotonic()
        outcome = hub.hub.call(server, "big", {"megabytes": 10}).result(20)
        assert time.monotonic() - started < 5
        assert outcome.status == TOOL_OK
        assert outcome.content.startswith("x" * 1000)
        assert len(outcome.content.encode()) < 64 * 1024 + 200
        assert outcome.content.endswith(
            "[Cut: the tool answered 10.0 MB; the first 64 KB are kept and 9.9 MB were left out.]"
        )


def test_close_is_bounded_and_leaves_no_program(hub: Hub) -> None:
    pids = []
    for name, args in (("one", ()), ("two", ()), ("stubborn", ("--stubborn",))):
        state = hub.hub.start(toolbox(name, *args))
        assert state.status == "ready" and state.pid is not None
        pids.append(state.pid)
        hub.hub.call(name, "hang", {}, timeout_s=60)
    started = time.monotonic()
    hub.hub.close(timeout_s=4)
    assert time.monotonic() - started < 4.5
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not [t for t in threading.enumerate() if t.name == "mcp-hub"]
    with pytest.raises(RuntimeError, match="closed"):
        hub.hub.start(toolbox())
