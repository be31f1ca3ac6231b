"""The local server switched on in the window: requests from the official openai SDK answered by
the window's own engine child (the real one, on SmolLM2), in line with the window's chats.

The engine child is paused (SIGSTOP) to hold a served answer in the middle while the test lines
others up behind it: no timing decides the order, the queue does.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from pytestqt.qtbot import QtBot

from desktop.backends.local_models import BUNDLED_ID
from desktop.core.answer import Finished
from desktop.core.params import LoadParams
from desktop.core.usage import StopReason
from desktop.services.chat import ChatService
from desktop.services.local_server import LocalServer
from desktop.storage.paths import AppPaths
from tests.served_clients import LONG, Call, streaming
from tests.services.test_summarise import long_chat, outgrow

TIMEOUT_MS = 90_000
QUESTION: Any = [{"role": "user", "content": "What is the capital of France?"}]
SECRET = "my secret plans for the zebra parade"


@pytest.fixture
def server(chat: ChatService, home: AppPaths) -> Iterator[LocalServer]:
    made = LocalServer(chat, home.served_log)
    made.set_port(0)  # a free port
    made.start()
    yield made
    made.close()


@pytest.fixture
def clients(server: LocalServer) -> Iterator[Callable[..., openai.OpenAI]]:
    made: list[openai.OpenAI] = []

    def client(timeout: float = 120) -> openai.OpenAI:
        made.append(
            openai.OpenAI(base_url=server.address, api_key="unused", max_retries=0, timeout=timeout)
        )
        return made[-1]

    yield client
    for one in made:
        one.close()


def _load_in_window(chat: ChatService, qtbot: QtBot) -> int:
    """A window turn first: the window's model is loaded; returns its conversation."""
    conv = chat.store.create_conversation()
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS) as finished:
        assert chat.send(conv.id, "Hello")
    assert finished.args is not None and finished.args[2] == "complete"
    return conv.id


def _ask(client: openai.OpenAI) -> Call:
    return Call(
        lambda _call: client.chat.completions.create(
            model=BUNDLED_ID, messages=QUESTION, max_tokens=8, temperature=0
        )
    )


def _who_starts(chat: ChatService) -> list[str]:
    """Who each answer the engine begins is for, in order: the window's turn or summary, or a
    served request."""
    order: list[str] = []

    def started(request_id: int, _tokens: int) -> None:
        turn, summary = chat._turn, chat._summary
        if turn is not None and request_id == turn.request_id:
            order.append("window")
        elif summary is not None and request_id == summary.request_id:
            order.append("summary")
        else:
            order.append("served")

    chat.engine.started.connect(started)
    return order


def _engine_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("engine-")}


def test_a_served_request_is_answered_by_the_windows_engine_child(
    chat: ChatService, server: LocalServer, clients: Any, qtbot: QtBot
) -> None:
    conv = _load_in_window(chat, qtbot)
    pid, threads = chat.engine.pid, _engine_threads()
    loads: list[int] = []
    chat.engine.loaded.connect(lambda rid, _info, _s: loads.append(rid))
    client = clients()
    assert [m.id for m in client.models.list()] == [m.id for m in chat.models]
    messages: Any = [{"role": "user", "content": SECRET}]
    call = Call(
        lambda _call: client.chat.completions.create(
            model=BUNDLED_ID, messages=messages, max_tokens=12, temperature=0
        )
    )
    qtbot.waitUntil(lambda: call.done, timeout=TIMEOUT_MS)
    assert call.error is None
    assert call.result.choices[0].message.content
    # The same child, the model it had: nothing loaded, no second engine.
    assert chat.engine.pid == pid and loads == []
    assert _engine_threads() == threads
    assert server.jobs.answered == 1
    entry = server.log.entries()[-1]
    assert (entry["path"], entry["status"], entry["model"]) == (
        "/v1/chat/completions",
        200,
        BUNDLED_ID,
    )
    assert entry["completion_tokens"] > 0
    assert SECRET not in server.log.path.read_text()
    # The window goes on as before, on the same child.
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS) as finished:
        assert chat.send(conv, "And of Germany?")
    assert finished.args is not None and finished.args[2] == "complete"
    assert chat.engine.pid == pid and loads == []


def test_a_window_turn_waits_for_the_served_answer_then_goes_before_the_next_request(
    chat: ChatService, server: LocalServer, clients: Any, qtbot: QtBot
) -> None:
    conv = _load_in_window(chat, qtbot)
    order = _who_starts(chat)
    first = streaming(clients())
    qtbot.waitUntil(first.first.is_set, timeout=TIMEOUT_MS)
    pid = chat.engine.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # the served answer holds the engine, mid-stream
    try:
        second = _ask(clients())
        qtbot.waitUntil(lambda: server.jobs.waiting == 1, timeout=TIMEOUT_MS)
        assert chat.send(conv, "What is 2 + 2?")
        turn = chat._turn
        assert turn is not None and turn.request_id is None  # waiting for the engine
        assert server.jobs.holds_engine
    finally:
        os.kill(pid, signal.SIGCONT)
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS) as finished:
        pass
    assert finished.args is not None and finished.args[2] == "complete"
    qtbot.waitUntil(lambda: first.done and second.done, timeout=TIMEOUT_MS)
    assert first.error is None and first.result
    assert second.error is None and second.result.choices[0].message.content
    # The first request, then the window, then the request that came before the window's.
    assert order == ["served", "window", "served"]
    assert chat.engine.pid == pid


def test_a_client_that_leaves_while_queued_never_reaches_the_engine(
    chat: ChatService, server: LocalServer, clients: Any, qtbot: QtBot
) -> None:
    _load_in_window(chat, qtbot)
    order = _who_starts(chat)
    first = streaming(clients())
    qtbot.waitUntil(first.first.is_set, timeout=TIMEOUT_MS)
    pid = chat.engine.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        impatient = _ask(clients(timeout=1.0))
        qtbot.waitUntil(lambda: impatient.done, timeout=TIMEOUT_MS)
        assert isinstance(impatient.error, openai.APITimeoutError)
        # Out of the line at once, not at its turn.
        qtbot.waitUntil(lambda: server.jobs.skipped == 1, timeout=TIMEOUT_MS)
        assert server.jobs.waiting == 0
    finally:
        os.kill(pid, signal.SIGCONT)
    qtbot.waitUntil(lambda: first.done, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not server.jobs.holds_engine, timeout=TIMEOUT_MS)
    assert first.error is None
    assert order == ["served"]
    assert server.jobs.answered == 1
    qtbot.waitUntil(
        lambda: any(e["status"] == 499 for e in server.log.entries()), timeout=TIMEOUT_MS
    )


def test_an_engine_crash_in_a_served_answer_fails_it_and_the_window_goes_on(
    chat: ChatService, server: LocalServer, clients: Any, qtbot: QtBot
) -> None:
    conv = _load_in_window(chat, qtbot)
    errors: list[str] = []
    chat.error.connect(errors.append)
    first = streaming(clients(), max_tokens=400)
    qtbot.waitUntil(first.first.is_set, timeout=TIMEOUT_MS)
    pid = chat.engine.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    assert chat.send(conv, "What is 2 + 2?")  # waits for the served answer
    os.kill(pid, signal.SIGKILL)  # which dies with the engine
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS) as finished:
        pass
    # The window's turn started a new child, loaded its model and was answered.
    assert finished.args is not None and finished.args[2] == "complete"
    assert chat.engine.pid not in (None, pid)
    qtbot.waitUntil(lambda: first.done, timeout=TIMEOUT_MS)
    assert isinstance(first.error, openai.APIError)  # the stream's error event
    assert errors == []  # the served request's crash is not the window's error
    assert chat.model_errors() == {}  # nor its model's fault
    qtbot.waitUntil(lambda: bool(server.log.entries()), timeout=TIMEOUT_MS)
    assert server.log.entries()[-1]["error"] == "engine_error"


def test_a_served_request_for_another_model_loads_it_and_the_window_reloads_its_own(
    chat: ChatService, server: LocalServer, clients: Any, qtbot: QtBot, home: AppPaths
) -> None:
    import shutil

    conv = _load_in_window(chat, qtbot)
    window_model = chat._loaded_path
    assert window_model is not None
    shutil.copy(window_model, home.models / "second-model.gguf")
    chat.refresh_models()
    other = next(m for m in chat.models if m.path.endswith("second-model.gguf"))
    client = clients()
    call = Call(
        lambda _call: client.chat.completions.create(
            model=other.id, messages=QUESTION, max_tokens=8, temperature=0
        )
    )
    qtbot.waitUntil(lambda: call.done, timeout=TIMEOUT_MS)
    assert call.error is None and call.result.model == other.id
    assert chat._loaded_path == other.path  # the window knows which model is loaded
    loaded: list[str] = []
    chat.engine.loaded.connect(lambda _rid, info, _s: loaded.append(info["path"]))
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS) as finished:
        assert chat.send(conv, "And of Italy?")
    assert finished.args is not None and finished.args[2] == "complete"
    assert loaded == [window_model]
    # A client path is never loaded: only listed models.
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model=str(home.models / "x.gguf"), messages=QUESTION)


def test_a_model_a_served_request_loaded_serves_the_window_without_a_load(
    chat: ChatService, server: LocalServer, clients: Any, qtbot: QtBot
) -> None:
    assert not chat.engine.running
    call = _ask(clients())
    qtbot.waitUntil(lambda: call.done, timeout=TIMEOUT_MS)
    assert call.error is None and call.result.choices[0].message.content
    pid = chat.engine.pid
    loads: list[int] = []
    chat.engine.loaded.connect(lambda rid, _info, _s: loads.append(rid))
    conv = chat.store.create_conversation()
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS) as finished:
        assert chat.send(conv.id, "Hello")
    assert finished.args is not None and finished.args[2] == "complete"
    assert loads == [] and chat.engine.pid == pid


def test_a_client_that_leaves_mid_stream_stops_the_engine_and_frees_it(
    chat: ChatService, server: LocalServer, clients: Any, qtbot: QtBot
) -> None:
    conv = _load_in_window(chat, qtbot)
    endings: list[StopReason] = []
    chat.engine.answered.connect(
        lambda _rid, event: (
            endings.append(event.usage.stop_reason) if isinstance(event, Finished) else None
        )
    )
    exits: list[Any] = []
    chat.engine.exited.connect(lambda *args: exits.append(args))
    client = clients()

    def leave_after_a_word(_call: Call) -> None:
        stream: Any = client.chat.completions.create(
            model=BUNDLED_ID, messages=LONG, max_tokens=900, temperature=0, stream=True
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                break
        stream.close()

    call = Call(leave_after_a_word)
    qtbot.waitUntil(lambda: call.done, timeout=TIMEOUT_MS)
    assert call.error is None
    qtbot.waitUntil(lambda: not server.jobs.holds_engine, timeout=TIMEOUT_MS)
    # The engine stopped the answer (or, on a machine too busy to stop within the grace
    # period, was ended): either way it did not run the answer out.
    assert endings == [StopReason.CANCELLED] or (
        endings == [] and len(exits) == 1
    )  # the engine stopped, the answer was not run out
    qtbot.waitUntil(
        lambda: any(e["status"] == 499 for e in server.log.entries()), timeout=TIMEOUT_MS
    )
    entry = server.log.entries()[-1]
    assert entry["finish"] == "cancelled" and entry["completion_tokens"] < 900
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS) as finished:
        assert chat.send(conv, "And of Spain?")
    assert finished.args is not None and finished.args[2] == "complete"


def _outgrown_chat(chat: ChatService, qtbot: QtBot) -> tuple[int, str, int, int, int]:
    """A chat that outgrew a 256-token context, its model loaded: what summarise_oldest takes."""
    chat.load_params = LoadParams(n_ctx=256, n_threads=2)
    conv = long_chat(chat)
    _c, text, n_tokens, limit, after = outgrow(chat, qtbot, conv)
    assert chat.engine.running
    return conv, text, n_tokens, limit, after


def test_a_summary_asked_for_during_a_served_answer_waits_then_goes_before_the_next_request(
    chat: ChatService, server: LocalServer, clients: Any, qtbot: QtBot
) -> None:
    conv, text, n_tokens, limit, after = _outgrown_chat(chat, qtbot)
    order = _who_starts(chat)
    statuses: list[str] = []
    chat.engine_status.connect(statuses.append)
    first = streaming(clients(), max_tokens=40)
    qtbot.waitUntil(first.first.is_set, timeout=TIMEOUT_MS)
    pid = chat.engine.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        second = _ask(clients())
        qtbot.waitUntil(lambda: server.jobs.waiting == 1, timeout=TIMEOUT_MS)
        # Not refused (before: "Wait for the answer being written to end"): it waits its turn.
        assert chat.summarise_oldest(conv, n_tokens, limit, text, after)
        assert chat.busy and chat._summary is not None and chat._summary.request_id is None
        assert statuses[-1] == "Summarising waits for a served request to end…"
    finally:
        os.kill(pid, signal.SIGCONT)
    with qtbot.waitSignal(chat.summarised, timeout=TIMEOUT_MS) as done:
        pass
    assert done.args == [conv, text, after, ()]
    assert chat.store.get_conversation(conv).context_summary.strip()
    qtbot.waitUntil(lambda: first.done and second.done, timeout=TIMEOUT_MS)
    assert first.error is None and first.result
    assert second.error is None and second.result.choices[0].message.content
    assert order == ["served", "summary", "served"]


def test_stop_on_a_summary_waiting_for_a_served_answer_gives_the_text_back(
    chat: ChatService, server: LocalServer, clients: Any, qtbot: QtBot
) -> None:
    conv, text, n_tokens, limit, after = _outgrown_chat(chat, qtbot)
    order = _who_starts(chat)
    first = streaming(clients(), max_tokens=40)
    qtbot.waitUntil(first.first.is_set, timeout=TIMEOUT_MS)
    pid = chat.engine.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        assert chat.summarise_oldest(conv, n_tokens, limit, text, after)
        with qtbot.waitSignal(chat.rejected, timeout=5_000) as rejected:
            chat.stop()
        assert rejected.args == [conv, text, "Summarising was stopped; nothing was changed."]
        assert not chat.busy
    finally:
        os.kill(pid, signal.SIGCONT)
    qtbot.waitUntil(lambda: first.done and not server.jobs.holds_engine, timeout=TIMEOUT_MS)
    assert first.error is None and first.result  # the served answer was not stopped
    qtbot.wait(200)
    assert order == ["served"]  # the summary never reached the engine
    assert chat.store.get_conversation(conv).context_summary == ""


def test_try_the_fast_path_during_a_served_answer_lets_it_end_first(
    chat: ChatService, server: LocalServer, clients: Any, qtbot: QtBot
) -> None:
    conv = _load_in_window(chat, qtbot)
    first = streaming(clients())
    qtbot.waitUntil(first.first.is_set, timeout=TIMEOUT_MS)
    pid = chat.engine.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        chat.try_fast_path()
        assert chat.engine.running and chat.engine.pid == pid  # not ended under the request
    finally:
        os.kill(pid, signal.SIGCONT)
    qtbot.waitUntil(lambda: first.done, timeout=TIMEOUT_MS)
    assert first.error is None and len(first.result) > 20
    qtbot.waitUntil(lambda: not chat.engine.running, timeout=30_000)
    qtbot.waitUntil(lambda: bool(server.log.entries()), timeout=TIMEOUT_MS)
    assert server.log.entries()[-1]["status"] == 200
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS) as finished:
        assert chat.send(conv, "And of Spain?")
    assert finished.args is not None and finished.args[2] == "complete"
    assert chat.engine.pid != pid  # a fresh child, loaded the fast way
