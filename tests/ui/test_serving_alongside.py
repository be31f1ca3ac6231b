"""The window's chats and the local server on one engine, driven as a user: a tool approval the
user has not answered yet does not hold the served requests, and Model → Unload model while a
served answer streams lets that answer end first. The real window, engine child, MCP toolbox
and the official openai SDK as the client.

The engine child is paused (SIGSTOP) to hold a served answer in the middle while the user acts:
no timing decides the order, the queue does."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.backends.local_models import BUNDLED_ID
from desktop.core.messages import MessageStatus
from desktop.core.parts import TOOL_OK, ToolResult
from desktop.storage.paths import AppPaths
from desktop.ui.main_window import MainWindow
from desktop.ui.server_panel import ServerUi
from tests.served_clients import Call, streaming
from tests.ui.test_tool_window import _answer_approval, _approval, _send, _turn_on, _with_toolbox

#: Under pytest-timeout's 120 s: its alarm raised inside a wait's own timer slot would leave
#: that wait's event loop running for good (a hang where a failure was due).
ANSWER_MS = 90_000
QUESTION: Any = [{"role": "user", "content": "What is the capital of France?"}]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def serving(home: AppPaths, qtbot: QtBot) -> Iterator[tuple[MainWindow, openai.OpenAI]]:
    """The window with the toolbox configured and the server on (as at a start after the user
    switched it on), and a client of it."""
    _with_toolbox(home, server_on=True, server_port=_free_port())
    win = build_window(home)
    qtbot.addWidget(win)
    win.resize(1100, 700)
    win.show()
    qtbot.waitExposed(win)
    assert win.tools_ui is not None
    tools = win.tools_ui.tools
    qtbot.waitUntil(lambda: tools.state("toolbox").status == "ready", timeout=60_000)
    ui = win.findChild(ServerUi)
    assert ui is not None
    qtbot.waitUntil(lambda: ui.server.running, timeout=10_000)
    client = openai.OpenAI(base_url=ui.server.address, api_key="unused", max_retries=0)
    yield win, client
    client.close()
    win.close()
    win.chat.store.close()


@contextlib.contextmanager
def _served_answer_held(
    window: MainWindow, client: openai.OpenAI, qtbot: QtBot
) -> Iterator[tuple[Call, int]]:
    """A served answer streaming, then held mid-stream (its engine child stopped) while the
    block runs, and let go after it: the served call and the engine's pid."""
    served = streaming(client)
    qtbot.waitUntil(served.first.is_set, timeout=ANSWER_MS)
    pid = window.chat.engine.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        yield served, pid
    finally:
        os.kill(pid, signal.SIGCONT)


def _jobs(window: MainWindow) -> Any:
    ui = window.findChild(ServerUi)
    assert ui is not None
    return ui.server.jobs


def test_a_served_request_is_answered_while_a_tool_approval_waits_for_the_user(
    serving: tuple[MainWindow, openai.OpenAI], qtbot: QtBot
) -> None:
    window, client = serving
    _turn_on(window, qtbot, "weather")
    _send(window, qtbot, "What is the weather in Paris?")
    _approval(qtbot, window)  # the model called; the user has not answered
    call = Call(
        lambda _call: client.chat.completions.create(
            model=BUNDLED_ID, messages=QUESTION, max_tokens=8, temperature=0
        )
    )
    # Answered in full while the approval box is still open (before: it waited for the user).
    qtbot.waitUntil(lambda: call.done, timeout=30_000)
    assert call.error is None, call.error
    assert call.result.choices[0].message.content
    assert window.chat.busy  # the window's turn still waits for its approval
    with qtbot.waitSignal(window.chat.answer_finished, timeout=ANSWER_MS) as finished:
        _answer_approval(qtbot, "allowOnceButton", window)
    assert finished.args is not None and finished.args[2] == "complete"
    assert window.conversation_id is not None
    answer = window.library.messages(window.conversation_id)[-1]
    result = next(p for p in answer.parts if isinstance(p, ToolResult))
    assert result.status == TOOL_OK and answer.status == MessageStatus.COMPLETE
    assert _jobs(window).answered == 1


def test_a_served_request_for_another_model_meanwhile_and_the_turn_goes_on_with_its_own(
    serving: tuple[MainWindow, openai.OpenAI], qtbot: QtBot, home: AppPaths, smollm_path: str
) -> None:
    window, client = serving
    shutil.copy(smollm_path, home.models / "other-model.gguf")
    window.chat.refresh_models()
    other = next(m for m in window.chat.models if m.path.endswith("other-model.gguf"))
    _turn_on(window, qtbot, "weather")
    _send(window, qtbot, "What is the weather in Paris?")
    _approval(qtbot, window)
    own = window.chat._loaded_path
    call = Call(
        lambda _call: client.chat.completions.create(
            model=other.id, messages=QUESTION, max_tokens=8, temperature=0
        )
    )
    qtbot.waitUntil(lambda: call.done, timeout=30_000)
    assert call.error is None and call.result.model == other.id
    assert window.chat._loaded_path == other.path  # the engine holds the other model now
    loaded: list[str] = []
    window.chat.engine.loaded.connect(lambda _rid, info, _s: loaded.append(info["path"]))
    with qtbot.waitSignal(window.chat.answer_finished, timeout=ANSWER_MS) as finished:
        _answer_approval(qtbot, "allowOnceButton", window)
    # The turn's next step loaded the chat's own model again (before: it went on with the
    # other one), and answered with it.
    assert finished.args is not None and finished.args[2] == "complete"
    assert loaded == [own]


def test_unload_during_a_served_answer_waits_for_it_then_unloads(
    serving: tuple[MainWindow, openai.OpenAI], qtbot: QtBot
) -> None:
    window, client = serving
    engine = window.chat.engine
    with _served_answer_held(window, client, qtbot) as (served, pid):
        window.menus.unload_action.trigger()
        assert engine.running and engine.pid == pid  # not cut short
        assert "unloads when the served request ends" in window.status_line.engine_label.text()
    qtbot.waitUntil(lambda: served.done, timeout=ANSWER_MS)
    assert served.error is None, served.error
    assert len(served.result) > 20  # the whole answer, not the few words before the unload
    qtbot.waitUntil(lambda: not engine.running, timeout=30_000)
    assert window.status_line.engine_label.text() == "No model loaded"
    log = window.findChild(ServerUi)
    assert log is not None
    qtbot.waitUntil(lambda: bool(log.server.log.entries()), timeout=10_000)
    entry = log.server.log.entries()[-1]
    assert (entry["status"], entry["finish"]) == (200, "length")
    # The window's next message loads the model again and is answered.
    with qtbot.waitSignal(window.chat.answer_finished, timeout=ANSWER_MS) as finished:
        _send(window, qtbot, "Hello")
    assert finished.args is not None and finished.args[2] == "complete"


def test_a_message_sent_after_unload_while_a_served_answer_streams_waits_then_loads(
    serving: tuple[MainWindow, openai.OpenAI], qtbot: QtBot
) -> None:
    window, client = serving
    engine = window.chat.engine
    with _served_answer_held(window, client, qtbot) as (served, pid):
        window.menus.unload_action.trigger()  # waits for the served answer
        _send(window, qtbot, "Hello")  # waits too, behind the unload
        assert window.chat.busy and engine.pid == pid
    # In order: the served answer ends, the unload, then the message loads the model again
    # (before: the message was left waiting after the unload, or failed with its exit).
    with qtbot.waitSignal(window.chat.answer_finished, timeout=ANSWER_MS) as finished:
        pass
    assert finished.args is not None and finished.args[2] == "complete"
    assert engine.running and engine.pid != pid
    qtbot.waitUntil(lambda: served.done, timeout=30_000)
    assert served.error is None and len(served.result) > 20
