"""Tiny LoRA adapters (GGUF) for the bundled SmolLM2, written by the tests with `gguf`.

``write_lora`` writes what llama.cpp's ``convert_lora_to_gguf.py`` writes: general.type
"adapter", adapter.type "lora", adapter.lora.alpha, and for each adapted weight of the base
model a pair ``<name>.lora_a`` / ``<name>.lora_b``. In ggml's order of dimensions (fastest
first) a base weight of ne [n_in, n_out] takes lora_a [n_in, rank] and lora_b [rank, n_out]
(src/llama-adapter.cpp checks exactly this), so numpy arrays of shape (rank, n_in) and
(n_out, rank). Random weights large enough that scale 1 changes the greedy answer.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

#: SmolLM2-135M: 30 layers, 576 wide, 1536 in the feed-forward.
SMOLLM2_LAYERS = 30
SMOLLM2_EMBD = 576
SMOLLM2_FF = 1536


def write_lora(
    path: Path,
    *,
    architecture: str = "llama",
    n_embd: int = SMOLLM2_EMBD,
    n_ff: int = SMOLLM2_FF,
    layers: int = SMOLLM2_LAYERS,
    rank: int = 8,
    alpha: float = 16.0,
    strength: float = 0.5,
    seed: int = 7,
) -> Path:
    """An adapter of ``rank`` on each layer's ffn_down (n_ff -> n_embd); ``n_ff`` other than
    the base's makes one that does not fit."""
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    writer.add_name(path.stem)
    for layer in range(layers):
        name = f"blk.{layer}.ffn_down.weight"
        lora_a = rng.normal(0.0, strength, size=(rank, n_ff)).astype(np.float32)
        lora_b = rng.normal(0.0, strength, size=(n_embd, rank)).astype(np.float32)
        writer.add_tensor(f"{name}.lora_a", lora_a)
        writer.add_tensor(f"{name}.lora_b", lora_b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
