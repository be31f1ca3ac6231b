"""History on a real SQLite file: full-text search among 10,000 messages, pins, delete with
undo, duplicate, and export -> import round trips (ours exactly; ChatGPT's current branch)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from desktop.core.adapters import Adapter
from desktop.core.chat_records import SearchHit
from desktop.core.history_format import ChatImportError, parse_import, to_markdown
from desktop.core.messages import MessageStatus, Role
from desktop.storage.store import HIT_END, HIT_START, ChatStore, StoredMessage

WORDS = [
    "llama", "alpaca", "vicuna", "guanaco", "wool", "andes",
    "herd", "pack", "trek", "valley", "river", "stone",
]  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> ChatStore:
    return ChatStore(tmp_path / "history.db")


def test_search_finds_one_message_among_ten_thousand(store: ChatStore) -> None:
    rng = random.Random(5)
    with store.db.conn:
        for c in range(100):
            conversation = store.create_conversation(f"chat {c}")
            for _ in range(100):
                text = " ".join(rng.choice(WORDS) for _ in range(12))
                store.add_message(conversation.id, Role.USER, text)
    target = store.create_conversation("the one")
    needle = store.add_message(target.id, Role.ASSISTANT, "The quokka smiled at the photographer.")
    hits = store.search("quokka")
    assert [h.message_id for h in hits] == [needle.id]
    assert hits[0].title == "the one"
    assert f"{HIT_START}quokka{HIT_END}" in hits[0].snippet
    assert hits[0] == SearchHit(
        needle.id, target.id, "assistant", needle.created, "the one", hits[0].snippet
    )
    assert store.search("quok")[0].message_id == needle.id  # prefixes match while typing
    assert store.search("quokka photographer")[0].message_id == needle.id
    assert store.search('"; DROP TABLE messages; --') == []  # query text is data, not syntax
    # The index follows edits and deletions.
    store.update_message(needle.id, content="The wombat slept.")
    assert store.search("quokka") == [] and store.search("wombat")[0].message_id == needle.id
    store.delete_message(needle.id)
    assert store.search("wombat") == []


def test_pins_delete_with_undo_and_duplicate(store: ChatStore) -> None:
    older = store.create_conversation("older")
    newer = store.create_conversation("newer")
    store.set_pinned(older.id, True)
    assert [c.title for c in store.list_conversations()] == ["older", "newer"]
    store.add_message(newer.id, Role.USER, "findable words")
    store.soft_delete(newer.id)
    assert [c.title for c in store.list_conversations()] == ["older"]
    assert store.search("findable") == []  # a deleted chat is not found
    store.restore(newer.id)
    assert store.search("findable")[0].conversation_id == newer.id
    copy = store.duplicate_conversation(newer.id)
    assert copy.title == "newer (copy)"
    assert [m.content for m in store.messages(copy.id)] == ["findable words"]
    store.soft_delete(copy.id)
    assert store.purge_deleted() == 1
    assert [c.id for c in store.list_conversations()] == [older.id, newer.id]
    assert store.messages(newer.id)[0].content == "findable words"


def test_export_import_round_trip_is_exact(store: ChatStore, tmp_path: Path) -> None:
    conversation = store.create_conversation(
        "Round trip ✓", model="local:x", system_prompt="Be brief.", params={"temperature": 0.6}
    )
    store.set_local_only(conversation.id, True)
    store.add_message(conversation.id, Role.USER, "Hi — with émoji 🦙 and\nnew lines")
    answer = store.add_message(
        conversation.id,
        Role.ASSISTANT,
        "Partial",
        model="openai:gpt-4o",
        status=MessageStatus.STREAMING,
    )
    store.update_message(
        answer.id, status=MessageStatus.FAILED, usage={"output_tokens": 3}, error="cut"
    )
    exported = store.export_conversations()
    text = json.dumps(exported, ensure_ascii=False)
    other = ChatStore(tmp_path / "other.db")
    ids = other.import_conversations(parse_import(json.loads(text), "export.json"))
    assert other.export_conversations(ids) == exported
    markdown = to_markdown(exported, {"openai:gpt-4o": "GPT-4o"})
    assert "# Round trip ✓" in markdown and "**GPT-4o** _(failed)_" in markdown
    other.close()


def test_thinking_is_kept_apart_exported_and_imported(store: ChatStore, tmp_path: Path) -> None:
    conversation = store.create_conversation("Thinker")
    store.add_message(conversation.id, Role.USER, "2+2?")
    answer = store.add_message(conversation.id, Role.ASSISTANT, "4", model="local:qwen3")
    store.update_message(
        answer.id, usage={"output_tokens": 30, "thinking_s": 12.4}, reasoning="Two and two…"
    )
    [question, stored] = store.messages(conversation.id)
    assert (stored.content, stored.reasoning, question.reasoning) == ("4", "Two and two…", "")
    exported = store.export_conversations()
    assert exported["conversations"][0]["messages"][1]["reasoning"] == "Two and two…"
    assert "reasoning" not in exported["conversations"][0]["messages"][0]
    other = ChatStore(tmp_path / "other.db")
    ids = other.import_conversations(parse_import(json.loads(json.dumps(exported)), "x.json"))
    assert other.messages(ids[0])[1].reasoning == "Two and two…"
    other.close()
    markdown = to_markdown(exported)
    assert "<details><summary>Thought for 12 s</summary>\n\nTwo and two…" in markdown
    assert markdown.index("Two and two…") < markdown.index("\n4\n")
    bad = json.loads(json.dumps(exported))
    bad["conversations"][0]["messages"][1]["reasoning"] = 5
    with pytest.raises(ChatImportError, match='"reasoning" should be text'):
        parse_import(bad, "bad.json")


def test_chatgpt_export_imports_the_current_branch(store: ChatStore) -> None:
    chatgpt = [
        {
            "title": "From ChatGPT",
            "create_time": 1700000000.0,
            "update_time": 1700000100.0,
            "current_node": "c",
            "mapping": {
                "root": {"message": None, "parent": None, "children": ["a"]},
                "a": {
                    "message": {
                        "author": {"role": "user"},
                        "content": {"parts": ["Hello?"]},
                        "create_time": 1700000001.0,
                    },
                    "parent": "root",
                },
                "old": {
                    "message": {
                        "author": {"role": "assistant"},
                        "content": {"parts": ["An answer that was regenerated"]},
                    },
                    "parent": "a",
                },
                "c": {
                    "message": {
                        "author": {"role": "assistant"},
                        "content": {"parts": ["Hi there."]},
                        "metadata": {"model_slug": "gpt-4o"},
                        "create_time": 1700000002.0,
                    },
                    "parent": "a",
                },
            },
        }
    ]
    [conversation_id] = store.import_conversations(parse_import(chatgpt, "conversations.json"))
    messages = store.messages(conversation_id)
    assert [(m.role, m.content) for m in messages] == [
        (Role.USER, "Hello?"),
        (Role.ASSISTANT, "Hi there."),
    ]
    assert messages[1].model == "openai:gpt-4o"
    assert store.get_conversation(conversation_id).title == "From ChatGPT"


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"format": "other"}, "neither a Llamaside chat export"),
        ({"format": "llamaside-chats", "conversations": {}}, "should be a list"),
        (
            {"format": "llamaside-chats", "conversations": [{"title": "t", "created": "x"}]},
            'chat 1 has no "updated"',
        ),
        (
            {
                "format": "llamaside-chats",
                "conversations": [
                    {
                        "title": "t",
                        "created": "x",
                        "updated": "x",
                        "messages": [{"role": "robot", "content": "", "created": "x"}],
                    }
                ],
            },
            "message 1: role must be",
        ),
        ([{"title": "no mapping"}], 'chat 1 has no "mapping"'),
    ],
)
def test_bad_imports_are_named_and_write_nothing(store: ChatStore, data: object, says: str) -> None:
    with pytest.raises(ChatImportError, match=says):
        parse_import(data, "file.json")
    assert store.list_conversations() == []


def test_edits_and_regenerations_are_versions(store: ChatStore, tmp_path: Path) -> None:
    chat = store.create_conversation("Versions")
    q1 = store.add_message(chat.id, Role.USER, "Question v1")
    a1 = store.add_message(chat.id, Role.ASSISTANT, "Answer to v1")
    follow = store.add_message(chat.id, Role.USER, "Follow-up")
    # Edit the first question: a sibling of q1, with its own answer; nothing is lost.
    q2 = store.add_message(chat.id, Role.USER, "Question v2", parent_id=None)
    a2 = store.add_message(chat.id, Role.ASSISTANT, "Answer to v2")
    assert [m.id for m in store.messages(chat.id)] == [q2.id, a2.id]
    versions = store.versions(chat.id)
    assert (versions[q2.id].index, versions[q2.id].count, versions[q2.id].previous) == (
        2,
        2,
        q1.id,
    )
    # Regenerate a2: a sibling answer under the same question.
    a3 = store.add_message(chat.id, Role.ASSISTANT, "Another answer", parent_id=q2.id)
    assert [m.id for m in store.messages(chat.id)] == [q2.id, a3.id]
    assert store.versions(chat.id)[a3.id].index == 2
    # Back to the first version: its whole branch, down to its newest end, comes back.
    store.show_version(q1.id)
    assert [m.id for m in store.messages(chat.id)] == [q1.id, a1.id, follow.id]
    assert len(store.all_messages(chat.id)) == 6
    # Taking back an unsent turn ends the branch at its parent again.
    extra = store.add_message(chat.id, Role.USER, "oops")
    store.delete_message(extra.id)
    assert store.messages(chat.id)[-1].id == follow.id
    # Export keeps every version and which one was shown; Markdown shows that branch only.
    exported = store.export_conversations([chat.id])
    other = ChatStore(tmp_path / "other.db")
    [copy] = other.import_conversations(exported)
    assert other.export_conversations([copy]) == exported
    assert [m.content for m in other.messages(copy)] == ["Question v1", "Answer to v1", "Follow-up"]
    assert "Question v2" not in to_markdown(exported)
    other.close()


@pytest.mark.parametrize(
    ("message", "says"),
    [
        ({"role": "user", "content": "x", "created": "t", "status": "bogus"}, "unknown status"),
        ({"role": "user", "content": "x", "created": "t", "usage": [1]}, '"usage" should be'),
    ],
)
def test_imports_with_bad_fields_are_refused_before_writing(
    store: ChatStore, message: dict[str, object], says: str
) -> None:
    data = {
        "format": "llamaside-chats",
        "version": 1,
        "conversations": [{"title": "t", "created": "t", "updated": "t", "messages": [message]}],
    }
    with pytest.raises(ChatImportError, match=says):
        parse_import(data, "f.json")
    with pytest.raises(ChatImportError, match="newer Llamaside"):
        parse_import({**data, "version": 2}, "f.json")
    # A ChatGPT file with odd nodes imports what it can instead of crashing.
    odd = [
        {
            "title": "odd",
            "mapping": {"a": "not a node", "b": {"message": "text"}},
            "current_node": "b",
        }
    ]
    assert parse_import(odd, "conversations.json")["conversations"][0]["messages"] == []
    assert store.search("\x00") == [] and store.search("a\x00b") == []


def test_a_long_branchy_chat_reads_its_branch_in_order(store: ChatStore) -> None:
    """5,000 messages with older versions beside the branch: messages(), branch_ids() and
    versions() agree with a plain walk from the leaf, and a corrupt cycle cannot hang them."""
    conversation = store.create_conversation("Long")
    expected: list[StoredMessage] = []
    with store.db.conn:
        for i in range(5_000):
            role = Role.USER if i % 2 == 0 else Role.ASSISTANT
            if i % 500 == 1:  # an answer regenerated later: the old one is off the branch
                store.add_message(conversation.id, role, f"old answer {i}")
                parent = expected[-1].id
                message = store.add_message(conversation.id, role, f"message {i}", parent_id=parent)
            else:
                message = store.add_message(conversation.id, role, f"message {i}")
            expected.append(message)
    shown = store.messages(conversation.id)
    assert [m.id for m in shown] == [m.id for m in expected]
    assert [m.content for m in shown] == [f"message {i}" for i in range(5_000)]
    assert shown == expected and shown[1].role == Role.ASSISTANT
    assert store.branch_ids(conversation.id) == [m.id for m in expected]
    versions = store.versions(conversation.id)
    assert len(versions) == 20 and versions[expected[1].id].index == 2

    first, last = expected[0].id, expected[-1].id
    store.db.execute("UPDATE messages SET parent_id = ? WHERE id = ?", [last, first])
    # The walk ends (each message at most once per lap, bounded by the chat's size).
    assert len(store.messages(conversation.id)) <= 5_010
    assert len(store.branch_ids(conversation.id)) <= 5_010


def test_an_answers_adapters_are_named_in_the_markdown_export(store: ChatStore) -> None:
    conversation = store.create_conversation("Tuned")
    question = store.add_message(conversation.id, Role.USER, "Hi")
    tuned = [Adapter("/loras/my-support-lora.gguf", 0.8)]
    store.add_message(
        conversation.id,
        Role.ASSISTANT,
        "Hello",
        model="local:smol",
        parent_id=question.id,
        adapters=tuned,
    )
    markdown = to_markdown(store.export_conversations(), {"local:smol": "SmolLM2"})
    assert "**SmolLM2 + my-support-lora × 0.8**" in markdown
