"""Tool calling through the real engine child and the bundled SmolLM2: a call the model must
make comes out well-formed (the grammar holds it to the tool's schema), as a tool-call event and
never as answer text; the results of a call go back through the model's own template."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from desktop.backends.engine_client import SyncEngine
from desktop.core.answer import Answer, ToolCallEvent
from desktop.core.params import LoadParams, SamplingParams
from desktop.core.parts import ToolCall
from desktop.core.tools import ToolChoice, ToolSpec

WEATHER = ToolSpec(
    "get_weather",
    "The weather in a city today.",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 20},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
    server="weather",
)
ADD = ToolSpec(
    "add",
    "Add two integers.",
    {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    },
    server="maths",
)
TEMPLATES = Path(__file__).resolve().parents[1] / "fixtures" / "templates"
QUESTION: list[dict[str, Any]] = [{"role": "user", "content": "What is the weather in Paris?"}]
GREEDY = SamplingParams(temperature=0.0, max_tokens=80)


@pytest.fixture(scope="module")
def tool_engine(smollm_path: str, extra_bufts: bool) -> Iterator[SyncEngine]:
    engine = SyncEngine()
    engine.load(smollm_path, LoadParams(n_ctx=2048, n_threads=2, extra_bufts=extra_bufts))
    yield engine
    engine.close()


def _answer(engine: SyncEngine, messages: list[dict[str, Any]], **kw: Any) -> Answer:
    answer = Answer()
    for event in engine.events(messages, GREEDY, **kw):
        answer.add(event)
    assert answer.error is None, answer.error
    return answer


def test_a_required_call_is_well_formed_and_matches_the_schema(tool_engine: SyncEngine) -> None:
    answer = _answer(
        tool_engine, QUESTION, tools=[WEATHER, ADD], tool_choice=ToolChoice("required")
    )
    assert len(answer.calls) >= 1
    call = answer.calls[0]
    assert call.problem == ""
    assert call.name in ("get_weather", "add")
    spec = WEATHER if call.name == "get_weather" else ADD
    jsonschema.validate(json.loads(call.arguments), dict(spec.parameters))
    assert call.server == spec.server
    assert call.call_id.startswith("call_")
    # The call's text is not answer text.
    assert "tool_call" not in answer.text and call.name not in answer.text


def test_a_named_tool_is_the_one_called(tool_engine: SyncEngine) -> None:
    answer = _answer(
        tool_engine, QUESTION, tools=[WEATHER, ADD], tool_choice=ToolChoice("tool", "add")
    )
    assert [c.name for c in answer.calls][:1] == ["add"]
    arguments = json.loads(answer.calls[0].arguments)
    assert isinstance(arguments["a"], int) and isinstance(arguments["b"], int)


def test_without_tools_nothing_changes(tool_engine: SyncEngine) -> None:
    plain = _answer(tool_engine, QUESTION)
    assert plain.calls == [] and plain.text.strip()
    # "none": the model is not told of the tools and answers as before.
    told_none = _answer(tool_engine, QUESTION, tools=[WEATHER], tool_choice=ToolChoice("none"))
    assert told_none.calls == [] and told_none.text == plain.text


def test_results_go_back_through_the_template_and_the_model_answers(
    tool_engine: SyncEngine,
) -> None:
    call = ToolCall("call_1", "get_weather", '{"city": "Paris", "unit": "celsius"}')
    messages: list[dict[str, Any]] = [
        *QUESTION,
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": call.call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "name": call.name, "content": "Sunny, 21 C"},
    ]
    answer = _answer(tool_engine, messages, tools=[WEATHER])
    assert answer.finished
    assert answer.text.strip() or answer.calls  # it answered, or called again: both well-formed
    assert all(c.problem == "" or c.name for c in answer.calls)


def test_a_call_event_crosses_the_protocol_whole(tool_engine: SyncEngine) -> None:
    events = list(
        tool_engine.events(QUESTION, GREEDY, tools=[WEATHER], tool_choice=ToolChoice("required"))
    )
    calls = [e for e in events if isinstance(e, ToolCallEvent)]
    assert calls and calls[0].call.name == "get_weather"
    # The call comes before the end of the answer.
    assert events.index(calls[0]) < len(events) - 1


def test_tools_with_a_long_template_still_fit_or_say_so(
    tool_engine: SyncEngine, tmp_path: Path
) -> None:
    many = [
        ToolSpec(f"tool_{i}", "x" * 400, {"type": "object", "properties": {}}) for i in range(40)
    ]
    answer = Answer()
    for event in tool_engine.events(QUESTION, GREEDY, tools=many, tool_choice=ToolChoice()):
        answer.add(event)
    # 40 long tool descriptions overflow a 2,048-token context: refused with the numbers.
    assert answer.overflow is not None and answer.overflow.n_tokens > 2048


def test_the_tiny_llama4_gets_its_tools_through_scouts_own_template(
    tmp_path: Path, smollm_path: str, extra_bufts: bool
) -> None:
    """Llama 4 Scout's real chat template (tests/fixtures/templates) on the tiny llama4 model:
    the template itself lays the tools out (the prompt grows by them), and a required call
    comes back well-formed from random weights, held by the grammar."""
    from tests.gguf_make import tiny_llama4

    template = (TEMPLATES / "meta-llama-Llama-4-Scout-17B-16E-Instruct.jinja").read_text()
    model = tiny_llama4(tmp_path / "tiny-scout.gguf", smollm_path, chat_template=template)
    with SyncEngine() as engine:
        engine.load(str(model), LoadParams(n_ctx=2048, n_threads=2, extra_bufts=extra_bufts))
        assert engine.model["chat_template"] == "gguf"
        plain = _answer(engine, QUESTION)
        called = _answer(engine, QUESTION, tools=[WEATHER], tool_choice=ToolChoice("required"))
    # The template wrote the tool's name, description and schema into the prompt.
    assert called.usage.prompt_tokens > plain.usage.prompt_tokens + 40
    assert [c.name for c in called.calls] == ["get_weather"]
    assert called.calls[0].problem == ""
    jsonschema.validate(json.loads(called.calls[0].arguments), dict(WEATHER.parameters))
