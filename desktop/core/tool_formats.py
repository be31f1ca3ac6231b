"""How local models write tool calls, family by family, and how their chat templates are
given tools and a conversation with calls in it.

Llama 3.1-3.3 answer ``{"name": ..., "parameters": {...}}``, maybe after ``<|python_tag|>``;
Llama 4 a pythonic ``[f(a=1), g()]`` or its template's JSON, maybe inside ``<|python_start|>``;
Hermes and Qwen ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``; Mistral
``[TOOL_CALLS][{...}]`` or ``[TOOL_CALLS]name[ARGS]{...}``. A template that never mentions
``tools`` is taught the ``<tool_call>`` syntax in its system message (``polyfill_messages``).
Pure Python: the engine child builds its grammar and stream split on these.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from desktop.core.tool_prompt import (
    TOOL_CALL_CLOSE,
    TOOL_CALL_OPEN,
    compact_json,
    described_messages,
    native_messages,
)

FormatName = Literal["llama3", "llama4", "hermes", "mistral", "generic"]


@dataclass(frozen=True)
class ToolFormat:
    """A model family's call syntax, and whether its template renders tools itself."""

    name: FormatName
    #: The template renders ``tools``, calls and tool messages itself; False: we describe them.
    native: bool
    #: Mistral's newer templates write each call ``[TOOL_CALLS]name[ARGS]{...}``, not a list.
    mistral_args: bool = False
    #: ... with ``[CALL_ID]id`` between the name and ``[ARGS]`` (Mistral Small 3.2).
    mistral_call_id: bool = False

    @property
    def syntax(self) -> FormatName:
        """The syntax calls are read in: a template without tools is taught ``<tool_call>``."""
        return self.name if self.native else "generic"


GENERIC = ToolFormat("generic", native=False)


@dataclass(frozen=True)
class ParsedCall:
    """One call read from an answer; ``arguments`` is compact JSON object text, or the raw text
    the model wrote when ``problem`` says why it could not be read."""

    name: str
    arguments: str
    problem: str = ""


@dataclass(frozen=True)
class ParsedAnswer:
    """An answer split into its words (``content``) and its calls; ``problem`` is the first
    unreadable call's reason ("" when every call was read)."""

    content: str
    calls: tuple[ParsedCall, ...] = ()
    problem: str = ""


def detect_format(template: str) -> ToolFormat:
    """The call syntax a chat template (its Jinja source) teaches its model."""
    # \b keeps custom_tools and tools_in_user_message from counting alone; every template
    # that renders tools names the variable itself.
    if not re.search(r"\btools\b", template):
        return GENERIC
    if "[TOOL_CALLS]" in template:
        return ToolFormat(
            "mistral", True, "[ARGS]" in template, "[CALL_ID]" in template and "[ARGS]" in template
        )
    # Llama 4 before Llama 3: its template also says "Environment: ipython".
    if "<|header_start|>" in template or "<|python_start|>" in template:
        return ToolFormat("llama4", True)
    # Hermes-style tags before Llama 3: Llama-3-based fine-tunes keep Llama's headers.
    if "<tool_call>" in template:
        return ToolFormat("hermes", True)
    if any(
        m in template for m in ("<|python_tag|>", "Environment: ipython", "<|start_header_id|>")
    ):
        return ToolFormat("llama3", True)
    return ToolFormat("generic", True)


# -- where a call starts ---------------------------------------------------------------------

_MARKERS: dict[str, tuple[str, ...]] = {
    "llama3": ("<|python_tag|>",),
    "llama4": ("<|python_start|>",),
    "hermes": (TOOL_CALL_OPEN,),
    "mistral": ("[TOOL_CALLS]",),
    "generic": (TOOL_CALL_OPEN,),
}
#: How a whole-answer JSON call opens, as JSON tokens (whitespace may separate them).
_JSON_OPENERS = (
    ("{", '"name"'),
    ("{", '"tool_calls"'),
    ("{", '"function"'),
    ("{", '"type"', ":", '"function"'),
)
_PYTHONIC_OPEN = re.compile(r"\[\s*[A-Za-z_][\w.]*\s*\(")
_PYTHONIC_PARTIAL = re.compile(r"\[\s*(?:[A-Za-z_][\w.]*\s*)?")
_WS = " \t\r\n"


def markers(fmt: ToolFormat) -> tuple[str, ...]:
    """The texts that open a call anywhere in an answer (often one special token each)."""
    return _MARKERS[fmt.syntax]


def _tokens_state(rest: str, tokens: tuple[str, ...]) -> str:
    """Whether ``rest`` opens with these JSON tokens: "full", "partial" (it may yet) or "no"."""
    pos = 0
    for token in tokens:
        while pos < len(rest) and rest[pos] in _WS:
            pos += 1
        chunk = rest[pos : pos + len(token)]
        if len(chunk) < len(token):
            return "partial" if token.startswith(chunk) else "no"
        if chunk != token:
            return "no"
        pos += len(token)
    return "full"


def _opening(fmt: ToolFormat, rest: str) -> str:
    """Whether an answer (its leading whitespace removed) opens with a call: "full", "partial"
    (it may: hold it back) or "no". Bare JSON (and Llama 4's pythonic list) counts only here, at
    the very start, so a JSON example later in an answer is never taken for a call."""
    states = [_tokens_state(rest, tokens) for tokens in _JSON_OPENERS]
    if fmt.syntax == "llama4":
        if _PYTHONIC_OPEN.match(rest):
            states.append("full")
        elif _PYTHONIC_PARTIAL.fullmatch(rest):
            states.append("partial")
    if "full" in states:
        return "full"
    return "partial" if "partial" in states or not rest else "no"


def _start(fmt: ToolFormat, text: str) -> int | None:
    """Where a call has started in ``text`` (None: none has)."""
    found = [i for m in markers(fmt) if (i := text.find(m)) != -1]
    lead = len(text) - len(text.lstrip(_WS))
    if _opening(fmt, text[lead:]) == "full":
        found.append(0)  # the leading whitespace goes with the call
    return min(found) if found else None


def call_started(fmt: ToolFormat, text: str) -> bool:
    """Whether the answer so far has begun a call (what follows is held back, not shown)."""
    return _start(fmt, text) is not None


def hold_from(fmt: ToolFormat, text: str) -> int:
    """The index in the answer so far from which text must be held back: a call has started,
    or may be starting (a marker's first characters at the end, a leading ``{`` or ``[``).
    ``len(text)`` when all of it may be shown. Held text that turns out not to be a call comes
    back as ``parse_calls``' content."""
    started = _start(fmt, text)
    if started is not None:
        return started
    lead = len(text) - len(text.lstrip(_WS))
    if _opening(fmt, text[lead:]) == "partial":
        return 0
    cut = len(text)
    for marker in markers(fmt):
        for k in range(min(len(marker) - 1, len(text)), 0, -1):
            if text.endswith(marker[:k]):
                cut = min(cut, len(text) - k)
                break
    return cut


# -- reading calls ---------------------------------------------------------------------------

_DECODER = json.JSONDecoder(strict=False)  # models put raw newlines in strings
_NO_TOOL = "The call names no tool."
_CALL_KEYS = {"name", "arguments", "parameters", "type", "id"}
_NAME_GUESS = (
    re.compile(r"""["']name["']\s*:\s*["']([^"'\\]{1,200})"""),
    re.compile(r"^\W*([A-Za-z_][\w.-]{0,199})\s*(?:\(|\[ARGS\]|\[CALL_ID\])"),
)


def _bad(raw: str, problem: str) -> ParsedCall:
    """A call that started but cannot be read: kept as a call with its raw text, never shown
    as answer text, so the model can be told what went wrong."""
    name = next((m.group(1) for p in _NAME_GUESS if (m := p.search(raw.strip()))), "")
    return ParsedCall(name, raw.strip(), problem)


def _cut_off(text: str) -> bool:
    """Whether JSON or Python text ends inside a string or an open bracket (the answer ran
    out of tokens mid-call) rather than being malformed."""
    depth, quote, escaped = 0, "", False
    for c in text:
        if quote:
            escaped, quote = (False, quote) if escaped else (c == "\\", "" if c == quote else quote)
        elif c in "\"'":
            quote = c
        elif c in "{[(":
            depth += 1
        elif c in "}])":
            depth -= 1
    return bool(quote) or depth > 0


def _json_problem(segment: str, err: json.JSONDecodeError) -> str:
    if _cut_off(segment):
        return "The call was cut off before its JSON ended."
    return f"The call's JSON could not be read: {err.msg}."


def _call_of(obj: Any, strict: bool) -> ParsedCall | None:
    """A call from a decoded object (``{"name", "arguments"|"parameters"}``, or OpenAI's
    ``{"function": {...}}``); None when it is not shaped like one. ``strict``: only those keys
    (bare JSON at an answer's start, which may just be an answer in JSON)."""
    if not isinstance(obj, dict):
        return None
    if "name" not in obj and isinstance(obj.get("function"), dict):
        obj = obj["function"]
    name, keys = obj.get("name"), set(obj)
    if not isinstance(name, str) or not name:
        return None
    if strict and (not keys & {"arguments", "parameters"} or keys - _CALL_KEYS):
        return None
    args = obj.get("arguments", obj.get("parameters")) or {}
    if isinstance(args, str):  # some models send the arguments as a JSON string
        try:
            args = json.loads(args) if args.strip() else {}
        except ValueError:
            return ParsedCall(name, str(args), f"The arguments of {name!r} are not a JSON object.")
    if not isinstance(args, dict):
        return ParsedCall(name, compact_json(args), f"The arguments of {name!r} are not an object.")
    return ParsedCall(name, compact_json(args))


def _calls_of(obj: Any, strict: bool) -> list[ParsedCall] | None:
    """Calls from one decoded value: a call, a list of calls, or ``{"tool_calls": [...]}``."""
    if isinstance(obj, dict) and "name" not in obj and isinstance(obj.get("tool_calls"), list):
        obj = obj["tool_calls"]
    items = obj if isinstance(obj, list) and obj else [obj]
    calls = [_call_of(item, strict) for item in items]
    return None if any(c is None for c in calls) else [c for c in calls if c is not None]


def _read_json_run(body: str, sure: bool, strict: bool) -> tuple[list[ParsedCall], str] | None:
    """JSON calls one after another (separated by whitespace, ``;`` or ``,``) at the start of
    ``body``, and the text after them; None when the first value is not a call. ``sure``: a
    call certainly starts here, so one that cannot be read is reported, not left as text."""
    calls: list[ParsedCall] = []
    pos = len(body) - len(body.lstrip(_WS))
    while pos < len(body) and body[pos] in "{[":
        try:
            value, end = _DECODER.raw_decode(body, pos)
        except json.JSONDecodeError as err:
            if not (sure or calls):
                return None
            return [*calls, _bad(body[pos:], _json_problem(body[pos:], err))], ""
        found = _calls_of(value, strict)
        if found is None:
            if calls or strict:  # bare JSON that is not a call is an answer in JSON
                break
            return [_bad(body[pos:end], _NO_TOOL)], body[end:]
        calls += found
        pos = end
        while pos < len(body) and body[pos] in _WS + ";,":
            pos += 1
    if not calls:
        return None
    return calls, body[pos:]


_PY_NAMES = {"true": True, "false": False, "null": None, "none": None}


def _py_value(node: ast.expr) -> Any:
    """A Python literal's value, read from its syntax tree (never evaluated)."""
    if isinstance(node, ast.Constant) and (
        node.value is None or isinstance(node.value, str | int | float | bool)
    ):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _py_value(node.operand)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.List | ast.Tuple):
        return [_py_value(e) for e in node.elts]
    if isinstance(node, ast.Dict):
        keys = [_py_value(k) if k is not None else None for k in node.keys]
        if all(isinstance(k, str) for k in keys):
            return dict(zip(keys, [_py_value(v) for v in node.values], strict=True))
    if isinstance(node, ast.Name) and node.id.lower() in _PY_NAMES:
        return _PY_NAMES[node.id.lower()]  # JSON's literals written into a pythonic call
    raise ValueError(f"{ast.unparse(node)} is not a plain value")


def _py_call(node: ast.expr) -> ParsedCall:
    if not isinstance(node, ast.Call):
        raise ValueError(f"{ast.unparse(node)} is not a function call")
    name = ast.unparse(node.func)
    name = name.removesuffix(".call")  # Llama 3.1's built-in tools: brave_search.call(...)
    if node.args or any(k.arg is None for k in node.keywords):
        raise ValueError(f"{name} was given arguments without names")
    return ParsedCall(name, compact_json({k.arg: _py_value(k.value) for k in node.keywords}))


def _read_pythonic(body: str) -> tuple[list[ParsedCall], str]:
    """Pythonic calls ``[f(a=1), g()]`` (or one bare ``f(a=1)``) at the start of ``body``."""
    stripped = body.lstrip(_WS)
    # The list ends at one of the "]" (or ")" for a bare call); the first that parses wins.
    closer = "]" if stripped.startswith("[") else ")"
    ends = [i + 1 for i, c in enumerate(stripped) if c == closer][:64]
    error = (
        "The call was cut off before it ended."
        if _cut_off(stripped)
        else "The call is not a readable Python call."
    )
    for end in ends:
        try:
            tree = ast.parse(stripped[:end], mode="eval").body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        try:
            nodes = tree.elts if isinstance(tree, ast.List) else [tree]
            return [_py_call(n) for n in nodes], stripped[end:]
        except (ValueError, RecursionError) as err:
            error = f"The call could not be read: {err}."
            break
    return [_bad(stripped, error)], ""


def _read_body(body: str) -> tuple[list[ParsedCall], str]:
    """What follows a call marker: JSON calls, or pythonic ones."""
    stripped = body.lstrip(_WS)
    if stripped.startswith("{") or stripped.startswith("[{"):
        found = _read_json_run(stripped, sure=True, strict=False)
        if found is not None:
            return found
    if _PYTHONIC_OPEN.match(stripped) or re.match(r"[A-Za-z_][\w.]*\s*\(", stripped):
        return _read_pythonic(stripped)
    if not stripped:
        return [_bad("", "The call was cut off before it began.")], ""
    return [_bad(stripped, "The call is neither JSON nor a function call.")], ""


def _read_tagged_body(body: str) -> list[ParsedCall]:
    """The inside of ``<tool_call>...</tool_call>``: a JSON call (or a list of them)."""
    stripped = body.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", stripped, re.DOTALL)
    stripped = fenced.group(1) if fenced else stripped
    try:
        value, end = _DECODER.raw_decode(stripped)
    except json.JSONDecodeError as err:
        try:  # Hermes 2 Pro's own examples are Python dicts: {'name': ..., 'arguments': {...}}
            value, end = _py_value(ast.parse(stripped, mode="eval").body), len(stripped)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return [_bad(stripped, _json_problem(stripped, err))]
    if stripped[end:].strip():
        return [_bad(stripped, "The call has text after its JSON.")]
    calls = _calls_of(value, strict=False)
    return calls if calls else [_bad(stripped, _NO_TOOL)]


def _parse_tagged(text: str) -> tuple[list[str], list[ParsedCall]] | None:
    if TOOL_CALL_OPEN not in text:
        return None
    pieces: list[str] = []
    calls: list[ParsedCall] = []
    pos = 0
    while (i := text.find(TOOL_CALL_OPEN, pos)) != -1:
        pieces.append(text[pos:i])
        start = i + len(TOOL_CALL_OPEN)
        close, reopen = text.find(TOOL_CALL_CLOSE, start), text.find(TOOL_CALL_OPEN, start)
        # A missing closing tag (the answer ended, or the next call began) ends the body too.
        ends = [e for e in (close, reopen) if e != -1]
        end = min(ends) if ends else len(text)
        calls += _read_tagged_body(text[start:end])
        pos = end + (len(TOOL_CALL_CLOSE) if end == close else 0)
    pieces.append(text[pos:])
    return pieces, calls


def _parse_marked(
    text: str, marker: str, end_marker: str = ""
) -> tuple[list[str], list[ParsedCall]] | None:
    """Llama's ``<|python_tag|>`` (the rest of the answer is the call) and Llama 4's
    ``<|python_start|>...<|python_end|>``."""
    i = text.find(marker)
    if i == -1:
        return None
    body = text[i + len(marker) :]
    after = ""
    if end_marker and end_marker in body:
        body, after = body.split(end_marker, 1)
        if not body.strip():  # Llama 4's template puts the calls after the tags
            body, after = after, ""
    calls, rest = _read_body(body)
    return [text[:i], rest + after], calls


_MISTRAL_CALL = re.compile(r"([^\[\]{}\s]+)\s*(?:\[CALL_ID\]\s*([A-Za-z0-9_-]*)\s*)?\[ARGS\]")


def _parse_mistral(text: str) -> tuple[list[str], list[ParsedCall]] | None:
    marker = "[TOOL_CALLS]"
    if (i := text.find(marker)) == -1:
        return None
    body, calls = text[i + len(marker) :], []
    while True:
        body = body.lstrip(_WS)
        if body.startswith(("[", "{")):  # [TOOL_CALLS][{"name": ..., "arguments": ...}]
            found, body = _read_json_run(body, sure=True, strict=False) or (
                [_bad(body, _NO_TOOL)],
                "",
            )
            calls += found
        elif m := _MISTRAL_CALL.match(body):  # [TOOL_CALLS]name[ARGS]{...}
            args = body[m.end() :]
            try:
                value, end = _DECODER.raw_decode(args, len(args) - len(args.lstrip(_WS)))
            except json.JSONDecodeError as err:
                calls.append(ParsedCall(m.group(1), args.strip(), _json_problem(args, err)))
                body = ""
            else:
                call = _call_of({"name": m.group(1), "arguments": value}, strict=False)
                calls.append(call or _bad(body, _NO_TOOL))
                body = args[end:]
        else:
            calls.append(_bad(body, "The call after [TOOL_CALLS] names no tool and arguments."))
            body = ""
        if not body.lstrip(_WS).startswith(marker):
            return [text[:i], body], calls
        body = body.lstrip(_WS)[len(marker) :]


def _parse_leading(fmt: ToolFormat, text: str) -> tuple[list[str], list[ParsedCall]] | None:
    """A call as the whole answer: bare JSON (Llama 3's own syntax; for others a fallback that
    counts only when it is readable and shaped exactly like a call) or Llama 4's pythonic list."""
    lead = len(text) - len(text.lstrip(_WS))
    rest = text[lead:]
    if _opening(fmt, rest) != "full":
        return None
    if fmt.syntax == "llama4" and rest.startswith("[") and not rest[1:].lstrip().startswith("{"):
        calls, after = _read_pythonic(rest)
        return ["", after], calls
    found = _read_json_run(rest, sure=fmt.syntax in ("llama3", "llama4"), strict=True)
    return None if found is None else (["", found[1]], found[0])


def parse_calls(fmt: ToolFormat, text: str) -> ParsedAnswer:
    """Split a finished answer into its words and the calls it made, in the syntax of the
    model's family. A call that started but cannot be read (cut off, bad JSON or Python) is
    returned as a call with its raw text and a problem, never as answer text."""
    syntax = fmt.syntax
    found: tuple[list[str], list[ParsedCall]] | None
    if syntax == "llama3":
        found = _parse_marked(text, "<|python_tag|>")
    elif syntax == "llama4":
        found = _parse_marked(text, "<|python_start|>", "<|python_end|>")
    elif syntax == "mistral":
        found = _parse_mistral(text)
    else:
        found = _parse_tagged(text)
    if found is None:
        found = _parse_leading(fmt, text)
    if found is None or not found[1]:
        return ParsedAnswer(text)
    pieces, calls = found
    # The words before the first call stay exactly as streamed; whitespace between calls goes.
    content = pieces[0] + "".join(p for p in pieces[1:] if p.strip())
    problem = next((c.problem for c in calls if c.problem), "")
    return ParsedAnswer(content if content.strip() else "", tuple(calls), problem)


# -- the conversation for the template -------------------------------------------------------


def polyfill_messages(
    fmt: ToolFormat, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The conversation (OpenAI-shaped: assistant ``tool_calls``, ``tool`` messages) as this
    template can render it (``core.tool_prompt``): a native template gets each call's JSON
    arguments as an object, and ids and call counts it accepts; any other gets the tools
    (``ToolSpec.openai()`` entries) described in its system message, calls as ``<tool_call>``
    blocks and results as user messages of ``<tool_response>`` blocks."""
    if fmt.native:
        return native_messages(fmt.syntax, messages)
    return described_messages(messages, tools)
