"""The llama.cpp grammar that keeps a local model's tool call well-formed: the call syntax of
its family (``core.tool_formats``) around JSON arguments that match each tool's schema, with
the name one of the tools offered (or exactly the one a choice forces).

When the model may choose (tool choice auto) the grammar is lazy: it waits, unconstraining,
until the text opens a call (a trigger word, often one special token, or a pattern) and holds
the model to the syntax from there, as llama.cpp's own server does. A required call is held
to it from the first token.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llama_cpp.llama_grammar import SchemaConverter, json_schema_to_gbnf

from desktop.core.errors import InvalidParameter
from desktop.core.tool_formats import ToolFormat, markers
from desktop.core.tool_prompt import TOOL_CALL_CLOSE, TOOL_CALL_OPEN
from desktop.core.tools import ToolChoice, ToolSpec

#: Whitespace the call syntax allows between its parts. Bounded: an unbounded rule lets a
#: small model run away in newlines; the trigger patterns below allow exactly the same.
_WS_RULE = "[ \\t\\n]{0,4}"
_WS_REGEX = "[ \\t\\n]{0,4}"


@dataclass(frozen=True)
class ToolGrammar:
    """A GBNF grammar (root rule ``root``) and, when lazy, what starts it: regular expressions
    (ECMAScript, searched in the text so far; the grammar starts at the first non-empty group,
    or the match) and words that are one special token in some vocabularies (the engine passes
    them as trigger tokens where they are one token)."""

    gbnf: str
    lazy: bool
    trigger_patterns: tuple[str, ...] = ()
    trigger_words: tuple[str, ...] = ()


def _literal(text: str) -> str:
    """A GBNF string literal."""
    escaped = (
        text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    )
    return f'"{escaped.replace(chr(9), chr(92) + "t")}"'


def regex_escape(text: str) -> str:
    """``text`` as an ECMAScript regular expression that matches it literally."""
    return re.sub(r"([.^$|()*+?\[\]{}\\/])", r"\\\1", text)


def _prefixed_defs(schema: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The schema with its ``$defs`` renamed per tool: the converter names a definition's rule
    by its last path part, so two tools' ``#/$defs/Item`` would otherwise share one rule."""
    schema = copy.deepcopy(schema)
    for key in ("$defs", "definitions"):
        if isinstance(schema.get(key), dict):
            schema[key] = {prefix + name: value for name, value in schema[key].items()}

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                node["$ref"] = re.sub(r"^#/(\$defs|definitions)/", rf"#/\1/{prefix}", ref)
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    return schema


def _arguments_rule(converter: Any, index: int, parameters: Mapping[str, Any]) -> str:
    """The rule for one tool's arguments: its schema, or any JSON object where the converter
    cannot read the schema (the name is still held to the tools offered)."""
    schema = dict(parameters)
    if not any(k in schema for k in ("properties", "$ref", "anyOf", "oneOf", "allOf")):
        schema = {"type": "object", **schema}
    name = f"tool{index}-args"
    try:
        resolved = converter.resolve_refs(_prefixed_defs(schema, f"t{index}-"), f"tool{index}")
        return str(converter.visit(resolved, name))
    except Exception:  # the converter asserts on what it does not support
        return str(converter.visit({"type": "object"}, name))


def _call_rule(fmt: ToolFormat, name: str, args: str) -> str:
    """One call's syntax in this format, for a tool ``name`` whose arguments rule is ``args``."""
    ws = "tc-ws"
    quoted = _literal(json.dumps(name, ensure_ascii=False))
    syntax = fmt.syntax
    if syntax == "mistral" and fmt.mistral_args:
        call_id = ' "[CALL_ID]" [a-zA-Z0-9]{9}' if fmt.mistral_call_id else ""
        return f"{_literal(name)}{call_id} {_literal('[ARGS]')} {args}"
    key = "parameters" if syntax in ("llama3", "llama4") else "arguments"
    rule = (
        f'"{{" {ws} "\\"name\\"" {ws} ":" {ws} {quoted} {ws} "," {ws} '
        f'"\\"{key}\\"" {ws} ":" {ws} {args}'
    )
    if syntax == "mistral":  # Mistral Nemo's calls carry a 9-character id
        rule += f' ({ws} "," {ws} "\\"id\\"" {ws} ":" {ws} "\\"" [a-zA-Z0-9]{{9}} "\\"")?'
    return rule + f' {ws} "}}"'


def _root(fmt: ToolFormat, parallel: bool) -> str:
    """The root rule: the format's wrapping around one or (``parallel``) more calls."""
    syntax = fmt.syntax
    if syntax == "llama3":  # its templates render one call per message
        return '("<|python_tag|>" tc-ws)? tc-call'
    calls = "tc-call (tc-ws tc-call)*" if parallel else "tc-call"
    if syntax == "llama4":
        return f'"<|python_start|>" tc-ws {calls} tc-ws "<|python_end|>" | {calls}'
    if syntax == "mistral":
        if fmt.mistral_args:  # each call has its own [TOOL_CALLS]
            return '"[TOOL_CALLS]" tc-call' + (
                ' (tc-ws "[TOOL_CALLS]" tc-call)*' if parallel else ""
            )
        more = ' (tc-ws "," tc-ws tc-call)*' if parallel else ""
        return f'"[TOOL_CALLS]" tc-ws "[" tc-ws tc-call{more} tc-ws "]"'
    one = f"{_literal(TOOL_CALL_OPEN)} tc-ws tc-call tc-ws {_literal(TOOL_CALL_CLOSE)}"
    return f"{one} (tc-ws {one})*" if parallel else one


def _triggers(fmt: ToolFormat) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Where a lazy grammar starts: the format's call markers (as words and as text), and for
    Llama a JSON call opening the answer (its ``{`` the first group: the grammar starts there)."""
    words = markers(fmt)
    patterns = [regex_escape(w) for w in words]
    if fmt.syntax in ("llama3", "llama4"):
        patterns.append(f'^[ \\t\\r\\n]*(\\{{{_WS_REGEX}"name"{_WS_REGEX}:)')
    return tuple(patterns), words


def tool_grammar(
    fmt: ToolFormat,
    tools: Sequence[ToolSpec],
    choice: ToolChoice,
    parallel: bool = True,
    answer_schema: str = "",
) -> ToolGrammar | None:
    """The grammar for a model in ``fmt`` offered ``tools``: None when it may not call any
    (choice none, no tools); lazy for choice auto; from the first token for required and for
    one named tool (then only that tool). ``parallel``: several calls in one answer, where
    the format has them. ``answer_schema`` (JSON text, the OpenAI API's response_format):
    with choice auto, the answer is then held from its first token to calls or to that JSON
    (OpenAI's rule: the text answer matches the format, a call is a call). Raises ValueError
    for a choice naming a tool not offered, InvalidParameter for an unreadable schema."""
    if choice.mode == "none" or not tools:
        return json_grammar(answer_schema)
    offered = [t for t in tools if choice.mode != "tool" or t.name == choice.name]
    if not offered:
        raise ValueError(f"The tool {choice.name!r} the model must call is not offered.")
    converter: Any = SchemaConverter(  # type: ignore[no-untyped-call]
        prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False
    )
    alternatives = []
    for index, spec in enumerate(offered):
        args = _arguments_rule(converter, index, spec.parameters)
        alternatives.append(f"tc-call{index}")
        converter._add_rule(f"tc-call{index}", _call_rule(fmt, spec.name, args))
    converter._add_rule("tc-call", " | ".join(alternatives))
    converter._add_rule("tc-ws", _WS_RULE)
    calls = _root(fmt, parallel)
    if answer_schema and not choice.forced:
        answer = _answer_rule(converter, answer_schema)
        converter._add_rule("root", f"tc-calls | {answer}")
        converter._add_rule("tc-calls", calls)
        return ToolGrammar(str(converter.format_grammar()), lazy=False)
    converter._add_rule("root", calls)
    gbnf = str(converter.format_grammar())
    if choice.forced:
        return ToolGrammar(gbnf, lazy=False)
    patterns, words = _triggers(fmt)
    return ToolGrammar(gbnf, lazy=True, trigger_patterns=patterns, trigger_words=words)


def _answer_rule(converter: Any, schema: str) -> str:
    """The rule for an answer in the JSON Schema ``schema``, beside the tools' rules."""
    try:
        parsed = json.loads(schema)
        resolved = converter.resolve_refs(_prefixed_defs(parsed, "answer-def-"), "answer")
        return str(converter.visit(resolved, "answer"))
    except Exception as exc:  # the converter asserts on what it does not support
        raise _unreadable(exc) from None


def _unreadable(exc: Exception) -> InvalidParameter:
    return InvalidParameter(
        f"response_format: this JSON Schema cannot be held to ({type(exc).__name__}: {exc})."
    )


def json_grammar(schema: str) -> ToolGrammar | None:
    """The grammar that holds a whole answer, from its first token, to a JSON Schema (JSON
    text; the OpenAI API's response_format). None for "" (a free answer). Raises
    InvalidParameter, saying why, for a schema the converter cannot read."""
    if not schema:
        return None
    try:
        gbnf = json_schema_to_gbnf(schema)
    except Exception as exc:  # the converter asserts on what it does not support
        raise _unreadable(exc) from None
    return ToolGrammar(str(gbnf), lazy=False)
