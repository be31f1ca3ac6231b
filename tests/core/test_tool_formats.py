"""Tool calls read the way each model family writes them (the texts their chat templates teach),
held back from the stream while they may be starting, and the conversation laid out so the
real templates (tests/fixtures/templates) render the tools, calls and results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from desktop.core.tool_formats import (
    GENERIC,
    ParsedCall,
    ToolFormat,
    call_started,
    detect_format,
    hold_from,
    parse_calls,
    polyfill_messages,
)
from desktop.core.tool_prompt import mistral_call_id
from desktop.core.tools import ToolSpec

TEMPLATES = Path(__file__).resolve().parents[1] / "fixtures" / "templates"
LLAMA3 = ToolFormat("llama3", True)
LLAMA4 = ToolFormat("llama4", True)
HERMES = ToolFormat("hermes", True)
MISTRAL = ToolFormat("mistral", True)
MISTRAL_ARGS = ToolFormat("mistral", True, mistral_args=True)
WEATHER = ParsedCall("get_weather", '{"city":"Paris","days":3}')
A = '{"city": "Paris", "days": 3}'  # the arguments as models write them
N = '{"name": "now", "arguments": {}}'
N3 = '{"name": "now", "parameters": {}}'
GW = '{"name": "get_weather", "arguments": {"city": "Par'  # cut off


def _template(name: str) -> str:
    return (TEMPLATES / f"{name}.jinja").read_text(encoding="utf-8")


# -- detection ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("meta-llama-Llama-3.1-8B-Instruct", LLAMA3),
        ("meta-llama-Llama-3.2-3B-Instruct", LLAMA3),
        ("meta-llama-Llama-3.3-70B-Instruct", LLAMA3),
        ("meta-llama-Llama-4-Scout-17B-16E-Instruct", LLAMA4),
        ("NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use", HERMES),
        ("NousResearch-Hermes-3-Llama-3.1-8B-tool_use", HERMES),
        ("Qwen-Qwen2.5-7B-Instruct", HERMES),
        ("Qwen-Qwen3-0.6B", HERMES),
        ("mistralai-Mistral-Nemo-Instruct-2407", MISTRAL),
        ("unsloth-mistral-Devstral-Small-2507", MISTRAL_ARGS),
        ("Mistral-Small-3.2-24B-Instruct-2506", ToolFormat("mistral", True, True, True)),
    ],
)
def test_each_real_template_is_recognised(name: str, expected: ToolFormat) -> None:
    assert detect_format(_template(name)) == expected


def test_a_template_without_tools_is_generic_and_polyfilled() -> None:
    chatml = (
        "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
        "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    )
    assert detect_format(chatml) == GENERIC and not GENERIC.native
    # Llama 3.0's template has Llama's headers but no tools: it cannot render them.
    llama30 = "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>' }}"
    assert detect_format(llama30) == GENERIC
    assert detect_format("{% if tools %}{{ tools | tojson }}{% endif %}") == ToolFormat(
        "generic", True
    )


# -- parsing: the exact texts each family emits ------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        # Llama 3.1-3.3: the template's "Respond in the format {"name": ..., "parameters": ...}"
        (LLAMA3, f'{{"name": "get_weather", "parameters": {A}}}'),
        (LLAMA3, f'<|python_tag|>{{"name": "get_weather", "parameters": {A}}}'),
        (LLAMA3, f'\n{{"name": "get_weather", "arguments": {A}}}'),
        (LLAMA3, f'{{"type": "function", "name": "get_weather", "parameters": {A}}}'),
        # Llama 4: Meta's pythonic list, inside python tags or not, and the template's JSON
        (LLAMA4, '[get_weather(city="Paris", days=3)]'),
        (LLAMA4, '<|python_start|>[get_weather(city="Paris", days=3)]<|python_end|>'),
        (LLAMA4, f'{{"name": "get_weather", "parameters": {A}}}'),
        (LLAMA4, f'<|python_start|><|python_end|>{{"name": "get_weather", "parameters": {A}}}'),
        # Hermes / Qwen (llama.cpp's test-chat.cpp texts)
        (HERMES, f'<tool_call>\n{{"name": "get_weather", "arguments": {A}}}\n</tool_call>'),
        (HERMES, f'<tool_call>\n{{"name": "get_weather", "arguments": {A}}}</tool_call>'),
        # Hermes 2 Pro's own examples are Python dicts
        (HERMES, "<tool_call>\n{'arguments': {'city': 'Paris', 'days': 3}, 'name': 'get_weather'}"),
        (HERMES, f'<tool_call>{{"name": "get_weather", "arguments": {json.dumps(A)}}}</tool_call>'),
        # Mistral Nemo (with its id) and the newer [ARGS] form
        (MISTRAL, f'[TOOL_CALLS][{{"name": "get_weather", "arguments": {A}, "id": "123456789"}}]'),
        (MISTRAL_ARGS, f'[TOOL_CALLS]get_weather[ARGS]{A}'),
        (MISTRAL_ARGS, f'[TOOL_CALLS]get_weather[CALL_ID]a1b2c3d4e[ARGS]{A}'),
        # generic: the polyfill's tags, a bare call, OpenAI's wrapper
        (GENERIC, f'<tool_call>\n{{"name": "get_weather", "arguments": {A}}}\n</tool_call>'),
        (GENERIC, f'{{"name": "get_weather", "arguments": {A}}}'),
        (GENERIC, f'{{"tool_calls": [{{"function": {{"name": "get_weather", "arguments": {A}}}}}]}}'),  # noqa: E501
    ],
)  # fmt: skip
def test_one_call_in_each_familys_own_syntax(fmt: ToolFormat, text: str) -> None:
    assert parse_calls(fmt, text) == parse_calls(fmt, text)  # pure
    parsed = parse_calls(fmt, text)
    assert parsed.calls == (WEATHER,) and parsed.problem == ""
    assert parsed.content == ""


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        (LLAMA3, f'<|python_tag|>{{"name": "get_weather", "parameters": {A}}}; {N3}'),
        (LLAMA3, f'{{"name": "get_weather", "parameters": {A}}}\n{N3}'),
        (LLAMA4, '[get_weather(city="Paris", days=3), now()]'),
        (LLAMA4, f'{{"name": "get_weather", "parameters": {A}}}{N3}'),
        (HERMES, f'<tool_call>{{"name": "get_weather", "arguments": {A}}}</tool_call>\n<tool_call>{N}</tool_call>'),  # noqa: E501
        (MISTRAL, f'[TOOL_CALLS][{{"name": "get_weather", "arguments": {A}}}, {N}]'),
        (MISTRAL_ARGS, f'[TOOL_CALLS]get_weather[ARGS]{A}[TOOL_CALLS]now[ARGS]{{}}'),
    ],
)  # fmt: skip
def test_several_calls_in_one_answer(fmt: ToolFormat, text: str) -> None:
    parsed = parse_calls(fmt, text)
    assert parsed.calls == (WEATHER, ParsedCall("now", "{}")) and parsed.content == ""


def test_words_around_calls_are_the_content_exactly_as_streamed() -> None:
    text = 'Let me look that up.\n<tool_call>\n{"name": "now", "arguments": {}}\n</tool_call>'
    assert parse_calls(HERMES, text).content == "Let me look that up.\n"
    mistral = 'Checking.[TOOL_CALLS][{"name": "now", "arguments": {}}]'
    assert parse_calls(MISTRAL, mistral).content == "Checking."
    llama = 'Sure.<|python_tag|>{"name": "now", "parameters": {}}'
    assert parse_calls(LLAMA3, llama).content == "Sure."
    llama4 = "Sure. <|python_start|>[now()]<|python_end|> Done."
    assert parse_calls(LLAMA4, llama4) == parse_calls(LLAMA4, llama4)
    assert parse_calls(LLAMA4, llama4).content == "Sure.  Done."


def test_python_literals_in_pythonic_calls_become_json() -> None:
    text = '[search(q="a\\"b", n=-2, f=1.5, yes=True, no=False, none=None, l=[1, "x"], '
    text += 'd={"k": (1, 2)})]'
    (call,) = parse_calls(LLAMA4, text).calls
    assert json.loads(call.arguments) == {
        "q": 'a"b', "n": -2, "f": 1.5, "yes": True, "no": False, "none": None,
        "l": [1, "x"], "d": {"k": [1, 2]},
    }  # fmt: skip
    # Never evaluated: an expression is refused, not run.
    bad = parse_calls(LLAMA4, '[search(q=__import__("os").getcwd())]')
    assert bad.calls[0].name == "search" and "not a plain value" in bad.problem


def test_answers_that_are_not_calls_stay_content() -> None:
    for fmt, text in [
        (LLAMA3, "Paris is sunny today."),
        (LLAMA3, '{"name": "Bob", "age": 3}'),  # JSON the user asked for, not a call
        (HERMES, 'Here is JSON: {"name": "x", "arguments": {}}'),  # bare JSON later on
        (LLAMA4, "[a link](https://example.com) and more"),
        (MISTRAL, "No calls here."),
        (GENERIC, '{"type": "object", "properties": {}}'),
    ]:
        assert parse_calls(fmt, text).calls == (), text
        assert parse_calls(fmt, text).content == text


@pytest.mark.parametrize(
    ("fmt", "text", "name", "problem"),
    [
        (LLAMA3, '{"name": "get_weather", "parameters": {"city": "Par', "get_weather", "cut off"),
        (LLAMA3, '<|python_tag|>{"name": "get_weather", "parameters": {"city": }}', "get_weather", "could not be read"),  # noqa: E501
        (LLAMA4, '[get_weather(city="Par', "get_weather", "cut off"),
        (LLAMA4, "[get_weather(city=Paris)]", "get_weather", "not a plain value"),
        (LLAMA4, '[get_weather("Paris")]', "get_weather", "without names"),
        (HERMES, "<tool_call>\n" + GW, "get_weather", "cut off"),
        (HERMES, '<tool_call>{"name": "get_weather", "arguments": {}}}</tool_call>', "get_weather", "text after"),  # noqa: E501
        (HERMES, '<tool_call>{"arguments": {"city": "Paris"}}</tool_call>', "", "names no tool"),
        (HERMES, '<tool_call>{"name": "get_weather", "arguments": [1]}</tool_call>', "get_weather", "not an object"),  # noqa: E501
        (MISTRAL, "[TOOL_CALLS][" + GW, "get_weather", "cut off"),
        (MISTRAL_ARGS, '[TOOL_CALLS]get_weather[ARGS]{"city": "Par', "get_weather", "cut off"),
        (GENERIC, "<tool_call>" + GW, "get_weather", "cut off"),
    ],
)  # fmt: skip
def test_a_call_that_cannot_be_read_is_reported_never_returned_as_content(
    fmt: ToolFormat, text: str, name: str, problem: str
) -> None:
    parsed = parse_calls(fmt, text)
    assert len(parsed.calls) == 1
    (call,) = parsed.calls
    assert call.name == name and problem in call.problem and parsed.problem == call.problem
    assert parsed.problem.endswith(".") and parsed.problem.count(". ") == 0  # one sentence
    assert parsed.content == ""
    assert call.arguments and call.arguments in text  # the raw text the model wrote


def test_a_good_call_before_a_cut_off_one_is_kept() -> None:
    text = (
        '<tool_call>{"name": "now", "arguments": {}}</tool_call>'
        '<tool_call>{"name": "get_weather", "arguments": {"ci'
    )
    parsed = parse_calls(HERMES, text)
    assert parsed.calls[0] == ParsedCall("now", "{}")
    assert parsed.calls[1].problem and "cut off" in parsed.problem


# -- the stream split ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "text", "held"),
    [
        (HERMES, "Let me check <tool_", "<tool_"),
        (HERMES, "Let me check <", "<"),
        (HERMES, "Let me check <tool_call>\n{", "<tool_call>\n{"),
        (HERMES, "a <b> tag", ""),
        (MISTRAL, "Sure [TOOL_CA", "[TOOL_CA"),
        (LLAMA3, "Hmm <|python_t", "<|python_t"),
        (LLAMA3, '\n {"na', '\n {"na'),  # a JSON call may only open the answer
        (LLAMA3, '{"name": "now"', '{"name": "now"'),
        (LLAMA3, '{"type": "obj', ""),  # not a call's opening: shown
        (LLAMA3, 'The JSON is {"name"', ""),  # not at the start: shown
        (LLAMA4, "[get_wea", "[get_wea"),
        (LLAMA4, "[get_weather(", "[get_weather("),
        (LLAMA4, "[a link]", ""),
        (LLAMA4, "Hi <|python_start|>[now()]", "<|python_start|>[now()]"),
        (GENERIC, "  ", "  "),
        (GENERIC, "Plain words", ""),
    ],
)
def test_hold_from_keeps_back_what_may_be_a_call(fmt: ToolFormat, text: str, held: str) -> None:
    at = hold_from(fmt, text)
    assert text[at:] == held


def test_call_started_only_once_a_call_has_opened() -> None:
    assert not call_started(HERMES, "Let me check <tool_")
    assert call_started(HERMES, "Let me check <tool_call>")
    assert call_started(LLAMA3, ' {"name"')
    assert not call_started(LLAMA3, ' {"na')
    assert call_started(LLAMA4, "[get_weather(")
    assert call_started(MISTRAL, "[TOOL_CALLS]")
    assert not call_started(MISTRAL, "Plain words")


def test_streaming_a_call_shows_only_the_words_before_it() -> None:
    """Fed piece by piece the way the engine does: what was shown plus the content the parser
    gives back is the answer outside the call."""
    answer = 'I will check.\n<tool_call>\n{"name": "now", "arguments": {}}\n</tool_call>'
    shown = 0
    for end in range(1, len(answer) + 1):
        shown = max(shown, hold_from(HERMES, answer[:end]))
    assert answer[:shown] == "I will check.\n"
    assert parse_calls(HERMES, answer).content.startswith(answer[:shown])


# -- the conversation for the template ----------------------------------------------------------

WEATHER_SPEC = ToolSpec(
    "get_weather",
    "Weather for a city.",
    {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "The city."}},
        "required": ["city"],
    },
)
TOOLS = [WEATHER_SPEC.openai()]
CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Weather in Oslo?"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": "call_0123abcd",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_0123abcd", "name": "get_weather", "content": "rain"},
]


def test_the_polyfill_describes_the_tools_and_writes_calls_and_results_as_text() -> None:
    out = polyfill_messages(GENERIC, CONVERSATION, TOOLS)
    assert [m["role"] for m in out] == ["system", "user", "assistant", "user"]
    system = out[0]["content"]
    assert system.startswith("Be brief.") and "<tool_call>" in system
    assert json.dumps(TOOLS[0]) in system  # the schema itself
    assert out[2]["content"] == (
        '<tool_call>\n{"name": "get_weather", "arguments": {"city":"Oslo"}}\n</tool_call>'
    )
    assert "tool_calls" not in out[2]
    assert out[3]["content"] == (
        '<tool_response>\n{"name": "get_weather", "content": "rain"}\n</tool_response>'
    )
    assert CONVERSATION[2]["tool_calls"]  # the messages given are not changed
    # What the polyfill teaches, the parser reads.
    assert parse_calls(GENERIC, out[2]["content"]).calls == (
        ParsedCall("get_weather", '{"city":"Oslo"}'),
    )


def test_the_polyfill_adds_a_system_message_and_merges_results_into_one_user_turn() -> None:
    calls = [
        {"id": x, "function": {"name": "get_weather", "arguments": f'{{"city": "{x}"}}'}}
        for x in ("A", "B")
    ]
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "Two cities?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": calls},
        {"role": "tool", "tool_call_id": "A", "content": "sun"},
        {"role": "tool", "tool_call_id": "B", "content": "snow"},
        {"role": "user", "content": "And?"},
    ]
    out = polyfill_messages(GENERIC, messages, TOOLS)
    assert [m["role"] for m in out] == ["system", "user", "assistant", "user"]
    assert out[2]["content"].startswith("Checking.\n<tool_call>")
    assert out[2]["content"].count("<tool_call>") == 2
    last = out[3]["content"]
    assert last.count("<tool_response>") == 2 and '"name": "get_weather"' in last
    assert last.endswith("And?")


def test_native_templates_get_arguments_as_objects_and_ids_they_accept() -> None:
    out = polyfill_messages(HERMES, CONVERSATION, TOOLS)
    assert out[2]["tool_calls"][0]["function"]["arguments"] == {"city": "Oslo"}
    assert out[:2] == CONVERSATION[:2]
    mistral = polyfill_messages(MISTRAL, CONVERSATION, TOOLS)
    new_id = mistral[2]["tool_calls"][0]["id"]
    assert len(new_id) == 9 and new_id.isalnum() and mistral[3]["tool_call_id"] == new_id
    assert mistral_call_id("call_0123abcd") == new_id  # stable across turns
    assert mistral_call_id("abcDEF123") == "abcDEF123"


def test_llama3_gets_one_call_per_message_each_followed_by_its_result() -> None:
    calls = [
        {"id": x, "function": {"name": "get_weather", "arguments": f'{{"city": "{x}"}}'}}
        for x in ("A", "B")
    ]
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "Two cities?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": calls},
        {"role": "tool", "tool_call_id": "B", "content": "snow"},
        {"role": "tool", "tool_call_id": "A", "content": "sun"},
    ]
    out = polyfill_messages(LLAMA3, messages, TOOLS)
    assert [(m["role"], m.get("tool_call_id"), len(m.get("tool_calls", []))) for m in out] == [
        ("user", None, 0),
        ("assistant", None, 0),
        ("assistant", None, 1),
        ("tool", "A", 0),
        ("assistant", None, 1),
        ("tool", "B", 0),
    ]


def _render(template: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> str:
    formatter = Jinja2ChatFormatter(template=template, eos_token="</s>", bos_token="<s>")
    return formatter(messages=messages, tools=tools or None).prompt  # type: ignore[arg-type]


@pytest.mark.parametrize("path", sorted(TEMPLATES.glob("*.jinja")), ids=lambda p: p.stem)
def test_each_real_template_renders_the_tools_the_call_and_its_result(path: Path) -> None:
    template = path.read_text(encoding="utf-8")
    fmt = detect_format(template)
    messages = [
        *CONVERSATION,
        {"role": "assistant", "content": "It rains in Oslo."},
        {"role": "user", "content": "Thanks. Tomorrow?"},
    ]
    messages = polyfill_messages(fmt, messages, TOOLS)
    prompt = _render(template, messages, TOOLS if fmt.native else [])
    assert "Weather for a city." in prompt  # the tool offered
    assert prompt.count("get_weather") >= 2  # offered, and called
    assert '"city": "Oslo"' in prompt or '"city":"Oslo"' in prompt  # the call's arguments
    assert "rain" in prompt  # its result
    assert "Tomorrow?" in prompt


def test_a_template_without_tools_renders_the_polyfill() -> None:
    chatml = (
        "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
        "{{ message['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    prompt = _render(chatml, polyfill_messages(GENERIC, CONVERSATION, TOOLS), [])
    assert "Weather for a city." in prompt and '"arguments": {"city":"Oslo"}' in prompt
    assert "<tool_response>" in prompt and "rain" in prompt
