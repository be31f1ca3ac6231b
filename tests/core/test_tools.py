"""A turn with tool calls, stored as one answer, is laid out for models as assistant and tool
messages in order; tool specs and choices keep one form for every API."""

from __future__ import annotations

import pytest

from desktop.core.answer import Answer, Prompt, PromptMessage, TextDelta, ToolCallEvent
from desktop.core.messages import Role
from desktop.core.parts import Reasoning, Text, ToolCall, ToolResult
from desktop.core.tools import ToolChoice, ToolSpec, pending_calls, steps_of

CALL_A = ToolCall("a", "weather", '{"city": "Oslo"}')
CALL_B = ToolCall("b", "time", "{}")
TURN = (
    Reasoning("think"),
    Text("Let me look."),
    CALL_A,
    CALL_B,
    ToolResult("a", "rain"),
    ToolResult("b", "noon", is_error=True, status="failed"),
    Text("Rain at noon."),
)


def test_a_turn_splits_into_steps_after_each_batch_of_results() -> None:
    steps = steps_of(TURN)
    assert [s.text for s in steps] == ["Let me look.", "Rain at noon."]
    assert steps[0].calls == (CALL_A, CALL_B)
    assert [r.call_id for r in steps[0].results] == ["a", "b"]
    assert steps[1].calls == () and steps[1].results == ()


def test_the_wire_form_has_tool_calls_then_tool_messages() -> None:
    prompt = Prompt(
        (PromptMessage(Role.USER, (Text("weather?"),)), PromptMessage(Role.ASSISTANT, TURN)),
        system="be brief",
    )
    wire = prompt.wire()
    assert [m["role"] for m in wire] == ["system", "user", "assistant", "tool", "tool", "assistant"]
    assert wire[2]["content"] == "Let me look."
    assert [c["function"]["name"] for c in wire[2]["tool_calls"]] == ["weather", "time"]
    assert wire[2]["tool_calls"][0]["function"]["arguments"] == '{"city": "Oslo"}'
    tool = wire[3]
    assert (tool["tool_call_id"], tool["name"], tool["content"]) == ("a", "weather", "rain")
    assert wire[5] == {"role": "assistant", "content": "Rain at noon."}
    assert "think" not in str(wire)  # reasoning is never sent back


def test_a_step_in_progress_ends_with_its_results_and_lists_no_pending_call() -> None:
    partial = TURN[:6]
    assert Prompt((PromptMessage(Role.ASSISTANT, partial),)).wire()[-1]["role"] == "tool"
    assert pending_calls(partial) == []
    assert pending_calls(TURN[:5]) == [CALL_B]


def test_an_answer_that_only_calls_has_no_empty_text_part() -> None:
    answer = Answer()
    answer.add(ToolCallEvent(CALL_A))
    assert answer.parts == (CALL_A,)
    answer.add(TextDelta("x"))
    assert answer.parts == (Text("x"), CALL_A)  # type: ignore[comparison-overlap]
    assert Answer().parts == (Text(""),)


def test_specs_and_choices_in_each_api_shape() -> None:
    spec = ToolSpec("weather", "Today's weather", {"type": "object", "properties": {}}, "srv")
    assert ToolSpec.from_dict(spec.to_dict()) == spec
    assert spec.openai()["function"]["name"] == "weather"
    assert spec.anthropic()["input_schema"] == {"type": "object", "properties": {}}
    assert ToolChoice("tool", "weather").openai() == {
        "type": "function",
        "function": {"name": "weather"},
    }
    assert ToolChoice("required").anthropic() == {"type": "any"}
    assert ToolChoice.from_dict(ToolChoice("tool", "x").to_dict()) == ToolChoice("tool", "x")
    assert ToolChoice("required").forced and not ToolChoice().forced
    with pytest.raises(ValueError):
        ToolChoice.from_dict({"mode": "sometimes"})
