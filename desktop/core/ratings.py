"""A personal leaderboard from pairwise votes: Bradley-Terry strengths on the Elo scale, with
bootstrap confidence intervals, win rates and counts.

Bradley-Terry says model i beats model j with probability p_i / (p_i + p_j). The strengths are
fitted with Hunter's MM iteration; a tie (and "both bad") counts as half a win for each side, as
in LMSYS's arena. Every pair that met also gets one virtual tie (a prior), so a model that has
only lost keeps a finite rating. Ratings are shown as 1000 + 400 * log10(p), with the geometric
mean of p fixed at 1, so a 100-point gap means about 64 % expected wins.

A contestant is a model as it answered: the bare model is its id (as every vote before LoRA
adapters); a fine-tune ("SmolLM2 + my-tune × 0.8") is its own contestant, keyed by the model
id with its adapters and scales (``contestant``), so base and fine-tune are rated apart.
"""

from __future__ import annotations

import json
import math
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from desktop.core.adapters import Adapter, adapters_from_json, adapters_to_json, with_adapters
from desktop.core.errors import InvalidParameter

#: Votes and what they mean for model_a.
A_WINS, B_WINS, TIE, BOTH_BAD = "a", "b", "tie", "bad"
WINNERS = (A_WINS, B_WINS, TIE, BOTH_BAD)
BASE_RATING = 1000.0
SCALE = 400.0


def contestant(model_id: str, adapters: Sequence[Adapter] = ()) -> str:
    """The leaderboard's key for a model as it answered: its id for the bare model, else
    {"model": id, "adapters": [{"path", "scale"}, ...]} as compact JSON (a model id never
    starts with "{"), so the same file at another scale is another contestant."""
    if not adapters:
        return model_id
    data = {"model": model_id, "adapters": adapters_to_json(adapters)}
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def contestant_parts(key: str) -> tuple[str, tuple[Adapter, ...]]:
    """A contestant's model id and adapters (a key that is not one of ours: a model id)."""
    if not key.startswith("{"):
        return key, ()
    try:
        data = json.loads(key)
        return str(data["model"]), adapters_from_json(data.get("adapters"))
    except (ValueError, KeyError, TypeError, InvalidParameter):
        return key, ()


def contestant_name(key: str, model_name: Callable[[str], str]) -> str:
    """ "SmolLM2 + my-tune × 0.8": the model as ``model_name`` names its id, with its adapters."""
    model_id, adapters = contestant_parts(key)
    return with_adapters(model_name(model_id), adapters)


@dataclass(frozen=True)
class Vote:
    """One blind vote between two models: who won, and, for a vote read from the history,
    why it stays off the leaderboard (if it does), its tag, when it was given and the
    comparison round it was given on. Ratings read only the models and the winner."""

    model_a: str
    model_b: str
    winner: str  # one of WINNERS
    #: Why it stays out of the leaderboard ("" to count it): the answer named its own model.
    flagged: str = ""
    tag: str = ""
    #: When it was given (ISO time; "" for a vote not stored).
    created: str = ""
    #: The comparison and its round voted on (None once that comparison is deleted).
    comparison_id: int | None = None
    round: int | None = None
    #: Its row in the history (0 for a vote not stored).
    id: int = 0
    #: The LoRA adapters each side answered with (empty: the bare model).
    adapters_a: tuple[Adapter, ...] = ()
    adapters_b: tuple[Adapter, ...] = ()

    @property
    def side_a(self) -> str:
        """Side A's contestant (its model with its adapters)."""
        return contestant(self.model_a, self.adapters_a)

    @property
    def side_b(self) -> str:
        return contestant(self.model_b, self.adapters_b)


@dataclass(frozen=True)
class Rating:
    """One contestant's place on the leaderboard: its rating, interval and record."""

    #: The contestant: a model id, or a model with adapters (``contestant``).
    model: str
    rating: float
    #: 95 % bootstrap interval of the rating.
    low: float
    high: float
    wins: int
    losses: int
    ties: int

    @property
    def votes(self) -> int:
        return self.wins + self.losses + self.ties

    @property
    def model_id(self) -> str:
        return contestant_parts(self.model)[0]

    @property
    def adapters(self) -> tuple[Adapter, ...]:
        return contestant_parts(self.model)[1]

    @property
    def win_rate(self) -> float:
        """Wins over all votes, ties counting half."""
        return (self.wins + 0.5 * self.ties) / self.votes if self.votes else 0.0


def strengths(
    votes: list[Vote],
    prior_ties: float = 1.0,
    iterations: int = 500,
    pairs: set[tuple[str, str]] | None = None,
) -> dict[str, float]:
    """Bradley-Terry strengths on the Elo scale (see the module docstring). ``pairs`` names the
    pairs that get the virtual tie (default: those in ``votes``); the bootstrap passes every
    pair of the full data, so each resample rates the same models on the same scale."""
    wins: dict[str, float] = defaultdict(float)
    games: dict[tuple[str, str], float] = defaultdict(float)
    for vote in votes:
        a, b = vote.side_a, vote.side_b
        if a == b:
            continue
        pair = (a, b) if a < b else (b, a)
        games[pair] += 1
        if vote.winner == A_WINS:
            wins[a] += 1
        elif vote.winner == B_WINS:
            wins[b] += 1
        else:
            wins[a] += 0.5
            wins[b] += 0.5
    for a, b in pairs if pairs is not None else list(games):
        games[(a, b)] += prior_ties
        wins[a] += prior_ties / 2
        wins[b] += prior_ties / 2
    models = sorted({m for pair in games for m in pair})
    if not models:
        return {}
    p = dict.fromkeys(models, 1.0)
    for _ in range(iterations):
        new = {}
        for m in models:
            denominator = sum(n / (p[a] + p[b]) for (a, b), n in games.items() if m in (a, b))
            new[m] = wins[m] / denominator
        scale = math.exp(sum(math.log(v) for v in new.values()) / len(new))
        new = {m: v / scale for m, v in new.items()}
        converged = max(abs(new[m] - p[m]) for m in models) < 1e-10
        p = new
        if converged:
            break
    return {m: BASE_RATING + SCALE * math.log10(v) for m, v in p.items()}


def leaderboard(votes: list[Vote], rounds: int = 200, seed: int = 0) -> list[Rating]:
    """Ratings with 95 % intervals from ``rounds`` bootstrap resamples of the votes (seeded, so
    the same votes always give the same table), best first."""
    point = strengths(votes)
    samples: dict[str, list[float]] = defaultdict(list)
    rng = random.Random(seed)
    sides = [(v.side_a, v.side_b) for v in votes]
    pairs = {(a, b) if a < b else (b, a) for a, b in sides if a != b}
    if votes:
        for _ in range(rounds):
            resample = [votes[rng.randrange(len(votes))] for _ in votes]
            for model, value in strengths(resample, iterations=200, pairs=pairs).items():
                samples[model].append(value)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for vote, (a, b) in zip(votes, sides, strict=True):
        if a == b:
            continue
        if vote.winner == A_WINS:
            counts[a][0] += 1
            counts[b][1] += 1
        elif vote.winner == B_WINS:
            counts[b][0] += 1
            counts[a][1] += 1
        else:
            counts[a][2] += 1
            counts[b][2] += 1
    table = []
    for model, rating in point.items():
        values = sorted(samples.get(model) or [rating])
        low = values[int(0.025 * (len(values) - 1))]
        high = values[math.ceil(0.975 * (len(values) - 1))]
        wins, losses, ties = counts[model]
        table.append(Rating(model, rating, min(low, rating), max(high, rating), wins, losses, ties))
    table.sort(key=lambda r: (-r.rating, r.model))
    return table
