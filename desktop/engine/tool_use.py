"""Tools in the engine child: the prompt a model's own chat template is given with them, the
grammar that keeps a started call well-formed, the stream split that keeps a call's text out of
the answer, and the calls read back at the end.

The grammar is lazy when the model may choose (it starts where a call starts, as llama.cpp's
server does) and active from the first token when a call is required.
"""

from __future__ import annotations

import ctypes
import json
import secrets
from collections.abc import Sequence
from typing import Any

import llama_cpp
from llama_cpp import _internals

from desktop.core.params import SamplingParams
from desktop.core.parts import ToolCall
from desktop.core.tool_formats import (
    ToolFormat,
    call_started,
    hold_from,
    markers,
    parse_calls,
    polyfill_messages,
)
from desktop.core.tools import ToolChoice, ToolSpec
from desktop.engine.tool_grammar import ToolGrammar, tool_grammar


class GrammarRefused(RuntimeError):
    """llama.cpp could not build the grammar for these tools (its log says why)."""


def new_call_id() -> str:
    """Local models name no call ids; the APIs' results must point at one."""
    return "call_" + secrets.token_hex(6)


class ToolUse:
    """One answer's tools: what the template is given, the grammar and the call split."""

    def __init__(
        self,
        fmt: ToolFormat,
        tools: Sequence[ToolSpec],
        choice: ToolChoice,
        answer_schema: str = "",
    ) -> None:
        """``answer_schema``: the JSON Schema a text answer must match (response_format)."""
        self.format = fmt
        self.tools = list(tools)
        self.choice = choice
        self.answer_schema = answer_schema
        # A forced call is one call: allowed more, a small model writes the same one again.
        self.grammar: ToolGrammar | None = tool_grammar(
            fmt, self.tools, choice, parallel=not choice.forced, answer_schema=answer_schema
        )
        self._text = ""
        self._emitted = 0
        #: Where a call began (None: none yet); from there on everything is held.
        self._call_at: int | None = None

    def template_input(
        self, messages: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The messages and extra template variables for the model's chat template: its own
        ``tools`` where it renders them, else the tools described in the system message."""
        offered = [spec.openai() for spec in self.tools] if self.choice.mode != "none" else []
        converted = polyfill_messages(self.format, messages, offered)
        if self.format.native and offered:
            return converted, {"tools": offered}
        return converted, {}

    # -- the stream ------------------------------------------------------------------------

    def feed(self, text: str) -> str:
        """Answer text that may be shown now; a call's text (or what may be the start of one)
        is held back until the end."""
        self._text += text  # appended in place: CPython does not copy a string it alone holds
        whole = self._text
        if self._call_at is not None:
            return ""
        if self._emitted == 0:
            safe = hold_from(self.format, whole)  # the answer's start may open a bare call
            if call_started(self.format, whole):
                self._call_at = safe
        else:
            # Words have been shown, so the answer did not open with a call: only a marker
            # can start one now, and only the text not yet shown needs looking at (not the
            # whole answer again at every token).
            safe = self._emitted + self._tail_hold(whole[self._emitted :])
            if self._marker_at(whole, safe):
                self._call_at = safe
        if safe <= self._emitted:
            return ""
        out = whole[self._emitted : safe]
        self._emitted = safe
        return out

    def _tail_hold(self, rest: str) -> int:
        """Where in ``rest`` (text after what was shown) holding must begin."""
        found = [i for m in markers(self.format) if (i := rest.find(m)) != -1]
        if found:
            return min(found)
        for marker in markers(self.format):
            for k in range(min(len(marker) - 1, len(rest)), 0, -1):
                if rest.endswith(marker[:k]):
                    return len(rest) - k
        return len(rest)

    def _marker_at(self, whole: str, at: int) -> bool:
        return any(whole.startswith(m, at) for m in markers(self.format))

    def finish(self) -> tuple[str, list[ToolCall]]:
        """The answer text not yet shown, and the calls the model made (a call that cannot be
        read is one with its problem named, never answer text)."""
        whole = self._text
        parsed = parse_calls(self.format, whole)
        if self.answer_schema and _json_answer(whole, parsed.calls, self.tools):
            # The grammar held it to calls or the answer's JSON: this is the JSON (Llama's
            # bare calls open as any object does, so it was held back as a possible call).
            return whole[self._emitted :], []
        content = parsed.content
        # What was shown is a prefix of the answer outside calls; show the rest of it.
        tail = content[self._emitted :] if content.startswith(whole[: self._emitted]) else ""
        names = {spec.name: spec.server for spec in self.tools}
        calls = [
            ToolCall(
                new_call_id(),
                call.name,
                call.arguments,
                server=names.get(call.name, ""),
                problem=call.problem or _unknown_tool(call.name, names, parsed.problem),
            )
            for call in parsed.calls
        ]
        return tail, calls


def _json_answer(text: str, calls: Sequence[Any], tools: Sequence[ToolSpec]) -> bool:
    """Whether ``text``, which the grammar let through as calls or a JSON answer, is the
    answer: one JSON value that is not a well-formed call of an offered tool."""
    try:
        json.loads(text)
    except ValueError:
        return False
    offered = {spec.name for spec in tools}
    return not calls or any(call.problem or call.name not in offered for call in calls)


def _unknown_tool(name: str, offered: dict[str, str], problem: str) -> str:
    if problem:
        return problem
    if name not in offered:
        return f"The model called {name!r}, which is not one of the tools it was offered."
    return ""


def _vocab_token(llm: Any, vocab: Any, word: str) -> int | None:
    """The token id of a trigger word that is one (special) token in this vocabulary."""
    ids: list[int] = llm.tokenize(word.encode("utf-8"), add_bos=False, special=True)
    return ids[0] if len(ids) == 1 else None


def sampler_chain(
    llm: Any, vocab: Any, sampling: SamplingParams, n_vocab: int, grammar: ToolGrammar
) -> Any:
    """llama-cpp-python's own chain (as ``Llama._init_sampler`` builds it) with the tool grammar
    after the penalties, where that function puts a grammar: the grammar masks the tokens a
    call cannot continue with before top-k and the draw."""
    sampler = _internals.LlamaSampler()  # type: ignore[no-untyped-call]
    sampler.add_penalties(
        n_vocab=n_vocab,
        penalty_last_n=llm.last_n_tokens_size,
        penalty_repeat=sampling.repeat_penalty,
        penalty_freq=0.0,
        penalty_present=0.0,
    )
    words = [t for t in (_vocab_token(llm, vocab, w) for w in grammar.trigger_words) if t]
    patterns = list(grammar.trigger_patterns)
    gbnf = grammar.gbnf.encode("utf-8")
    if grammar.lazy:
        pattern_array = (ctypes.c_char_p * max(1, len(patterns)))(
            *[p.encode("utf-8") for p in patterns]
        )
        token_array = (llama_cpp.llama_token * max(1, len(words)))(*words)
        handle = llama_cpp.llama_sampler_init_grammar_lazy_patterns(
            vocab, gbnf, b"root", pattern_array, len(patterns), token_array, len(words)
        )
    else:
        handle = llama_cpp.llama_sampler_init_grammar(vocab, gbnf, b"root")
    if not handle:
        sampler.close()  # type: ignore[no-untyped-call]
        raise GrammarRefused("llama.cpp could not build a grammar for these tools.")
    llama_cpp.llama_sampler_chain_add(sampler.sampler, handle)
    temp = sampling.temperature
    if temp < 0.0:
        sampler.add_dist(llm._seed)
    elif temp == 0.0:
        sampler.add_greedy()  # type: ignore[no-untyped-call]
    else:
        sampler.add_top_k(min(sampling.top_k, n_vocab))
        sampler.add_typical(1.0, 1)
        sampler.add_top_p(sampling.top_p, 1)
        sampler.add_min_p(sampling.min_p, 1)
        sampler.add_temp(temp)
        sampler.add_dist(llm._seed)
    return sampler
