"""Tools in the real window, as a user meets them: the chat's Tools button turns a server on and
forces a tool, the bundled SmolLM2 calls it through the grammar, the approval dialog asks, and
the call's block shows how it went; Deny, a timeout, Stop and the step limit too.

The server is the SDK-written toolbox over stdio, configured in mcp.json as a user would."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialog, QMenu, QPushButton
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.core.messages import MessageStatus
from desktop.core.parts import TOOL_CANCELLED, TOOL_DENIED, TOOL_OK, TOOL_TIMED_OUT, ToolResult
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings
from desktop.ui.main_window import MainWindow

ROOT = Path(__file__).resolve().parents[2]
#: Under pytest-timeout's 120 s, so that a wait that fails says where.
ANSWER_MS = 90_000


def _with_toolbox(home: AppPaths, **settings: object) -> None:
    config = {
        "mcpServers": {
            "toolbox": {
                "command": sys.executable,
                "args": ["-m", "tests.mcp_servers.toolbox"],
                "cwd": str(ROOT),
            }
        }
    }
    home.mcp_config.parent.mkdir(parents=True, exist_ok=True)
    home.mcp_config.write_text(json.dumps(config))
    stored = Settings(home.settings)
    for key, value in settings.items():
        stored.set(key, value)


@pytest.fixture
def make_window(home: AppPaths, qtbot: QtBot) -> Iterator[Callable[..., MainWindow]]:
    made: list[MainWindow] = []

    def make(**settings: object) -> MainWindow:
        _with_toolbox(home, **settings)
        win = build_window(home)
        qtbot.addWidget(win)
        win.resize(1100, 700)
        win.show()
        qtbot.waitExposed(win)
        assert win.tools_ui is not None
        tools = win.tools_ui.tools
        qtbot.waitUntil(lambda: tools.state("toolbox").status == "ready", timeout=60_000)
        made.append(win)
        return win

    yield make
    for win in made:
        win.close()
        win.chat.store.close()


def _in_button_menu(window: MainWindow, act: Callable[[QMenu], None]) -> None:
    """The chat's Tools button's menu, as it is when it opens (built from the states of now),
    and ``act`` on its entries."""
    assert window.tools_ui is not None
    menu = window.tools_ui.button.menu()
    menu.aboutToShow.emit()
    act(menu)


def _choose(menu: QMenu, name: str) -> None:
    for action in menu.actions():
        if action.objectName() == name:
            action.trigger()
            return
        sub = action.menu()
        if isinstance(sub, QMenu):
            sub.aboutToShow.emit()
            for inner in sub.actions():
                if inner.objectName() == name:
                    inner.trigger()
                    return
    raise AssertionError(f"no {name} in {[a.objectName() for a in menu.actions()]}")


def _turn_on(window: MainWindow, qtbot: QtBot, tool: str) -> None:
    """Toolbox on for this chat, and the model made to call ``tool``."""
    _in_button_menu(window, lambda menu: _choose(menu, "toolServer:toolbox"))
    _in_button_menu(window, lambda menu: _choose(menu, f"toolChoice:tool:{tool}"))
    assert window.conversation_id is not None
    conversation = window.library.conversation(window.conversation_id)
    assert conversation.tools == ("toolbox",)
    assert (conversation.tool_choice.mode, conversation.tool_choice.name) == ("tool", tool)
    assert window.tools_ui is not None and window.tools_ui.button.text().startswith("Tools · ")


def _approval(qtbot: QtBot, window: MainWindow | None = None) -> QDialog:
    """The approval dialog, once the model has called (it opens window-modal, not blocking).
    Given the window, a turn that ends without a call fails at once, and a wait that fails
    says what the window shows instead."""

    def shown() -> bool:
        widget = QApplication.activeModalWidget()
        if widget is not None and widget.objectName() == "toolApprovalDialog":
            return True
        if window is not None and not window.chat.busy:
            pytest.fail(f"the turn ended with no call to approve: {_showing(window)}")
        return False

    try:
        qtbot.waitUntil(shown, timeout=ANSWER_MS)
    except qtbot.TimeoutError:
        pytest.fail(f"no approval dialog: {_showing(window)}")
    dialog = QApplication.activeModalWidget()
    assert isinstance(dialog, QDialog)
    return dialog


def _showing(window: MainWindow | None) -> str:
    """What the window shows, for a failure's message: its modal dialog, status, last message."""
    modal = QApplication.activeModalWidget()
    said = [f"modal {modal.objectName()!r} {modal.windowTitle()!r}" if modal else "no modal"]
    if window is not None:
        engine = window.status_line._engine_text
        said.append(f"busy {window.chat.busy}, engine {engine!r}")
        if window.conversation_id is not None:
            for message in window.library.messages(window.conversation_id)[-2:]:
                said.append(
                    f"{message.role.value} {message.status.value} {message.error!r} "
                    f"{message.content[:200]!r}"
                )
    return "; ".join(said)


def _answer_approval(qtbot: QtBot, button: str, window: MainWindow | None = None) -> None:
    found = _approval(qtbot, window).findChild(QPushButton, button)
    assert found is not None, button
    qtbot.mouseClick(found, Qt.MouseButton.LeftButton)


def _send(window: MainWindow, qtbot: QtBot, text: str) -> None:
    window.input_box.setFocus()
    qtbot.keyClicks(window.input_box, text)
    qtbot.keyClick(window.input_box, Qt.Key.Key_Return)


def _result(window: MainWindow) -> tuple[ToolResult, MessageStatus, str | None]:
    assert window.conversation_id is not None
    answer = window.library.messages(window.conversation_id)[-1]
    result = next(p for p in answer.parts if isinstance(p, ToolResult))
    return result, answer.status, answer.error


def test_an_allowed_call_runs_and_shows_as_a_block(
    make_window: Callable[..., MainWindow], qtbot: QtBot
) -> None:
    window = make_window()
    _turn_on(window, qtbot, "weather")
    with qtbot.waitSignal(window.chat.answer_finished, timeout=ANSWER_MS):
        _send(window, qtbot, "What is the weather in Paris?")
        _answer_approval(qtbot, "allowOnceButton", window)
    result, status, _error = _result(window)
    assert result.status == TOOL_OK and result.content.startswith("Sunny in ")
    assert status == MessageStatus.COMPLETE
    shown = window.chat_view.toPlainText()
    assert "⚙ weather" in shown and "✓ done" in shown and "→ Sunny in " in shown
    assert "1 tool call" in shown


def test_a_denied_call_is_not_run(make_window: Callable[..., MainWindow], qtbot: QtBot) -> None:
    window = make_window()
    _turn_on(window, qtbot, "add")
    with qtbot.waitSignal(window.chat.answer_finished, timeout=ANSWER_MS):
        _send(window, qtbot, "Add 2 and 3.")
        _answer_approval(qtbot, "denyButton", window)
    result, _status, _error = _result(window)
    assert result.status == TOOL_DENIED
    assert "⊘ denied" in window.chat_view.toPlainText()


def test_a_hanging_tool_times_out_in_the_set_time(
    make_window: Callable[..., MainWindow], qtbot: QtBot
) -> None:
    window = make_window(tool_timeout_s=1, tool_max_steps=2)
    _turn_on(window, qtbot, "hang")
    with qtbot.waitSignal(window.chat.answer_finished, timeout=ANSWER_MS):
        _send(window, qtbot, "Wait for me.")
        _answer_approval(qtbot, "allowOnceButton", window)
    result, _status, _error = _result(window)
    assert result.status == TOOL_TIMED_OUT and 1.0 <= result.duration_s < 10
    assert "⏱ timed out" in window.chat_view.toPlainText()


def test_stop_cancels_a_running_call(make_window: Callable[..., MainWindow], qtbot: QtBot) -> None:
    window = make_window(tool_timeout_s=120)
    _turn_on(window, qtbot, "hang")
    _send(window, qtbot, "Wait for me.")
    _answer_approval(qtbot, "allowOnceButton", window)
    qtbot.wait(1000)  # the call is running (the toolbox's hang never answers)
    with qtbot.waitSignal(window.chat.answer_finished, timeout=30_000):
        qtbot.mouseClick(window.stop_button, Qt.MouseButton.LeftButton)
    result, status, _error = _result(window)
    assert result.status == TOOL_CANCELLED and status == MessageStatus.STOPPED
    assert "■ stopped" in window.chat_view.toPlainText()
    assert window.send_button.isEnabled()


def test_stop_while_the_approval_waits_closes_it_and_runs_nothing(
    make_window: Callable[..., MainWindow], qtbot: QtBot
) -> None:
    window = make_window()
    _turn_on(window, qtbot, "add")
    _send(window, qtbot, "Add 2 and 3.")
    qtbot.waitUntil(
        lambda: (
            (w := QApplication.activeModalWidget()) is not None
            and w.objectName() == "toolApprovalDialog"
        ),
        timeout=ANSWER_MS,
    )
    with qtbot.waitSignal(window.chat.answer_finished, timeout=30_000):
        qtbot.mouseClick(window.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: QApplication.activeModalWidget() is None)
    result, status, _error = _result(window)
    assert result.status in (TOOL_CANCELLED, TOOL_DENIED) and status == MessageStatus.STOPPED


def test_the_step_limit_ends_the_turn_with_a_note(
    make_window: Callable[..., MainWindow], qtbot: QtBot
) -> None:
    window = make_window(tool_max_steps=1)
    _turn_on(window, qtbot, "weather")
    with qtbot.waitSignal(window.chat.answer_finished, timeout=ANSWER_MS):
        _send(window, qtbot, "What is the weather in Paris?")
    result, status, error = _result(window)
    assert result.status == TOOL_CANCELLED and status == MessageStatus.STOPPED
    assert "after 1 model steps" in (error or "")
    assert "Stopped: after 1 model steps" in window.chat_view.toPlainText()
