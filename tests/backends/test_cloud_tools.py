"""Tool calling through the real openai and anthropic SDKs against servers of ours on 127.0.0.1:
calls streamed in fragments put back together, the tools and tool choice sent, and a second
step carrying the calls and their results back in each API's own shape (asserted on the JSON
the SDK actually sent)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from desktop.backends.cloud import AnthropicProvider, OpenAIProvider, Provider
from desktop.backends.cloud_stream import _Calls
from desktop.core.answer import (
    Answer,
    Finished,
    Prompt,
    PromptMessage,
    TextDelta,
    ToolCallEvent,
)
from desktop.core.messages import MessageStatus, Role
from desktop.core.params import SamplingParams
from desktop.core.parts import Part, Text, ToolCall, ToolResult
from desktop.core.tool_wire import NOT_RUN
from desktop.core.tools import AUTO, ToolChoice, ToolSpec
from desktop.core.usage import StopReason
from tests.cloudserver import CloudServer, ScriptedCall

KEY = "sk-test-0123456789abcdef"
PARAMS = SamplingParams(temperature=0.5, max_tokens=100)
WEATHER = ToolSpec(
    "get_weather",
    "The weather in a city now.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
CLOCK = ToolSpec("get_time", "The time now.")
TOOLS = (WEATHER, CLOCK)
QUESTION = PromptMessage(Role.USER, (Text("Weather in Paris and Rome?"),))


@pytest.fixture
def server() -> Iterator[CloudServer]:
    with CloudServer() as cloud:
        yield cloud


OPEN: list[Provider] = []


@pytest.fixture(autouse=True)
def _close_providers() -> Iterator[None]:
    yield
    while OPEN:
        OPEN.pop().close()


def openai(server: CloudServer) -> Provider:
    provider = OpenAIProvider("openai", server.base_url + "/v1", KEY)
    OPEN.append(provider)
    return provider


def compatible(server: CloudServer) -> Provider:
    """An OpenAI-compatible host (Together, Groq, Fireworks serve Llama 4 with tools)."""
    provider = OpenAIProvider("together", server.base_url + "/v1", KEY, label="Together")
    OPEN.append(provider)
    return provider


def anthropic(server: CloudServer) -> Provider:
    provider = AnthropicProvider("anthropic", server.base_url, KEY)
    OPEN.append(provider)
    return provider


Make = Callable[[CloudServer], Provider]
OPENAI_KINDS = [openai, compatible]
ALL_KINDS = [openai, compatible, anthropic]


def ask(
    provider: Provider,
    *messages: PromptMessage,
    choice: ToolChoice = AUTO,
    tools: tuple[ToolSpec, ...] = TOOLS,
    sampling: SamplingParams = PARAMS,
) -> tuple[Answer, list[Any]]:
    """One answer's events, folded, and the events in the order they came."""
    prompt = Prompt(messages or (QUESTION,), sampling, "Be brief.", tools=tools, tool_choice=choice)
    events = list(provider.events(prompt, "model-x"))
    answer = Answer()
    for event in events:
        answer.add(event)
    return answer, events


def sent(server: CloudServer) -> dict[str, Any]:
    """The JSON body of the last request the SDK sent."""
    return server.state.bodies()[-1]


def paris(call_id: str = "call_paris") -> ScriptedCall:
    return ScriptedCall(call_id, "get_weather", ['{"ci', 'ty": ', '"Par', 'is"}'])


def rome(call_id: str = "call_rome") -> ScriptedCall:
    return ScriptedCall(call_id, "get_weather", ['{"city": "Rome"}'])


# -- a step that calls -------------------------------------------------------------------------


@pytest.mark.parametrize("make", ALL_KINDS)
def test_a_streamed_call_is_put_together_and_ends_the_step(server: CloudServer, make: Make) -> None:
    server.state.reply = []
    server.state.tool_steps = [[paris()]]
    answer, events = ask(make(server))
    assert answer.error is None
    assert answer.calls == [ToolCall("call_paris", "get_weather", '{"city": "Paris"}')]
    # One event per whole call, before Finished; no text for a step that only calls.
    assert [type(e) for e in events] == [ToolCallEvent, Finished]
    assert answer.usage.stop_reason == StopReason.TOOL_CALLS
    assert answer.status == MessageStatus.COMPLETE  # a whole step, not an answer cut short
    assert answer.parts == (answer.calls[0],)
    assert answer.usage.output_tokens == 7


@pytest.mark.parametrize("make", OPENAI_KINDS)
def test_openai_is_sent_the_tools_and_no_choice_for_auto(server: CloudServer, make: Make) -> None:
    server.state.tool_steps = [[paris()]]
    ask(make(server))
    body = sent(server)
    assert body["tools"] == [WEATHER.openai(), CLOCK.openai()]
    assert body["tools"][0] == {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city now.",
            "parameters": WEATHER.parameters,
        },
    }
    assert "tool_choice" not in body  # auto is the API's default with tools


def test_anthropic_is_sent_the_tools_and_no_choice_for_auto(server: CloudServer) -> None:
    server.state.tool_steps = [[paris("toolu_01")]]
    ask(anthropic(server))
    body = sent(server)
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "The weather in a city now.",
            "input_schema": WEATHER.parameters,
        },
        CLOCK.anthropic(),
    ]
    assert "tool_choice" not in body
    assert body["system"] == "Be brief."


@pytest.mark.parametrize("make", ALL_KINDS)
def test_parallel_calls_after_words_keep_their_order(server: CloudServer, make: Make) -> None:
    server.state.reply = ["Let me", " check."]
    server.state.tool_steps = [[paris(), rome()]]
    answer, events = ask(make(server))
    assert answer.text == "Let me check."
    assert [(c.call_id, c.arguments) for c in answer.calls] == [
        ("call_paris", '{"city": "Paris"}'),
        ("call_rome", '{"city": "Rome"}'),
    ]
    assert not any(c.problem for c in answer.calls)
    assert [type(e) for e in events] == [
        TextDelta,
        TextDelta,
        ToolCallEvent,
        ToolCallEvent,
        Finished,
    ]
    assert answer.usage.stop_reason == StopReason.TOOL_CALLS
    assert answer.parts == (Text("Let me check."), *answer.calls)


@pytest.mark.parametrize("make", ALL_KINDS)
def test_arguments_that_are_not_json_make_a_call_with_a_problem(
    server: CloudServer, make: Make
) -> None:
    server.state.reply = []
    broken = ScriptedCall("call_bad", "get_weather", ['{"city": ', '"Par'])
    server.state.tool_steps = [[broken, ScriptedCall("call_list", "get_time", ["[1, 2]"])]]
    answer, _ = ask(make(server))
    assert answer.error is None
    bad, listed = answer.calls
    # Never dropped: the raw text is kept and the problem said in a sentence.
    assert bad.arguments == '{"city": "Par' and bad.problem == (
        "The model's arguments for get_weather are not valid JSON "
        "(Unterminated string starting at character 10)."
    )
    assert bad.name == "get_weather" and bad.call_id == "call_bad"
    assert listed.arguments == "[1, 2]" and "not a JSON object" in listed.problem


@pytest.mark.parametrize("make", ALL_KINDS)
def test_a_call_without_arguments_reads_as_an_empty_object(server: CloudServer, make: Make) -> None:
    server.state.reply = []
    server.state.tool_steps = [[ScriptedCall("call_t", "get_time", [])]]
    answer, _ = ask(make(server))
    assert answer.calls == [ToolCall("call_t", "get_time", "{}")]


@pytest.mark.parametrize("make", ALL_KINDS)
def test_a_step_without_calls_is_a_plain_stop(server: CloudServer, make: Make) -> None:
    answer, _ = ask(make(server))
    assert answer.text == "Hello from the cloud." and answer.calls == []
    assert answer.usage.stop_reason == StopReason.STOP


@pytest.mark.parametrize("make", ALL_KINDS)
def test_a_stream_cut_inside_a_call_fails_without_the_call(server: CloudServer, make: Make) -> None:
    server.state.reply = []
    server.state.tool_steps = [[paris(), rome()]]
    server.state.cut_in_call = True
    answer, events = ask(make(server))
    assert answer.status == MessageStatus.FAILED
    assert answer.error is not None and "tool calls are not run" in answer.error
    # Half a call is never run: no ToolCallEvent at all.
    assert not any(isinstance(e, ToolCallEvent) for e in events) and answer.calls == []


def test_a_host_that_ends_a_calling_step_with_stop_still_calls(server: CloudServer) -> None:
    server.state.reply = []
    server.state.tool_steps = [[paris()]]
    server.state.tool_finish = "stop"
    answer, _ = ask(compatible(server))
    assert [c.call_id for c in answer.calls] == ["call_paris"]
    assert answer.usage.stop_reason == StopReason.TOOL_CALLS


def test_openai_fragments_without_an_id_get_one_each(server: CloudServer) -> None:
    """A host that sends no call id: each call gets its own, so its result can be matched."""
    server.state.reply = []
    server.state.tool_steps = [[paris(""), rome("")]]
    answer, _ = ask(compatible(server))
    ids = [c.call_id for c in answer.calls]
    assert len(set(ids)) == 2 and all(i.startswith("call_") for i in ids)
    assert [c.arguments for c in answer.calls] == ['{"city": "Paris"}', '{"city": "Rome"}']


# -- tool choice -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "openai_wants", "anthropic_wants"),
    [
        (ToolChoice("required"), "required", {"type": "any"}),
        (
            ToolChoice("tool", "get_weather"),
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "tool", "name": "get_weather"},
        ),
        (ToolChoice("none"), "none", {"type": "none"}),
    ],
)
def test_tool_choice_in_each_api_s_words(
    server: CloudServer, choice: ToolChoice, openai_wants: Any, anthropic_wants: Any
) -> None:
    for make in OPENAI_KINDS:
        ask(make(server), choice=choice)
        body = sent(server)
        assert body["tool_choice"] == openai_wants
        # "none" still sends the tools: calls earlier in the chat stay valid.
        assert len(body["tools"]) == 2
    ask(anthropic(server), choice=choice)
    body = sent(server)
    assert body["tool_choice"] == anthropic_wants and len(body["tools"]) == 2


@pytest.mark.parametrize("make", ALL_KINDS)
def test_no_tools_offered_sends_neither_tools_nor_choice(server: CloudServer, make: Make) -> None:
    ask(make(server), tools=())
    body = sent(server)
    assert "tools" not in body and "tool_choice" not in body


# -- the next step carries the calls and results back ------------------------------------------


def calls_made(*tail: Part) -> PromptMessage:
    """An answer that said a word, called twice, and got both results (one an error)."""
    return PromptMessage(
        Role.ASSISTANT,
        (
            Text("Checking."),
            ToolCall("call_paris", "get_weather", '{"city": "Paris"}'),
            ToolCall("call_rome", "get_weather", '{"city": "Rome"}'),
            ToolResult("call_paris", "18 °C, sunny", duration_s=0.2),
            ToolResult("call_rome", "The weather service is down.", is_error=True),
            *tail,
        ),
    )


@pytest.mark.parametrize("make", OPENAI_KINDS)
def test_openai_next_step_has_tool_calls_and_tool_messages(server: CloudServer, make: Make) -> None:
    answer, _ = ask(make(server), QUESTION, calls_made())
    assert answer.text == "Hello from the cloud." and answer.usage.stop_reason == StopReason.STOP
    assert sent(server)["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "call_paris",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
                {
                    "id": "call_rome",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_paris", "content": "18 °C, sunny"},
        {"role": "tool", "tool_call_id": "call_rome", "content": "The weather service is down."},
    ]


@pytest.mark.parametrize("make", OPENAI_KINDS)
def test_openai_calls_alone_have_null_content_and_every_call_is_answered(
    server: CloudServer, make: Make
) -> None:
    """A step of calls alone has content null; a call left without a result (the turn was
    stopped) is answered as not run, or the API refuses the request; a malformed call's text
    goes back as {} (hosts that parse earlier calls' arguments refuse it otherwise)."""
    stopped = PromptMessage(
        Role.ASSISTANT,
        (
            ToolCall("call_1", "get_weather", '{"city": "Par', problem="not valid JSON"),
            ToolCall("call_2", "get_time", "{}"),
            ToolResult("call_1", "Its arguments are not valid JSON.", is_error=True),
        ),
    )
    follow_up = PromptMessage(Role.USER, (Text("Never mind."),))
    ask(make(server), QUESTION, stopped, follow_up)
    messages = sent(server)["messages"]
    assert messages[2]["content"] is None
    assert [c["function"]["arguments"] for c in messages[2]["tool_calls"]] == ["{}", "{}"]
    assert messages[3:] == [
        {"role": "tool", "tool_call_id": "call_1", "content": "Its arguments are not valid JSON."},
        {"role": "tool", "tool_call_id": "call_2", "content": NOT_RUN},
        {"role": "user", "content": "Never mind."},
    ]


def test_anthropic_next_step_has_tool_use_and_one_user_turn_of_results(
    server: CloudServer,
) -> None:
    answer, _ = ask(anthropic(server), QUESTION, calls_made())
    assert answer.text == "Hello from the cloud." and answer.usage.stop_reason == StopReason.STOP
    body = sent(server)
    assert body["system"] == "Be brief."
    assert body["messages"] == [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "call_paris",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {
                    "type": "tool_use",
                    "id": "call_rome",
                    "name": "get_weather",
                    "input": {"city": "Rome"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "call_paris",
                    "content": "18 °C, sunny",
                    "is_error": False,
                },
                {
                    "type": "tool_result",
                    "tool_use_id": "call_rome",
                    "content": "The weather service is down.",
                    "is_error": True,
                },
            ],
        },
    ]


def test_anthropic_turns_alternate_across_steps_and_questions(server: CloudServer) -> None:
    """Steps after results, a finished tool turn and the next question: user and assistant
    alternate; a turn that ended on results shares its user turn with the next question, the
    tool_result blocks first; a call without a result is answered as not run."""
    done = calls_made(
        Text("Paris is sunny."),
        ToolCall("call:3", "get_time", ""),
        ToolResult("call:3", "12:00"),
        Text("It is noon."),
    )
    unanswered = PromptMessage(Role.ASSISTANT, (ToolCall("call_4", "get_time", "{}"),))
    ask(
        anthropic(server),
        QUESTION,
        done,
        PromptMessage(Role.USER, (Text("And now?"),)),
        unanswered,
        PromptMessage(Role.USER, (Text("Thanks."),)),
    )
    messages = sent(server)["messages"]
    roles = [m["role"] for m in messages]
    assert roles == ["user", "assistant"] * 4 + ["user"]
    assert messages[3]["content"][0] == {"type": "text", "text": "Paris is sunny."}
    # Ids with characters Anthropic does not take are made safe, the same in both blocks.
    assert messages[3]["content"][1]["id"] == "call_3"
    assert messages[4]["content"][0]["tool_use_id"] == "call_3"
    assert messages[3]["content"][1]["input"] == {}
    assert messages[5] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "It is noon."}],
    }
    assert messages[6] == {"role": "user", "content": "And now?"}
    assert messages[8]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_4", "content": NOT_RUN, "is_error": True},
        {"type": "text", "text": "Thanks."},
    ]


def test_anthropic_without_tools_gets_earlier_calls_as_text(server: CloudServer) -> None:
    """The API refuses tool_use blocks in a request that defines no tools."""
    ask(anthropic(server), QUESTION, calls_made(Text("Done.")), tools=())
    messages = sent(server)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    text = messages[1]["content"]
    assert isinstance(text, str)
    assert "get_weather" in text and "18 °C, sunny" in text and text.endswith("Done.")


def test_a_whole_tool_loop_on_each_api(server: CloudServer) -> None:
    """Step one calls; its call and a result go back; step two answers in words."""
    for make in ALL_KINDS:
        server.state.reply = ["It is", " sunny."]
        server.state.tool_steps = [[paris()]]
        provider = make(server)
        first, _ = ask(provider)
        assert first.usage.stop_reason == StopReason.TOOL_CALLS
        (call,) = first.calls
        turn = PromptMessage(Role.ASSISTANT, (*first.parts, ToolResult(call.call_id, "18 °C")))
        second, _ = ask(provider, QUESTION, turn)
        assert second.text == "It is sunny." and second.calls == []
        assert second.usage.stop_reason == StopReason.STOP


# -- extended thinking with tools (Anthropic) --------------------------------------------------


THINKING = SamplingParams(max_tokens=100, thinking_budget=2000)


def test_anthropic_thinks_with_tools_on_a_new_question(server: CloudServer) -> None:
    answer, _ = ask(anthropic(server), sampling=THINKING)
    assert sent(server)["thinking"] == {"type": "enabled", "budget_tokens": 2000}
    assert "thinking" not in answer.usage.not_applied


@pytest.mark.parametrize(
    ("messages", "choice"),
    [
        # Going on after results needs the turn's signed thinking back, which is not kept.
        ((QUESTION, calls_made()), ToolChoice()),
        # The API takes thinking only with tool choice auto or none.
        ((QUESTION,), ToolChoice("required")),
        ((QUESTION,), ToolChoice("tool", "get_time")),
    ],
)
def test_anthropic_leaves_thinking_out_where_the_api_cannot_take_it(
    server: CloudServer, messages: tuple[PromptMessage, ...], choice: ToolChoice
) -> None:
    answer, _ = ask(anthropic(server), *messages, choice=choice, sampling=THINKING)
    body = sent(server)
    assert "thinking" not in body and body["max_tokens"] == 100
    assert "thinking" in answer.usage.not_applied


def test_calls_sent_whole_without_an_index_are_told_apart_by_id() -> None:
    """Not OpenAI's shape, but some hosts send each call whole in one fragment, no index."""
    calls = _Calls()
    calls.openai([{"id": "a", "function": {"name": "get_time", "arguments": "{}"}}])
    calls.openai([{"id": "b", "function": {"name": "get_weather", "arguments": '{"city": '}}])
    calls.openai([{"function": {"arguments": '"Rome"}'}}])  # more of the last one
    assert calls.all() == [
        ToolCall("a", "get_time", "{}"),
        ToolCall("b", "get_weather", '{"city": "Rome"}'),
    ]
    with pytest.raises(ValueError, match="tool calls"):
        calls.openai({"index": 0})
