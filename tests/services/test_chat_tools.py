"""The window's tool turn with a cloud model (ChatService and ToolsService, no window): GPT calls
a tool of a real MCP server (the SDK toolbox over stdio), the approval is asked through the
service's signal and answered as the dialog answers it, the result goes back to the model, and
the next message of the chat carries the whole turn in OpenAI's shape."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktop.backends.mcp_hub import McpHub
from desktop.core.parts import TOOL_DENIED, TOOL_OK, ToolCall, ToolResult
from desktop.core.tools import ToolChoice
from desktop.services.chat import ChatService
from desktop.services.cloud import CloudService
from desktop.services.engine_host import EngineHost
from desktop.services.tool_turn import Decision
from desktop.services.tools import ToolsService
from desktop.storage.mcp_store import McpStore
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings
from desktop.storage.store import ChatStore
from tests.cloudserver import CloudServer, ScriptedCall

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-test-chat-tools"
TIMEOUT_MS = 60_000


@pytest.fixture
def server() -> Iterator[CloudServer]:
    with CloudServer() as cloud:
        yield cloud


@pytest.fixture
def chat(
    home: AppPaths, qtbot: QtBot, server: CloudServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ChatService]:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    home.mcp_config.parent.mkdir(parents=True, exist_ok=True)
    home.mcp_config.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "toolbox": {
                        "command": sys.executable,
                        "args": ["-m", "tests.mcp_servers.toolbox"],
                        "cwd": str(ROOT),
                    }
                }
            }
        )
    )
    store = ChatStore(home.database)
    settings = Settings(home.settings)
    cloud = CloudService(store, settings, home.pricing)
    cloud.set_base_url("openai", server.base_url + "/v1")
    tools = ToolsService(McpStore(home.mcp_config), settings, McpHub(cloud.network))
    tools.load()
    tools.start_in_background()
    qtbot.waitUntil(lambda: tools.state("toolbox").status == "ready", timeout=TIMEOUT_MS)
    service = ChatService(store, settings, home.models, EngineHost(), cloud=cloud, tools=tools)
    with qtbot.waitSignal(cloud.checked, timeout=TIMEOUT_MS):
        cloud.set_enabled("openai", True)
    cloud.grant_consent("openai")
    yield service
    service.shutdown()
    tools.close()
    store.close()


def test_a_cloud_answer_calls_a_tool_after_the_users_say(
    chat: ChatService, qtbot: QtBot, server: CloudServer
) -> None:
    server.state.tool_steps = [[ScriptedCall("call_1", "weather", ['{"city": "Oslo"}'])]]
    server.state.reply = ["Sunny", " today."]
    conversation = chat.store.create_conversation(model="openai:gpt-4o")
    chat.store.set_tools(conversation.id, ["toolbox"])
    asked: list[ToolCall] = []

    def approve(_cid: int, _aid: int, call: object, _spec: object) -> None:
        assert isinstance(call, ToolCall)
        asked.append(call)
        chat.decide(Decision.ALLOW_ONCE)

    chat.tool_approval.connect(approve)
    progress: list[object] = []
    chat.tool_progress.connect(lambda _c, _a, parts: progress.append(parts))
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS):
        assert chat.send(conversation.id, "Weather in Oslo?")
    assert [c.name for c in asked] == ["weather"]
    answer = chat.store.messages(conversation.id)[-1]
    result = next(p for p in answer.parts if isinstance(p, ToolResult))
    assert result.status == TOOL_OK and result.content.startswith("Sunny in Oslo")
    call = next(p for p in answer.parts if isinstance(p, ToolCall))
    assert call.server == "toolbox"  # the cloud named the tool; the app knows its server
    assert answer.content.endswith("Sunny today.") and answer.error is None
    assert progress  # the window was told of the call, and of its result
    # The tools went with the first request; the result with the second.
    first, second = server.state.bodies("/chat/completions")[-2:]
    assert [t["function"]["name"] for t in first["tools"]][:1] != []
    assert second["messages"][-1]["role"] == "tool"
    assert second["messages"][-1]["content"].startswith("Sunny in Oslo")

    # The next message carries the whole turn, calls and results, in OpenAI's shape.
    server.state.tool_steps = []
    server.state.reply = ["You", " are welcome."]
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS):
        assert chat.send(conversation.id, "Thanks")
    roles = [m["role"] for m in server.state.bodies("/chat/completions")[-1]["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant", "user"]


def test_a_denied_call_and_a_forced_choice(
    chat: ChatService, qtbot: QtBot, server: CloudServer
) -> None:
    server.state.tool_steps = [[ScriptedCall("call_2", "add", ['{"a": 2, "b": 3}'])]]
    server.state.reply = ["I", " could not."]
    conversation = chat.store.create_conversation(model="openai:gpt-4o")
    chat.store.set_tools(conversation.id, ["toolbox"])
    chat.store.set_tool_choice(conversation.id, ToolChoice("tool", "add"))
    chat.tool_approval.connect(lambda *_args: chat.decide(Decision.DENY))
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS):
        assert chat.send(conversation.id, "Add 2 and 3")
    answer = chat.store.messages(conversation.id)[-1]
    result = next(p for p in answer.parts if isinstance(p, ToolResult))
    assert result.status == TOOL_DENIED
    first, second = server.state.bodies("/chat/completions")[-2:]
    assert first["tool_choice"] == {"type": "function", "function": {"name": "add"}}
    assert "tool_choice" not in second  # forced for the first step only
