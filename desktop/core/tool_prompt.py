"""A conversation with tool calls in it, laid out for a local model's chat template
(``core.tool_formats.polyfill_messages`` picks which way).

A template that renders tools itself still needs the messages in the shape it was written for:
arguments as objects (it ``tojson``s them), Mistral's 9-character ids, Llama 3's one call per
message. A template that knows nothing of tools gets them described in its system message with
the ``<tool_call>`` syntax Hermes and Qwen were trained on, which small models follow best, and
the calls and results written into the messages as text.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

TOOL_CALL_OPEN, TOOL_CALL_CLOSE = "<tool_call>", "</tool_call>"


def compact_json(value: Any) -> str:
    """JSON without spaces: how a call's arguments are kept."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


POLYFILL_INSTRUCTION = """You can call these tools (functions). Their JSON schemas:
<tools>
{tools}
</tools>
To call a tool, answer with one <tool_call></tool_call> block per call, each holding a JSON \
object with the tool's name and its arguments, and nothing else:
<tool_call>
{{"name": "<tool name>", "arguments": {{<the arguments, as its schema says>}}}}
</tool_call>
Each result comes back to you in a <tool_response></tool_response> block. Call a tool only \
when you need what it gives; otherwise answer normally."""


def _arguments_value(arguments: Any) -> Any:
    """A call's arguments as an object for templates that ``tojson`` them (JSON text that is
    not an object is left as it is: the template shows it as the model wrote it)."""
    if isinstance(arguments, str):
        try:
            value = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            return arguments
        return value if isinstance(value, dict) else arguments
    return arguments


def mistral_call_id(call_id: str) -> str:
    """Mistral's templates refuse a call id that is not 9 letters and digits: a stable one."""
    if re.fullmatch(r"[A-Za-z0-9]{9}", call_id):
        return call_id
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    number = int.from_bytes(hashlib.sha256(call_id.encode("utf-8")).digest()[:8], "big")
    return "".join(alphabet[(number >> (6 * i)) % 62] for i in range(9))


def native_messages(syntax: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages for a template that renders tools itself, in call ``syntax``."""
    out: list[dict[str, Any]] = []
    for message in messages:
        m = dict(message)
        if m.get("tool_calls"):
            calls = []
            for call in m["tool_calls"]:
                c = dict(call)
                function = dict(c.get("function") or {})
                function["arguments"] = _arguments_value(function.get("arguments", {}))
                c["function"] = function
                if syntax == "mistral":
                    c["id"] = mistral_call_id(str(c.get("id", "")))
                calls.append(c)
            m["tool_calls"] = calls
            m["content"] = m.get("content") or ""
        elif m.get("role") == "tool" and syntax == "mistral":
            m["tool_call_id"] = mistral_call_id(str(m.get("tool_call_id", "")))
        out.append(m)
    return _one_call_each(out) if syntax == "llama3" else out


def _one_call_each(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Llama 3.1-3.3's templates render one call per assistant message (more raises) and drop
    the words of a message with a call: the words become a message of their own, then each
    call one followed by its result."""
    out: list[dict[str, Any]] = []
    placed: set[int] = set()  # tool results already put after their call
    for i, m in enumerate(messages):
        calls = m.get("tool_calls") or []
        if i in placed or not calls:
            out += [] if i in placed else [m]
            continue
        after = i + 1
        while after < len(messages) and messages[after].get("role") == "tool":
            after += 1
        results = list(range(i + 1, after))
        if str(m.get("content") or "").strip():
            out.append({"role": "assistant", "content": m["content"]})
        for call in calls:
            out.append({**m, "content": "", "tool_calls": [call]})
            mine = [r for r in results if messages[r].get("tool_call_id") == call.get("id")]
            out += [messages[r] for r in mine]
            placed.update(mine)
        out += [messages[r] for r in results if r not in placed]
        placed.update(results)
    return out


def _response(m: dict[str, Any], names: dict[str, str]) -> str:
    """A tool message as a ``<tool_response>`` block (a user's message as it is)."""
    if m.get("role") != "tool":
        return "\n" + str(m.get("content") or "")
    name = str(m.get("name") or names.get(str(m.get("tool_call_id", "")), ""))
    block = json.dumps({"name": name, "content": m.get("content", "")}, ensure_ascii=False)
    return f"<tool_response>\n{block}\n</tool_response>"


def described_messages(
    messages: list[dict[str, Any]], tools: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The messages for a template without tools: ``tools`` (OpenAI ``tools`` entries)
    described in the system message (one is added where there is none), calls written as
    ``<tool_call>`` blocks, results as user messages of ``<tool_response>`` blocks."""
    out: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    merged_tool = False  # the last message is tool results turned into a user message
    for message in messages:
        m = dict(message)
        if m.get("tool_calls"):
            blocks = []
            for call in m["tool_calls"]:
                function = call.get("function") or {}
                name = str(function.get("name", ""))
                names[str(call.get("id", ""))] = name
                args = _arguments_value(function.get("arguments", {}))
                text = compact_json(args) if not isinstance(args, str) else args
                blocks.append(
                    f'{TOOL_CALL_OPEN}\n{{"name": {json.dumps(name)}, "arguments": {text}}}\n'
                    f"{TOOL_CALL_CLOSE}"
                )
            words = str(m.get("content") or "")
            m = {
                "role": "assistant",
                "content": (words + "\n" if words else "") + "\n".join(blocks),
            }
        elif m.get("role") in ("tool", "user") and merged_tool:
            # a step's results (and words the user added) are one user message: roles alternate
            out[-1] = {**out[-1], "content": out[-1]["content"] + "\n" + _response(m, names)}
            continue
        elif m.get("role") == "tool":
            out.append({"role": "user", "content": _response(m, names)})
            merged_tool = True
            continue
        merged_tool = False
        out.append(m)
    if tools:
        listed = "\n".join(json.dumps(t, ensure_ascii=False) for t in tools)
        instruction = POLYFILL_INSTRUCTION.format(tools=listed)
        if out and out[0].get("role") == "system" and isinstance(out[0].get("content"), str):
            out[0] = {**out[0], "content": out[0]["content"].rstrip() + "\n\n" + instruction}
        else:
            out.insert(0, {"role": "system", "content": instruction})
    return out
