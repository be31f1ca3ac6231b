"""MCP tools from the terminal with real parts: the SDK's toolbox server over stdio (and over HTTP)
named in a real mcp.json in the test's LLAMASIDE_HOME, `llamaside` run as a subprocess with the
bundled SmolLM2 (a forced tool choice makes it call through the grammar), the saved chat read
back with ChatStore, and the terminal a real pseudo-terminal."""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from typing import Any

from desktop.cli.tools import TerminalGate
from desktop.core.messages import MessageStatus, Role
from desktop.core.parts import TOOL_CANCELLED, TOOL_DENIED, TOOL_OK, ToolCall, ToolResult
from desktop.core.tools import ToolSpec
from desktop.services.tool_settings import ALWAYS_ALLOW_KEY
from desktop.services.tool_turn import Decision
from desktop.storage.paths import AppPaths
from desktop.storage.store import ChatStore
from tests.backends.test_mcp_hub import HttpServer, http_server

__all__ = ["http_server"]  # the fixture, used by name

ROOT = Path(__file__).resolve().parents[2]
#: A short answer after the call: the call itself needs about 20 tokens.
#: `llamaside chat` with the toolbox's tools, as a program to start.
CHAT = (sys.executable, "-m", "desktop", "chat", "--tools", "toolbox")
QUICK = ("--temperature", "0", "--max-tokens", "24", "--ctx", "2048")


def toolbox_entry() -> dict[str, Any]:
    return {
        "command": sys.executable,
        "args": ["-m", "tests.mcp_servers.toolbox"],
        "cwd": str(ROOT),
    }


def write_config(home: AppPaths, servers: dict[str, Any]) -> None:
    home.mcp_config.write_text(json.dumps({"mcpServers": servers}), encoding="utf-8")


def _env(home: AppPaths) -> dict[str, str]:
    return {**os.environ, "LLAMASIDE_HOME": str(home.data.parent)}


def run(home: AppPaths, *args: str) -> subprocess.CompletedProcess[str]:
    """`llamaside` in a session of its own: no controlling terminal, so /dev/tty cannot open."""
    return subprocess.run(
        [sys.executable, "-m", "desktop", *args],
        capture_output=True,
        text=True,
        env=_env(home),
        stdin=subprocess.DEVNULL,
        timeout=300,
        check=False,
        start_new_session=True,
    )


def _saved(home: AppPaths) -> list[tuple[Any, ...]]:
    store = ChatStore(home.database)
    try:
        return [
            (c.id, m.role, m.status, m.parts)
            for c in store.list_conversations()
            for m in store.messages(c.id)
        ]
    finally:
        store.close()


# -- llamaside tools list ----------------------------------------------------------------------


def test_tools_list_shows_servers_their_tools_a_failure_and_a_disabled_one(home: AppPaths) -> None:
    failing = {
        "command": sys.executable,
        "args": ["-c", "import sys; print('boom: no API key', file=sys.stderr); sys.exit(2)"],
    }
    write_config(
        home,
        {
            "toolbox": toolbox_entry(),
            "broken": failing,
            "web": {"url": "https://example.invalid/mcp", "disabled": True},
        },
    )
    text = run(home, "tools", "list")
    assert text.returncode == 0, text.stderr
    out = text.stdout
    assert str(home.mcp_config) in out
    assert "toolbox  [ready]  program: " in out and "-m tests.mcp_servers.toolbox" in out
    assert "  weather  Today's (made-up) weather in a city." in out
    assert "  add      Add two integers." in out
    assert "[failed]" in out and 'The MCP server "broken" stopped while starting' in out
    assert "| boom: no API key" in out
    assert "web  [disabled]  address: https://example.invalid/mcp" in out

    listed = json.loads(run(home, "tools", "list", "--json").stdout)
    assert listed["config"] == str(home.mcp_config) and listed["exists"] is True
    toolbox, broken, web = listed["servers"]
    assert toolbox["status"] == "ready" and toolbox["error"] is None
    weather = next(t for t in toolbox["tools"] if t["name"] == "weather")
    assert weather["parameters"]["properties"]["city"]["type"] == "string"
    assert broken["status"] == "failed" and "stopped while starting" in broken["error"]
    assert broken["stderr"] == ["boom: no API key"] and broken["tools"] == []
    assert (web["status"], web["enabled"], web["address"]) == (
        "disabled",
        False,
        "https://example.invalid/mcp",
    )

    quick = json.loads(run(home, "tools", "list", "--json", "--no-start").stdout)
    assert [s["status"] for s in quick["servers"]] == ["not started", "not started", "disabled"]


def test_tools_list_without_mcp_json_says_where_and_how_and_a_broken_one_fails(
    home: AppPaths,
) -> None:
    missing = run(home, "tools", "list")
    assert missing.returncode == 0, missing.stderr
    assert f"Create {home.mcp_config}" in missing.stdout and '"mcpServers"' in missing.stdout
    assert json.loads(run(home, "tools", "list", "--json").stdout)["exists"] is False
    home.mcp_config.write_text("{not json", encoding="utf-8")
    broken = run(home, "tools", "list")
    assert broken.returncode == 1
    assert f"{home.mcp_config} is not valid JSON" in broken.stderr


# -- refusals before anything is sent ----------------------------------------------------------


def test_an_unknown_server_is_refused_and_nothing_is_saved(home: AppPaths) -> None:
    write_config(home, {"toolbox": toolbox_entry()})
    result = run(home, "chat", "--tools", "toolbox,nosuch", "Hi")
    assert result.returncode == 1
    assert 'There is no MCP server "nosuch"' in result.stderr
    assert "(servers: toolbox)" in result.stderr
    assert _saved(home) == []


def test_an_http_server_is_refused_in_a_local_only_chat_and_offline_before_connecting(
    home: AppPaths, http_server: HttpServer
) -> None:
    write_config(home, {"web": {"url": http_server.url}})
    store = ChatStore(home.database)
    chat = store.create_conversation(title="Private", model="local:smollm2-135m-instruct")
    store.set_local_only(chat.id, True)
    store.close()
    locked = run(home, "chat", "--chat", str(chat.id), "--tools", "web", "Hi")
    assert locked.returncode == 1
    assert "This chat is locked to this computer" in locked.stderr
    assert f'"web" ({http_server.url}) was not used' in locked.stderr
    assert http_server.requests() == []  # not one request reached the server
    assert _saved(home) == []  # the chat holds no message

    home.settings.write_text(json.dumps({"offline": True}), encoding="utf-8")
    offline = run(home, "chat", "--tools", "web", "Hi")
    assert offline.returncode == 1 and "Llamaside is offline" in offline.stderr
    assert http_server.requests() == []
    assert [title for title in _titles(home)] == ["Private"]


def _titles(home: AppPaths) -> list[str]:
    store = ChatStore(home.database)
    try:
        return [c.title for c in store.list_conversations()]
    finally:
        store.close()


# -- chats that call -------------------------------------------------------------------------


def test_a_pre_approved_call_runs_and_the_chat_keeps_it(home: AppPaths) -> None:
    write_config(home, {"toolbox": toolbox_entry()})
    result = run(
        home,
        "chat",
        "--tools",
        "toolbox",
        "--tool-choice",
        "weather",
        "--allow",
        "weather",
        "--json",
        *QUICK,
        "What is the weather in Paris?",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    [call] = data["tool_calls"]
    assert (call["name"], call["server"], call["status"]) == ("weather", "toolbox", TOOL_OK)
    assert call["result"].startswith("Sunny in ") and set(call["arguments"]) == {"city"}
    assert data["steps"] == 2
    # Said on stderr as it happened, with the once-only note about local programs.
    assert f"⚙ weather(city={json.dumps(call['arguments']['city'])}) → Sunny in" in result.stderr
    assert 'The MCP server "toolbox" runs as a program on this computer' in result.stderr

    [(cid, _, _, question), (_, role, status, parts)] = _saved(home)
    assert cid == data["conversation_id"] and question[0].text == "What is the weather in Paris?"
    assert role == Role.ASSISTANT and status == MessageStatus.COMPLETE
    saved_call = next(p for p in parts if isinstance(p, ToolCall))
    saved_result = next(p for p in parts if isinstance(p, ToolResult))
    assert (saved_call.name, json.loads(saved_call.arguments)) == ("weather", call["arguments"])
    assert saved_result.call_id == saved_call.call_id
    assert saved_result.content == call["result"] and saved_result.status == TOOL_OK
    # --allow is for this run only: nothing was added to the standing list.
    assert ALWAYS_ALLOW_KEY not in _settings(home)


def test_without_a_terminal_a_call_not_pre_approved_is_denied_and_said(home: AppPaths) -> None:
    write_config(home, {"toolbox": toolbox_entry()})
    result = run(
        home,
        "chat",
        "--tools",
        "toolbox",
        "--tool-choice",
        "weather",
        "--no-save",
        "--json",
        *QUICK,
        "What is the weather in Paris?",
    )
    assert result.returncode == 0, result.stderr
    assert (
        "weather (toolbox) denied: not pre-approved (--allow weather) and no terminal to ask"
        in result.stderr
    )
    data = json.loads(result.stdout)
    [call] = data["tool_calls"]
    assert call["status"] == TOOL_DENIED and call["result"] == "The user denied this call."
    assert "→ The user denied this call.  [denied, 0.0 s]" in result.stderr
    # --no-save: the turn ran in a scratch database; the history has nothing.
    assert data["conversation_id"] is None and _saved(home) == []


def test_the_step_limit_ends_the_turn_with_its_calls_unrun_and_says_so(home: AppPaths) -> None:
    write_config(home, {"toolbox": toolbox_entry()})
    result = run(
        home,
        "chat",
        "--tools",
        "toolbox",
        "--tool-choice",
        "weather",
        "--allow",
        "weather",
        "--max-steps",
        "1",
        "--json",
        *QUICK,
        "What is the weather in Paris?",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    [call] = data["tool_calls"]
    assert call["status"] == TOOL_CANCELLED and "step limit" in call["result"]
    assert data["steps"] == 1
    assert "→ Not run: the turn reached its step limit." in result.stderr
    assert "llamaside: stopped after 1 model steps" in result.stderr
    [_, (_, _, status, _)] = _saved(home)
    assert status == MessageStatus.STOPPED


def test_ctrl_c_during_a_call_cancels_it_and_the_turn_ends_stopped_saved(home: AppPaths) -> None:
    write_config(home, {"toolbox": toolbox_entry()})
    process = subprocess.Popen(
        # 40 tokens: a call cut short inside its closing tag could not be read, nor run.
        [*CHAT, "--tool-choice", "hang", "--allow", "hang", *QUICK, "--max-tokens", "40", "Wait."],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(home),
        start_new_session=True,
    )
    try:
        assert process.stderr is not None
        said = _read_until(process.stderr.fileno(), b"\xe2\x9a\x99 hang()", 240)
        time.sleep(0.5)  # the call is on its way to the server
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, (said + err).decode()
    assert time.monotonic() - started < 30  # not the call's 30 s timeout
    assert f"[{TOOL_CANCELLED}," in err.decode()
    [_, (_, _, status, parts)] = _saved(home)
    assert status == MessageStatus.STOPPED
    [result] = [p for p in parts if isinstance(p, ToolResult)]
    assert result.status == TOOL_CANCELLED
    assert out == b"\n" or out.strip() == b""


def test_always_on_the_terminal_runs_the_call_and_is_remembered(home: AppPaths) -> None:
    """The whole CLI with a pseudo-terminal as its controlling terminal: the question appears
    there, the answer typed there decides, and "always" lands in settings.json."""
    write_config(home, {"toolbox": toolbox_entry()})
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [*CHAT, "--tool-choice", "weather", "--json", *QUICK, "What is the weather in Paris?"],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(home),
        start_new_session=True,
        # The pty becomes the new session's controlling terminal: what /dev/tty opens.
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),  # noqa: PLW1509 (no threads)
    )
    os.close(slave)
    try:
        asked = _read_until(master, b"Allow? [y]es once, [a]lways, [N]o: ", 240).decode()
        os.write(master, b"a\n")
        out, err = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    assert process.returncode == 0, err.decode()
    assert "The model wants to call weather on the MCP server 'toolbox'" in asked
    assert '"city": ' in asked  # the arguments, pretty
    [call] = json.loads(out)["tool_calls"]
    assert call["status"] == TOOL_OK and call["result"].startswith("Sunny in ")
    assert _settings(home)[ALWAYS_ALLOW_KEY] == ["toolbox/weather"]


def _settings(home: AppPaths) -> dict[str, Any]:
    return json.loads(home.settings.read_text()) if home.settings.exists() else {}


def _read_until(fd: int, marker: bytes, timeout: float) -> bytes:
    """Bytes from ``fd`` until ``marker`` has come (or fail after ``timeout`` seconds)."""
    got = b""
    deadline = time.monotonic() + timeout
    while marker not in got:
        left = deadline - time.monotonic()
        assert left > 0, f"{marker!r} never came: {got.decode(errors='replace')}"
        ready, _, _ = select.select([fd], [], [], min(left, 1.0))
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # a pty whose other side closed
                chunk = b""
            assert chunk, f"{marker!r} never came: {got.decode(errors='replace')}"
            got += chunk
    return got


# -- the gate itself, on a pseudo-terminal -----------------------------------------------------


CALL = ToolCall("c1", "weather", '{"city": "Oslo"}', "toolbox")
SPEC = ToolSpec("weather", "Today's weather.\nMore.", {"type": "object"}, "toolbox")


def _ask(reply: bytes) -> tuple[Decision, str]:
    master, slave = pty.openpty()
    try:
        gate = TerminalGate(io.StringIO(), tty=os.ttyname(slave))
        decided: list[Decision] = []
        asking = threading.Thread(target=lambda: decided.append(gate.decide(CALL, SPEC)))
        asking.start()
        asked = _read_until(master, b"[N]o: ", 10).decode()
        os.write(master, reply)
        asking.join(10)
        return decided[0], asked
    finally:
        os.close(master)
        os.close(slave)


def test_the_gate_asks_on_the_terminal_and_reads_the_answer_there() -> None:
    decision, asked = _ask(b"y\n")
    assert decision == Decision.ALLOW_ONCE
    assert "weather on the MCP server 'toolbox' (Today's weather.)" in asked
    assert '"city": "Oslo"' in asked
    assert _ask(b"always\n")[0] == Decision.ALWAYS
    assert _ask(b"\n")[0] == Decision.DENY  # the default is no
    assert _ask(b"what?\n")[0] == Decision.DENY


def test_the_gate_answers_no_on_cancel_and_without_a_terminal() -> None:
    master, slave = pty.openpty()
    try:
        gate = TerminalGate(io.StringIO(), tty=os.ttyname(slave))
        decided: list[Decision] = []
        asking = threading.Thread(target=lambda: decided.append(gate.decide(CALL, SPEC)))
        asking.start()
        _read_until(master, b"[N]o: ", 10)
        gate.cancel()  # Ctrl+C while the question waits
        asking.join(5)
        assert decided == [Decision.DENY]
    finally:
        os.close(master)
        os.close(slave)
    log = io.StringIO()
    nowhere = TerminalGate(log, tty=str(Path("/nonexistent/tty")))
    assert nowhere.decide(CALL, SPEC) == Decision.DENY
    assert "weather (toolbox) denied: not pre-approved (--allow weather)" in log.getvalue()
