"""Speculative decoding with a draft model (desktop/engine/draft_model.py), on real llama.cpp.

SmolLM2 drafts for itself (the same vocabulary, the same greedy choices where no repeat penalty
intervenes): the answer is plain decoding's token for token, at repeat penalty 1.1 and 1.0,
with drafts kept. A random-weight draft (tests/gguf_make.py's tiny llama with SmolLM2's
tokenizer) guesses badly, and still cannot change the answer. A draft whose vocabulary differs
in one token is refused, naming both files. Flash attention is on, as in
test_lookup_decoding.py: there a batch's logits equal one-token logits on the CPU.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gguf
import pytest

from desktop.core.errors import InvalidParameter, ModelLoadError
from desktop.core.params import LoadParams, SamplingParams
from desktop.core.usage import StopReason
from desktop.engine.llama_setup import LogCapture
from desktop.engine.lookup_decoding import LOOKUP_ENV
from desktop.engine.runner import Runner
from tests import gguf_make
from tests.engine.test_lookup_decoding import COPY, RENAME, _answer


def _params(extra_bufts: bool, draft: str) -> LoadParams:
    return LoadParams(
        n_ctx=2048,
        n_threads=1,
        extra_bufts=extra_bufts,
        flash_attn=True,
        speculative="draft",
        draft_model=draft,
    )


@pytest.fixture(scope="module")
def drafted(smollm_path: str, extra_bufts: bool) -> Iterator[Runner]:
    run = Runner(LogCapture())
    run.load(smollm_path, _params(extra_bufts, smollm_path))
    yield run
    run.unload()


def _plain_then_drafted(
    runner: Runner,
    monkeypatch: pytest.MonkeyPatch,
    messages: list[dict[str, Any]],
    sampling: SamplingParams,
) -> tuple[tuple[str, list[int], Any], tuple[str, list[int], Any]]:
    monkeypatch.setenv(LOOKUP_ENV, "0")
    plain = _answer(runner, messages, sampling)
    assert runner.last_lookup.drafted == 0
    monkeypatch.delenv(LOOKUP_ENV)  # the load's own mode: the draft model
    return plain, _answer(runner, messages, sampling)


@pytest.mark.parametrize("repeat_penalty", [1.1, 1.0])
@pytest.mark.parametrize("prompt", [COPY, RENAME], ids=["copy", "rename"])
def test_smollm_drafting_for_itself_gives_the_plain_answer(
    drafted: Runner,
    monkeypatch: pytest.MonkeyPatch,
    prompt: list[dict[str, Any]],
    repeat_penalty: float,
) -> None:
    sampling = SamplingParams(temperature=0.0, repeat_penalty=repeat_penalty, max_tokens=120)
    plain, spec = _plain_then_drafted(drafted, monkeypatch, prompt, sampling)
    stats = drafted.last_lookup
    assert stats.accepted > 40, stats  # its own greedy guesses: mostly kept
    assert spec[0] == plain[0]
    assert spec[1] == plain[1]
    assert spec[2].output_tokens == plain[2].output_tokens
    assert spec[2].stop_reason == plain[2].stop_reason


@pytest.mark.parametrize("max_tokens", [1, 2, 37])
def test_max_tokens_with_a_draft_model(
    drafted: Runner, monkeypatch: pytest.MonkeyPatch, max_tokens: int
) -> None:
    sampling = SamplingParams(temperature=0.0, repeat_penalty=1.0, max_tokens=max_tokens)
    plain, spec = _plain_then_drafted(drafted, monkeypatch, COPY, sampling)
    assert spec[2].output_tokens == plain[2].output_tokens == max_tokens
    assert spec[2].stop_reason == plain[2].stop_reason == StopReason.LENGTH
    assert spec[1] == plain[1]


def test_second_turn_with_a_draft_model_reuses_the_cache(
    drafted: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    sampling = SamplingParams(temperature=0.0, repeat_penalty=1.0, max_tokens=80)
    monkeypatch.delenv(LOOKUP_ENV, raising=False)
    first, _, _ = _answer(drafted, COPY, sampling)
    follow = [*COPY, {"role": "assistant", "content": first}, {"role": "user", "content": "Again."}]
    text, held, usage = _answer(drafted, follow, sampling, fresh=False)
    assert drafted.last_lookup.accepted > 0
    assert usage.prompt_tokens_evaluated < usage.prompt_tokens // 2
    monkeypatch.setenv(LOOKUP_ENV, "0")
    _answer(drafted, COPY, sampling)
    plain_text, plain_held, _ = _answer(drafted, follow, sampling, fresh=False)
    assert (text, held) == (plain_text, plain_held)


def test_a_bad_draft_cannot_change_the_answer(
    smollm_path: str, extra_bufts: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny = gguf_make.tiny_llama(tmp_path / "tiny-draft.gguf", smollm_path)
    run = Runner(LogCapture())
    run.load(smollm_path, _params(extra_bufts, str(tiny)))
    try:
        sampling = SamplingParams(temperature=0.0, repeat_penalty=1.1, max_tokens=60)
        plain, spec = _plain_then_drafted(run, monkeypatch, RENAME, sampling)
        assert run.last_lookup.drafted > 0
        assert run.last_lookup.accepted < run.last_lookup.drafted  # random weights guess badly
        assert spec[:2] == plain[:2]
    finally:
        run.unload()


class _RenamingWriter:
    """A GGUFWriter that gives the vocabulary's last token another text."""

    def __init__(self, writer: gguf.GGUFWriter) -> None:
        self._writer = writer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._writer, name)

    def add_array(self, key: str, value: list[Any]) -> None:
        if key == "tokenizer.ggml.tokens":
            value = [*value[:-1], "zz-not-in-smollm"]
        self._writer.add_array(key, value)


def test_a_draft_with_another_vocabulary_is_refused(
    smollm_path: str, extra_bufts: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = gguf_make._copy_tokenizer
    monkeypatch.setattr(
        gguf_make,
        "_copy_tokenizer",
        lambda reader, writer, *a: copy(reader, _RenamingWriter(writer), *a),  # type: ignore[arg-type]
    )
    other = gguf_make.tiny_llama(tmp_path / "other-vocab.gguf", smollm_path)
    run = Runner(LogCapture())
    with pytest.raises(ModelLoadError) as caught:
        run.load(smollm_path, _params(extra_bufts, str(other)))
    message = str(caught.value)
    assert "other-vocab.gguf" in message and Path(smollm_path).name in message
    assert "vocabularies differ" in message and "token 49151" in message
    assert not run.loaded  # the main model went with it
    with pytest.raises(InvalidParameter, match="draft model file"):
        LoadParams(speculative="draft")
    with pytest.raises(InvalidParameter, match="draft model file"):
        LoadParams(draft_model=smollm_path)
