"""The parts' JSON form: every kind round-trips, a type from a newer version is kept whole,
and a malformed part of a known type is refused with a sentence."""

from __future__ import annotations

import json
from typing import Any

import pytest

from desktop.core.parts import (
    Attachment,
    Image,
    Part,
    PartError,
    Reasoning,
    Text,
    ToolCall,
    ToolResult,
    Unknown,
    answer_parts,
    is_plain,
    part_from_json,
    part_to_json,
    parts_from_json,
    parts_to_json,
    placeholder,
    reasoning_of,
    text_of,
)

EVERY_KIND: tuple[Part, ...] = (
    Text("héllo 🦙"),
    Reasoning("why"),
    Image("image/png", "a.png", alt="alt"),
    Attachment("n.txt", "text/plain", text="body"),
    ToolCall("id", "name", "{}"),
    ToolCall("id2", "name", "[f(", server="files", problem="unclosed call"),
    ToolResult("id", "out", is_error=True),
    ToolResult("id", "late", is_error=True, status="timed_out", duration_s=30.0),
    Unknown({"type": "video", "url": "x", "meta": {"n": [1, 2]}}),
)


@pytest.mark.parametrize("part", EVERY_KIND, ids=lambda p: p.type)
def test_each_kind_round_trips_through_its_json_form(part: Part) -> None:
    data = part_to_json(part)
    assert data["type"] == part.type
    assert part_from_json(json.loads(json.dumps(data))) == part


def test_the_json_form_is_stable() -> None:
    assert part_to_json(Text("a")) == {"type": "text", "text": "a"}
    assert part_to_json(ToolResult("c", "r")) == {
        "type": "tool_result",
        "call_id": "c",
        "content": "r",
        "is_error": False,
        "status": "ok",
        "duration_s": 0.0,
    }
    # What issue 19's version wrote (no status, no time) still reads, and a newer field is ignored.
    old = {"type": "tool_result", "call_id": "c", "content": "r", "is_error": True, "new": 1}
    assert part_from_json(old) == ToolResult("c", "r", is_error=True)
    with pytest.raises(PartError):
        part_from_json({"type": "tool_result", "call_id": "c", "content": "r", "duration_s": "x"})
    assert json.loads(parts_to_json(EVERY_KIND))[0] == {"type": "text", "text": "héllo 🦙"}
    assert "🦙" in parts_to_json(EVERY_KIND)  # written as text, not escaped


def test_a_list_round_trips_and_an_unknown_type_is_written_back_unchanged() -> None:
    assert parts_from_json(parts_to_json(EVERY_KIND)) == EVERY_KIND
    newer = '[{"type": "video", "url": "x", "extra": true}]'
    [kept] = parts_from_json(newer)
    assert isinstance(kept, Unknown) and kept.type == "video"
    assert json.loads(parts_to_json([kept])) == json.loads(newer)
    # A known part with a field from a newer version reads; the field is not kept.
    assert part_from_json({"type": "text", "text": "t", "lang": "en"}) == Text("t")


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"type": "text"}, "missing a field"),
        ({"type": "text", "text": 5}, "text part's text must be str"),
        ({"type": "tool_result", "call_id": "c", "content": "x", "is_error": "no"}, "bool"),
        ({"text": "no type"}, "must be an object with a type"),
        ("just text", "must be an object with a type"),
        ({"type": 3}, "must be an object with a type"),
    ],
)
def test_a_malformed_known_part_raises_part_error(data: Any, says: str) -> None:
    with pytest.raises(PartError, match=says):
        part_from_json(data)


def test_a_value_that_is_not_a_list_raises_part_error() -> None:
    with pytest.raises(PartError, match="must be a list"):
        parts_from_json('{"type": "text", "text": "a"}')


def test_helpers_for_text_and_reasoning() -> None:
    parts = answer_parts("four", "two and two")
    assert parts == (Reasoning("two and two"), Text("four"))
    assert answer_parts("four") == (Text("four"),)
    assert (text_of(parts), reasoning_of(parts)) == ("four", "two and two")
    assert is_plain((Text("a"),)) and is_plain(())
    assert not is_plain(parts) and not is_plain((Text("a"), Text("b")))
    assert placeholder(Text("words")) == "words"
    assert placeholder(Attachment("n.txt", "text/plain")) == "[Attachment: n.txt]"
