"""Whether an adapter fits a model, from the two GGUF headers (backends/lora_check.py): the
adapters tests/lora_models.py writes for the bundled SmolLM2, against it and against the tiny
llama4 model; what does not fit is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.backends.lora_check import AdapterRefused, check_adapter
from desktop.core.adapters import Adapter, parse_lora_argument, with_adapters
from tests.lora_models import write_lora


def test_a_fitting_adapter_says_its_rank_and_size(smollm_path: str, tmp_path: Path) -> None:
    facts = check_adapter(Adapter(str(write_lora(tmp_path / "tune.gguf", rank=4))), smollm_path)
    assert (facts.name, facts.architecture, facts.rank, facts.tensors) == ("tune", "llama", 4, 30)


def test_what_does_not_fit_is_named(smollm_path: str, tmp_path: Path) -> None:
    wide = write_lora(tmp_path / "wide.gguf", n_embd=1024)
    with pytest.raises(
        AdapterRefused, match=r"wide\.gguf .* blk\.0\.ffn_down\.weight is 1536×1024; .*1536×576"
    ):
        check_adapter(Adapter(str(wide)), smollm_path)
    qwen = write_lora(tmp_path / "qwen.gguf", architecture="qwen2")
    with pytest.raises(AdapterRefused, match=r"made for a qwen2 model, and .* is a llama model"):
        check_adapter(Adapter(str(qwen)), smollm_path)
    deep = write_lora(tmp_path / "deep.gguf", layers=31)
    with pytest.raises(
        AdapterRefused, match=r"changes blk\.30\.ffn_down\.weight, which .* does not have"
    ):
        check_adapter(Adapter(str(deep)), smollm_path)
    with pytest.raises(AdapterRefused, match="it is a model, not an adapter"):
        check_adapter(Adapter(smollm_path), smollm_path)
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(write_lora(tmp_path / "whole.gguf").read_bytes()[:100])
    with pytest.raises(
        AdapterRefused, match=r"Cannot use the LoRA adapter cut\.gguf: the file is incomplete"
    ):
        check_adapter(Adapter(str(cut)), smollm_path)


def test_the_command_line_form_and_the_label() -> None:
    assert parse_lora_argument("tune.gguf") == Adapter("tune.gguf", 1.0)
    assert parse_lora_argument("tune.gguf:0.8") == Adapter("tune.gguf", 0.8)
    assert parse_lora_argument("C:\\loras\\tune.gguf") == Adapter("C:\\loras\\tune.gguf", 1.0)
    assert parse_lora_argument("C:\\loras\\tune.gguf:-0.5") == Adapter("C:\\loras\\tune.gguf", -0.5)
    adapters = [Adapter("/x/my-support-lora.gguf", 0.8), Adapter("/x/style.gguf")]
    assert with_adapters("Llama 3.1 8B", adapters) == "Llama 3.1 8B + my-support-lora × 0.8 + style"
