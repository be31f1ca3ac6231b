"""The engine's split of a streamed answer when tools are offered: words are shown as they come,
a call's text never is (not even its first characters), and text held back because it might
have been a call comes back when it was not. Fed piece by piece, as tokens arrive."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.core.parts import ToolCall
from desktop.core.tool_formats import GENERIC, ToolFormat, detect_format
from desktop.core.tools import ToolChoice, ToolSpec
from desktop.engine.tool_use import ToolUse

TEMPLATES = Path(__file__).resolve().parents[1] / "fixtures" / "templates"
WEATHER = ToolSpec("get_weather", "", {"type": "object"}, server="w")


def fmt(name: str) -> ToolFormat:
    return detect_format((TEMPLATES / name).read_text())


def stream(use: ToolUse, pieces: list[str]) -> tuple[list[str], str, list[ToolCall]]:
    """What was shown piece by piece, the whole answer text, and the calls read at the end."""
    shown = [use.feed(p) for p in pieces]
    tail, calls = use.finish()
    return shown, "".join(shown) + tail, calls


CALL = '{"name": "get_weather", "arguments": {"city": "Oslo"}}'
LLAMA_CALL = '{"name": "get_weather", "parameters": {"city": "Oslo"}}'


@pytest.mark.parametrize(
    ("template", "call"),
    [
        (
            "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja",
            '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>',
        ),
        (
            "mistralai-Mistral-Nemo-Instruct-2407.jinja",
            '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Oslo"}}]',
        ),
        (
            "meta-llama-Llama-4-Scout-17B-16E-Instruct.jinja",
            '<|python_start|>{"name": "get_weather", "parameters": {"city": "Oslo"}}<|python_end|>',
        ),
    ],
)
def test_words_stream_and_the_call_never_shows(template: str, call: str) -> None:
    use = ToolUse(fmt(template), [WEATHER], ToolChoice())
    words = "Let me check the weather for you. "
    text = words + call
    # In 3-character pieces: a marker always arrives split.
    pieces = [text[i : i + 3] for i in range(0, len(text), 3)]
    shown, whole, calls = stream(use, pieces)
    assert whole.strip() == words.strip()
    assert all(not any(c in piece for c in "<[{") for piece in shown)
    assert [(c.name, c.server, c.arguments) for c in calls] == [
        ("get_weather", "w", '{"city":"Oslo"}')
    ]


def test_text_held_as_a_possible_marker_comes_back() -> None:
    use = ToolUse(GENERIC, [WEATHER], ToolChoice())
    shown, whole, calls = stream(use, ["Tags like ", "<tool", "s> are ", "HTML, and <b>", " too."])
    assert whole == "Tags like <tools> are HTML, and <b> too."
    assert shown[1] == ""  # "<tool" was held: it might have opened a call
    assert calls == []


def test_a_bare_json_call_at_the_start_is_held_whole() -> None:
    use = ToolUse(fmt("meta-llama-Llama-3.1-8B-Instruct.jinja"), [WEATHER], ToolChoice())
    shown, whole, calls = stream(use, [LLAMA_CALL[i : i + 4] for i in range(0, len(LLAMA_CALL), 4)])
    assert "".join(shown) == "" and whole == ""
    assert [c.name for c in calls] == ["get_weather"]


def test_a_json_answer_that_is_no_call_is_shown() -> None:
    use = ToolUse(fmt("meta-llama-Llama-3.1-8B-Instruct.jinja"), [WEATHER], ToolChoice())
    text = '{"city": "Oslo", "temp": 21} is the reading.'
    _shown, whole, calls = stream(use, [text[i : i + 4] for i in range(0, len(text), 4)])
    assert whole == text and calls == []


def test_an_unknown_tool_is_a_call_with_its_problem_named() -> None:
    use = ToolUse(GENERIC, [WEATHER], ToolChoice())
    _shown, _whole, calls = stream(
        use, ['<tool_call>{"name": "rm_rf", "arguments": {}}</tool_call>']
    )
    (call,) = calls
    assert call.name == "rm_rf" and "not one of the tools" in call.problem
