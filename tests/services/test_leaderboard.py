"""The leaderboard service on a real SQLite file: ratings from the stored votes, by tag and
period, with flagged votes (on answers that named their own model) left out unless counted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from desktop.core.ratings import A_WINS, B_WINS, Vote
from desktop.services.comparisons import Comparisons
from desktop.services.leaderboard import Leaderboard
from desktop.storage.store import ChatStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChatStore]:
    votes = ChatStore(tmp_path / "history.db")
    for _ in range(3):
        votes.add_vote(model_a="big", model_b="small", winner=A_WINS, tag="code")
    votes.add_vote(model_a="big", model_b="small", winner=B_WINS, tag="poems")
    votes.add_vote(model_a="big", model_b="small", winner=B_WINS, flagged="named itself")
    yield votes
    votes.close()


def test_standings_by_tag_and_flag(store: ChatStore) -> None:
    board = Leaderboard(store)
    assert sorted(board.tags()) == ["code", "poems"]
    everything = board.standings()
    assert (everything.counted, everything.left_out) == (4, 1)
    assert [r.model for r in everything.ratings] == ["big", "small"]
    assert everything.ratings[0].wins == 3 and everything.ratings[0].losses == 1
    flagged = board.standings(count_flagged=True)
    assert (flagged.counted, flagged.left_out) == (5, 0)
    poems = board.standings(tag="poems")
    assert poems.counted == 1 and poems.ratings[0].model == "small"
    assert board.standings(tag="nothing") == ([], 0, 0)


def test_stored_votes_are_vote_records(store: ChatStore) -> None:
    votes = store.votes()
    assert all(isinstance(vote, Vote) for vote in votes)
    first = votes[0]
    assert (first.model_a, first.model_b, first.winner) == ("big", "small", A_WINS)
    assert first.tag == "code"
    assert (first.flagged, first.comparison_id, first.round) == ("", None, None)
    assert first.id == 1 and first.created.startswith("20")
    assert votes[-1].flagged == "named itself"
    assert [vote.tag for vote in store.votes(tag="poems")] == ["poems"]


def test_standings_by_period(store: ChatStore) -> None:
    board = Leaderboard(store)
    assert board.standings(days=7).counted == 4
    later = datetime.now(timezone.utc) + timedelta(days=8)
    assert board.standings(days=7, now=later).counted == 0
    assert board.standings(days=None, now=later).counted == 4


def test_comparisons_read_and_vote_through_one_service(store: ChatStore) -> None:
    comparisons = Comparisons(store)
    made = store.create_comparison("Which is kinder?", "blind", ["local:a", "openai:b"])
    store.save_comparison_answer(
        made,
        round_index=0,
        slot=0,
        model="local:a",
        prompt="Hi?",
        content="Hello.",
        status="complete",
    )
    assert comparisons.recent()[0].id == made
    assert comparisons.comparison(made).models == ("local:a", "openai:b")
    assert [a.content for a in comparisons.answers(made)] == ["Hello."]
    before = comparisons.leaderboard.standings(days=None).counted
    comparisons.add_vote(model_a="local:a", model_b="openai:b", winner="a", comparison_id=made)
    assert comparisons.leaderboard.standings(days=None).counted == before + 1
