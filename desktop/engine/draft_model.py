"""Speculative decoding with a draft model: a small sibling GGUF guesses the next tokens.

The draft model (same vocabulary, e.g. a 135M model for a 1.7B one of its family) is loaded in
the engine child beside the main model, with its own small context. For each draft it first
catches its cache up with the tokens the answer really has (dropping its own rejected guesses,
decoding the kept ones in one batch), then picks up to k tokens greedily, one decode each. The
main model checks them exactly as it checks prompt-lookup drafts (lookup_decoding.TokenSteps),
so the answer is the one its sampler chain would give without drafts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np

from desktop.core.errors import ModelLoadError
from desktop.core.params import LoadParams
from desktop.engine.llama_setup import check_gguf_file, model_params


def _vocab_of(llm: Any) -> Any:
    return llama_cpp.llama_model_get_vocab(llm._model.model)


def vocabulary_mismatch(model: Any, draft: Any) -> str:
    """Why ``draft``'s tokens are not ``model``'s ("" when every id means the same text)."""
    a, b = _vocab_of(model), _vocab_of(draft)
    n_a, n_b = llama_cpp.llama_vocab_n_tokens(a), llama_cpp.llama_vocab_n_tokens(b)
    if n_a != n_b:
        return f"{n_b:,} tokens against {n_a:,}"
    for token in range(n_a):
        if llama_cpp.llama_vocab_get_text(a, token) != llama_cpp.llama_vocab_get_text(b, token):
            return f"token {token} differs"
    return ""


class DraftModel:
    """Owns the draft GGUF's llama.cpp model and context, and what its cache holds."""

    def __init__(
        self, path: Path, main: Any, main_path: Path, n_threads: int, extra_bufts: bool
    ) -> None:
        """Load ``path`` beside ``main`` (a loaded llama_cpp.Llama from ``main_path``); refuses,
        naming both files, a draft whose vocabulary is not the main model's."""
        try:
            with model_params([], extra_bufts):
                self._llm: Any = llama_cpp.Llama(
                    model_path=str(path),
                    n_ctx=main.n_ctx(),
                    n_threads=n_threads,
                    n_threads_batch=n_threads,
                    n_batch=main.n_batch,
                    verbose=False,
                )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelLoadError(f"Cannot load the draft model {path.name}: {exc}") from None
        why = vocabulary_mismatch(main, self._llm)
        if why:
            self.close()
            raise ModelLoadError(
                f"Cannot use {path.name} as a draft model for {main_path.name}: their "
                f"vocabularies differ ({why}); a draft model must come from the same family."
            )
        self.path = path
        self._ctx = self._llm._ctx.ctx
        self._n_vocab = int(llama_cpp.llama_vocab_n_tokens(_vocab_of(self._llm)))
        self._one = (llama_cpp.llama_token * 1)()

    def close(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None

    def drafter(self, prompt: Sequence[int]) -> DraftSource:
        return DraftSource(self, prompt)

    def _sync(self, history: list[int]) -> None:
        """Make the draft cache hold exactly ``history`` (its common prefix is kept)."""
        llm = self._llm
        held = llm.input_ids[: llm.n_tokens].tolist()
        same = 0
        for x, y in zip(held, history, strict=False):
            if x != y:
                break
            same += 1
        same = min(same, len(history) - 1)  # the last token is decoded again for its logits
        llm.n_tokens = same
        llm.eval(history[same:])

    def _greedy(self) -> int:
        logits = llama_cpp.llama_get_logits_ith(self._ctx, -1)
        return int(np.ctypeslib.as_array(logits, shape=(self._n_vocab,)).argmax())

    def draft(self, history: list[int], k: int) -> list[int]:
        self._sync(history)
        llm = self._llm
        out: list[int] = []
        limit = llm.n_ctx() - llm.n_tokens
        while len(out) < min(k, limit):
            token = self._greedy()
            out.append(token)
            if len(out) == k:
                break
            self._one[0] = token
            if llama_cpp.llama_decode(self._ctx, llama_cpp.llama_batch_get_one(self._one, 1)):
                break
            llm.input_ids[llm.n_tokens] = token
            llm.n_tokens += 1
        return out


class DraftSource:
    """One answer's drafts from a DraftModel, with NgramIndex's two methods (TokenSteps')."""

    def __init__(self, model: DraftModel, prompt: Sequence[int]) -> None:
        self._model = model
        self.tokens: list[int] = list(prompt)

    def append(self, token: int) -> None:
        self.tokens.append(token)

    def draft(self, k: int) -> list[int]:
        return self._model.draft(self.tokens, k)


def load_draft(params: LoadParams, main: Any, main_path: Path, n_threads: int) -> DraftModel | None:
    """The draft model the load asks for (speculative="draft"), or None."""
    if params.speculative != "draft":
        return None
    path = Path(params.draft_model)
    try:
        check_gguf_file(path)
    except ModelLoadError as exc:  # say which file it is: the user loaded another model
        raise ModelLoadError(f"{exc} It is the draft model chosen for {main_path.name}.") from None
    return DraftModel(path, main, main_path, n_threads, params.extra_bufts)
