"""History at scale: full-text search over 100,000 messages, and opening a 5,000-message chat.

Builds a temporary profile whose history database (the real ChatStore, filled through its own
import API, so the FTS triggers index every message) holds 100,000 messages of varied words and
Markdown: one chat of 5,000 messages (with a few regenerated answers, so the shown branch is a
walk through a tree) and many chats of 1,000. Then times, each as the median of several runs:

- ChatStore.search for a few queries: a common word, a rarer one, two words, a short prefix;
- opening the long chat: the store reads (messages of the shown branch and their versions), the
  ChatView render until the view is laid out and scrolled, and the whole of
  MainWindow.open_conversation (what the user waits for after a click), offscreen;
- the view's paths around a search hit: opening at a hit on the chat's first message (a window
  around the hit is rendered, chat_paging.py), the next batch of later messages as the user
  scrolls down, and, in the same run, the way it was before: everything from the hit down to the
  end rendered at once (chat_paging.AFTER_HIT set past the chat's end);
- the next batch of earlier messages.

Run: `python bench/history.py` (about a minute; most of it builds the data set).
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from itertools import accumulate
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication

from desktop.app import build_window
from desktop.core.history_format import EXPORT_FORMAT
from desktop.storage.paths import AppPaths
from desktop.storage.store import ChatStore
from desktop.ui import chat_paging
from desktop.ui.chat_paging import AFTER_HIT, BEFORE_HIT, LATER_BATCH
from desktop.ui.chat_view import EARLIER_BATCH, FIRST_RENDER, ChatView

from report import write_section

TOTAL = 100_000
LONG_CHAT = 5_000
CHAT_SIZE = 1_000
SEARCH_RUNS = 9
OPEN_RUNS = 5
JUMP_RUNS = 3
MODEL = "local:smollm2-135m-instruct"

#: Frequent words, so that some queries match a large share of all messages.
COMMON = [
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "is",
    "it",
    "that",
    "for",
    "you",
    "with",
    "on",
    "as",
    "this",
    "be",
    "are",
    "was",
    "can",
    "model",
    "data",
    "function",
    "python",
    "file",
    "value",
    "error",
    "memory",
    "server",
    "table",
    "query",
    "token",
    "answer",
    "question",
    "example",
    "result",
    "test",
    "code",
    "list",
    "string",
    "number",
    "time",
    "user",
    "system",
    "version",
    "change",
]
SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ne",
    "ru",
    "sa",
    "ti",
    "vo",
    "ze",
    "pa",
    "qu",
    "ber",
    "dor",
    "fen",
    "gal",
    "hin",
    "jor",
    "kel",
    "mor",
    "nal",
]
#: Queries timed: a common word, rarer words, two words, and a short prefix.
QUERIES = ("memory", "galmor", "python error", "qu", "kelvo")


def vocabulary(rng: random.Random) -> tuple[list[str], list[float]]:
    rare = sorted({"".join(rng.choices(SYLLABLES, k=rng.randint(2, 3))) for _ in range(6000)})
    words = COMMON + rare
    # Zipf-like: a few words are everywhere, most are rare.
    weights = list(accumulate(1.0 / (rank + 1) ** 1.05 for rank in range(len(words))))
    return words, weights


def sentence(rng: random.Random, words: list[str], weights: list[float], n: int) -> str:
    chosen = rng.choices(words, cum_weights=weights, k=n)
    return chosen[0].capitalize() + " " + " ".join(chosen[1:]) + "."


def answer(rng: random.Random, words: list[str], weights: list[float]) -> str:
    """An assistant answer in Markdown: paragraphs, sometimes a list, bold or a code block."""
    parts = [
        " ".join(sentence(rng, words, weights, rng.randint(6, 16)) for _ in range(2))
        for _ in range(rng.randint(1, 3))
    ]
    if rng.random() < 0.3:
        parts.append(
            "\n".join(
                f"- **{rng.choice(words)}**: {sentence(rng, words, weights, 6)}" for _ in range(3)
            )
        )
    if rng.random() < 0.15:
        name = rng.choice(words[len(COMMON) :])
        parts.append(f"```python\ndef {name}(value):\n    return value * {rng.randint(2, 9)}\n```")
    if rng.random() < 0.2:
        parts.append(f"Use `{rng.choice(words)}()` for that.")
    return "\n\n".join(parts)


def chat(
    rng: random.Random, words: list[str], weights: list[float], size: int, n: int
) -> dict[str, Any]:
    """One conversation of ``size`` messages; every 250th answer has an older version."""
    messages: list[dict[str, Any]] = []
    last = None
    while len(messages) < size:
        user = len(messages) % 2 == 0 if last is None else messages[last]["role"] == "assistant"
        parent = last
        if not user and len(messages) % 250 == 1 and len(messages) + 2 <= size:
            # A regenerated answer: the old version stays, off the branch on screen.
            messages.append(
                {
                    "role": "assistant",
                    "content": answer(rng, words, weights),
                    "model": MODEL,
                    "created": "2025-01-01T00:00:00+00:00",
                    "parent": parent,
                }
            )
        content = (
            sentence(rng, words, weights, rng.randint(5, 25))
            if user
            else answer(rng, words, weights)
        )
        messages.append(
            {
                "role": "user" if user else "assistant",
                "content": content,
                "model": None if user else MODEL,
                "usage": None if user else {"output_tokens": 80},
                "created": "2025-01-01T00:00:00+00:00",
                "parent": parent,
            }
        )
        last = len(messages) - 1
    return {
        "title": f"Chat {n}",
        "created": "2025-01-01T00:00:00+00:00",
        "updated": f"2025-01-{1 + n % 28:02d}T00:00:00+00:00",
        "model": MODEL,
        "messages": messages,
        "leaf": last,
    }


def build(store: ChatStore) -> int:
    """Fill the store with TOTAL messages; returns the id of the 5,000-message chat."""
    rng = random.Random(7)
    words, weights = vocabulary(rng)
    [long_id] = store.import_conversations(
        {
            "format": EXPORT_FORMAT,
            "version": 1,
            "conversations": [chat(rng, words, weights, LONG_CHAT, 0)],
        }
    )
    for n in range(1, (TOTAL - LONG_CHAT) // CHAT_SIZE + 1):
        store.import_conversations(
            {
                "format": EXPORT_FORMAT,
                "version": 1,
                "conversations": [chat(rng, words, weights, CHAT_SIZE, n)],
            }
        )
    return long_id


def median_ms(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    app = QApplication.instance() or QApplication([])
    root = Path(tempfile.mkdtemp(prefix="llamaside-bench-history-"))
    paths = AppPaths(*(root / n for n in ("data", "config", "cache", "logs"))).create()
    store = ChatStore(paths.database)
    start = time.perf_counter()
    long_id = build(store)
    built = time.perf_counter() - start
    count = store.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    indexed = store.db.execute("SELECT COUNT(*) FROM messages_fts").fetchone()[0]
    assert count == indexed, (count, indexed)

    search_rows = []
    for query in QUERIES:
        hits = len(store.search(query))
        matches = store.db.execute(
            "SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH ?",
            [" ".join(f'"{w}"*' for w in query.split())],
        ).fetchone()[0]
        ms = median_ms(SEARCH_RUNS, partial(store.search, query))
        search_rows.append((query, matches, hits, ms))

    shown = store.messages(long_id)
    store_ms = median_ms(OPEN_RUNS, lambda: (store.messages(long_id), store.versions(long_id)))
    store.close()

    view = ChatView()
    view.resize(900, 700)
    view.show()
    names = {MODEL: "SmolLM2"}

    def render() -> None:
        view.show_messages(shown, names, versions={})
        app.processEvents()  # the queued scroll to the end
        # Until the end is laid out: Qt would otherwise finish a long layout later, on a timer.
        document = view.document()
        document.documentLayout().blockBoundingRect(document.lastBlock())

    view_ms = median_ms(OPEN_RUNS, render)

    def reveal() -> None:
        view.show_earlier()
        app.processEvents()

    render()
    earlier_ms = median_ms(OPEN_RUNS, reveal)

    def jump() -> None:
        # A search hit on the chat's first message: a window from it down is rendered.
        view.show_messages(shown, names, shown[0].id, {})
        app.processEvents()
        document = view.document()
        document.documentLayout().blockBoundingRect(document.lastBlock())

    jump_ms = median_ms(OPEN_RUNS, jump)

    def later() -> None:
        view.show_later()
        app.processEvents()
        document = view.document()
        document.documentLayout().blockBoundingRect(document.lastBlock())

    later_ms = median_ms(OPEN_RUNS, later)
    # Before: everything from the hit down to the end rendered at once.
    chat_paging.AFTER_HIT = LONG_CHAT
    jump_all_ms = median_ms(JUMP_RUNS, jump)
    chat_paging.AFTER_HIT = AFTER_HIT
    view.close()

    window = build_window(paths)
    window.resize(1100, 750)
    window.show()
    app.processEvents()
    other = next(c.id for c in window.chat.store.list_conversations() if c.id != long_id)

    def open_chat() -> None:
        window.open_conversation(long_id)
        app.processEvents()
        document = window.chat_view.document()
        document.documentLayout().blockBoundingRect(document.lastBlock())

    window_times = []
    for _ in range(OPEN_RUNS):
        window.open_conversation(other)
        app.processEvents()
        window_times.append(median_ms(1, open_chat))
    window_ms = statistics.median(window_times)

    def open_at_hit() -> None:
        window.open_conversation(long_id, at_message=shown[0].id)
        app.processEvents()
        document = window.chat_view.document()
        document.documentLayout().blockBoundingRect(document.lastBlock())

    hit_times = []
    for _ in range(OPEN_RUNS):
        window.open_conversation(other)
        app.processEvents()
        hit_times.append(median_ms(1, open_at_hit))
    window_hit_ms = statistics.median(hit_times)
    window.close()
    window.chat.store.close()

    search_median = statistics.median(r[3] for r in search_rows)
    body = (
        f"A history of {count:,} messages in {TOTAL // CHAT_SIZE - LONG_CHAT // CHAT_SIZE + 1} "
        f"chats (built through ChatStore.import_conversations in {built:.1f} s). Medians of "
        f"{SEARCH_RUNS} runs per search, {OPEN_RUNS} per open; offscreen Qt.\n\n"
        "| search (every word as a prefix) | messages matching | hits returned | time |\n"
        "|---|---:|---:|---:|\n"
        + "".join(f"| `{q}` | {m:,} | {h} | {ms:.1f} ms |\n" for q, m, h, ms in search_rows)
        + f"| **median over the queries** | | | **{search_median:.1f} ms** |\n"
        f"\n| opening a 5,000-message chat (the latest {FIRST_RENDER} rendered) | time |\n"
        "|---|---:|\n"
        f"| store: messages of the shown branch + versions | {store_ms:.0f} ms |\n"
        f"| view: ChatView.show_messages until laid out and scrolled | {view_ms:.0f} ms |\n"
        f"| whole MainWindow.open_conversation (store + view + sidebar) | {window_ms:.0f} ms |\n"
        f"| view: the next {EARLIER_BATCH} earlier messages (scrolled to the top, or the link) "
        f"| {earlier_ms:.0f} ms |\n"
        f"\n| opened at a search hit on its first message | time |\n"
        "|---|---:|\n"
        f"| view: ChatView.show_messages at the hit, until laid out ({AFTER_HIT} from the hit "
        f"rendered, up to {BEFORE_HIT} before it) | {jump_ms:.0f} ms |\n"
        f"| whole MainWindow.open_conversation at the hit (store + view + sidebar) "
        f"| {window_hit_ms:.0f} ms |\n"
        f"| view: the next {LATER_BATCH} later messages (scrolled to the bottom, or the link) "
        f"| {later_ms:.0f} ms |\n"
        f"| before (issue 22), same run: everything from the hit down rendered at once "
        f"(all {LONG_CHAT:,}) | {jump_all_ms:.0f} ms |\n"
    )
    print(body)
    write_section("history", "History", body)


if __name__ == "__main__":
    main()
