"""Scoring a model's tool calls against the call a prompt expects, for batch comparisons.

A batch prompt may carry the call it expects (``{"name": ..., "arguments": {...}}``) and the
tools it offers (OpenAI function entries). The first call a model makes is scored, never run:
well-formed (readable, a JSON object valid against the tool's schema), the right tool, and the
right arguments (every expected one present and equal; strings trimmed and case-insensitive,
numbers by value; extra arguments allowed). Accuracy per model is the share of each.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from desktop.core.parts import ToolCall
from desktop.core.tools import ToolChoice, ToolSpec

# JSON Schema's type names -> the Python values json.loads gives for them.
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


@dataclass(frozen=True)
class ExpectedCall:
    """The call a prompt expects: a tool's name and the arguments that must be in it."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": dict(self.arguments)}


@dataclass(frozen=True)
class CallScore:
    """How one answer's calls measure up to the expected call, and a sentence saying why."""

    well_formed: bool
    right_tool: bool
    right_arguments: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "well_formed": self.well_formed,
            "right_tool": self.right_tool,
            "right_arguments": self.right_arguments,
            "detail": self.detail,
        }


def parse_expect_call(value: Any) -> ExpectedCall:
    """An entry's ``expect_call``; ValueError with a sentence if it is not one."""
    if not isinstance(value, Mapping):
        raise ValueError('expect_call must be an object like {"name": ..., "arguments": {...}}')
    name = value.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("expect_call needs a tool name (a string)")
    arguments = value.get("arguments", {})
    if isinstance(arguments, str):  # as the APIs write them: JSON text
        try:
            arguments = json.loads(arguments)
        except ValueError:
            raise ValueError("expect_call's arguments are not JSON") from None
    if not isinstance(arguments, Mapping):
        raise ValueError("expect_call's arguments must be an object")
    return ExpectedCall(name.strip(), dict(arguments))


def parse_tools(value: Any) -> tuple[ToolSpec, ...]:
    """An entry's ``tools``: OpenAI function entries (``{"type": "function", "function":
    {...}}``, or the function object alone); ValueError with a sentence otherwise."""
    if not isinstance(value, list):
        raise ValueError("tools must be a list of OpenAI function entries")
    specs: list[ToolSpec] = []
    for index, entry in enumerate(value, start=1):
        function = entry.get("function", entry) if isinstance(entry, Mapping) else None
        if not isinstance(function, Mapping):
            raise ValueError(f"tool {index} is not an object")
        name = function.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"tool {index} has no name")
        parameters = function.get("parameters", {"type": "object"})
        if not isinstance(parameters, Mapping):
            raise ValueError(f"tool {name}'s parameters must be a JSON schema object")
        description = function.get("description", "")
        specs.append(ToolSpec(name.strip(), str(description or ""), dict(parameters)))
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise ValueError("two tools have the same name")
    return tuple(specs)


def parse_tool_choice(value: Any, tools: Sequence[ToolSpec]) -> ToolChoice:
    """An entry's ``tool_choice``: "auto", "required", "none", a tool's name, or OpenAI's
    ``{"type": "function", "function": {"name": ...}}``."""
    if isinstance(value, Mapping):
        function = value.get("function")
        value = function.get("name") if isinstance(function, Mapping) else None
    if not isinstance(value, str) or not value.strip():
        raise ValueError('tool_choice must be "auto", "required", "none" or a tool name')
    value = value.strip()
    if value in ("auto", "required", "none"):
        return ToolChoice(value)
    if value not in {spec.name for spec in tools}:
        raise ValueError(f"tool_choice names {value!r}, which is not among the tools")
    return ToolChoice("tool", value)


def schema_problem(value: Any, schema: Mapping[str, Any], where: str = "the arguments") -> str:
    """Why ``value`` does not fit this JSON schema ("" if it does). A small structural check:
    type, required keys, properties' types, enum and array items; the rest is not judged."""
    wanted = schema.get("type")
    kinds = [wanted] if isinstance(wanted, str) else wanted if isinstance(wanted, list) else []
    known = [k for k in kinds if k in _JSON_TYPES]
    if known and not any(_is_type(value, k) for k in known):
        return f"{where} should be {' or '.join(known)}, not {_type_name(value)}"
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        return f"{where} is {json.dumps(value)}, not one of {json.dumps(enum)}"
    if isinstance(value, dict):
        required = schema.get("required")
        for key in required if isinstance(required, list) else []:
            if key not in value:
                return f"the required argument {key} is missing"
        properties = schema.get("properties")
        if isinstance(properties, Mapping):
            for key, item in value.items():
                if isinstance(properties.get(key), Mapping):
                    problem = schema_problem(item, properties[key], key)
                    if problem:
                        return problem
    items = schema.get("items")
    if isinstance(value, list) and isinstance(items, Mapping):
        for index, item in enumerate(value):
            problem = schema_problem(item, items, f"{where}[{index}]")
            if problem:
                return problem
    return ""


def _is_type(value: Any, kind: str) -> bool:
    if isinstance(value, bool):  # a bool is an int to Python, never a number to JSON
        return kind == "boolean"
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _JSON_TYPES[kind])


def _type_name(value: Any) -> str:
    for name in _JSON_TYPES:
        if _is_type(value, name) and name != "integer":
            return name
    return type(value).__name__


def same_value(expected: Any, actual: Any) -> bool:
    """Whether an argument matches: strings trimmed and case-insensitive, numbers by value,
    lists item by item, objects by their expected keys (extra keys allowed)."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(expected, str) and isinstance(actual, str):
        return expected.strip().casefold() == actual.strip().casefold()
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(
            same_value(e, a) for e, a in zip(expected, actual, strict=True)
        )
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        return all(k in actual and same_value(v, actual[k]) for k, v in expected.items())
    return bool(expected is None and actual is None)


def score_calls(
    expected: ExpectedCall, calls: Sequence[ToolCall], spec: ToolSpec | None
) -> CallScore:
    """Score the first call against the expected one. ``spec``: the offered tool of the first
    call's name, whose schema its arguments must fit (None: the JSON object alone is judged)."""
    if not calls:
        return CallScore(False, False, False, f"No call was made (expected {expected.name}).")
    call = calls[0]
    arguments: Any = None
    problem = call.problem
    if not problem:
        try:
            arguments = json.loads(call.arguments) if call.arguments.strip() else {}
        except ValueError:
            problem = "the arguments are not JSON"
    if not problem and not isinstance(arguments, dict):
        problem = f"the arguments are {_type_name(arguments)}, not an object"
    if not problem and spec is not None:
        problem = schema_problem(arguments, spec.parameters)
    problem = problem.rstrip(".")  # a call's own problem is a sentence; the detail adds the stop
    right_tool = call.name.strip() == expected.name
    if not right_tool:
        detail = f"Called {call.name or 'an unnamed tool'}, expected {expected.name}."
        if problem:
            detail += f" Not well-formed: {problem}."
        return CallScore(not problem, False, False, detail)
    wrong = _argument_mismatch(expected.arguments, arguments if isinstance(arguments, dict) else {})
    if problem:
        detail = f"Called {call.name}, but not well-formed: {problem}."
        if wrong:
            detail += f" {wrong}"
        return CallScore(False, True, not wrong, detail)
    if wrong:
        return CallScore(True, True, False, f"Called {call.name}: {wrong}")
    return CallScore(True, True, True, f"Called {call.name} with the expected arguments.")


def _argument_mismatch(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> str:
    """The first expected argument that is missing or different, as a sentence ("" if none)."""
    for key, value in expected.items():
        if key not in actual:
            return f"the argument {key} is missing (expected {json.dumps(value)})."
        if not same_value(value, actual[key]):
            shown, wanted = json.dumps(actual[key]), json.dumps(value)
            return f"{key} was {shown}, expected {wanted}."
    return ""


def score_answer(
    expected: ExpectedCall, calls: Sequence[ToolCall], tools: Sequence[ToolSpec]
) -> CallScore:
    """Score against the tools that were offered: a first call of a tool that was not offered
    is not well-formed (there is no such function to run)."""
    if calls and tools and calls[0].name not in {spec.name for spec in tools}:
        score = score_calls(expected, calls, None)
        note = f" {calls[0].name} was not among the tools offered."
        return CallScore(False, score.right_tool, score.right_arguments, score.detail + note)
    spec = next((s for s in tools if calls and s.name == calls[0].name), None)
    return score_calls(expected, calls, spec)


def accuracy(scores: Sequence[CallScore]) -> dict[str, Any] | None:
    """One model's tool-call accuracy over its scored answers: how many, and the share of each
    test passed (0 to 1); None when none was scored."""
    if not scores:
        return None
    n = len(scores)
    return {
        "scored": n,
        "right_tool": sum(s.right_tool for s in scores) / n,
        "right_arguments": sum(s.right_arguments for s in scores) / n,
        "well_formed": sum(s.well_formed for s in scores) / n,
    }


def format_share(value: float | None) -> str:
    """A share as the batch shows it: "75%"; "–" where nothing was scored."""
    return "–" if value is None else f"{value:.0%}"


def call_json(call: ToolCall) -> dict[str, Any]:
    """A call as a batch report keeps it (arguments as the model wrote them)."""
    out: dict[str, Any] = {"name": call.name, "arguments": call.arguments}
    if call.problem:
        out["problem"] = call.problem
    return out
