"""Load settings the user picks per model (KV cache type, flash attention) reach llama.cpp, and
a load reports its progress: the real engine child on the bundled SmolLM2."""

from __future__ import annotations

import pytest

from desktop.backends.engine_client import SyncEngine
from desktop.core.errors import InvalidParameter
from desktop.core.params import LoadParams, SamplingParams

HI = [{"role": "user", "content": "Say hello."}]


def _load(path: str, **load: object) -> SyncEngine:
    engine = SyncEngine()
    engine.load(path, LoadParams(n_ctx=2048, n_threads=2, **load))  # type: ignore[arg-type]
    return engine


def test_a_q8_0_kv_cache_answers_in_about_half_the_memory(smollm_path: str) -> None:
    with _load(smollm_path) as f16:
        f16_model = dict(f16.model)
    with _load(smollm_path, kv_cache_type="q8_0") as q8:
        text = "".join(q8.stream(HI, SamplingParams(temperature=0, max_tokens=8)))
        q8_model = dict(q8.model)
    assert text.strip()
    assert f16_model["kv_cache_type"] == "f16"
    assert q8_model["kv_cache_type"] == "q8_0"
    # SmolLM2: 30 layers x 3 KV heads x 64 dims x K and V x 2048 cells, 2 bytes at f16 and
    # 34 bytes per 32 values at q8_0.
    assert f16_model["kv_bytes"] == pytest.approx(2 * 30 * 3 * 64 * 2 * 2048, rel=0.01)
    assert q8_model["kv_bytes"] == pytest.approx(f16_model["kv_bytes"] * 34 / 64, rel=0.01)


def test_flash_attention_forced_on_and_off_both_answer(smollm_path: str) -> None:
    for flash in (True, False):
        with _load(smollm_path, flash_attn=flash) as engine:
            text = "".join(engine.stream(HI, SamplingParams(temperature=0, max_tokens=4)))
        assert text.strip(), flash


def test_a_quantized_cache_without_flash_attention_is_refused_in_words() -> None:
    with pytest.raises(InvalidParameter, match="q4_0 KV cache needs flash attention"):
        LoadParams(kv_cache_type="q4_0", flash_attn=False)
    with pytest.raises(InvalidParameter, match="KV cache type must be one of f16, q8_0, q4_0"):
        LoadParams(kv_cache_type="q3")
    # Saved load settings come back through from_dict (the protocol, settings.json).
    assert LoadParams.from_dict(LoadParams(kv_cache_type="q8_0").to_dict()).kv_cache_type == "q8_0"


def test_a_load_reports_rising_progress_ending_at_100_percent(smollm_path: str) -> None:
    with _load(smollm_path) as engine:
        progress = list(engine.load_progress)
    assert progress, "no load_progress event came"
    assert progress == sorted(set(progress)), progress
    assert progress[-1] == 1.0
    assert all(0.0 <= p <= 1.0 for p in progress)
