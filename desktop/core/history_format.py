"""Chats as files: our JSON (export and exact import), Markdown for reading, and ChatGPT's
conversations.json for people moving their history over. Pure functions: the store writes.

Each exported message carries its "parts" (core.parts' JSON form) and, for older readers, its
"content" (the text) and "reasoning"; files from before parts have only the latter two."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from desktop.core.adapters import Adapter, adapters_from_json, with_adapters
from desktop.core.errors import InvalidParameter, LlamasideError
from desktop.core.parts import (
    PartError,
    Parts,
    Reasoning,
    Text,
    ToolCall,
    ToolResult,
    answer_parts,
    parts_from_json,
    placeholder,
)

EXPORT_FORMAT = "llamaside-chats"
ROLES = ("user", "assistant", "system")
STATUSES = ("complete", "streaming", "stopped", "failed", "interrupted")


class ChatImportError(LlamasideError):
    """A file that cannot be imported; the message says which part is wrong."""


def validate_export(data: Any, name: str) -> dict[str, Any]:
    """Our format, checked before anything is written (an import is all or nothing)."""
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise ChatImportError(
            f'{name} is neither a Llamaside chat export (no "format": "{EXPORT_FORMAT}") '
            f"nor a ChatGPT conversations.json."
        )
    if not isinstance(data.get("version", 1), int) or data.get("version", 1) > 1:
        raise ChatImportError(
            f"{name} was written by a newer Llamaside (format version {data.get('version')})."
        )
    conversations = data.get("conversations")
    if not isinstance(conversations, list):
        raise ChatImportError(f'{name}: "conversations" should be a list.')
    for i, conversation in enumerate(conversations, start=1):
        where = f"{name}: chat {i}"
        if not isinstance(conversation, dict):
            raise ChatImportError(f"{where} is not an object.")
        for key in ("title", "created", "updated"):
            if not isinstance(conversation.get(key), str):
                raise ChatImportError(f'{where} has no "{key}" text.')
        messages = conversation.get("messages")
        if not isinstance(messages, list):
            raise ChatImportError(f'{where} has no "messages" list.')
        if not isinstance(conversation.get("params", {}), dict):
            raise ChatImportError(f'{where}: "params" should be an object.')
        for j, message in enumerate(messages, start=1):
            if isinstance(message, dict):
                status = message.get("status", "complete")
                if status not in STATUSES:
                    raise ChatImportError(f"{where}, message {j}: unknown status {status!r}.")
                if message.get("usage") is not None and not isinstance(message["usage"], dict):
                    raise ChatImportError(f'{where}, message {j}: "usage" should be an object.')
                if not isinstance(message.get("reasoning", ""), str):
                    raise ChatImportError(f'{where}, message {j}: "reasoning" should be text.')
                if "parts" in message:
                    if not isinstance(message["parts"], list):
                        raise ChatImportError(f"{where}, message {j}: parts must be a list.")
                    try:
                        parts_from_json(message["parts"])
                    except PartError as exc:
                        raise ChatImportError(f"{where}, message {j}: {exc}") from None
            if not isinstance(message, dict) or message.get("role") not in ROLES:
                raise ChatImportError(
                    f"{where}, message {j}: role must be one of {', '.join(ROLES)}."
                )
            # Files from before parts have the text alone; ours have both.
            if not isinstance(message.get("content", "" if "parts" in message else None), str):
                raise ChatImportError(f'{where}, message {j}: needs "content" and "created" text.')
            if not isinstance(message.get("created"), str):
                raise ChatImportError(f'{where}, message {j}: needs "content" and "created" text.')
    return data


def _iso(timestamp: Any) -> str:
    try:
        return datetime.fromtimestamp(float(timestamp), timezone.utc).isoformat()
    except (TypeError, ValueError, OverflowError):
        return datetime.now(timezone.utc).isoformat()


def from_chatgpt(data: Any, name: str) -> dict[str, Any]:
    """ChatGPT's export (conversations.json: a list of chats whose messages form a tree in
    "mapping"): each chat's current branch, text parts only, in our format."""
    if not isinstance(data, list):
        raise ChatImportError(f"{name} is not a ChatGPT conversations.json (expected a list).")
    conversations: list[dict[str, Any]] = []
    for i, chat in enumerate(data, start=1):
        if not isinstance(chat, dict) or not isinstance(chat.get("mapping"), dict):
            raise ChatImportError(f'{name}: chat {i} has no "mapping".')
        mapping: dict[str, Any] = chat["mapping"]
        # The branch the user last saw: from current_node up to the root, reversed.
        node_id = chat.get("current_node")
        path = []
        seen = set()
        while node_id in mapping and node_id not in seen and isinstance(mapping[node_id], dict):
            seen.add(node_id)
            path.append(mapping[node_id])
            node_id = mapping[node_id].get("parent")
        messages = []
        for node in reversed(path):
            message = node.get("message") or {}
            if not isinstance(message, dict):
                continue
            author = message.get("author")
            role = author.get("role") if isinstance(author, dict) else None
            content = message.get("content")
            raw_parts = content.get("parts") if isinstance(content, dict) else None
            parts = [p for p in raw_parts or [] if isinstance(p, str)]
            text = "\n".join(parts).strip()
            if role not in ("user", "assistant", "system") or not text:
                continue
            metadata = message.get("metadata")
            model = metadata.get("model_slug") if isinstance(metadata, dict) else None
            messages.append(
                {
                    "role": role,
                    "content": text,
                    "model": f"openai:{model}" if role == "assistant" and model else None,
                    "status": "complete",
                    "usage": None,
                    "error": None,
                    "created": _iso(message.get("create_time") or chat.get("create_time")),
                }
            )
        conversations.append(
            {
                "title": str(chat.get("title") or "Imported chat"),
                "created": _iso(chat.get("create_time")),
                "updated": _iso(chat.get("update_time") or chat.get("create_time")),
                "model": None,
                "system_prompt": "",
                "params": {},
                "local_only": False,
                "pinned": False,
                "messages": messages,
            }
        )
    return {"format": EXPORT_FORMAT, "version": 1, "conversations": conversations}


def message_parts(message: dict[str, Any]) -> Parts:
    """An exported message's parts: its "parts" list, or (files from before parts) its
    reasoning and text."""
    if "parts" in message:
        return parts_from_json(message["parts"])
    return answer_parts(message.get("content", ""), message.get("reasoning") or "")


def parse_import(data: Any, name: str) -> dict[str, Any]:
    """Our export or ChatGPT's, recognised by shape."""
    if isinstance(data, list):
        return from_chatgpt(data, name)
    return validate_export(data, name)


def adapters_of(message: dict[str, Any]) -> tuple[Adapter, ...]:
    """An exported answer's LoRA adapters (an unreadable list: none, the words still export)."""
    try:
        return adapters_from_json(message.get("adapters"))
    except InvalidParameter:
        return ()


def to_markdown(data: dict[str, Any], names: dict[str, str] | None = None) -> str:
    """Chats for reading or sharing: a heading per chat, each message under its author."""
    names = names or {}
    out: list[str] = []
    for conversation in data["conversations"]:
        out += [f"# {conversation['title']}", "", f"_{conversation['created'][:16]}_", ""]
        if conversation.get("system_prompt"):
            out += ["**System**", "", conversation["system_prompt"], ""]
        for message in shown_branch(conversation):
            if message["role"] == "user":
                who = "You"
            else:
                model = message.get("model") or "Assistant"
                who = with_adapters(names.get(model, model), adapters_of(message))
            status = message.get("status")
            note = f" _({status})_" if status not in (None, "complete") else ""
            out += [f"**{who}**{note}", ""]
            seconds = float((message.get("usage") or {}).get("thinking_s") or 0)
            summary = f"Thought for {seconds:.0f} s" if seconds >= 1 else "Thought"
            parts = message_parts(message)
            results = {p.call_id: p for p in parts if isinstance(p, ToolResult)}
            for part in parts:
                if isinstance(part, ToolCall):
                    out += tool_call_markdown(part, results.get(part.call_id))
                elif isinstance(part, ToolResult) and part.call_id in results:
                    continue  # written with its call
                elif isinstance(part, Reasoning):
                    # Collapsed where Markdown is rendered (GitHub, most editors), as in the app.
                    out += [f"<details><summary>{summary}</summary>", "", part.text]
                    out += ["", "</details>", ""]
                elif isinstance(part, Text):
                    out += [part.text, ""]
                else:
                    out += [placeholder(part), ""]
        out.append("---")
        out.append("")
    return "\n".join(out)


def tool_call_markdown(call: ToolCall, result: ToolResult | None) -> list[str]:
    """A call and its result, collapsed as the chat shows them: the tool and how it went,
    then the arguments and the whole result."""
    where = f" ({call.server})" if call.server else ""
    if call.problem:
        outcome = "could not be read"
    elif result is None:
        outcome = "no result"
    else:
        outcome = result.status.replace("_", " ")
        if result.duration_s >= 0.05:
            outcome += f", {result.duration_s:.1f} s"
    try:
        arguments = json.dumps(json.loads(call.arguments), indent=2, ensure_ascii=False)
    except ValueError:
        arguments = call.arguments
    fence = _fence(arguments, result.content if result is not None else "")
    lines = [f"<details><summary>Tool call: {call.name}{where} — {outcome}</summary>", ""]
    if call.problem:
        lines += [call.problem, ""]
    lines += ["Arguments:", "", f"{fence}json", arguments, fence, ""]
    if result is not None:
        lines += ["Result:", "", fence, result.content, fence, ""]
    return [*lines, "</details>", ""]


def _fence(*texts: str) -> str:
    """A code fence longer than any run of backticks in the texts (a result may hold some)."""
    longest = max((len(run) for text in texts for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


#: Sidebar groups, newest first.
GROUPS = ("Pinned", "Today", "Yesterday", "Previous 7 days", "Previous 30 days", "Older")


def group_of(updated_iso: str, pinned: bool, now: datetime) -> str:
    """The sidebar group of a chat, by the local calendar day of its last change."""
    if pinned:
        return "Pinned"
    try:
        updated = datetime.fromisoformat(updated_iso)
    except ValueError:
        return "Older"
    if updated.tzinfo is None:
        updated = updated.replace(tzinfo=timezone.utc)
    days = (now.astimezone().date() - updated.astimezone().date()).days
    # (days under this bound, group), in order; past the last bound: "Older".
    for bound, label in (
        (1, "Today"),
        (2, "Yesterday"),
        (7, "Previous 7 days"),
        (30, "Previous 30 days"),
    ):
        if days < bound:
            return label
    return "Older"


def shown_branch(conversation: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages of the branch that was on screen (other versions are in the file too)."""
    messages: list[dict[str, Any]] = conversation["messages"]
    leaf = conversation.get("leaf")
    if not isinstance(leaf, int) or not 0 <= leaf < len(messages):
        return messages
    path: list[dict[str, Any]] = []
    index: Any = leaf
    while isinstance(index, int) and 0 <= index < len(messages) and len(path) <= len(messages):
        path.append(messages[index])
        index = messages[index].get("parent")
    return list(reversed(path))
