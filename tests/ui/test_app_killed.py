"""The whole app killed with SIGKILL mid-answer: on restart the chat is there, nothing is lost,
the database is intact, and the engine child did not outlive the app."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.core.messages import MessageStatus, Role
from desktop.storage.paths import AppPaths

# Runs the real window in another process, sends a message and reports once text streams.
DRIVER = textwrap.dedent(
    """
    import os, sys
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication
    from desktop.app import build_window
    from desktop.core.params import SamplingParams
    from desktop.storage.paths import AppPaths

    app = QApplication(sys.argv)
    win = build_window(AppPaths.from_env())
    win.chat.sampling = SamplingParams(seed=4, max_tokens=3000)
    win.show()
    seen = []

    def on_delta(_c, _a, text):
        seen.append(text)
        if len(seen) == 20:
            print("STREAMING", win.chat.engine.pid, flush=True)

    win.chat.answer_delta.connect(on_delta)
    win.input_box.setFocus()
    QTest.keyClicks(win.input_box, "Tell me a very long story about a llama.")
    QTest.keyClick(win.input_box, Qt.Key.Key_Return)  # Enter sends
    app.exec()
    """
)


def test_sigkill_mid_answer_loses_nothing(home: AppPaths, qtbot: QtBot) -> None:
    env = {**os.environ, "LLAMASIDE_HOME": str(home.data.parent)}
    app = subprocess.Popen(
        [sys.executable, "-c", DRIVER], stdout=subprocess.PIPE, text=True, env=env
    )
    assert app.stdout is not None
    line = app.stdout.readline()
    assert line.startswith("STREAMING"), line
    engine_pid = int(line.split()[1])
    time.sleep(1.2)  # past one checkpoint of the streaming answer
    app.send_signal(signal.SIGKILL)
    app.wait(timeout=10)
    app.stdout.close()

    # The engine notices its host is gone (stdin closed) and ends by itself.
    deadline = time.monotonic() + 10
    while psutil.pid_exists(engine_pid) and time.monotonic() < deadline:
        try:
            if psutil.Process(engine_pid).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    alive = psutil.pid_exists(engine_pid) and (
        psutil.Process(engine_pid).status() != psutil.STATUS_ZOMBIE
    )
    assert not alive, "the engine outlived the app"

    window = build_window(home)
    qtbot.addWidget(window)
    store = window.chat.store
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    [conversation] = store.list_conversations()
    user, answer = store.messages(conversation.id)
    assert (user.role, user.content) == (Role.USER, "Tell me a very long story about a llama.")
    assert answer.status == MessageStatus.INTERRUPTED
    assert len(answer.content) > 20
    shown = window.chat_view.toPlainText()
    assert "Tell me a very long story" in shown
    assert answer.content.split()[0] in shown
    assert "Interrupted" in shown
    window.close()
    store.close()


def test_sigterm_closes_cleanly_and_saves_the_answer_as_stopped(home: AppPaths) -> None:
    env = {**os.environ, "LLAMASIDE_HOME": str(home.data.parent)}
    driver = DRIVER.replace(
        "app.exec()",
        "from desktop.app import _close_on_sigterm\n_close_on_sigterm(app)\napp.exec()",
    )
    app = subprocess.Popen(
        [sys.executable, "-c", driver], stdout=subprocess.PIPE, text=True, env=env
    )
    assert app.stdout is not None
    line = app.stdout.readline()
    assert line.startswith("STREAMING"), line
    engine_pid = int(line.split()[1])
    app.send_signal(signal.SIGTERM)
    assert app.wait(timeout=15) == 0
    app.stdout.close()
    assert not psutil.pid_exists(engine_pid) or (
        psutil.Process(engine_pid).status() == psutil.STATUS_ZOMBIE
    )
    from desktop.storage.store import ChatStore

    store = ChatStore(home.database)
    [conversation] = store.list_conversations()
    answer = store.messages(conversation.id)[-1]
    assert answer.status == MessageStatus.STOPPED
    assert answer.content
    store.close()
