"""Chat history in SQLite: ChatStore, the one object callers use, made of one class per
aggregate (each in its own module) sharing one connection.

database       the file: opening, migrations (listed in migrations), backups, transactions
conversations  chats, their settings, listing, search, export and import
messages       each chat's tree of messages and their parts
model_records  added model files, load failures, downloads
privacy        the record of every request that left the machine
comparisons    comparisons and votes

The records it returns (Conversation, StoredMessage, ...) live in desktop.core.chat_records and
are re-exported here for existing imports.
"""

from __future__ import annotations

from desktop.core.chat_records import (
    AT_LEAF,
    HIT_END,
    HIT_START,
    Conversation,
    ConversationTitle,
    StoredMessage,
    Versions,
)
from desktop.storage.comparisons import Comparisons
from desktop.storage.conversations import EXPORTED_MESSAGE_FIELDS, Conversations
from desktop.storage.database import now_iso
from desktop.storage.messages import Messages
from desktop.storage.migrations import MIGRATIONS
from desktop.storage.model_records import ModelRecords
from desktop.storage.privacy import PrivacyRecord, append_outbound

__all__ = [
    "AT_LEAF",
    "EXPORTED_MESSAGE_FIELDS",
    "HIT_END",
    "HIT_START",
    "MIGRATIONS",
    "ChatStore",
    "Conversation",
    "ConversationTitle",
    "StoredMessage",
    "Versions",
    "append_outbound",
    "now_iso",
]


class ChatStore(Conversations, Messages, ModelRecords, PrivacyRecord, Comparisons):
    """The history database. One instance per process, used from the GUI thread; each
    aggregate's methods come from its own class, all on the one connection opened by
    storage.database.Database."""
