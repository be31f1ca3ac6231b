"""Which request settings each cloud model is sent (OpenAI's own API, compatible hosts,
Anthropic), and reading a 400 that names a parameter the model does not take."""

from __future__ import annotations

import pytest

from desktop.core.cloud_params import (
    anthropic_request,
    is_openai_reasoning,
    openai_request,
    refused_parameter,
)
from desktop.core.errors import InvalidParameter
from desktop.core.params import SamplingParams


@pytest.mark.parametrize(
    ("model", "reasoning"),
    [
        ("o1", True),
        ("o3-mini", True),
        ("o4-mini-2025-04-16", True),
        ("gpt-5", True),
        ("gpt-5-mini", True),
        ("gpt-5.1-codex", True),
        ("gpt-5-chat-latest", False),
        ("gpt-4o", False),
        ("gpt-4.1-mini", False),
        ("meta-llama/Llama-4-Scout-17B-16E-Instruct", False),
    ],
)
def test_openai_reasoning_models_by_name(model: str, reasoning: bool) -> None:
    assert is_openai_reasoning(model) is reasoning


def test_openai_chat_model_on_openai_gets_max_completion_tokens_and_sampling() -> None:
    request = openai_request("gpt-4o", SamplingParams(seed=3), official=True)
    assert request.params == {
        "stream_options": {"include_usage": True},
        "max_completion_tokens": 1024,
        "temperature": 0.7,
        "top_p": 0.95,
        "seed": 3,
    }
    assert request.not_applied == ()


def test_defaults_left_out_silently_and_changes_said() -> None:
    at_defaults = SamplingParams(temperature=1.0, top_p=1.0)
    assert openai_request("o3", at_defaults, official=True).not_applied == ()
    assert openai_request("o3", SamplingParams(), official=True).not_applied == (
        "temperature",
        "top-p",
    )


def test_refused_parameters_are_left_out_or_swapped() -> None:
    request = openai_request(
        "x", SamplingParams(seed=1), official=False, refused=frozenset({"max_tokens", "seed"})
    )
    assert "max_completion_tokens" in request.params and "max_tokens" not in request.params
    assert "seed" not in request.params and request.not_applied == ("seed",)
    no_usage = openai_request(
        "x", SamplingParams(), official=False, refused=frozenset({"stream_options"})
    )
    assert "stream_options" not in no_usage.params


def test_anthropic_thinking_budget_is_added_to_the_answers_length() -> None:
    request = anthropic_request(SamplingParams(max_tokens=500, thinking_budget=3000))
    assert request.params == {
        "max_tokens": 3500,
        "thinking": {"type": "enabled", "budget_tokens": 3000},
    }
    assert anthropic_request(SamplingParams()).params == {"max_tokens": 1024}
    assert anthropic_request(SamplingParams(temperature=0.2)).not_applied == ("temperature",)


def test_reading_a_refusal() -> None:
    openai_body = {
        "message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
        "Use 'max_completion_tokens' instead.",
        "type": "invalid_request_error",
        "param": "max_tokens",
        "code": "unsupported_parameter",
    }
    assert refused_parameter(openai_body) == "max_tokens"
    # Some servers send only the sentence.
    assert refused_parameter({"message": "Unsupported value: 'temperature' does not…"}) == (
        "temperature"
    )
    assert refused_parameter({"message": "Invalid 'messages'", "param": "messages"}) is None
    assert refused_parameter({"code": "unsupported_parameter", "param": "messages"}) is None
    assert refused_parameter("not a dict") is None


def test_settings_are_checked() -> None:
    with pytest.raises(InvalidParameter, match="reasoning effort"):
        SamplingParams(reasoning_effort="extreme")
    with pytest.raises(InvalidParameter, match="thinking budget"):
        SamplingParams(thinking_budget=-1)
