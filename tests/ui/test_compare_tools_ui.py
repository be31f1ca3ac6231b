"""Tool calls in the compare window's batch, offscreen, driven as a user: a prompt file with
tools and expected calls chosen through Batch… and its file dialog, run against the real
SmolLM2 and a loopback GPT scripted to call right; the summary shows the accuracy beside speed
and cost, the table each answer's call and score; reopened from the history, each column shows
its calls (kept, not run). Tools chosen in the window (Tools…) go to every column, and each
column shows its calls."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog
from pytestqt.qtbot import QtBot

from desktop.core.params import SamplingParams
from desktop.core.parts import ToolCall
from desktop.services.chat import ChatService
from desktop.services.cloud import CloudService
from desktop.services.comparisons import Comparisons
from desktop.services.engine_host import EngineHost
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings
from desktop.storage.store import ChatStore
from desktop.ui.batch_dialog import SUMMARY_COLUMNS
from desktop.ui.compare_past import PAST_ID
from desktop.ui.compare_window import CompareWindow
from tests.cli.test_cli_compare_tools import remember_safe_mode
from tests.cloudserver import CloudServer, ScriptedCall
from tests.ui.driving import answer_modal, button_named, choose_compare_models, file_dialog_answer

SMOL = "local:smollm2-135m-instruct"
GPT = "openai:gpt-4o"
TIMEOUT_MS = 90_000
LEFT = Qt.MouseButton.LeftButton
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture
def server() -> Iterator[CloudServer]:
    with CloudServer() as cloud:
        cloud.state.models = ["gpt-4o"]
        yield cloud


@pytest.fixture
def chat(
    home: AppPaths, qtbot: QtBot, server: CloudServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ChatService]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-compare-tools-ui")
    store = ChatStore(home.database)
    settings = Settings(home.settings)
    cloud = CloudService(store, settings, home.pricing)
    cloud.set_base_url("openai", server.base_url + "/v1")
    with qtbot.waitSignal(cloud.checked, timeout=TIMEOUT_MS):
        cloud.set_enabled("openai", True)
    cloud.grant_consent("openai")
    remember_safe_mode(home)
    service = ChatService(store, settings, home.models, EngineHost(), cloud=cloud)
    service.sampling = SamplingParams(temperature=0.0, max_tokens=24)
    yield service
    service.shutdown()
    store.close()


# SmolLM2 reads the tools' long prompt on CPU: minutes on a busy machine.
@pytest.mark.timeout(300)
def test_batch_shows_tool_call_accuracy_and_the_columns_show_the_calls(
    chat: ChatService, qtbot: QtBot, server: CloudServer, tmp_path: Path
) -> None:
    prompts = tmp_path / "tools.jsonl"
    prompts.write_text(
        "".join(
            json.dumps(
                {
                    "prompt": f"What is the weather in {city}?",
                    "tools": [WEATHER],
                    "expect_call": {"name": "get_weather", "arguments": {"city": city}},
                }
            )
            + "\n"
            for city in ("Oslo", "Lima")
        )
    )
    server.state.reply = []
    server.state.tool_steps = [
        [ScriptedCall("c1", "get_weather", ['{"city": "oslo"}'])],
        [ScriptedCall("c2", "get_weather", ['{"city": "Quito"}'])],
    ]
    window = CompareWindow(chat, Comparisons(chat.store))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    choose_compare_models(window, SMOL, GPT)
    qtbot.mouseClick(window.batch_button, Qt.MouseButton.LeftButton)
    dialog = window.batch_dialog
    qtbot.waitExposed(dialog)
    failures = answer_modal(file_dialog_answer(prompts), QFileDialog)
    qtbot.mouseClick(button_named(dialog, "Choose…"), Qt.MouseButton.LeftButton)
    assert not failures, failures
    assert dialog.file_edit.text() == str(prompts)
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    assert dialog.session is not None
    with qtbot.waitSignal(dialog.session.batch_finished, timeout=TIMEOUT_MS):
        pass

    items = [dialog.summary.horizontalHeaderItem(c) for c in range(dialog.summary.columnCount())]
    headers = [item.text() if item is not None else "" for item in items]
    assert headers == list(SUMMARY_COLUMNS)
    assert headers[-3:] == ["Right tool", "Right arguments", "Well-formed"]
    assert "Mean tok/s" in headers and "Batch cost" in headers  # beside speed and cost

    def summary(row: int) -> list[str]:
        cells = [dialog.summary.item(row, c) for c in range(dialog.summary.columnCount())]
        return [cell.text() if cell is not None else "" for cell in cells]

    local, gpt = summary(0), summary(1)
    # Models by name, as the rest of the app names them; the id in the cell's tooltip.
    assert gpt[0] == "gpt-4o · OpenAI" and gpt[-3:] == ["100%", "50%", "100%"]
    assert local[0] == "SmolLM2 135M Instruct (bundled)"
    assert all(cell.endswith("%") for cell in local[-3:])
    ids = [dialog.summary.item(row, 0) for row in (0, 1)]
    assert [item.toolTip() if item is not None else "" for item in ids] == [SMOL, GPT]
    first, second = (dialog.results.item(row, 1) for row in range(2))
    assert first is not None and second is not None
    assert first.text().startswith("✓ right call · ⚙ get_weather(city=")
    assert second.text().startswith("✗ Called get_weather: city was")
    assert 'expected "Lima"' in second.toolTip()
    # Nothing was run: one request per prompt, none with a tool's result.
    bodies = server.state.bodies("/chat/completions")
    assert len(bodies) == 2 and all(len(b["messages"]) == 1 for b in bodies)
    comparison_id = dialog.session.comparison_id
    dialog.close()

    # Reopened from the history (Enter on its row), GPT's column shows its two calls.
    window.history.refresh()
    row = next(
        window.history.item(i)
        for i in range(window.history.count())
        if window.history.item(i).data(PAST_ID) == comparison_id
    )
    window.history.setCurrentItem(row)
    window.history.setFocus()
    qtbot.keyClick(window.history, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(window.columns) == 2, timeout=5_000)
    shown = window.columns[1].view.toPlainText()
    assert shown.count("⚙ get_weather") == 2 and 'city="Quito"' in shown
    assert "not run" in shown
    window.close()


# SmolLM2 reads the tools' long prompt on CPU: minutes on a busy machine.
@pytest.mark.timeout(300)
def test_tools_from_a_file_are_offered_to_every_column_and_calls_shown(
    chat: ChatService, qtbot: QtBot, server: CloudServer, tmp_path: Path
) -> None:
    tools_file = tmp_path / "tools.json"
    tools_file.write_text(json.dumps({"tools": [WEATHER]}))
    server.state.reply = []
    server.state.tool_steps = [[ScriptedCall("c1", "get_weather", ['{"city": "Oslo"}'])]]
    window = CompareWindow(chat, Comparisons(chat.store))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    choose_compare_models(window, SMOL, GPT)
    failures = answer_modal(file_dialog_answer(tools_file), QFileDialog)
    qtbot.mouseClick(button_named(window, "Offer tools from a file to every model"), LEFT)
    assert not failures, failures
    assert window.tools_picker.label.text() == "Tools (not run): get_weather"
    window.input_box.setFocus()
    qtbot.keyClicks(window.input_box, "What is the weather in Oslo?")
    qtbot.keyClick(window.input_box, Qt.Key.Key_Return)
    assert window.session is not None
    with qtbot.waitSignal(window.session.round_finished, timeout=TIMEOUT_MS):
        pass
    [body] = server.state.bodies("/chat/completions")
    assert [t["function"]["name"] for t in body["tools"]] == ["get_weather"]
    shown = window.columns[1].view.toPlainText()
    assert "⚙ get_weather" in shown and 'city="Oslo"' in shown and "not run" in shown
    # Saved with the answer: the history keeps the call.
    [_local, gpt] = chat.store.comparison_answers(window.session.comparison_id or 0)
    assert [p.name for p in gpt.parts if isinstance(p, ToolCall)] == ["get_weather"]

    # A batch opened from here offers the same tools to prompts that carry none.
    qtbot.mouseClick(window.batch_button, LEFT)
    assert "tools: get_weather" in window.batch_dialog.models_label.text()
    assert window.batch_dialog.tools == window.tools_picker.tools
    window.batch_dialog.close()
    # × offers none again.
    qtbot.mouseClick(button_named(window, "Offer no tools"), LEFT)
    assert window.tools_picker.tools == () and window.tools_picker.label.text() == "No tools"
    window.close()
