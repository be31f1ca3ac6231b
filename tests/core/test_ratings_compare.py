"""Rating maths against hand-computed values, and the comparison helpers (best value per row,
answers that name their own model, prompt files with bad lines)."""

from __future__ import annotations

import math

import pytest

from desktop.core.compare import best_columns, monthly_cost, names_itself, parse_prompts
from desktop.core.ratings import Vote, leaderboard, strengths


def test_two_models_match_the_closed_form() -> None:
    # A beat B 3 times, B beat A once. With one virtual tie per pair, A has 3.5 wins and B 1.5,
    # and for two models Bradley-Terry gives p_A / p_B = 3.5 / 1.5 exactly.
    votes = [Vote("A", "B", "a")] * 3 + [Vote("A", "B", "b")]
    rating = strengths(votes)
    assert rating["A"] - rating["B"] == pytest.approx(400 * math.log10(3.5 / 1.5))  # 147.2
    assert (rating["A"] + rating["B"]) / 2 == pytest.approx(1000)


def test_ties_and_both_bad_count_half_each_way() -> None:
    votes = [Vote("A", "B", "tie"), Vote("B", "A", "bad")]
    rating = strengths(votes)
    assert rating["A"] == pytest.approx(rating["B"]) == pytest.approx(1000)


def test_three_models_in_a_cycle_with_one_stronger_link() -> None:
    # A>B twice, B>C twice, C>A once and A>C once. The fitted strengths must satisfy the
    # maximum-likelihood equations: for each model, its wins (real, plus half of one virtual
    # tie per pair it played) equal the sum over its games of p_i / (p_i + p_j).
    votes = (
        [Vote("A", "B", "a")] * 2
        + [Vote("B", "C", "a")] * 2
        + [Vote("C", "A", "a"), Vote("A", "C", "a")]
    )
    rating = strengths(votes)
    p = {m: 10 ** ((r - 1000) / 400) for m, r in rating.items()}
    games = {("A", "B"): 3, ("B", "C"): 3, ("A", "C"): 3}
    wins = {"A": 2 + 1 + 0.5 + 0.5, "B": 0.5 + 2 + 0.5, "C": 1 + 0.5 + 0.5}
    for model in p:
        expected = sum(
            n * p[model] / (p[a] + p[b]) for (a, b), n in games.items() if model in (a, b)
        )
        assert expected == pytest.approx(wins[model], rel=1e-6)  # the ML equations hold
    assert rating["A"] > rating["B"] > rating["C"]


def test_leaderboard_counts_intervals_and_is_reproducible() -> None:
    votes = [Vote("big", "small", "a")] * 8 + [Vote("big", "small", "b")] * 2
    votes += [Vote("small", "big", "tie")]
    first = leaderboard(votes, rounds=100, seed=3)
    again = leaderboard(votes, rounds=100, seed=3)
    assert first == again
    big, small = first
    assert (big.model, big.wins, big.losses, big.ties) == ("big", 8, 2, 1)
    assert big.win_rate == pytest.approx(8.5 / 11)
    assert big.low <= big.rating <= big.high and big.high > big.low
    assert small.rating < big.rating
    assert leaderboard([]) == []


def test_best_value_per_row() -> None:
    assert best_columns([0.5, 0.2, None], "low") == {1}
    assert best_columns([10.0, 30.0, 30.0], "high") == {1, 2}
    assert best_columns([1.0, 1.0], "low") == set()  # nothing stands out
    assert best_columns([5.0, None], "low") == set()  # one value is no comparison
    assert best_columns([3.0, 4.0], "") == set()


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("As Claude, I would say Paris.", "As Claude"),
        ("I am Llama, made by Meta.", "I am Llama"),
        ("I'm ChatGPT and the answer is 4.", "I'm ChatGPT"),
        ("This model was developed by OpenAI.", "developed by OpenAI"),
        ("Llamas are domesticated camelids.", None),
        ("As llamas go, this one is tall.", None),
        ("The capital of France is Paris.", None),
    ],
)
def test_answers_that_name_their_model(text: str, found: str | None) -> None:
    assert names_itself(text) == found


def test_prompt_files_report_bad_lines_and_keep_the_rest() -> None:
    jsonl = '{"prompt": "one"}\n{"prompt": \n"two"\n\n{"text": "x"}\n'
    parsed = parse_prompts(jsonl, "set.jsonl")
    assert parsed.prompts == ["one", "two"]
    assert [p.split(":")[0] for p in parsed.problems] == ["line 2", "line 5"]
    csv_text = "id,prompt\n1,alpha\n2,\n3,gamma\n"
    parsed = parse_prompts(csv_text, "set.csv")
    assert parsed.prompts == ["alpha", "gamma"] and parsed.problems == ["line 3: empty prompt"]
    assert parse_prompts("a\n\nb\n", "set.txt").prompts == ["a", "b"]
    assert monthly_cost(0.002, 10_000) == pytest.approx(20.0)
    assert monthly_cost(None, 10_000) is None


def test_resamples_rate_every_model_on_one_scale() -> None:
    # A resample that happens to lack q still rates q (from the prior tie of its pair), so the
    # geometric-mean anchor covers the same models in every resample.
    pairs = {("x", "y"), ("q", "x")}
    rating = strengths([Vote("x", "y", "a")], pairs=pairs)
    assert set(rating) == {"x", "y", "q"}
    assert names_itself("I am Gemma, an open model.") == "I am Gemma"
