"""Automatic speculative decoding measures itself (lookup_decoding.Pace): drafts go on while
they write tokens faster than plain steps on this machine and model, pause when they do not and
probe again after; an answer that starts while drafting measures slower is written plainly (and
samples in llama.cpp's graph where that is on), all but every few, which measure again.

The verdict from timings handed to Pace, then the real Runner on the bundled SmolLM2 with its
own clock: drafting measured slower (timings handed to its Pace) keeps drafts to a probe every
PAUSE_TOKENS, where the same answer with drafts forced checks a draft every few tokens."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from desktop.core.params import LoadParams, SamplingParams
from desktop.engine.llama_setup import LogCapture
from desktop.engine.lookup_decoding import (
    LOOKUP_ENV,
    MEASURED,
    MIN_CHECKS,
    MIN_PLAIN,
    OFF,
    ON,
    PAUSE_TOKENS,
    PROBE_EVERY,
    Pace,
)
from desktop.engine.runner import Runner
from tests.engine.test_lookup_decoding import COPY, _answer

#: The app's default temperature; no repeat penalty, so that the copy keeps its drafts. (No
#: seed: a seeded answer never drafts under "auto".)
SAMPLED = SamplingParams(temperature=0.7, repeat_penalty=1.0, max_tokens=160)


def _slow_drafts(pace: Pace) -> None:
    """Timings where a drafted check writes a token in a second and a plain step in 1 ms."""
    for _ in range(MIN_PLAIN):
        pace.plain.add(0.001, 1)
    for _ in range(MIN_CHECKS):
        pace.drafted.add(1.0, 1)


def test_a_verdict_needs_both_measured_then_follows_the_faster() -> None:
    pace = Pace()
    for _ in range(MIN_PLAIN):
        pace.plain.add(0.010, 1)  # 10 ms a token
    assert pace.pays() is None
    for _ in range(MIN_CHECKS - 1):
        pace.drafted.add(0.012, 4)  # 3 ms a token: most drafts kept
    assert pace.pays() is None  # one check short
    pace.drafted.add(0.012, 4)
    assert pace.pays() is True
    for _ in range(12):
        pace.drafted.add(0.011, 1)  # every draft rejected: 11 ms a token
    assert pace.pays() is False
    for _ in range(12):
        pace.drafted.add(0.010, 2)  # half kept again: 5 ms a token
    assert pace.pays() is True


def test_answers_start_plain_while_drafting_measures_slower_but_every_few_probe() -> None:
    pace = Pace()
    assert pace.plan(MEASURED) == (True, pace)  # not measured yet: draft, and time it
    assert pace.plan(ON) == (True, None)
    assert pace.plan(OFF) == (False, None)
    _slow_drafts(pace)
    plans = [pace.plan(MEASURED) for _ in range(2 * PROBE_EVERY)]
    probes = [i for i, plan in enumerate(plans) if plan == (True, pace)]
    assert probes == [PROBE_EVERY - 1, 2 * PROBE_EVERY - 1]
    assert all(plan == (False, None) for i, plan in enumerate(plans) if i not in probes)
    assert pace.plan(ON) == (True, None)  # asked for by the user: drafts whatever was measured


@pytest.fixture(scope="module")
def runner(smollm_path: str, extra_bufts: bool) -> Iterator[Runner]:
    """Loaded as the app loads it here: "auto", flash attention off, two threads (so greedy
    answers are not exact and stay plain; sampled ones measure)."""
    run = Runner(LogCapture())
    run.load(smollm_path, LoadParams(n_ctx=2048, n_threads=2, extra_bufts=extra_bufts))
    yield run
    run.unload()


def test_a_sampled_answer_drafts_and_times_both_kinds_of_step(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(LOOKUP_ENV, raising=False)
    runner.pace = Pace()
    _answer(runner, COPY, SAMPLED)
    stats = runner.last_lookup
    assert stats.drafted > 0 and stats.accepted > 0
    assert runner.pace.drafted.count == stats.verifications
    assert runner.pace.plain.count > 0  # the steps where no draft was found
    assert runner.pace.drafted.per_token > 0 and runner.pace.plain.per_token > 0
    assert not runner.last_sampled_on_device  # drafts are sampled on the CPU
    # Greedy is not exact on this load: it never drafts, whatever was measured.
    _answer(runner, COPY, SamplingParams(temperature=0.0, repeat_penalty=1.0, max_tokens=40))
    assert runner.last_lookup.drafted == 0


def test_drafting_measured_slower_pauses_and_sits_out_answers(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LOOKUP_ENV, "1")
    _answer(runner, COPY, replace(SAMPLED, seed=5))  # drafts wherever one is found
    forced = runner.last_lookup
    monkeypatch.delenv(LOOKUP_ENV)
    runner.pace = Pace()
    _slow_drafts(runner.pace)
    for _ in range(PROBE_EVERY - 1):
        _answer(runner, COPY, SAMPLED)
        assert runner.last_lookup.drafted == 0
        assert runner.last_sampled_on_device  # plain again, in llama.cpp's graph
    _text, _held, usage = _answer(runner, COPY, SAMPLED)  # the answer that measures again
    probed = runner.last_lookup
    assert probed.pauses >= 1
    # Its first draft is checked (and timed), then one after each pause at most, where forced
    # drafts check every few tokens.
    assert 1 <= probed.verifications <= usage.output_tokens // PAUSE_TOKENS + 1
    assert runner.pace.drafted.count == MIN_CHECKS + probed.verifications
    assert forced.verifications > 3 * (160 // PAUSE_TOKENS + 1)
