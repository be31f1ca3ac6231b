"""Exports carry each message's parts; files written before parts (text and reasoning alone)
still import; Markdown shows parts it cannot render as labelled placeholders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop.core.history_format import (
    ChatImportError,
    parse_import,
    to_markdown,
    tool_call_markdown,
)
from desktop.core.messages import Role
from desktop.core.parts import Image, Reasoning, Text, ToolCall, ToolResult, Unknown
from desktop.storage.store import ChatStore

PARTS = (
    Reasoning("Look at the picture."),
    Image("image/png", "images/cat.png", alt="a cat"),
    ToolCall("c1", "lookup", '{"q": "cat"}'),
    ToolResult("c1", "a small feline", is_error=False),
    Unknown({"type": "hologram", "frames": 3}),
    Text("It is a cat."),
)

#: A chat as Llamaside exported it before messages had parts.
OLD_EXPORT = """
{
  "format": "llamaside-chats",
  "version": 1,
  "conversations": [
    {
      "title": "Older file",
      "created": "2025-03-01T10:00:00+00:00",
      "updated": "2025-03-01T10:01:00+00:00",
      "model": "local:qwen3",
      "system_prompt": "",
      "params": {},
      "local_only": false,
      "pinned": false,
      "leaf": 1,
      "messages": [
        {"role": "user", "content": "2+2?", "model": null, "status": "complete",
         "usage": null, "error": null, "created": "2025-03-01T10:00:00+00:00", "parent": null},
        {"role": "assistant", "content": "4", "model": "local:qwen3", "status": "complete",
         "usage": {"thinking_s": 3}, "error": null, "created": "2025-03-01T10:01:00+00:00",
         "parent": 0, "reasoning": "Two and two."}
      ]
    }
  ]
}
"""


def test_export_carries_parts_and_imports_them_exactly(tmp_path: Path) -> None:
    store = ChatStore(tmp_path / "a.db")
    chat = store.create_conversation("Parts")
    store.add_message(chat.id, Role.USER, "What is this?")
    store.add_message(chat.id, Role.ASSISTANT, parts=PARTS, model="local:x")
    exported = store.export_conversations()
    question, answer = exported["conversations"][0]["messages"]
    assert question["parts"] == [{"type": "text", "text": "What is this?"}]
    assert answer["parts"][1] == {
        "type": "image",
        "media_type": "image/png",
        "path": "images/cat.png",
        "alt": "a cat",
        # Its pixel size and bytes where known (0: not known; older files lack them).
        "width": 0,
        "height": 0,
        "size": 0,
    }
    assert answer["parts"][4] == {"type": "hologram", "frames": 3}
    # Older Llamasides read these two.
    assert (answer["content"], answer["reasoning"]) == ("It is a cat.", "Look at the picture.")
    store.close()

    other = ChatStore(tmp_path / "b.db")
    try:
        text = json.dumps(exported, ensure_ascii=False)
        [new_id] = other.import_conversations(parse_import(json.loads(text), "x.json"))
        assert other.messages(new_id)[1].parts == PARTS
        assert other.export_conversations([new_id]) == exported
    finally:
        other.close()


def test_an_export_from_before_parts_still_imports(tmp_path: Path) -> None:
    store = ChatStore(tmp_path / "h.db")
    try:
        [new_id] = store.import_conversations(parse_import(json.loads(OLD_EXPORT), "old.json"))
        question, answer = store.messages(new_id)
        assert question.parts == (Text("2+2?"),)
        assert answer.parts == (Reasoning("Two and two."), Text("4"))
        assert answer.reasoning == "Two and two." and answer.content == "4"
    finally:
        store.close()


def test_a_malformed_part_in_a_file_is_named_and_nothing_written(tmp_path: Path) -> None:
    data = json.loads(OLD_EXPORT)
    data["conversations"][0]["messages"][1]["parts"] = [{"type": "image", "path": 5}]
    with pytest.raises(ChatImportError, match=r"message 2: An? image part"):
        parse_import(data, "bad.json")
    data["conversations"][0]["messages"][1]["parts"] = "text"
    with pytest.raises(ChatImportError, match="must be a list"):
        parse_import(data, "bad.json")
    # With parts, the text may be left out: it is the parts' text.
    data["conversations"][0]["messages"][1]["parts"] = [{"type": "text", "text": "four"}]
    del data["conversations"][0]["messages"][1]["content"]
    store = ChatStore(tmp_path / "h.db")
    try:
        [new_id] = store.import_conversations(parse_import(data, "ok.json"))
        assert store.messages(new_id)[1].content == "four"
    finally:
        store.close()


def test_markdown_shows_reasoning_and_tool_calls_collapsed_and_other_parts_as_placeholders(
    tmp_path: Path,
) -> None:
    store = ChatStore(tmp_path / "h.db")
    chat = store.create_conversation("Parts")
    store.add_message(chat.id, Role.USER, "What is this?")
    store.add_message(chat.id, Role.ASSISTANT, parts=PARTS, model="local:x")
    markdown = to_markdown(store.export_conversations())
    store.close()
    expected = [
        "<details><summary>Thought</summary>\n\nLook at the picture.\n\n</details>",
        "[Image: a cat]",
        # A call with its result, collapsed: the tool and how it went, arguments, result.
        "<details><summary>Tool call: lookup — ok</summary>",
        '```json\n{\n  "q": "cat"\n}\n```',
        "Result:\n\n```\na small feline\n```",
        "[hologram content from a newer Llamaside]",
        "It is a cat.",
    ]
    positions = [markdown.index(piece) for piece in expected]
    assert positions == sorted(positions)
    old = to_markdown(json.loads(OLD_EXPORT))
    assert "<details><summary>Thought for 3 s</summary>\n\nTwo and two." in old
    assert old.index("Two and two.") < old.index("\n4\n")


def test_a_tool_result_with_backticks_keeps_its_fence() -> None:
    call = ToolCall("c", "run", "{}", server="shell", problem="")
    result = ToolResult("c", "```\nls\n```", status="failed", duration_s=1.25)
    lines = "\n".join(tool_call_markdown(call, result))
    assert "Tool call: run (shell) — failed, 1.2 s" in lines
    assert "````\n```\nls\n```\n````" in lines
    unread = "\n".join(tool_call_markdown(ToolCall("d", "x", "[x(", problem="Cut off."), None))
    assert "could not be read" in unread and "Cut off." in unread and "[x(" in unread
