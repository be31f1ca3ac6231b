"""The OpenAI wire format as the local server reads it: request checks with the parameter at
fault named, the sampling mapping, tools, and the stop-string cut across streamed pieces."""

from __future__ import annotations

import json
from typing import Any

import pytest

from desktop.backends.openai_wire import StopScanner, WireError, parse_request
from desktop.core.params import SamplingParams
from desktop.core.tools import ToolChoice

DEFAULTS = SamplingParams(temperature=0.7, max_tokens=512)
HI = [{"role": "user", "content": "Hi"}]


def _parse(**body: Any) -> Any:
    return parse_request(json.dumps({"model": "m", "messages": HI, **body}).encode(), DEFAULTS)


def test_sampling_maps_openai_names_and_keeps_the_app_defaults_otherwise() -> None:
    request = _parse(temperature=0, top_p=0.5, seed=7, max_completion_tokens=9, stop="END")
    s = request.sampling
    assert (s.temperature, s.top_p, s.seed, s.max_tokens) == (0.0, 0.5, 7, 9)
    assert s.top_k == DEFAULTS.top_k and request.stop == ("END",)
    assert _parse().sampling == DEFAULTS
    assert _parse(max_tokens=3).sampling.max_tokens == 3


def test_messages_take_text_parts_and_developer_is_system() -> None:
    request = _parse(
        messages=[
            {"role": "developer", "content": "Be brief."},
            {
                "role": "user",
                "content": [{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}],
            },
        ]
    )
    assert request.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello"},
    ]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": []}, "messages"),
        ({"model": ""}, "model"),
        ({"temperature": "hot"}, "temperature"),
        ({"temperature": 9}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"n": 2}, "n"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0]"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "messages[0]"),
        ({"tools": [{"type": "function", "function": {}}]}, "tools"),
    ],
)
def test_a_bad_field_is_a_400_naming_it(body: dict[str, Any], param: str) -> None:
    with pytest.raises(WireError) as failed:
        _parse(**body)
    assert failed.value.status == 400 and failed.value.param == param
    assert failed.value.body()["error"]["type"] == "invalid_request_error"


def test_not_json_and_not_an_object_are_400() -> None:
    for raw in (b"{nope", b"[1, 2]", b"\xff"):
        with pytest.raises(WireError) as failed:
            parse_request(raw, DEFAULTS)
        assert failed.value.status == 400


def test_tools_and_tool_choice_become_specs_and_a_choice() -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    request = _parse(tools=[tool], tool_choice={"type": "function", "function": {"name": "f"}})
    assert [t.name for t in request.tools] == ["f"]
    assert request.tool_choice == ToolChoice("tool", "f")
    assert _parse(tools=[tool], tool_choice="required").tool_choice == ToolChoice("required")
    with pytest.raises(WireError):
        _parse(tools=[tool], tool_choice={"type": "function", "function": {"name": "g"}})


def test_a_stop_string_split_across_pieces_is_cut_and_never_shown() -> None:
    scanner = StopScanner(["<END>"])
    shown = [scanner.feed(p) for p in ("Hello <", "EN", "D> after")]
    assert "".join(shown) == "Hello " and scanner.hit
    assert scanner.feed("more") == "" and scanner.flush() == ""


def test_text_that_only_looked_like_a_stop_string_is_shown_in_the_end() -> None:
    scanner = StopScanner(["<END>"])
    shown = [scanner.feed(p) for p in ("a <", "EN", "x")]
    assert "".join(shown) + scanner.flush() == "a <ENx" and not scanner.hit
    assert StopScanner([]).feed("anything") == "anything"


def test_response_format_becomes_the_schema_the_answer_is_held_to() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    held = _parse(response_format={"type": "json_schema", "json_schema": {"schema": schema}})
    assert json.loads(held.sampling.json_schema) == schema
    assert json.loads(_parse(response_format={"type": "json_object"}).sampling.json_schema) == {
        "type": "object"
    }
    assert _parse(response_format={"type": "text"}).sampling.json_schema == ""
    # A chat's stored settings never carry it.
    assert "json_schema" not in _parse().sampling.to_dict()
    assert "json_schema" in held.sampling.to_dict()
    for wrong in ({"type": "xml"}, "json", {"type": "json_schema", "json_schema": {"schema": 3}}):
        with pytest.raises(WireError) as refused:
            _parse(response_format=wrong)
        assert refused.value.param == "response_format"
    # With tools as well: the answer is a call, or text in that format (as OpenAI has it).
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    both = _parse(response_format={"type": "json_object"}, tools=[tool])
    assert [t.name for t in both.tools] == ["f"]
    assert json.loads(both.sampling.json_schema) == {"type": "object"}
