"""A comparison's LoRA adapters in the history (migration 17, comparison_adapters): each column's
on the comparison, each answer's, each vote's sides; comparisons and votes from before adapters
read as before, and on the leaderboard a fine-tune is a contestant of its own."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from desktop.core.adapters import Adapter
from desktop.core.ratings import Vote, contestant, contestant_name, contestant_parts, leaderboard
from desktop.storage.migrations import MIGRATIONS
from desktop.storage.store import ChatStore

SMOL = "local:smollm2-135m-instruct"
TUNE = Adapter("/loras/my-tune.gguf", 0.8)


def test_a_database_from_before_adapters_reads_as_before(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    index = next(i for i, (name, _m) in enumerate(MIGRATIONS) if name == "comparison_adapters")
    assert index == 16  # migration 17
    db = sqlite_utils.Database(path)
    db.execute(
        "CREATE TABLE _migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied TEXT)"
    )
    for number, (name, migrate) in enumerate(MIGRATIONS[:index], start=1):
        migrate(db)
        db.execute("INSERT INTO _migrations VALUES (?, ?, 'x')", [number, name])
    db.execute(
        "INSERT INTO comparisons (created, title, kind, models, tag) "
        f"VALUES ('t', 'old', 'blind', '[\"{SMOL}\", \"openai:gpt-4o\"]', '')"
    )
    db.execute(
        "INSERT INTO comparison_answers (comparison_id, round, slot, model, prompt, content, "
        f"status, created) VALUES (1, 0, 0, '{SMOL}', 'Hi', 'Hello', 'complete', 't')"
    )
    db.execute(
        "INSERT INTO votes (comparison_id, round, model_a, model_b, winner, flagged, tag, "
        f"created) VALUES (1, 0, '{SMOL}', 'openai:gpt-4o', 'a', '', '', 't')"
    )
    db.conn.commit()
    db.close()

    store = ChatStore(path)
    try:
        assert store.schema_version == len(MIGRATIONS)
        old = store.comparison(1)
        assert old.adapters == () and old.column_adapters(1) == ()
        [answer] = store.comparison_answers(1)
        assert answer.adapters == () and answer.content == "Hello"
        [vote] = store.votes()
        assert (vote.side_a, vote.side_b) == (SMOL, "openai:gpt-4o")  # keys as before
        assert [r.model for r in leaderboard([vote])] == [SMOL, "openai:gpt-4o"]

        # A new one: its answers take their column's adapters unless they say otherwise.
        new = store.create_comparison("new", "compare", [SMOL, SMOL], adapters=[(), (TUNE,)])
        for slot in (0, 1):
            store.save_comparison_answer(
                new, round_index=0, slot=slot, model=SMOL, prompt="Hi", content="x", status="x"
            )
        assert store.comparison(new).adapters == ((), (TUNE,))
        assert [a.adapters for a in store.comparison_answers(new)] == [(), (TUNE,)]
        store.add_vote(model_a=SMOL, model_b=SMOL, winner="b", adapters_b=[TUNE])
        votes = store.votes()
        assert votes[-1].adapters_a == () and votes[-1].adapters_b == (TUNE,)
    finally:
        store.close()
    raw = sqlite3.connect(path)
    stored = raw.execute("SELECT adapters FROM comparisons ORDER BY id").fetchall()
    raw.close()
    assert stored[0] == (None,)  # nothing written where there is nothing to say


def test_a_fine_tune_is_its_own_contestant() -> None:
    key = contestant(SMOL, [TUNE])
    assert key != SMOL and contestant(SMOL) == SMOL
    assert contestant(SMOL, [Adapter(TUNE.path, 0.5)]) != key  # another scale, another one
    assert contestant_parts(key) == (SMOL, (TUNE,))
    assert contestant_parts(SMOL) == (SMOL, ())
    assert contestant_name(key, lambda _id: "SmolLM2") == "SmolLM2 + my-tune × 0.8"
    votes = [Vote(SMOL, SMOL, "b", adapters_b=(TUNE,))] * 3 + [
        Vote(SMOL, SMOL, "a", adapters_b=(TUNE,))
    ]
    table = leaderboard(votes)
    assert [(r.model_id, r.adapters) for r in table] == [(SMOL, (TUNE,)), (SMOL, ())]
    assert (table[0].wins, table[0].losses) == (3, 1)
    # The same model with no adapters on both sides is no contest at all.
    assert leaderboard([Vote(SMOL, SMOL, "a")]) == []
