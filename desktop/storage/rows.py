"""Rows of the history database into core's records (and message parts into columns and back).
Reading is the hot path of opening a long chat: tuples, dict lookups, no JSON for plain text."""

from __future__ import annotations

import json
from typing import Any

from desktop.core.adapters import Adapter, adapters_from_json
from desktop.core.chat_records import Conversation, StoredMessage
from desktop.core.errors import InvalidParameter
from desktop.core.messages import MessageStatus, Role
from desktop.core.params import SamplingParams
from desktop.core.parts import (
    Part,
    Parts,
    Reasoning,
    Text,
    Unknown,
    is_plain,
    parts_from_json,
    parts_to_json,
    text_of,
)
from desktop.core.tools import ToolChoice


def conversation_from_row(row: dict[str, Any]) -> Conversation:
    params = params_of(row["params"])
    return Conversation(
        row["id"],
        row["title"],
        row["created"],
        row["updated"],
        row["model"],
        row["system_prompt"],
        bool(row["local_only"]),
        bool(row["pinned"]),
        preset=str(params.get("preset") or ""),
        sampling=_sampling(params),
        context_from=_int(params.get("context_from")),
        context_summary=str(params.get("context_summary") or ""),
        tools=_names(params.get("tools")),
        tool_choice=_tool_choice(params.get("tool_choice")),
        adapters=_chosen_adapters(params.get("adapters")),
    )


def _chosen_adapters(value: Any) -> tuple[Adapter, ...]:
    """A chat's chosen adapters (anything unreadable, e.g. hand-edited, is none)."""
    try:
        return adapters_from_json(value)
    except InvalidParameter:
        return ()


def _tool_choice(value: Any) -> ToolChoice:
    """A chat's tool choice (anything unreadable, e.g. hand-edited, is the default)."""
    try:
        return ToolChoice.from_dict(value if isinstance(value, dict) else None)
    except ValueError:
        return ToolChoice()


def _names(value: Any) -> tuple[str, ...]:
    """A list of names from a chat's params (anything else, e.g. hand-edited, is none)."""
    if not isinstance(value, list):
        return ()
    return tuple(str(v) for v in value if isinstance(v, str) and v)


def params_of(raw: str | None) -> dict[str, Any]:
    try:
        params = json.loads(raw or "{}")
    except ValueError:
        return {}
    return params if isinstance(params, dict) else {}


_SAMPLING_KEYS = frozenset(SamplingParams.__dataclass_fields__)


def _sampling(params: dict[str, Any]) -> SamplingParams | None:
    if _SAMPLING_KEYS.isdisjoint(params):
        return None
    try:
        return SamplingParams.from_dict(params)
    except InvalidParameter:
        return None


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def listed(limit: int | None = None, offset: int = 0) -> str:
    """The chats the sidebar lists, in its order (pinned first, then the most recently
    updated; deleted ones awaiting undo left out), or one page of them. The index
    conversations_listed (migration 9) is this filter and order: change them together."""
    page = "" if limit is None else f" LIMIT {int(limit)} OFFSET {int(offset)}"
    return "WHERE deleted IS NULL ORDER BY pinned DESC, updated DESC, id DESC" + page


_ROLES = {role.value: role for role in Role}
_STATUSES = {status.value: status for status in MessageStatus}
#: The columns message_from_tuple reads, in its order (parent_id last).
MESSAGE_COLUMNS = (
    "id, conversation_id, role, content, model, status, usage, error, created, parts, parent_id, "
    "adapters"
)
#: Where a row of MESSAGE_COLUMNS has its parent's id.
PARENT = 10
#: How a stored parts value that cannot be read is shown (its raw text kept under "raw").
UNREADABLE = "unreadable"


def parts_from_column(raw: str | None, content: str) -> Parts:
    """A message's parts from its row: NULL is its text alone; a value this version cannot
    read becomes an Unknown part kept beside the text, so the row still opens and nothing
    written is lost."""
    if raw is None:
        return (Text(content),)
    try:
        return parts_from_json(raw)
    except (ValueError, RecursionError):
        return Unknown({"type": UNREADABLE, "raw": raw}), Text(content)


def _stored_parts(raw: str | None, content: str) -> Parts:
    """StoredMessage.stored_parts: empty for the text alone (its Text part is made when asked)."""
    return () if raw is None else parts_from_column(raw, content)


def parts_to_columns(parts: Parts) -> tuple[str, str | None]:
    """(content, parts) column values: the text, and the JSON unless it is the text alone."""
    return text_of(parts), None if is_plain(parts) else parts_to_json(parts)


def with_text(parts: Parts, content: str | None, reasoning: str | None) -> Parts:
    """``parts`` with its text and/or reasoning replaced, other parts kept where they were."""
    result: list[Part] = list(parts)
    for kind, new in ((Reasoning, reasoning), (Text, content)):
        if new is None:
            continue
        at = next((i for i, p in enumerate(result) if isinstance(p, kind)), None)
        result = [p for p in result if not isinstance(p, kind)]
        if new or (kind is Text and not result):
            if at is None:
                at = 0 if kind is Reasoning else len(result)
            result.insert(min(at, len(result)), kind(new))
    return tuple(result)


def adapters_of_column(raw: str | None) -> tuple[Adapter, ...]:
    """An adapters column; one this version cannot read shows as none (the answer opens)."""
    if not raw:
        return ()
    try:
        return adapters_from_json(json.loads(raw))
    except (ValueError, InvalidParameter):
        return ()


def message_from_row(row: dict[str, Any]) -> StoredMessage:
    return StoredMessage(
        row["id"],
        row["conversation_id"],
        # Dict lookups, not Role(...): a 5,000-message chat makes 10,000 of these.
        _ROLES[row["role"]],
        row["content"],
        row["model"],
        _STATUSES[row["status"]],
        json.loads(row["usage"]) if row["usage"] else None,
        row["error"],
        row["created"],
        row.get("parent_id"),
        _stored_parts(row.get("parts"), row["content"]),
        adapters_of_column(row.get("adapters")),
    )


def message_from_tuple(row: tuple[Any, ...]) -> StoredMessage:
    """A row of ``SELECT {MESSAGE_COLUMNS}``."""
    usage = row[6]
    return StoredMessage(
        row[0],
        row[1],
        _ROLES[row[2]],
        row[3],
        row[4],
        _STATUSES[row[5]],
        json.loads(usage) if usage else None,
        row[7],
        row[8],
        row[10],
        _stored_parts(row[9], row[3]),
        adapters_of_column(row[11]) if row[11] else (),
    )
