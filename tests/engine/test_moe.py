"""Llama 4's architecture without 60 GB: a tiny random-weight llama4 MoE model, written by the
test with the gguf package, through the real engine, with and without experts kept in RAM."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.backends.engine_client import SyncEngine
from desktop.core.errors import InvalidParameter
from desktop.core.params import LoadParams, SamplingParams
from tests.gguf_make import N_LAYER, tiny_llama4

GREEDY = SamplingParams(temperature=0.0, repeat_penalty=1.0, max_tokens=12)
HELLO = [{"role": "user", "content": "Hello, who are you?"}]


@pytest.fixture(scope="module")
def llama4(tmp_path_factory: pytest.TempPathFactory, smollm_path: str) -> Path:
    return tiny_llama4(tmp_path_factory.mktemp("llama4") / "tiny-llama4.gguf", smollm_path)


def answer(path: Path, n_cpu_moe: int) -> tuple[str, dict[str, object]]:
    with SyncEngine() as engine:
        engine.load(str(path), LoadParams(n_ctx=512, n_cpu_moe=n_cpu_moe))
        text = "".join(engine.stream(HELLO, GREEDY))
        assert engine.last.usage.output_tokens > 0
        return text, engine.model


def test_llama4_moe_loads_and_answers(llama4: Path) -> None:
    text, model = answer(llama4, 0)
    assert model["architecture"] == "llama4"
    assert model["tensors_in_ram"] == 0
    assert text


@pytest.mark.parametrize("n_cpu_moe", [1, N_LAYER])
def test_experts_kept_in_ram_same_answer(llama4: Path, n_cpu_moe: int) -> None:
    reference, _ = answer(llama4, 0)
    text, model = answer(llama4, n_cpu_moe)
    # up, gate and down expert tensors of each of the first N layers were moved by llama.cpp.
    assert model["tensors_in_ram"] == 3 * n_cpu_moe
    assert model["n_cpu_moe"] == n_cpu_moe
    assert text == reference


def test_split_gguf_loads_from_its_first_part(
    tmp_path: Path, llama4: Path, smollm_path: str
) -> None:
    first = tiny_llama4(tmp_path / "tiny-split.gguf", smollm_path, split_max_tensors=20)
    parts = sorted(p.name for p in tmp_path.glob("tiny-split-*.gguf"))
    assert first.name == "tiny-split-00001-of-00003.gguf"
    assert len(parts) == 3
    split_text, _ = answer(first, 0)
    whole_text, _ = answer(llama4, 0)
    assert split_text == whole_text  # same seed, same weights: same greedy answer


def test_negative_expert_layers_are_refused() -> None:
    with pytest.raises(InvalidParameter):
        LoadParams(n_cpu_moe=-1)
