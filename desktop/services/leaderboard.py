"""The personal leaderboard, read from the user's blind votes: the ratings a table and a chart
show, for one tag and period, with or without votes on answers that named their own model."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import NamedTuple, Protocol

from desktop.core.ratings import Rating, Vote, leaderboard


class VoteSource(Protocol):
    """Where the votes are kept (the history database's ChatStore is one)."""

    def vote_tags(self) -> list[str]: ...

    def votes(self, *, tag: str | None = None, since: str | None = None) -> list[Vote]: ...


class Standings(NamedTuple):
    """Ratings best first; the votes they count; votes left out as flagged (on answers that
    named their own model)."""

    ratings: list[Rating]
    counted: int
    left_out: int


class Leaderboard:
    """Owns reading the votes for the leaderboard and turning them into ratings
    (Bradley-Terry on the Elo scale, bootstrap intervals: core.ratings)."""

    def __init__(self, votes: VoteSource) -> None:
        self.votes = votes

    def tags(self) -> list[str]:
        """The tags votes were given, for the tag filter."""
        return self.votes.vote_tags()

    def standings(
        self,
        tag: str | None = None,
        days: int | None = None,
        count_flagged: bool = False,
        now: datetime | None = None,
    ) -> Standings:
        """The ratings from the votes with ``tag`` (any: None) of the last ``days`` days
        (all time: None); flagged votes count only when ``count_flagged``."""
        since = None
        if days:
            since = ((now or datetime.now(timezone.utc)) - timedelta(days=days)).isoformat()
        votes = self.votes.votes(tag=tag, since=since)
        kept = [vote for vote in votes if count_flagged or not vote.flagged]
        return Standings(leaderboard(kept), len(kept), len(votes) - len(kept))
