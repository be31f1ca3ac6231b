"""The engine child with real llama.cpp on SmolLM2-135M-Instruct: load, stream, stop, usage."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from desktop.backends.engine_client import SyncEngine, physical_cores
from desktop.core.errors import ContextOverflow, EngineCrashed, LlamasideError, ModelLoadError
from desktop.core.params import LoadParams, SamplingParams
from desktop.core.usage import StopReason
from tests.gguf_edit import with_chat_template

GREEDY = SamplingParams(temperature=0.0, repeat_penalty=1.0, max_tokens=24)
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
STORY = [{"role": "user", "content": "Write a very long story about a llama who travels."}]


def test_load_reports_time_backend_threads_and_offload(engine: SyncEngine) -> None:
    assert engine.hello["backend"] in {"CPU", "CUDA", "Metal", "Vulkan", "ROCm", "SYCL"}
    assert isinstance(engine.hello["gpu_offload"], bool)
    assert engine.model["n_threads"] == physical_cores()
    assert engine.model["n_ctx"] == 4096
    assert engine.model["n_ctx_train"] == 8192  # from the file; not what we allocate
    assert engine.model["chat_template"] == "gguf"
    assert 0 < engine.load_s < 60


def test_stream_yields_pieces_and_usage(engine: SyncEngine) -> None:
    pieces = list(engine.stream(QUESTION, GREEDY))
    result = engine.last
    assert len(pieces) > 3, "text must arrive in several pieces, not at the end"
    assert "".join(pieces) == result.text
    usage = result.usage
    assert usage.prompt_tokens > 10
    assert 0 < usage.output_tokens <= 24
    assert usage.stop_reason in (StopReason.STOP, StopReason.LENGTH)
    assert 0 < usage.time_to_first_token_s < usage.total_s
    assert usage.tokens_per_second > 0


def test_greedy_output_matches_llama_cpp_python_with_gguf_template(
    engine: SyncEngine, smollm_path: str, extra_bufts: bool
) -> None:
    """Our engine applies the GGUF's own chat template: same prompt, same greedy answer as
    llama-cpp-python's create_chat_completion (which also uses that template)."""
    import llama_cpp

    from desktop.engine.llama_setup import flash_attention_wanted, model_params

    list(engine.stream(QUESTION, GREEDY))
    ours = engine.last.text
    # Flash attention as our engine chooses it (off on the CPU, auto on a GPU): it changes the
    # last bits of logits.
    flash = flash_attention_wanted(-1)
    with model_params([], extra_bufts):  # in this process: the mode safe here
        raw = llama_cpp.Llama(model_path=smollm_path, n_ctx=4096, flash_attn=flash, verbose=False)
    try:
        reference: Any = raw.create_chat_completion(
            messages=QUESTION,  # type: ignore[arg-type]
            temperature=0.0,
            repeat_penalty=1.0,
            max_tokens=24,
        )
        assert reference["usage"]["prompt_tokens"] == engine.last.usage.prompt_tokens
        assert ours == reference["choices"][0]["message"]["content"]
    finally:
        raw.close()


def _raw_answer(raw: Any, messages: list[dict[str, str]], **kwargs: Any) -> tuple[str, int]:
    reference: Any = raw.create_chat_completion(messages=messages, repeat_penalty=1.0, **kwargs)
    return reference["choices"][0]["message"]["content"], reference["usage"]["prompt_tokens"]


def test_long_greedy_and_seeded_answers_match_llama_cpp_python_turn_after_turn(
    engine: SyncEngine, smollm_path: str, extra_bufts: bool
) -> None:
    """Our token loop (native sampler chain, one llama_decode per token, the prompt cache kept
    across turns) gives exactly what llama-cpp-python gives from a fresh start: a long greedy
    answer, a follow-up turn that reuses the first turn's tokens, and a seeded sampled one."""
    import llama_cpp

    from desktop.engine.llama_setup import flash_attention_wanted, model_params

    greedy = SamplingParams(temperature=0.0, repeat_penalty=1.0, max_tokens=120)
    list(engine.stream(STORY, greedy))
    first = engine.last.text
    follow_up = [
        *STORY,
        {"role": "assistant", "content": first},
        {"role": "user", "content": "Now make it shorter."},
    ]
    list(engine.stream(follow_up, greedy))
    second, second_usage = engine.last.text, engine.last.usage
    assert second_usage.prompt_tokens_evaluated < second_usage.prompt_tokens / 2  # reused
    seeded = SamplingParams(temperature=0.9, top_p=0.9, seed=42, repeat_penalty=1.1, max_tokens=60)
    list(engine.stream(STORY, seeded))
    sampled = engine.last.text

    # Flash attention as our engine chooses it (off on the CPU, auto on a GPU): it changes the
    # last bits of logits.
    flash = flash_attention_wanted(-1)
    with model_params([], extra_bufts):  # in this process: the mode safe here
        raw = llama_cpp.Llama(model_path=smollm_path, n_ctx=4096, flash_attn=flash, verbose=False)
    try:
        assert _raw_answer(raw, STORY, temperature=0.0, max_tokens=120)[0] == first
        raw.reset()  # a fresh computation of the whole follow-up prompt
        text, prompt_tokens = _raw_answer(raw, follow_up, temperature=0.0, max_tokens=120)
        assert (text, prompt_tokens) == (second, second_usage.prompt_tokens)
        raw.reset()
        reference: Any = raw.create_chat_completion(
            messages=STORY,  # type: ignore[arg-type]
            temperature=0.9,
            top_p=0.9,
            seed=42,
            repeat_penalty=1.1,
            max_tokens=60,
        )
        assert reference["choices"][0]["message"]["content"] == sampled
    finally:
        raw.close()


def test_fixed_seed_reproduces_sampled_output(engine: SyncEngine) -> None:
    params = SamplingParams(temperature=1.0, seed=1234, max_tokens=20)
    list(engine.stream(STORY, params))
    first = engine.last.text
    list(engine.stream(STORY, params))
    assert engine.last.text == first
    outputs = set()
    for seed in (1, 2, 3):
        list(engine.stream(STORY, SamplingParams(temperature=1.0, seed=seed, max_tokens=20)))
        outputs.add(engine.last.text)
    assert len(outputs) > 1, "different seeds should sample different answers"


def test_max_tokens_ends_with_length(engine: SyncEngine) -> None:
    list(engine.stream(STORY, SamplingParams(temperature=0.0, max_tokens=7)))
    assert engine.last.usage.output_tokens == 7
    assert engine.last.usage.stop_reason == StopReason.LENGTH


def test_second_turn_reuses_prompt_cache(engine: SyncEngine) -> None:
    list(engine.stream(QUESTION, GREEDY))
    answer = engine.last.text
    follow_up = [
        *QUESTION,
        {"role": "assistant", "content": answer},
        {"role": "user", "content": "And of Italy?"},
    ]
    list(engine.stream(follow_up, GREEDY))
    usage = engine.last.usage
    assert usage.prompt_tokens_evaluated < usage.prompt_tokens / 2


def test_stop_during_generation(engine: SyncEngine) -> None:
    long = SamplingParams(temperature=0.8, seed=7, max_tokens=2000)
    stream = engine.stream(STORY, long)
    for _ in range(5):
        next(stream)
    engine.cancel_current()
    cancelled_at = time.perf_counter()
    rest = list(stream)
    latency = time.perf_counter() - cancelled_at
    assert engine.last.usage.stop_reason == StopReason.CANCELLED
    assert engine.last.usage.output_tokens < 100
    assert len(rest) <= 10
    # The contract is 100 ms (measured by bench/stop_latency.py); here only "promptly".
    assert latency < 1.0


def test_stop_during_long_prompt_processing(engine: SyncEngine) -> None:
    """The abort callback interrupts llama_decode inside a long prompt."""
    words = "hello " * 3600  # 3,600 tokens of the 4,096 context
    messages = [{"role": "user", "content": f"Summarise: {words}"}]
    rid_holder: list[float] = []

    def cancel_soon() -> None:
        time.sleep(0.15)
        rid_holder.append(time.perf_counter())
        engine.cancel_current()

    started = time.perf_counter()
    timer = threading.Thread(target=cancel_soon)
    timer.start()
    list(engine.stream(messages, SamplingParams(max_tokens=50)))
    ended = time.perf_counter()
    timer.join()
    usage = engine.last.usage
    assert usage.stop_reason == StopReason.CANCELLED
    assert usage.output_tokens == 0
    # Without the abort callback the whole prompt would be processed first.
    assert ended - rid_holder[0] < 1.0, f"stop took {ended - rid_holder[0]:.2f}s"
    assert ended - started < 5
    # The engine still works afterwards, from a clean cache.
    list(engine.stream(QUESTION, GREEDY))
    assert engine.last.text


def test_context_overflow_before_any_decoding(smollm_path: str) -> None:
    with SyncEngine() as eng:
        eng.load(smollm_path, LoadParams(n_ctx=256))
        messages = [{"role": "user", "content": "hello " * 600}]
        with pytest.raises(ContextOverflow) as info:
            list(eng.stream(messages, GREEDY))
        assert info.value.limit == 256
        assert info.value.n_tokens > 256
        assert "too long for this model's context" in str(info.value)
        assert f"({info.value.n_tokens} tokens, limit 256)" in str(info.value)
        list(eng.stream(QUESTION, GREEDY))  # the engine is fine afterwards
        assert eng.last.text


def test_conversation_too_long_is_told_apart_from_a_long_message(smollm_path: str) -> None:
    with SyncEngine() as eng:
        eng.load(smollm_path, LoadParams(n_ctx=256))
        history = [
            {"role": "user", "content": "hello " * 120},
            {"role": "assistant", "content": "hello " * 120},
            {"role": "user", "content": "And now?"},
        ]
        with pytest.raises(ContextOverflow) as info:
            list(eng.stream(history, GREEDY))
        assert info.value.conversation
        assert "This conversation is too long" in str(info.value)
        assert "Start a new chat" in str(info.value)


def test_broken_chat_template_fails_the_load_with_reason(tmp_path: Path, smollm_path: str) -> None:
    broken = with_chat_template(smollm_path, "{% endfor %}", tmp_path / "badtemplate.gguf")
    with SyncEngine() as eng:
        with pytest.raises(ModelLoadError) as info:
            eng.load(str(broken))
        assert "badtemplate.gguf" in str(info.value)
        assert "chat template" in str(info.value)


def test_template_that_refuses_a_conversation_gives_a_sentence(
    tmp_path: Path, smollm_path: str
) -> None:
    strict = (
        "{% for m in messages %}{% if m['role'] == 'system' %}"
        "{{ raise_exception('System messages are not supported') }}{% endif %}"
        "{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    )
    model = with_chat_template(smollm_path, strict, tmp_path / "strict.gguf")
    with SyncEngine() as eng:
        eng.load(str(model), LoadParams(n_ctx=512))
        with pytest.raises(LlamasideError) as info:
            list(eng.stream([{"role": "system", "content": "x"}, *QUESTION], GREEDY))
        assert "chat template refused the conversation" in str(info.value)
        assert "System messages are not supported" in str(info.value)
        list(eng.stream(QUESTION, GREEDY))  # still usable
        assert eng.last.text


def test_shutdown_is_prompt_even_inside_a_long_prompt(smollm_path: str) -> None:
    eng = SyncEngine()
    eng.load(smollm_path, LoadParams(n_ctx=4096))
    eng.client.generate(
        [{"role": "user", "content": "hello " * 3600}], SamplingParams(max_tokens=100)
    )
    time.sleep(0.2)  # inside prompt processing
    started = time.perf_counter()
    eng.close()
    assert time.perf_counter() - started < 2.0


def test_child_exits_when_host_goes_away_mid_answer(smollm_path: str) -> None:
    eng = SyncEngine()
    eng.load(smollm_path, LoadParams(n_ctx=1024))
    stream = eng.stream(STORY, SamplingParams(max_tokens=5000, seed=1))
    next(stream)
    proc = eng.client._proc
    assert proc is not None and proc.stdin is not None
    proc.stdin.close()  # what the OS does when the host process dies
    assert proc.wait(timeout=5) == 0
    stream.close()
    eng.close()


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("missing", "not found"),
        ("empty", "empty"),
        ("random", "not a GGUF"),
        ("header_only", "failed to read"),
        ("half", "not within the file bounds"),
        ("almost", "not within the file bounds"),
    ],
)
def test_bad_model_files_fail_with_reason(
    tmp_path: Path, smollm_path: str, kind: str, expected: str
) -> None:
    good = Path(smollm_path).read_bytes()
    target = tmp_path / f"{kind}.gguf"
    if kind == "empty":
        _write(target, b"")
    elif kind == "random":
        _write(target, os.urandom(4096))
    elif kind == "header_only":
        _write(target, good[:300])
    elif kind == "half":
        _write(target, good[: len(good) // 2])
    elif kind == "almost":
        _write(target, good[:-1000])
    with SyncEngine() as eng:
        with pytest.raises(ModelLoadError) as info:
            eng.load(str(target))
        message = str(info.value)
        assert target.name in message
        assert expected.lower() in message.lower()
        assert message != "Failed to load model"
        # The child survived and can load a good model.
        eng.load(smollm_path, LoadParams(n_ctx=512))
        list(eng.stream(QUESTION, GREEDY))
        assert eng.last.text


def test_engine_abort_mid_answer_is_reported(smollm_path: str) -> None:
    with SyncEngine() as eng:
        eng.load(smollm_path, LoadParams(n_ctx=1024))
        stream = eng.stream(STORY, SamplingParams(max_tokens=500, seed=3))
        next(stream)
        pid = eng.client.pid
        assert pid is not None
        os.kill(pid, signal.SIGABRT)
        with pytest.raises(EngineCrashed) as info:
            list(stream)
        assert "SIGABRT" in str(info.value)
        assert eng.last.text  # what was streamed before the crash is kept


def test_unload_ends_the_process_and_returns_memory(smollm_path: str) -> None:
    eng = SyncEngine()
    eng.load(smollm_path, LoadParams(n_ctx=512))
    pid = eng.client.pid
    assert pid is not None
    rss = psutil.Process(pid).memory_info().rss
    assert rss > 50_000_000  # the weights are in the child, not in this process
    eng.close()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert eng.client.pid is None


def test_child_exits_when_host_goes_away(smollm_path: str) -> None:
    """Closing the engine's stdin (what happens when the host dies) ends the child."""
    eng = SyncEngine()
    eng.load(smollm_path, LoadParams(n_ctx=512))
    proc = eng.client._proc
    assert proc is not None and proc.stdin is not None
    proc.stdin.close()
    assert proc.wait(timeout=10) == 0
    eng.close()
