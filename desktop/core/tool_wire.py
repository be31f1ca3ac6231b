"""A turn's tools and tool calls as each cloud API takes them, and a streamed call read back.

OpenAI's Chat Completions (and the OpenAI-compatible hosts: Together, Groq, Fireworks, vLLM)
take ``Prompt.wire()``'s ``tool_calls`` and ``tool`` messages with three fixes the API documents:
an assistant message that only calls has null content, a ``tool`` message has no ``name``, and
every call is answered (a call without a result gets one saying it did not run, or the request
is refused). Anthropic's Messages API takes content blocks built here from the parts
(``steps_of``): ``tool_use`` blocks in the assistant turn, then one user turn whose
``tool_result`` blocks come first.

A question's pictures stay the wire's image items (``core.vision``: a file's path) in both
shapes, before the question's text: reading and scaling the files is the backend's
(backends.cloud_images), which makes them each API's image blocks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from desktop.core.answer import Prompt, PromptMessage
from desktop.core.messages import Role
from desktop.core.parts import Image, Parts, Text, ToolCall, ToolResult
from desktop.core.tools import arguments_object, steps_of
from desktop.core.vision import wire_content

#: What a call that never got a result is answered with (both APIs want every call answered).
NOT_RUN = "This call was not run."


def read_call(call_id: str, name: str, arguments: str) -> ToolCall:
    """A call as a model streamed it: arguments that are not one JSON object keep their raw
    text and get a ``problem`` sentence (such a call is shown and answered with an error)."""
    text = arguments.strip() or "{}"  # a call without arguments may send none at all
    problem = ""
    try:
        value = json.loads(text)
    except ValueError as exc:
        reason = str(exc)
        if isinstance(exc, json.JSONDecodeError):
            # json's own words end "...starting at" where it would say where: say it in words.
            reason = f"{exc.msg.removesuffix(' at')} at character {exc.pos + 1}"
        problem = f"The model's arguments for {name or 'a tool'} are not valid JSON ({reason})."
        text = arguments
    else:
        if not isinstance(value, dict):
            problem = f"The model's arguments for {name or 'a tool'} are not a JSON object."
    if not name:
        problem = problem or "The model called a tool without naming it."
    return ToolCall(call_id, name, text, problem=problem)


def _sendable_arguments(call_arguments: str) -> str:
    """JSON object text: a malformed call's raw text goes back as {} (hosts that parse the
    arguments of earlier calls refuse the whole request otherwise)."""
    try:
        value = json.loads(call_arguments)
    except ValueError:
        value = None
    return call_arguments if isinstance(value, dict) else "{}"


# -- OpenAI and OpenAI-compatible --------------------------------------------------------------


def openai_tools(prompt: Prompt) -> dict[str, Any]:
    """The request's ``tools`` and ``tool_choice`` (none without tools; auto is the API's
    default and is not sent; "none" is sent with the tools, so calls in the history stay valid)."""
    if not prompt.tools:
        return {}
    params: dict[str, Any] = {"tools": [spec.openai() for spec in prompt.tools]}
    if prompt.tool_choice.mode != "auto":
        params["tool_choice"] = prompt.tool_choice.openai()
    return params


def openai_wire(prompt: Prompt) -> list[dict[str, Any]]:
    """``prompt.wire()`` as the Chat Completions API documents its messages."""
    out: list[dict[str, Any]] = []
    waiting: list[str] = []  # calls of the last assistant message not yet answered
    for message in prompt.wire():  # fresh dicts: changed in place
        if message["role"] != "tool" and waiting:
            out.extend(_openai_not_run(waiting))
            waiting = []
        if message["role"] == "assistant" and message.get("tool_calls"):
            message["content"] = message.get("content") or None
            message["tool_calls"] = [
                {
                    **call,
                    "function": {
                        **call["function"],
                        "arguments": _sendable_arguments(call["function"]["arguments"]),
                    },
                }
                for call in message["tool_calls"]
            ]
            waiting = [call["id"] for call in message["tool_calls"]]
        elif message["role"] == "tool":
            message.pop("name", None)  # not a field of the API's tool message
            if message["tool_call_id"] in waiting:
                waiting.remove(message["tool_call_id"])
        out.append(message)
    out.extend(_openai_not_run(waiting))
    return out


def _openai_not_run(call_ids: Iterable[str]) -> list[dict[str, Any]]:
    return [{"role": "tool", "tool_call_id": i, "content": NOT_RUN} for i in call_ids]


# -- Anthropic ---------------------------------------------------------------------------------


_ID_CHARACTERS = re.compile(r"[^a-zA-Z0-9_-]")


def anthropic_id(call_id: str) -> str:
    """A call id Anthropic takes (letters, digits, _ and -): a call made by another model of
    the chat (a local one, OpenAI's) may carry other characters."""
    return _ID_CHARACTERS.sub("_", call_id) or "call"


def anthropic_tools(prompt: Prompt) -> dict[str, Any]:
    """The request's ``tools`` and ``tool_choice``. Without tools offered but with calls in the
    history, the calls are sent as text instead (``anthropic_wire``): the API refuses
    tool_use blocks in a request that defines no tools."""
    if not prompt.tools:
        return {}
    params: dict[str, Any] = {"tools": [spec.anthropic() for spec in prompt.tools]}
    if prompt.tool_choice.mode != "auto":
        params["tool_choice"] = prompt.tool_choice.anthropic()
    return params


def anthropic_wire(prompt: Prompt) -> list[dict[str, Any]]:
    """The Messages API's ``messages`` (the system prompt goes apart): text turns as text, an
    answer with calls as alternating assistant (text, tool_use) and user (tool_result) turns.
    Two user turns in a row (an answer that ended on results, then the next question) become
    one, its tool_result blocks first, as the API requires."""
    as_blocks = bool(prompt.tools)
    out: list[dict[str, Any]] = []
    for message in prompt.messages:
        if message.role == Role.SYSTEM:
            continue
        for turn in _anthropic_turns(message, as_blocks, prompt.image_root):
            previous = out[-1] if out else None
            if previous is not None and previous["role"] == turn["role"] == "user":
                previous["content"] = [*_blocks(previous["content"]), *_blocks(turn["content"])]
            else:
                out.append(turn)
    return out


def _blocks(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return content


def _anthropic_turns(
    message: PromptMessage, as_blocks: bool, image_root: str
) -> list[dict[str, Any]]:
    parts = message.parts
    if message.role == Role.USER and any(isinstance(p, Image) for p in parts):
        return [{"role": "user", "content": _anthropic_pictures(parts, message.text, image_root)}]
    if message.role != Role.ASSISTANT or not any(
        isinstance(p, ToolCall | ToolResult) for p in parts
    ):
        return [{"role": message.role.value, "content": message.text}]
    if not as_blocks:
        return [{"role": "assistant", "content": _as_text(parts)}]
    turns: list[dict[str, Any]] = []
    for step in steps_of(parts):
        content: list[dict[str, Any]] = [{"type": "text", "text": step.text}] if step.text else []
        content += [
            {
                "type": "tool_use",
                "id": anthropic_id(call.call_id),
                "name": call.name,
                "input": arguments_object(call.arguments),
            }
            for call in step.calls
        ]
        if content:
            turns.append({"role": "assistant", "content": content})
        results = {r.call_id: r for r in step.results}
        answered = [
            {
                "type": "tool_result",
                "tool_use_id": anthropic_id(call.call_id),
                "content": result.content,
                "is_error": result.is_error,
            }
            if (result := results.get(call.call_id)) is not None
            else {
                "type": "tool_result",
                "tool_use_id": anthropic_id(call.call_id),
                "content": NOT_RUN,
                "is_error": True,
            }
            for call in step.calls
        ]
        if answered:
            turns.append({"role": "user", "content": answered})
    return turns


def _anthropic_pictures(parts: Parts, text: str, image_root: str) -> list[dict[str, Any]]:
    """A question with pictures: the wire's image items (a file each, made an image block by
    the backend that reads it), then the text; the API refuses an empty text block."""
    content = wire_content(parts, text, image_root)
    assert isinstance(content, list)  # the parts hold an image
    return [block for block in content if block.get("type") != "text" or block.get("text")]


def _as_text(parts: Parts) -> str:
    """An answer's calls and results written out, for a request that offers no tools."""
    lines: list[str] = []
    for part in parts:
        if isinstance(part, ToolCall):
            lines.append(f"\n[Called {part.name}({part.arguments})]\n")
        elif isinstance(part, ToolResult):
            lines.append(f"\n[{'Error' if part.is_error else 'Result'}: {part.content}]\n")
        elif isinstance(part, Text):
            lines.append(part.text)
    return "".join(lines).strip()


def anthropic_thinking_allowed(prompt: Prompt, messages: Sequence[dict[str, Any]]) -> bool:
    """Whether extended thinking may be asked for: the API takes it only with tool choice auto
    or none, and a request that goes on after tool results must give the turn's thinking back
    with its signature, which is not stored; such a request is sent without thinking."""
    if prompt.tools and prompt.tool_choice.forced:
        return False
    last = messages[-1] if messages else None
    if last is None or last["role"] != "user" or isinstance(last["content"], str):
        return True
    return not any(block.get("type") == "tool_result" for block in last["content"])
