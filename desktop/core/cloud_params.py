"""What a cloud model accepts: the request settings each kind of model is sent, and the ones
left out (said on the answer's info line, never silently dropped).

OpenAI's reasoning models (o1, o3, o4-mini, the GPT-5 family) reject ``max_tokens`` (they take
``max_completion_tokens``) and any temperature or top_p but the default; OpenAI's own API takes
``max_completion_tokens`` for every model. OpenAI-compatible servers (Together, Groq, Fireworks,
vLLM, llama-server) keep ``max_tokens``. A model we do not know yet tells us: a 400 naming an
unsupported parameter (``unsupported_parameter`` / ``unsupported_value``) drops it and the
request is sent again (backends.cloud).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from desktop.core.params import SamplingParams

#: Settings we can leave out of a request when a server refuses them, and how the info line
#: names them.
DROPPABLE = {
    "temperature": "temperature",
    "top_p": "top-p",
    "seed": "seed",
    "reasoning_effort": "reasoning effort",
    "max_tokens": "",  # not dropped: sent as max_completion_tokens instead
    "max_completion_tokens": "",  # and back, for a server that knows only max_tokens
    "stream_options": "",  # token counts; the answer still comes
}

_UNSUPPORTED = re.compile(r"Unsupported (?:parameter|value): '([A-Za-z_.]+)'")


def _base_name(model: str) -> str:
    return model.lower().rsplit("/", 1)[-1]


def is_openai_reasoning(model: str) -> bool:
    """OpenAI's reasoning models, by name: o1, o3, o4-mini, the GPT-5 family (but not
    gpt-5-chat, a chat model that takes a temperature), codex models."""
    name = _base_name(model)
    if name.startswith("gpt-5") and "chat" in name:
        return False
    return name.startswith(("o1", "o3", "o4", "gpt-5", "codex"))


def takes_reasoning_effort(model: str) -> bool:
    """Models with a reasoning-effort setting: OpenAI's reasoning models, and gpt-oss (served
    by Groq, Together, Fireworks and vLLM with the same parameter)."""
    return is_openai_reasoning(model) or "gpt-oss" in _base_name(model)


@dataclass(frozen=True)
class CloudRequest:
    """The sampling part of one request, and what of the user's settings it leaves out."""

    params: dict[str, Any]
    not_applied: tuple[str, ...] = field(default=())


def openai_request(
    model: str, sampling: SamplingParams, *, official: bool, refused: frozenset[str] = frozenset()
) -> CloudRequest:
    """Chat Completions settings for ``model``. ``official``: OpenAI's own API (not an
    OpenAI-compatible host). ``refused``: parameters this model has refused before."""
    params: dict[str, Any] = {"stream_options": {"include_usage": True}}
    if "stream_options" in refused:
        params = {}
    not_applied: list[str] = []
    reasoning = official and is_openai_reasoning(model)
    completion_key = (official or "max_tokens" in refused) and (
        "max_completion_tokens" not in refused
    )
    params["max_completion_tokens" if completion_key else "max_tokens"] = sampling.max_tokens
    # Reasoning models take only the default (1) for these: sending it is refused just the same.
    for name, value in (("temperature", sampling.temperature), ("top_p", sampling.top_p)):
        if reasoning or name in refused:
            if value != 1.0:
                not_applied.append(DROPPABLE[name])
        else:
            params[name] = value
    if sampling.seed is not None:
        if "seed" in refused:
            not_applied.append(DROPPABLE["seed"])
        else:
            params["seed"] = sampling.seed
    if sampling.reasoning_effort:
        if takes_reasoning_effort(model) and "reasoning_effort" not in refused:
            params["reasoning_effort"] = sampling.reasoning_effort
        else:
            not_applied.append(DROPPABLE["reasoning_effort"])
    return CloudRequest(params, tuple(not_applied))


#: Anthropic's smallest extended-thinking budget.
MIN_THINKING_BUDGET = 1024


def anthropic_request(sampling: SamplingParams, *, thinking: bool = True) -> CloudRequest:
    """Messages API settings: the answer's length and, if asked, extended thinking.

    The current Messages API takes no temperature (nor top-p together with it) from us; with
    thinking, the budget is part of max_tokens, so the answer keeps the length the user set.
    ``thinking`` False: this request cannot take it (a forced tool, a turn going on after tool
    results), so a budget the user set is said not applied.
    """
    not_applied = [
        label
        for label, changed in (
            ("temperature", sampling.temperature != SamplingParams.temperature),
            ("top-p", sampling.top_p != SamplingParams.top_p),
            ("seed", sampling.seed is not None),
            ("reasoning effort", bool(sampling.reasoning_effort)),
            ("thinking", bool(sampling.thinking_budget) and not thinking),
        )
        if changed
    ]
    params: dict[str, Any] = {"max_tokens": sampling.max_tokens}
    if sampling.thinking_budget and thinking:
        budget = max(sampling.thinking_budget, MIN_THINKING_BUDGET)
        params["thinking"] = {"type": "enabled", "budget_tokens": budget}
        params["max_tokens"] = sampling.max_tokens + budget
    return CloudRequest(params, tuple(not_applied))


def refused_parameter(error: object) -> str | None:
    """The request parameter a 400 says the model does not support, from the error object
    (OpenAI's ``{"message", "type", "param", "code"}``), if it is one we can leave out."""
    if not isinstance(error, dict):
        return None
    code = str(error.get("code") or "")
    message = str(error.get("message") or "")
    found = _UNSUPPORTED.search(message)
    if code not in ("unsupported_parameter", "unsupported_value") and found is None:
        return None
    param = error.get("param") or (found.group(1) if found else None)
    return str(param) if param in DROPPABLE else None
