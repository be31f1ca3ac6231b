"""A tool turn end to end without a window: the bundled SmolLM2 (real engine child) calls a tool
of a real MCP server (the SDK test toolbox over stdio), the user's say is asked first, the call's
result goes back to the model, and the whole turn is kept as one answer's parts.

The gate is the user: each test answers its question as a user would (allow, deny, always)."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.backends.cloud import AnthropicProvider, CloudSource, OpenAIProvider
from desktop.backends.engine_client import LocalSource
from desktop.backends.mcp_hub import McpHub
from desktop.core.chat_records import AT_LEAF
from desktop.core.mcp_config import McpServerConfig
from desktop.core.messages import MessageStatus
from desktop.core.params import LoadParams, SamplingParams
from desktop.core.parts import (
    TOOL_CANCELLED,
    TOOL_DENIED,
    TOOL_OK,
    TOOL_TIMED_OUT,
    ToolCall,
    ToolResult,
)
from desktop.core.tools import ToolChoice, ToolSpec
from desktop.services.tool_turn import Decision, ToolBox, tool_key
from desktop.services.turn import TurnPipeline
from desktop.storage.store import ChatStore
from tests.cloudserver import CloudServer, ScriptedCall

ROOT = Path(__file__).resolve().parents[2]
GREEDY = SamplingParams(temperature=0.0, max_tokens=60)


class User:
    """Answers each "may this call run?" with the next decision, and remembers what it saw."""

    def __init__(self, *decisions: Decision) -> None:
        self.decisions = list(decisions)
        self.asked: list[ToolCall] = []

    def decide(self, call: ToolCall, spec: ToolSpec | None) -> Decision:
        self.asked.append(call)
        return self.decisions.pop(0) if self.decisions else Decision.DENY


@pytest.fixture(scope="module")
def hub() -> Iterator[McpHub]:
    mcp = McpHub(connect_timeout_s=30)
    config = McpServerConfig(
        "toolbox",
        command=sys.executable,
        args=("-m", "tests.mcp_servers.toolbox"),
        cwd=str(ROOT),
    )
    state = mcp.start(config)
    assert state.status == "ready", state.last_error
    yield mcp
    mcp.close()


@pytest.fixture(scope="module")
def source(smollm_path: str, extra_bufts: bool) -> Iterator[LocalSource]:
    local = LocalSource(
        "local:smollm2",
        smollm_path,
        LoadParams(n_ctx=2048, n_threads=2, extra_bufts=extra_bufts),
    )
    local.load()
    yield local
    local.close()


def _turn(tmp_path: Path, question: str) -> tuple[TurnPipeline, object]:
    store = ChatStore(tmp_path / "chats.db")
    conversation = store.create_conversation("tools")
    pipeline = TurnPipeline(store)
    turn = pipeline.begin(conversation, [], "local:smollm2", GREEDY, text=question, after=AT_LEAF)
    return pipeline, turn


def _box(hub: McpHub, user: User, tool: str, **kw: object) -> ToolBox:
    specs = [s for s in hub.tools(["toolbox"]) if s.name in ("weather", "add", "hang")]
    return ToolBox(specs, hub, user, choice=ToolChoice("tool", tool), **kw)  # type: ignore[arg-type]


def test_an_allowed_call_runs_and_its_result_goes_back_to_the_model(
    tmp_path: Path, hub: McpHub, source: LocalSource
) -> None:
    pipeline, turn = _turn(tmp_path, "What is the weather in Paris?")
    user = User(Decision.ALLOW_ONCE)
    box = _box(hub, user, "weather")
    answer = pipeline.run_with_tools(turn, source, box)  # type: ignore[arg-type]
    status = pipeline.finish(turn)  # type: ignore[arg-type]

    assert [c.name for c in user.asked] == ["weather"]  # asked before it ran
    saved = pipeline.store.get_message(turn.answer_id)  # type: ignore[attr-defined]
    calls = [p for p in saved.parts if isinstance(p, ToolCall)]
    results = [p for p in saved.parts if isinstance(p, ToolResult)]
    assert calls[0].name == "weather" and calls[0].server == "toolbox"
    assert results[0].status == TOOL_OK and results[0].content.startswith("Sunny in ")
    assert results[0].call_id == calls[0].call_id
    # Two model steps, their tokens added up; the turn ended as a normal answer.
    assert turn.steps.count >= 1  # type: ignore[attr-defined]
    assert answer.usage.output_tokens > 0 and status == MessageStatus.COMPLETE
    assert saved.status == MessageStatus.COMPLETE


def test_a_denied_call_does_not_run_and_the_model_is_told(
    tmp_path: Path, hub: McpHub, source: LocalSource
) -> None:
    pipeline, turn = _turn(tmp_path, "Add 2 and 3.")
    box = _box(hub, User(Decision.DENY), "add")
    pipeline.run_with_tools(turn, source, box)  # type: ignore[arg-type]
    pipeline.finish(turn)  # type: ignore[arg-type]
    saved = pipeline.store.get_message(turn.answer_id)  # type: ignore[attr-defined]
    result = next(p for p in saved.parts if isinstance(p, ToolResult))
    assert result.status == TOOL_DENIED and result.is_error
    assert "denied" in result.content


def test_always_allow_asks_once_per_tool(tmp_path: Path, hub: McpHub, source: LocalSource) -> None:
    remembered: list[str] = []
    user = User(Decision.ALWAYS)
    box = _box(hub, user, "add", on_always=remembered.append, max_steps=3)
    for _ in range(2):
        pipeline, turn = _turn(tmp_path / str(len(user.asked) + len(remembered)), "Add 2 and 3.")
        box.choice = ToolChoice("tool", "add")
        pipeline.run_with_tools(turn, source, box)  # type: ignore[arg-type]
    assert len(user.asked) == 1
    assert remembered == [tool_key("toolbox", "add")]


def test_a_hanging_tool_times_out_and_the_turn_goes_on(
    tmp_path: Path, hub: McpHub, source: LocalSource
) -> None:
    pipeline, turn = _turn(tmp_path, "Wait for me.")
    box = _box(hub, User(Decision.ALLOW_ONCE), "hang", timeout_s=1.0, max_steps=2)
    pipeline.run_with_tools(turn, source, box)  # type: ignore[arg-type]
    pipeline.finish(turn)  # type: ignore[arg-type]
    saved = pipeline.store.get_message(turn.answer_id)  # type: ignore[attr-defined]
    result = next(p for p in saved.parts if isinstance(p, ToolResult))
    assert result.status == TOOL_TIMED_OUT and result.is_error
    # Abandoned at its timeout, not whenever the server would have answered (never).
    assert 1.0 <= result.duration_s < 10


def test_the_step_limit_ends_the_turn_with_a_note_and_every_call_answered(
    tmp_path: Path, hub: McpHub, source: LocalSource
) -> None:
    pipeline, turn = _turn(tmp_path, "Add 2 and 3.")
    user = User(Decision.ALLOW_ONCE)
    box = _box(hub, user, "add", max_steps=1)
    pipeline.run_with_tools(turn, source, box)  # type: ignore[arg-type]
    status = pipeline.finish(turn)  # type: ignore[arg-type]
    saved = pipeline.store.get_message(turn.answer_id)  # type: ignore[attr-defined]
    assert user.asked == []  # nothing ran: the limit came first
    result = next(p for p in saved.parts if isinstance(p, ToolResult))
    assert result.status == TOOL_CANCELLED
    assert status == MessageStatus.STOPPED and "1 model steps" in (saved.error or "")


def test_stop_cancels_a_running_call(tmp_path: Path, hub: McpHub, source: LocalSource) -> None:
    pipeline, turn = _turn(tmp_path, "Wait for me.")
    box = _box(hub, User(Decision.ALLOW_ONCE), "hang", timeout_s=60.0)
    calling = threading.Event()
    # Stop is pressed once the call is running (asked and allowed).
    box.gate = User(Decision.ALLOW_ONCE)
    asked = box.gate.decide

    def decide(call: ToolCall, spec: ToolSpec | None) -> Decision:
        calling.set()
        return asked(call, spec)

    box.gate.decide = decide  # type: ignore[method-assign]

    def press_stop() -> None:
        calling.wait(120)
        time.sleep(1)
        box.cancel()

    threading.Thread(target=press_stop).start()
    answer = pipeline.run_with_tools(turn, source, box)  # type: ignore[arg-type]
    status = pipeline.finish(turn)  # type: ignore[arg-type]
    saved = pipeline.store.get_message(turn.answer_id)  # type: ignore[attr-defined]
    result = next(p for p in saved.parts if isinstance(p, ToolResult))
    assert result.status == TOOL_CANCELLED and result.duration_s < 30
    assert answer.stopped and status == MessageStatus.STOPPED


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_a_cloud_model_calls_an_mcp_tool_and_gets_its_result(
    tmp_path: Path, hub: McpHub, api: str
) -> None:
    """GPT and Claude alike, through their SDKs (loopback servers): the streamed call is put to
    the user, run on the MCP server, and its result goes back in that API's own shape."""
    with CloudServer() as server:
        server.state.tool_steps = [[ScriptedCall("call_oslo", "weather", ['{"city": ', '"Oslo"}'])]]
        server.state.reply = ["It is", " sunny."]
        if api == "openai":
            provider: OpenAIProvider | AnthropicProvider = OpenAIProvider(
                "openai", server.base_url + "/v1", "sk-test"
            )
        else:
            provider = AnthropicProvider("anthropic", server.base_url, "sk-ant-test")
        source = CloudSource(provider, f"{api}:model", "model")
        try:
            pipeline, turn = _turn(tmp_path, "Weather in Oslo?")
            user = User(Decision.ALLOW_ONCE)
            specs = [s for s in hub.tools(["toolbox"]) if s.name == "weather"]
            answer = pipeline.run_with_tools(turn, source, ToolBox(specs, hub, user))  # type: ignore[arg-type]
            pipeline.finish(turn)  # type: ignore[arg-type]
        finally:
            provider.close()
        bodies = server.state.bodies()
    assert [c.name for c in user.asked] == ["weather"]
    saved = pipeline.store.get_message(turn.answer_id)  # type: ignore[attr-defined]
    result = next(p for p in saved.parts if isinstance(p, ToolResult))
    assert result.status == TOOL_OK and result.content.startswith("Sunny in Oslo")
    assert saved.content.endswith("It is sunny.") and answer.text == "It is sunny."
    # The second request carried the tool's result in the API's shape.
    assert len(bodies) == 2 and "Sunny in Oslo" in json.dumps(bodies[1])
    assert bodies[0]["tools"][0]["name" if api == "anthropic" else "function"]
