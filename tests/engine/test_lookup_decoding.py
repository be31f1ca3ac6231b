"""Speculative decoding by prompt lookup (desktop/engine/lookup_decoding.py).

The n-gram finder on its own, then the engine's own Runner in this process on the bundled
SmolLM2 with flash attention (where a batch's logits equal one-token logits on the CPU), with
lookup (LLAMASIDE_LOOKUP=1) and without (LLAMASIDE_LOOKUP=0): the same greedy answer token for
token at repeat penalty 1.1 and 1.0, drafts really kept, the KV cache left holding exactly the
answer's tokens so the next turn reuses it, and max_tokens and stop strings ending the answer
in the same place. Both answers of a pair start from an empty cache: a prompt whose last token
is decoded alone (a cache hit) and one decoded inside a 64-token-plus batch differ in rounding
with flash attention, which would change plain answers as much as lookup ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import llama_cpp
import pytest

from desktop.core.errors import InvalidParameter
from desktop.core.params import LoadParams, SamplingParams
from desktop.core.usage import StopReason, Usage
from desktop.engine.llama_setup import LogCapture
from desktop.engine.lookup_decoding import (
    LOOKUP_ENV,
    MEASURED,
    OFF,
    ON,
    NgramIndex,
    lookup_mode,
)
from desktop.engine.runner import Runner

CODE = "\n".join(
    f"def step_{i}(x, total):\n    total = total + x * {i}\n    return total\n" for i in range(8)
)
COPY = [
    {
        "role": "user",
        "content": "Rewrite this code, renaming the variable total to acc. Output only the "
        f"code.\n\n```python\n{CODE}```",
    }
]
INVENTORY = "\n".join(
    [
        "def add_item(inventory, name, count):",
        "    if count <= 0:",
        '        raise ValueError("count must be positive")',
        "    current = inventory.get(name, 0)",
        "    inventory[name] = current + count",
        "    return inventory[name]",
        "",
        "",
        "def total_units(inventory):",
        "    total = 0",
        "    for name in inventory:",
        "        total = total + inventory[name]",
        "    return total",
    ]
)
RENAME = [
    {
        "role": "user",
        "content": "Rename the parameter inventory to stock everywhere. Reply with the whole "
        f"code and nothing else.\n\n```python\n{INVENTORY}\n```",
    }
]
#: Greedy, without the repeat penalty (the app's default is 1.1: both are tested).
GREEDY = SamplingParams(temperature=0.0, repeat_penalty=1.0, max_tokens=160)


def test_ngram_index_drafts_what_followed_the_tail() -> None:
    index = NgramIndex([1, 2, 3, 4, 5, 9, 1, 2], max_n=3, min_n=2)
    assert index.draft(3) == [3, 4, 5]
    assert index.draft(1) == [3]
    index.append(7)  # tail (2, 7) and (1, 2, 7) never seen before
    assert index.draft(4) == []


def test_ngram_index_prefers_the_longest_match_then_the_latest() -> None:
    # (5, 1) is followed by 8; (1) alone would be ambiguous, and min_n=2 never uses it.
    index = NgramIndex([5, 1, 8, 6, 1, 9, 5, 1], max_n=3, min_n=2)
    assert index.draft(2) == [8, 6]
    # (3, 4) appears twice with different continuations: the latest wins.
    latest = NgramIndex([3, 4, 10, 3, 4, 11, 3, 4], max_n=2, min_n=2)
    assert latest.draft(1) == [11]
    # A 3-gram match beats the latest 2-gram match.
    longest = NgramIndex([7, 3, 4, 20, 0, 3, 4, 21, 7, 3, 4], max_n=3, min_n=2)
    assert longest.draft(1) == [20]


def test_ngram_index_grows_with_the_answer() -> None:
    index = NgramIndex([], max_n=2, min_n=2)
    assert index.draft(5) == []
    for token in (1, 2, 3, 1, 2):
        index.append(token)
    assert index.tokens == [1, 2, 3, 1, 2]
    assert index.draft(5) == [3, 1, 2]  # a draft runs up to the history's end


def _params(extra_bufts: bool) -> LoadParams:
    return LoadParams(n_ctx=2048, n_threads=1, extra_bufts=extra_bufts, flash_attn=True)


@pytest.fixture(scope="module")
def runner(smollm_path: str, extra_bufts: bool) -> Iterator[Runner]:
    """In this process, in the mode an engine child found safe here (extra_bufts fixture); one
    thread, as two stall whenever another job on a shared 2-core machine takes a core."""
    run = Runner(LogCapture())
    run.load(smollm_path, _params(extra_bufts))
    yield run
    run.unload()


def _answer(
    runner: Runner, messages: list[dict[str, Any]], sampling: SamplingParams, fresh: bool = True
) -> tuple[str, list[int], Usage]:
    """The answer's text, the tokens the context holds after it, and its usage; ``fresh``:
    from an empty cache, the whole prompt in one batch."""
    if fresh:
        runner._llm.n_tokens = 0
    pieces: list[str] = []
    usage = runner.generate(
        messages, sampling, lambda: False, lambda _n: None, lambda text, _n: pieces.append(text)
    )
    llm = runner._llm
    held = [int(t) for t in llm.input_ids[: llm.n_tokens]]
    # The cache holds exactly what n_tokens says: no draft token left behind it.
    memory = llama_cpp.llama_get_memory(llm._ctx.ctx)
    assert llama_cpp.llama_memory_seq_pos_max(memory, 0) == llm.n_tokens - 1
    return "".join(pieces), held, usage


def _both(
    runner: Runner,
    monkeypatch: pytest.MonkeyPatch,
    messages: list[dict[str, Any]],
    sampling: SamplingParams,
) -> tuple[tuple[str, list[int], Usage], tuple[str, list[int], Usage]]:
    monkeypatch.setenv(LOOKUP_ENV, "0")
    plain = _answer(runner, messages, sampling)
    assert runner.last_lookup.drafted == 0
    monkeypatch.setenv(LOOKUP_ENV, "1")
    return plain, _answer(runner, messages, sampling)


@pytest.mark.parametrize("repeat_penalty", [1.1, 1.0])
@pytest.mark.parametrize("prompt", [COPY, RENAME], ids=["copy", "rename"])
def test_greedy_answer_is_the_same_token_for_token_with_drafts_kept(
    runner: Runner,
    monkeypatch: pytest.MonkeyPatch,
    prompt: list[dict[str, Any]],
    repeat_penalty: float,
) -> None:
    sampling = SamplingParams(temperature=0.0, repeat_penalty=repeat_penalty, max_tokens=120)
    plain, lookup = _both(runner, monkeypatch, prompt, sampling)
    stats = runner.last_lookup
    assert stats.accepted > 20, stats  # the copy really came from drafts
    assert stats.accepted <= stats.drafted
    assert lookup[1] == plain[1]  # the tokens the context holds: prompt + answer
    assert lookup[0] == plain[0]
    assert lookup[2].output_tokens == plain[2].output_tokens > 50
    assert lookup[2].stop_reason == plain[2].stop_reason


def test_lookup_is_asked_for_and_never_used_with_pictures(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = runner._llm._model.model
    sampled = SamplingParams()  # the app's default: temperature 0.7
    monkeypatch.delenv(LOOKUP_ENV, raising=False)
    # "auto" measures where drafts cannot change a greedy answer, or where it is sampled.
    assert lookup_mode(GREEDY, model, False, "auto", exact=True) == MEASURED
    assert lookup_mode(sampled, model, False, "auto", exact=False) == MEASURED
    assert lookup_mode(GREEDY, model, False, "auto", exact=False) == OFF  # stays plain's
    seeded = SamplingParams(seed=7)  # the same text every time: never up to the timings
    assert lookup_mode(seeded, model, False, "auto", exact=True) == OFF
    assert lookup_mode(seeded, model, False, "lookup") == ON
    assert (
        lookup_mode(SamplingParams(temperature=0.0, seed=7), model, False, exact=True) == MEASURED
    )
    assert lookup_mode(GREEDY, model, False, "off", exact=True) == OFF
    assert lookup_mode(sampled, model, False, "off") == OFF
    assert lookup_mode(GREEDY, model, False, "lookup") == ON
    assert lookup_mode(sampled, model, False, "draft") == ON
    assert lookup_mode(GREEDY, model, True, "lookup") == OFF
    assert lookup_mode(sampled, model, True, "auto") == OFF
    monkeypatch.setenv(LOOKUP_ENV, "1")
    assert lookup_mode(GREEDY, model, False) == ON
    assert lookup_mode(sampled, model, False, "off") == ON
    assert lookup_mode(GREEDY, model, True) == OFF
    monkeypatch.setenv(LOOKUP_ENV, "0")
    assert lookup_mode(GREEDY, model, False, "lookup") == OFF
    assert lookup_mode(sampled, model, False, "auto") == OFF


def test_the_load_carries_the_mode_to_the_answer(
    smollm_path: str, extra_bufts: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LoadParams.speculative reaches the token loop: "lookup" drafts, "off" never does."""
    monkeypatch.delenv(LOOKUP_ENV, raising=False)
    with pytest.raises(InvalidParameter, match="speculative decoding must be one of"):
        LoadParams(speculative="draft-model")
    assert LoadParams.from_dict({"n_ctx": 512}).speculative == "auto"  # an older host's load
    sampling = SamplingParams(temperature=0.0, repeat_penalty=1.0, max_tokens=40)
    run = Runner(LogCapture())
    try:
        for mode, drafts in (("lookup", True), ("off", False)):
            run.load(
                smollm_path, LoadParams(**{**_params(extra_bufts).to_dict(), "speculative": mode})
            )
            _answer(run, COPY, sampling)
            assert (run.last_lookup.drafted > 0) is drafts, mode
    finally:
        run.unload()


def test_seeded_answer_with_forced_lookup_repeats_itself(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above temperature 0 (lookup only when forced) a seed still fixes the answer: drafts
    depend only on the tokens so far, and each position is drawn in order from the chain. (It
    is not compared with the plain answer's: the plain loop draws inside llama.cpp's graph.)"""
    sampling = SamplingParams(temperature=0.7, seed=11, max_tokens=120)
    monkeypatch.setenv(LOOKUP_ENV, "1")
    once = _answer(runner, COPY, sampling)
    assert runner.last_lookup.drafted > 0
    again = _answer(runner, COPY, sampling)
    assert again[0] == once[0]
    assert again[1] == once[1]


def test_second_turn_after_a_speculative_answer_reuses_the_cache(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LOOKUP_ENV, "1")
    first, _, _ = _answer(runner, COPY, GREEDY)
    assert runner.last_lookup.accepted > 0
    follow = [
        *COPY,
        {"role": "assistant", "content": first},
        {"role": "user", "content": "Now rename acc to result in the same code."},
    ]
    text, held, usage = _answer(runner, follow, GREEDY, fresh=False)
    assert usage.prompt_tokens_evaluated < usage.prompt_tokens // 2  # the first turn reused
    # The same two turns without lookup, the first from an empty cache too: the same text and
    # cache (the second turn's new tokens are decoded in the same batches both times).
    monkeypatch.setenv(LOOKUP_ENV, "0")
    plain_first, _, _ = _answer(runner, COPY, GREEDY)
    assert plain_first == first
    plain_text, plain_held, plain_usage = _answer(runner, follow, GREEDY, fresh=False)
    assert plain_usage.prompt_tokens_evaluated == usage.prompt_tokens_evaluated
    assert text == plain_text
    assert held == plain_held


@pytest.mark.parametrize("max_tokens", [1, 2, 37])
def test_max_tokens_ends_the_answer_at_the_same_token(
    runner: Runner, monkeypatch: pytest.MonkeyPatch, max_tokens: int
) -> None:
    sampling = SamplingParams(temperature=0.0, repeat_penalty=1.0, max_tokens=max_tokens)
    plain, lookup = _both(runner, monkeypatch, COPY, sampling)
    assert lookup[2].output_tokens == plain[2].output_tokens == max_tokens
    assert lookup[2].stop_reason == plain[2].stop_reason == StopReason.LENGTH
    assert lookup[0] == plain[0]
    assert lookup[1] == plain[1]


def test_a_stop_string_ends_the_answer_in_the_same_place(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stop string inside a kept draft: the answer ends there, and the draft tokens after it
    leave the cache."""
    render = runner.render_prompt

    def with_stop(*args: Any, **kwargs: Any) -> Any:
        tokens, stops, opens, chunks = render(*args, **kwargs)
        return tokens, [*stops, "step_3"], opens, chunks

    monkeypatch.setattr(runner, "render_prompt", with_stop)
    plain, lookup = _both(runner, monkeypatch, COPY, GREEDY)
    assert runner.last_lookup.accepted > 0
    assert lookup[2].stop_reason == plain[2].stop_reason == StopReason.STOP
    assert "step_2" in lookup[0] and "step_3" not in lookup[0]
    assert lookup[0] == plain[0]
    assert lookup[1] == plain[1]
    assert lookup[2].output_tokens == plain[2].output_tokens
