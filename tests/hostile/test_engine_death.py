"""The engine child killed (SIGKILL) or aborting (SIGABRT) mid-answer, 20 times in a row, in
the real window: every partial answer is saved as failed with what was shown, the engine starts
again with the next message, no zombie processes are left, and the window's memory and thread
count stay bounded."""

from __future__ import annotations

import functools
import os
import signal
import threading

import psutil
from pytestqt.qtbot import QtBot

from desktop.core.messages import MessageStatus
from desktop.core.params import SamplingParams
from desktop.ui.main_window import MainWindow
from tests.hostile.conftest import TIMEOUT_MS

DEATHS = 20
#: Growth of the window's resident memory allowed from the 5th death to the 20th (measured
#: growth on the 2-core CI machine is a few MB: Qt's caches settle in the first rounds).
MEMORY_BOUND = 40 * 2**20


def test_twenty_engine_deaths_in_a_row_lose_nothing_and_leak_nothing(
    window: MainWindow, qtbot: QtBot
) -> None:
    chat = window.chat
    chat.sampling = SamplingParams(temperature=0.8, seed=1, max_tokens=2000)
    conversation = chat.store.create_conversation("Deaths")
    window.open_conversation(conversation.id)
    me = psutil.Process()
    shown: list[str] = []
    chat.answer_delta.connect(lambda _c, _a, text: shown.append(text))
    pids: set[int] = set()
    rss_at_5 = 0
    threads_at_5 = 0
    for death in range(DEATHS):
        shown.clear()
        assert chat.send(conversation.id, f"Tell me a long story, number {death}.")
        qtbot.waitUntil(lambda: len(shown) >= 3, timeout=TIMEOUT_MS)
        pid = chat.engine.pid
        assert pid is not None and pid not in pids  # a new engine child each time
        pids.add(pid)
        how = signal.SIGKILL if death % 2 == 0 else signal.SIGABRT
        with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS) as finished:
            os.kill(pid, how)
        assert finished.args is not None and finished.args[2] == "failed"
        answer = chat.store.messages(conversation.id)[-1]
        assert answer.status == MessageStatus.FAILED
        # What the user saw is what was saved (the checkpoint may not have caught the very
        # last pieces before the kill, but nothing shown is lost: the end saves the text).
        assert answer.content == "".join(shown)
        assert answer.error is not None and how.name in answer.error
        assert not chat.busy
        # The dead child is reaped: no zombies among the window's children.
        qtbot.waitUntil(functools.partial(_reaped, pid), timeout=5_000)
        zombies = [c.pid for c in me.children(recursive=True) if _zombie(c.pid)]
        assert zombies == []
        if death == 4:
            rss_at_5 = me.memory_info().rss
            threads_at_5 = threading.active_count()
    grown = me.memory_info().rss - rss_at_5
    print(f"window memory after 15 more engine deaths: {grown / 2**20:+.1f} MB")  # for -s runs
    assert grown < MEMORY_BOUND, f"memory grew by {grown / 2**20:.1f} MB over 15 engine deaths"
    assert threading.active_count() <= threads_at_5 + 2
    # Every question and every partial answer is in the history.
    messages = chat.store.messages(conversation.id)
    assert len(messages) == 2 * DEATHS
    # And the engine starts again for the next message.
    chat.sampling = SamplingParams(temperature=0.0, max_tokens=8)
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS) as again:
        assert chat.send(conversation.id, "Hello again")
    assert again.args is not None and again.args[2] == "complete"
    assert chat.engine.pid not in pids


def _reaped(pid: int) -> bool:
    return _zombie(pid) is not True


def _zombie(pid: int) -> bool | None:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return None
