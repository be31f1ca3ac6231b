"""Speculative decoding by prompt lookup: drafts from the prompt and the answer so far.

No second model: when the last few tokens appeared before (the code being edited, the text
being summarised, the answer's own repetitions), the tokens that followed them then are the
draft (NgramIndex; a small model of the same family can draft instead, draft_model.py,
through the same Drafter methods). One llama_decode checks the last token and the whole
draft, with logits at each position; the sampler chain then chooses at each position in
order, exactly as plain decoding would, and the draft is kept up to the first position where
its choice differs (that choice is the next token). The rejected positions leave the KV cache
(llama_memory_seq_rm).

Each kept token was chosen by the same sampler chain, in the same order (llama_sampler_sample
accepts the token it chose into the repeat-penalty window: kept draft tokens once each, in
order, rejected ones never, the prompt in neither mode), from logits computed with the same
tokens before it, so the answer's distribution is the plain loop's. At temperature 0 it is the
same text only where a position's logits do not depend on how many tokens its batch holds. On
llama.cpp's CPU backend that holds with flash attention on one thread (up to 33 rows;
verified in tests/engine/test_lookup_decoding.py) and not without it: there a one-token decode
and a batch take different matmul kernels for attention against the f16 KV cache (0.5-0.9
apart in SmolLM2's logits, docs/benchmarks.md), enough to flip a near tie; on two threads the
one-token flash-attention path splits the cache between threads and differs as much. Runner
(runner.py) drives it through TokenSteps: sample() for the next token, advance() to make it
part of the context. With no draft (lookup off, or nothing found) that is plain decoding, one
token a call.

Whether drafts pay depends on the machine and the model: a drafted token costs a share of a
token's decode where decoding is compute-bound (a small model on a CPU) and next to nothing
where it is memory-bound (a large one on a GPU). So "auto" does not guess: Pace times every
drafted check and plain step of the answers since the load, and drafts go on only while they
write tokens faster (lookup_mode, Pace, TokenSteps._drafting).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import llama_cpp

from desktop.core.params import SamplingParams

#: 1 turns prompt lookup on for every answer it can serve, 0 off, whatever the load asked.
LOOKUP_ENV = "LLAMASIDE_LOOKUP"
#: What lookup_mode gives: no drafts, drafts throughout, or drafts where they measure faster.
OFF, ON, MEASURED = "", "on", "measured"
#: Longest and shortest n-gram looked up; longer matches are tried first (fewer false drafts).
MAX_NGRAM = 3
MIN_NGRAM = 2
#: Most draft tokens checked in one decode; the length adapts to how much was kept last time.
#: On a 2-core CPU each drafted token costs about 0.37 of a token's decode for SmolLM2-135M
#: (compute-bound); for a large, memory-bound model it is nearly free. Batches stay far under
#: the 33 rows up to which flash attention's CPU kernel gives every row the one-token result.
MAX_DRAFT = 10
MIN_DRAFT = 1
#: How a measured answer judges drafting (Pace): per written token, drafting must take under
#: this share of a plain token's time to go on (timer noise and the CPU sampling it forces).
PAYS_BELOW = 0.97
#: Drafted checks and plain tokens timed before there is a verdict.
MIN_CHECKS = 6
MIN_PLAIN = 6
#: Weight of the newest timing in the running averages.
WEIGHT = 0.25
#: Tokens written without drafts after drafting measured slower, before one draft probes again.
PAUSE_TOKENS = 48
#: An answer that starts while drafting measures slower is written plainly (in-graph sampling
#: where that is on), all but every this-many-th, which measures again.
PROBE_EVERY = 4


def lookup_mode(
    sampling: SamplingParams,
    model: Any,
    pictures: bool,
    mode: str = "auto",
    exact: bool = False,
) -> str:
    """Whether this answer drafts by prompt lookup: OFF, ON, or MEASURED (drafts while this
    machine measures them faster, Pace).

    ``mode`` is the load's choice (LoadParams.speculative); "auto" measures, except for a
    greedy answer where batches are not ``exact`` (their logits are not the one-token ones:
    flash attention on the CPU, one thread, is), which stays plain decoding's token for token,
    and for a seeded sampled one, which stays the same text every time: whether it drafts
    would depend on the timings, and a drafting answer draws on the CPU, not in the graph.
    Off for pictures: a vision prompt's units hold image placeholders and, for Qwen-VL, its
    positions are not one per unit, so explicit draft positions would be wrong. Off for
    recurrent and hybrid models: their state cannot drop the rejected positions. When on, the
    answer samples on the CPU: llama.cpp's in-graph sampling takes one output per sequence.
    """
    asked = os.environ.get(LOOKUP_ENV, "")
    if asked == "0" or pictures:
        return OFF
    if llama_cpp.llama_model_is_recurrent(model) or llama_cpp.llama_model_is_hybrid(model):
        return OFF
    if asked == "1" or mode in ("lookup", "draft"):
        return ON
    greedy = sampling.temperature == 0.0
    if mode == "off" or (greedy and not exact) or (sampling.seed is not None and not greedy):
        return OFF
    return MEASURED


class _Rate:
    """A running average of seconds and of tokens written in them."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.tokens = 0.0
        self.count = 0

    def add(self, seconds: float, tokens: int) -> None:
        weight = 1.0 if self.count == 0 else WEIGHT
        self.seconds += weight * (seconds - self.seconds)
        self.tokens += weight * (tokens - self.tokens)
        self.count += 1

    @property
    def per_token(self) -> float:
        return self.seconds / self.tokens if self.tokens else 0.0


class Pace:
    """Whether drafting pays on this model and machine, measured as answers are written: the
    time per written token of drafted checks (the batch decode and its samples, over the tokens
    it gave) against plain steps (one token's decode and sample), averaged over the answers
    since the load. The runner keeps one per load; TokenSteps times its steps into it."""

    def __init__(self) -> None:
        self.plain = _Rate()
        self.drafted = _Rate()
        self._skipped = 0

    def pays(self) -> bool | None:
        """True or False once both are measured; None before."""
        if self.plain.count < MIN_PLAIN or self.drafted.count < MIN_CHECKS:
            return None
        return self.drafted.per_token < PAYS_BELOW * self.plain.per_token

    def plan(self, mode: str) -> tuple[bool, Pace | None]:
        """As an answer in ``mode`` (lookup_mode's) starts: whether it drafts, and the Pace
        that times it (MEASURED answers, while drafting is not measured slower, and every
        PROBE_EVERY-th one after)."""
        if mode != MEASURED:
            return mode == ON, None
        if self.pays() is False:
            self._skipped += 1
            if self._skipped < PROBE_EVERY:
                return False, None
            self._skipped = 0
        return True, self


class Drafter(Protocol):
    """Where drafts come from: NgramIndex, or a draft model's DraftSource (draft_model.py)."""

    def append(self, token: int) -> None: ...

    def draft(self, k: int) -> list[int]: ...


class NgramIndex:
    """The token history and, for each n-gram in it, where it last appeared with a token after it.

    Appending is a few dict writes, a lookup a few dict reads: the index is kept up to date as
    the answer grows instead of scanning the history for every draft.
    """

    def __init__(
        self, tokens: Sequence[int], max_n: int = MAX_NGRAM, min_n: int = MIN_NGRAM
    ) -> None:
        self._max_n, self._min_n = max_n, min_n
        self._maps: dict[int, dict[tuple[int, ...], int]] = {n: {} for n in range(min_n, max_n + 1)}
        self.tokens: list[int] = []
        for token in tokens:
            self.append(token)

    def append(self, token: int) -> None:
        hist, end = self.tokens, len(self.tokens)
        # The n-grams ending here now have a continuation: `token`, at index `end`.
        for n, seen in self._maps.items():
            if end >= n:
                seen[tuple(hist[end - n :])] = end
        hist.append(token)

    def draft(self, k: int) -> list[int]:
        """Up to k tokens that followed the latest earlier occurrence of the history's tail."""
        hist, end = self.tokens, len(self.tokens)
        for n in range(self._max_n, self._min_n - 1, -1):
            if end >= n:
                at = self._maps[n].get(tuple(hist[end - n :]))
                if at is not None:
                    return hist[at : at + k]
        return []


@dataclass
class LookupStats:
    """How an answer's drafts fared (tests and benchmarks read it)."""

    drafted: int = 0
    accepted: int = 0
    verifications: int = 0
    #: Times drafting stopped for PAUSE_TOKENS because it measured slower (Pace).
    pauses: int = 0


class TokenSteps:
    """The token loop's two steps, with or without drafts.

    sample() gives the next token; advance(token) makes it part of the context (it is then in
    the KV cache). Without a draft, advance decodes the one token and sample() samples its
    logits, as the plain loop did. With one, advance decodes token + draft in one batch and
    samples every position in order at once; the kept tokens are then handed out by sample()
    one by one, already in the cache, so advance has nothing to decode for them.
    """

    def __init__(
        self,
        ctx: Any,
        chain: Any,
        n_in_cache: int,
        max_pos: int,
        drafter: Drafter | None,
        *,
        pace: Pace | None = None,
    ) -> None:
        """n_in_cache: tokens the context holds; max_pos: how many it may hold (no draft goes
        past it); drafter: the drafts' source, told each token of the answer, or None for
        plain decoding; pace: where steps are timed and drafts go only while they measure
        faster (None: drafts wherever one is found)."""
        self._ctx, self._chain = ctx, chain
        self._index = drafter
        self._n = n_in_cache
        self._advanced = n_in_cache  # what the cache should hold once the answer ends
        self._max_pos = max_pos
        self.stats = LookupStats()
        self._ready: list[int] = []  # verified tokens not yet handed out, in order
        self._k = 4
        self._pace = pace
        self._paused_until = 0  # no drafts before this many tokens are advanced
        # The first draft after a pause goes, to measure again; in an answer that Pace let
        # draft although drafting measured slower (every PROBE_EVERY-th), the first of all.
        self._probe = pace is not None and pace.pays() is False
        self._plain_decode_s: float | None = None  # the last plain decode's time, for Pace
        self._token_buf = (llama_cpp.llama_token * 1)()
        # Positions come from the context's memory (pos NULL), as in the plain loop.
        self._one = llama_cpp.llama_batch_get_one(self._token_buf, 1)
        self._batch: Any = None
        if self._index is not None:
            self._batch = llama_cpp.llama_batch_init(MAX_DRAFT + 1, 0, 1)
            for i in range(MAX_DRAFT + 1):
                self._batch.n_seq_id[i] = 1
                self._batch.seq_id[i][0] = 0
                self._batch.logits[i] = 1

    def sample(self) -> int:
        if self._ready:
            return self._ready.pop(0)
        decode_s, self._plain_decode_s = self._plain_decode_s, None
        if self._pace is None or decode_s is None:
            return int(llama_cpp.llama_sampler_sample(self._chain, self._ctx, -1))
        start = time.perf_counter()
        token = int(llama_cpp.llama_sampler_sample(self._chain, self._ctx, -1))
        self._pace.plain.add(decode_s + time.perf_counter() - start, 1)
        return token

    def advance(self, token: int) -> None:
        """Make ``token`` (the last one sample() gave) part of the context."""
        index = self._index
        self._advanced += 1
        if index is not None:
            index.append(token)
        if self._ready:
            return  # a kept draft token: already decoded
        k = min(self._k, self._max_pos - self._n - 1)
        draft = index.draft(k) if index is not None and k > 0 else []
        if draft and not self._drafting():
            draft = []
        if not draft:
            self._token_buf[0] = token
            start = time.perf_counter()
            self._decode(self._one)
            self._plain_decode_s = time.perf_counter() - start
            self._n += 1
            return
        self._verify(token, draft)

    def _drafting(self) -> bool:
        """Whether the draft found may go: always without a Pace; with one, while drafting is
        not measured slower, and the first one after each pause (to measure again)."""
        pace = self._pace
        if pace is None:
            return True
        if self._advanced < self._paused_until:
            return False
        if self._probe:
            self._probe = False
            return True
        if pace.plain.count < MIN_PLAIN <= pace.drafted.count:
            return False  # a plain step, to be measured: drafts found everywhere leave none
        if pace.pays() is False:
            self._paused_until = self._advanced + PAUSE_TOKENS
            self._probe = True
            self.stats.pauses += 1
            return False
        return True

    def _decode(self, batch: Any) -> None:
        status = llama_cpp.llama_decode(self._ctx, batch)
        if status != 0:
            raise RuntimeError(f"llama_decode returned {status}")

    def _verify(self, token: int, draft: list[int]) -> None:
        began = time.perf_counter()
        batch, start = self._batch, self._n
        for i, t in enumerate([token, *draft]):
            batch.token[i] = t
            batch.pos[i] = start + i
        batch.n_tokens = len(draft) + 1
        self._decode(batch)
        # In output order without gaps (llama_sampler_sample's contract): each choice is made
        # after the chain has seen the tokens before it, as in plain decoding.
        kept = 0
        chosen = int(llama_cpp.llama_sampler_sample(self._chain, self._ctx, 0))
        while kept < len(draft) and chosen == draft[kept]:
            kept += 1
            chosen = int(llama_cpp.llama_sampler_sample(self._chain, self._ctx, kept))
        # The context now holds token + the kept draft; the rejected positions go.
        self._n = start + 1 + kept
        if kept < len(draft):
            memory = llama_cpp.llama_get_memory(self._ctx)
            if not llama_cpp.llama_memory_seq_rm(memory, 0, self._n, -1):
                raise RuntimeError("llama.cpp could not drop rejected draft tokens")
        self._ready = [*draft[:kept], chosen]
        if self._pace is not None:
            self._pace.drafted.add(time.perf_counter() - began, kept + 1)
        stats = self.stats
        stats.drafted += len(draft)
        stats.accepted += kept
        stats.verifications += 1
        # All kept: try a longer draft next time; cut short: one a little past what was kept.
        self._k = min(MAX_DRAFT, self._k * 2) if kept == len(draft) else max(MIN_DRAFT, kept + 1)

    def close(self) -> None:
        """Free the batch and leave the cache holding exactly the tokens advanced: kept draft
        tokens never advanced (the answer stopped first) are dropped."""
        if self._n > self._advanced:
            memory = llama_cpp.llama_get_memory(self._ctx)
            llama_cpp.llama_memory_seq_rm(memory, 0, self._advanced, -1)
            self._n = self._advanced
        self._ready = []
        if self._batch is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None
