"""Scoring tool calls against a prompt's expected call (core.tool_score), prompt files that
carry tools and expected calls, and the batch summary, Markdown and CSV with accuracy."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from desktop.core.answer import Answer
from desktop.core.compare import (
    BatchPrompt,
    ColumnAnswer,
    batch_export,
    batch_prompt,
    batch_row,
    batch_summary,
    parse_prompts,
)
from desktop.core.parts import ToolCall
from desktop.core.tool_score import (
    CallScore,
    ExpectedCall,
    accuracy,
    parse_expect_call,
    parse_tool_choice,
    parse_tools,
    schema_problem,
    score_answer,
    score_calls,
)
from desktop.core.tools import ToolChoice, ToolSpec
from desktop.core.usage import StopReason, Usage

WEATHER = ToolSpec(
    "get_weather",
    "The weather in a city",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city"],
    },
)
EXPECTED = ExpectedCall("get_weather", {"city": "Oslo", "days": 3})


def call(name: str, arguments: Any, problem: str = "") -> ToolCall:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return ToolCall("call_1", name, text, problem=problem)


def test_the_right_call_passes_all_three() -> None:
    score = score_calls(EXPECTED, [call("get_weather", {"city": "Oslo", "days": 3})], WEATHER)
    assert score == CallScore(True, True, True, "Called get_weather with the expected arguments.")


@pytest.mark.parametrize(
    ("arguments", "right"),
    [
        ({"city": "  oslo ", "days": 3}, True),  # strings trimmed, case-insensitive
        ({"city": "OSLO", "days": 3.0}, True),  # numbers by value
        ({"city": "Oslo", "days": 3, "unit": "celsius"}, True),  # an extra optional argument
        ({"city": "Oslo", "days": 4}, False),
        ({"city": "Bergen", "days": 3}, False),
        ({"city": "Oslo"}, False),  # an expected argument missing
        ({"city": "Oslo", "days": "3"}, False),  # a string is not the number
    ],
)
def test_argument_rules(arguments: dict[str, Any], right: bool) -> None:
    score = score_calls(EXPECTED, [call("get_weather", arguments)], WEATHER)
    assert score.right_tool and score.right_arguments is right


def test_wrong_tool_is_wrong_arguments_too_and_the_first_call_counts() -> None:
    calls = [call("search_files", {"query": "x"}), call("get_weather", {"city": "Oslo", "days": 3})]
    score = score_calls(EXPECTED, calls, None)
    assert (score.well_formed, score.right_tool, score.right_arguments) == (True, False, False)
    assert score.detail == "Called search_files, expected get_weather."


def test_no_call_fails_everything() -> None:
    score = score_calls(EXPECTED, [], WEATHER)
    assert not (score.well_formed or score.right_tool or score.right_arguments)
    assert "No call was made" in score.detail


@pytest.mark.parametrize(
    ("made", "why"),
    [
        (call("get_weather", '{"city": "Oslo", "days": 3', "not JSON"), "not JSON"),
        (call("get_weather", '{"city": "Oslo", "days": 3'), "the arguments are not JSON"),
        (call("get_weather", "[1, 2]"), "the arguments are array, not an object"),
        (call("get_weather", {"days": 3}), "the required argument city is missing"),
        (call("get_weather", {"city": "Oslo", "days": 2.5}), "days should be integer"),
        (call("get_weather", {"city": "Oslo", "days": 3, "unit": "kelvin"}), "not one of"),
    ],
)
def test_malformed_calls(made: ToolCall, why: str) -> None:
    score = score_calls(EXPECTED, [made], WEATHER)
    assert not score.well_formed and score.right_tool
    assert why in score.detail


def test_a_tool_that_was_not_offered_is_not_well_formed() -> None:
    score = score_answer(ExpectedCall("get_weather"), [call("get_time", {})], [WEATHER])
    assert not score.well_formed and not score.right_tool
    assert "get_time was not among the tools offered" in score.detail


def test_schema_check_of_nested_values() -> None:
    schema = {
        "type": "object",
        "properties": {"tags": {"type": "array", "items": {"type": "string"}}},
    }
    assert schema_problem({"tags": ["a", "b"]}, schema) == ""
    assert schema_problem({"tags": ["a", 2]}, schema) == "tags[1] should be string, not number"
    assert schema_problem({"flag": True}, {"properties": {"flag": {"type": "integer"}}}) != ""


def test_accuracy_is_the_share_of_each_test() -> None:
    scores = [
        CallScore(True, True, True, ""),
        CallScore(True, True, False, ""),
        CallScore(False, False, False, ""),
        CallScore(True, False, False, ""),
    ]
    assert accuracy(scores) == {
        "scored": 4,
        "right_tool": 0.5,
        "right_arguments": 0.25,
        "well_formed": 0.75,
    }
    assert accuracy([]) is None


def test_expect_call_tools_and_choice_parsing() -> None:
    assert parse_expect_call({"name": "f", "arguments": '{"a": 1}'}) == ExpectedCall("f", {"a": 1})
    for bad, why in (
        ("f", "must be an object"),
        ({"arguments": {}}, "needs a tool name"),
        ({"name": "f", "arguments": [1]}, "arguments must be an object"),
    ):
        with pytest.raises(ValueError, match=why):
            parse_expect_call(bad)
    tools = parse_tools([WEATHER.openai(), {"name": "bare", "parameters": {"type": "object"}}])
    assert [t.name for t in tools] == ["get_weather", "bare"] and tools[0] == WEATHER
    with pytest.raises(ValueError, match="same name"):
        parse_tools([WEATHER.openai(), WEATHER.openai()])
    assert parse_tool_choice("required", tools) == ToolChoice("required")
    assert parse_tool_choice({"type": "function", "function": {"name": "bare"}}, tools) == (
        ToolChoice("tool", "bare")
    )
    with pytest.raises(ValueError, match="not among the tools"):
        parse_tool_choice("nope", tools)


def test_prompt_files_carry_tools_and_expected_calls_and_name_bad_lines() -> None:
    tool = json.dumps([WEATHER.openai()])
    lines = [
        f'{{"prompt": "Weather in Oslo?", "tools": {tool}, "expect_call": {{"name": '
        '"get_weather", "arguments": {"city": "Oslo"}}}',
        '{"prompt": "No tools here"}',
        f'{{"prompt": "x", "tools": {tool}, "expect_call": {{"name": "nope"}}}}',
        '{"prompt": "y", "expect_call": {"arguments": {}}}',
        f'{{"prompt": "z", "tools": {tool}, "tool_choice": "get_weather"}}',
    ]
    fallback = (ToolSpec("lookup"),)
    parsed = parse_prompts("\n".join(lines), "set.jsonl", fallback, ToolChoice("required"))
    assert parsed.prompts == ["Weather in Oslo?", "No tools here", "z"]
    first, plain, forced = parsed.entries
    assert first.tools == (WEATHER,) and first.expect_call == ExpectedCall(
        "get_weather", {"city": "Oslo"}
    )
    assert plain.tools == fallback and plain.tool_choice == ToolChoice("required")
    assert forced.tool_choice == ToolChoice("tool", "get_weather")
    assert parsed.problems == [
        "line 3: expect_call names 'nope', which is not among the tools",
        "line 4: expect_call needs a tool name (a string)",
    ]
    # A saved list keeps an entry whole, and reads it back the same.
    assert batch_prompt(first.to_json()) == first and plain.text == "No tools here"
    assert parse_prompts("a\n", "set.txt").entries == [BatchPrompt("a")]


def column(model: str, *calls: ToolCall, failed: bool = False) -> ColumnAnswer:
    answer = Answer(calls=list(calls), usage=Usage(stop_reason=StopReason.TOOL_CALLS))
    answer.finished = True
    if failed:
        answer.error = "boom"
    return ColumnAnswer(model, answer, local=True)


def test_batch_report_scores_and_exports(tmp_path: Path) -> None:
    entry = BatchPrompt("Weather in Oslo?", (WEATHER,), expect_call=EXPECTED)
    right = call("get_weather", {"city": "Oslo", "days": 3})
    wrong = call("get_weather", {"city": "Oslo", "days": 5})
    table = [
        batch_row(entry, [column("a", right), column("b", wrong)]),
        batch_row(entry, [column("a", right), column("b", failed=True)]),
        batch_row(BatchPrompt("Hi"), [column("a"), column("b")]),
    ]
    assert table[0]["expect_call"] == EXPECTED.to_dict()
    assert table[0]["answers"][1]["calls"] == [
        {"name": "get_weather", "arguments": wrong.arguments}
    ]
    assert "score" not in table[1]["answers"][1] and "score" not in table[2]["answers"][0]
    a, b = batch_summary(table, ["a", "b"], 100)
    assert a["tool_calls"] == {
        "scored": 2,
        "right_tool": 1.0,
        "right_arguments": 1.0,
        "well_formed": 1.0,
    }
    assert b["tool_calls"] == {
        "scored": 1,
        "right_tool": 1.0,
        "right_arguments": 0.0,
        "well_formed": 1.0,
    }
    report = {
        "source": "s",
        "models": ["a", "b"],
        "per_month": 100,
        "summary": [a, b],
        "results": table,
    }
    markdown = batch_export(report, ".md")
    assert "| Right tool | Right arguments | Well-formed |" in markdown
    assert "| b | 2 | 1 |" in markdown and "| 100% | 0% | 100% |" in markdown
    assert "Score: Called get_weather: days was 5, expected 3." in markdown
    rows = list(csv.DictReader(io.StringIO(batch_export(report, "csv"))))
    assert [(r["model"], r["right_arguments"]) for r in rows[:2]] == [("a", "True"), ("b", "False")]
    assert rows[4]["right_tool"] == "" and rows[0]["calls"].startswith("get_weather(")
    assert json.loads(batch_export(report, ".json"))["summary"][1]["tool_calls"]["scored"] == 1
    # Without expected calls the summary has no accuracy, and Markdown no such columns.
    plain = batch_summary([table[2]], ["a", "b"], 100)
    assert plain[0]["tool_calls"] is None
    assert "Right tool" not in batch_export(
        {**report, "summary": plain, "results": [table[2]]}, "md"
    )
