"""Sampling inside llama.cpp's graph (backend sampling) against the CPU sampler chain.

The engine attaches each answer's sampler chain to the context, so the leading samplers run
inside llama_decode and the host no longer scans all ~50k logits per token. These tests load
the engine's own Runner in this process to see which path chose the tokens, and compare the
tokens with the CPU chain's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from desktop.core.params import LoadParams, SamplingParams
from desktop.core.usage import StopReason
from desktop.engine import llama_setup
from desktop.engine import runner as runner_module
from desktop.engine.graph_sampling import graph_sampling_safe
from desktop.engine.llama_setup import (
    LogCapture,
    gpu_offload_supported,
    graph_sampling_default,
)
from desktop.engine.runner import Runner

STORY = [{"role": "user", "content": "Tell me a story about a lighthouse keeper and a storm."}]


@pytest.fixture(scope="module")
def runners(smollm_path: str, extra_bufts: bool) -> Iterator[tuple[Runner, Runner]]:
    """The same model loaded twice: sampling in the graph and on the CPU, each asked for (a
    GPU build samples on the CPU unless asked: graph_sampling_default). In this process, so
    in the mode an engine child found safe here (the extra_bufts fixture)."""
    log = LogCapture()
    device, cpu = Runner(log), Runner(log)
    base = LoadParams(n_ctx=1024, n_threads=2, extra_bufts=extra_bufts)
    device.load(smollm_path, replace(base, sample_on_device=True))
    cpu.load(smollm_path, replace(base, sample_on_device=False))
    yield device, cpu
    device.unload()
    cpu.unload()


def _answer(runner: Runner, sampling: SamplingParams) -> tuple[str, int, StopReason]:
    pieces: list[str] = []
    usage = runner.generate(
        STORY, sampling, lambda: False, lambda _n: None, lambda text, _n: pieces.append(text)
    )
    return "".join(pieces), usage.output_tokens, usage.stop_reason


@pytest.mark.parametrize("repeat_penalty", [1.0, 1.1, 5.0])
def test_greedy_tokens_are_chosen_in_the_graph_and_match_the_cpu_chain(
    runners: tuple[Runner, Runner], repeat_penalty: float
) -> None:
    """Greedy with the repeat penalty (which also moves into the graph): the same answer,
    token for token, as the CPU chain; and the device path really did choose them."""
    device, cpu = runners
    sampling = SamplingParams(temperature=0.0, repeat_penalty=repeat_penalty, max_tokens=80)
    ours = _answer(device, sampling)
    assert device.last_sampled_on_device
    reference = _answer(cpu, sampling)
    assert not cpu.last_sampled_on_device
    assert ours == reference
    assert ours[1] > 20  # a real answer, not an immediate end


def test_seeded_answers_at_the_default_settings_do_not_depend_on_where_sampling_runs(
    runners: tuple[Runner, Runner],
) -> None:
    """At the app's defaults (top-k 40, top-p 0.95, min-p 0.05, temperature 0.7, repeat 1.1)
    the whole chain, the seeded random draw included, runs in the graph (on this build): the
    same seed gives the same answer as the CPU chain, and again on a second run."""
    device, cpu = runners
    for seed in (3, 42):
        sampling = SamplingParams(seed=seed, max_tokens=60)
        ours = _answer(device, sampling)
        assert device.last_sampled_on_device
        assert ours == _answer(cpu, sampling)
        assert ours == _answer(device, sampling)


@pytest.mark.parametrize(
    "settings",
    [
        # ggml_top_k asserts k <= the number of logits: a top-k beyond the vocabulary (which
        # the settings allow: "all of them") crashed the engine before it was clamped.
        {"top_k": 1_000_000},
        {"top_k": 49_152, "top_p": 1.0, "min_p": 0.0},
        {"top_k": 0},
        {"top_k": 1, "min_p": 0.99},
        {"temperature": 5.0, "top_p": 0.01},
        {"temperature": 0.0, "top_k": 0, "repeat_penalty": 5.0},
        {"min_p": 0.99, "repeat_penalty": 0.01},
        # In-graph min-p keeps no token at all at min_p 1, or when log(min_p) vanishes next to
        # the logits in float32 (review found garbage text): these go to the CPU chain.
        {"min_p": 1.0},
        {"min_p": 0.999999},
        {"repeat_penalty": 1e-9, "min_p": 1e-9},
    ],
)
def test_extreme_settings_choose_what_the_cpu_chain_chooses(
    runners: tuple[Runner, Runner], settings: dict[str, float]
) -> None:
    device, cpu = runners
    sampling = SamplingParams(max_tokens=12, seed=7, **settings)  # type: ignore[arg-type]
    ours = _answer(device, sampling)
    assert device.last_sampled_on_device == graph_sampling_safe(sampling)
    text, n_tokens, reason = ours
    assert n_tokens >= 1 and reason in (StopReason.STOP, StopReason.LENGTH)
    if sampling.top_p < 1.0 or sampling.temperature == 0.0:
        # top-p sorts the candidates before the draw; without it the graph's top-k hands
        # them over in another order, and the same seed draws another (equally likely) token.
        assert ours == _answer(cpu, sampling), settings
    else:
        assert text or reason == StopReason.STOP


def test_a_stopped_answer_detaches_the_chain_and_the_next_answer_works(
    runners: tuple[Runner, Runner],
) -> None:
    """Stop mid-answer frees the chain the context pointed at: after it, a plain llama_decode
    samples nothing in the graph (a chain left attached would be freed memory that the next
    decode runs); and the next answer attaches its own."""
    import llama_cpp

    device, _cpu = runners
    seen: list[int] = []

    def cancelled() -> bool:
        return len(seen) >= 1

    usage = device.generate(
        STORY,
        SamplingParams(temperature=0.0, max_tokens=200),
        cancelled,
        lambda _n: None,
        lambda _text, n: seen.append(n),
    )
    assert usage.stop_reason == StopReason.CANCELLED
    assert device.last_sampled_on_device
    ctx = device._llm._ctx.ctx
    token = (llama_cpp.llama_token * 1)(device._llm.tokenize(b" the", add_bos=False)[0])
    assert llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(token, 1)) == 0
    assert llama_cpp.llama_get_sampled_token_ith(ctx, -1) == -1
    text, n_tokens, _reason = _answer(device, SamplingParams(temperature=0.0, max_tokens=20))
    assert device.last_sampled_on_device and n_tokens == 20 and text


@pytest.mark.parametrize("gpu_build", [False, True])
def test_where_tokens_are_chosen_by_default_follows_the_build(
    smollm_path: str, gpu_build: bool, monkeypatch: pytest.MonkeyPatch, extra_bufts: bool
) -> None:
    """Unless asked, a build without GPU offload (checked here on every run) samples in the
    graph, and a GPU build (not yet checked by us on a GPU) on the CPU. This build is one of
    the two; the other is played by the engine's answer to "can it offload?"."""
    assert graph_sampling_default() is (not gpu_offload_supported())
    # Runner asks for its model facts, graph_sampling_default for the default: both answer.
    monkeypatch.setattr(runner_module, "gpu_offload_supported", lambda: gpu_build)
    monkeypatch.setattr(llama_setup, "gpu_offload_supported", lambda: gpu_build)
    runner = Runner(LogCapture())
    runner.load(
        smollm_path, LoadParams(n_ctx=512, n_threads=2, n_gpu_layers=0, extra_bufts=extra_bufts)
    )
    try:
        _answer(runner, SamplingParams(temperature=0.0, max_tokens=8))
        assert runner.last_sampled_on_device is (not gpu_build)
    finally:
        runner.unload()
