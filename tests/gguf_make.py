"""Tiny GGUF models written by the tests with the `gguf` package.

* ``tiny_llama4``: the llama4 architecture (Llama 4 Scout's) with random weights: every layer a
  mixture of 16 experts (1 used) plus a shared expert, chunked attention hparams, and SmolLM2's
  real tokenizer and chat template so prompts tokenize and answers detokenize. A few MB: proof
  that the Scout code path (and the experts-in-RAM override) works without 60 GB of weights.
* ``tiny_llama``: a dense llama model with random weights and SmolLM2's tokenizer, with any
  head counts; 4 query heads over 3 key/value heads is a file whose tensor shapes agree with its
  hparams (so it loads) but which llama.cpp cannot compute: GGML_ASSERT, then abort().
* ``split_copy``: rewrites a GGUF into gguf-split parts (``-00001-of-0000N.gguf``), the form big
  models are published in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gguf
import numpy as np

N_EMBD = 64
N_HEAD = 4
N_HEAD_KV = 2
N_FF = 128
N_EXPERT = 16
N_LAYER = 4


def _copy_tokenizer(
    reader: gguf.GGUFReader, writer: gguf.GGUFWriter, chat_template: str | None = None
) -> int:
    """Copy tokenizer.* fields (``chat_template``: another one instead of the source's);
    returns the vocabulary size."""
    n_vocab = 0
    if chat_template is not None:
        writer.add_string("tokenizer.chat_template", chat_template)
    for name, field in reader.fields.items():
        if not name.startswith("tokenizer.") or (
            chat_template is not None and name == "tokenizer.chat_template"
        ):
            continue
        value: Any = field.contents()
        kind = field.types[0]
        if kind == gguf.GGUFValueType.ARRAY:
            writer.add_array(name, value)
            if name == "tokenizer.ggml.tokens":
                n_vocab = len(value)
        elif kind == gguf.GGUFValueType.STRING:
            writer.add_string(name, value)
        elif kind == gguf.GGUFValueType.BOOL:
            writer.add_bool(name, bool(value))
        elif kind == gguf.GGUFValueType.UINT32:
            writer.add_uint32(name, int(value))
        elif kind == gguf.GGUFValueType.INT32:
            writer.add_int32(name, int(value))
        elif kind == gguf.GGUFValueType.FLOAT32:
            writer.add_float32(name, float(value))
    return n_vocab


def tiny_llama4(
    dest: Path,
    tokenizer_from: str | Path,
    seed: int = 0,
    split_max_tensors: int = 0,
    chat_template: str | None = None,
) -> Path:
    """Write a random-weight llama4 MoE model; returns the path llama.cpp should load."""
    reader = gguf.GGUFReader(str(tokenizer_from))
    writer = gguf.GGUFWriter(str(dest), "llama4", split_max_tensors=split_max_tensors)
    writer.add_name("tiny-llama4-test")
    writer.add_context_length(4096)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD_KV)
    writer.add_rope_freq_base(500000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(N_EMBD // N_HEAD)
    writer.add_expert_count(N_EXPERT)
    writer.add_expert_used_count(1)
    writer.add_expert_feed_forward_length(N_FF)
    writer.add_interleave_moe_layer_step(1)  # every layer is a MoE layer
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    n_vocab = _copy_tokenizer(reader, writer, chat_template)
    writer.add_vocab_size(n_vocab)

    rng = np.random.default_rng(seed)

    def weight(*shape: int) -> np.ndarray[Any, Any]:
        return (rng.standard_normal(shape) * 0.05).astype(np.float16)

    def norm(n: int) -> np.ndarray[Any, Any]:
        return np.ones(n, dtype=np.float32)

    head_dim = N_EMBD // N_HEAD
    # numpy shapes are ggml's dimensions reversed: ggml {n_embd, n_vocab} = numpy (n_vocab, n_embd)
    writer.add_tensor("token_embd.weight", weight(n_vocab, N_EMBD))
    writer.add_tensor("output_norm.weight", norm(N_EMBD))
    for i in range(N_LAYER):
        p = f"blk.{i}."
        writer.add_tensor(p + "attn_norm.weight", norm(N_EMBD))
        writer.add_tensor(p + "attn_q.weight", weight(N_HEAD * head_dim, N_EMBD))
        writer.add_tensor(p + "attn_k.weight", weight(N_HEAD_KV * head_dim, N_EMBD))
        writer.add_tensor(p + "attn_v.weight", weight(N_HEAD_KV * head_dim, N_EMBD))
        writer.add_tensor(p + "attn_output.weight", weight(N_EMBD, N_HEAD * head_dim))
        writer.add_tensor(p + "ffn_norm.weight", norm(N_EMBD))
        writer.add_tensor(p + "ffn_gate_inp.weight", weight(N_EXPERT, N_EMBD).astype(np.float32))
        writer.add_tensor(p + "ffn_gate_exps.weight", weight(N_EXPERT, N_FF, N_EMBD))
        writer.add_tensor(p + "ffn_up_exps.weight", weight(N_EXPERT, N_FF, N_EMBD))
        writer.add_tensor(p + "ffn_down_exps.weight", weight(N_EXPERT, N_EMBD, N_FF))
        writer.add_tensor(p + "ffn_gate_shexp.weight", weight(N_FF, N_EMBD))
        writer.add_tensor(p + "ffn_up_shexp.weight", weight(N_FF, N_EMBD))
        writer.add_tensor(p + "ffn_down_shexp.weight", weight(N_EMBD, N_FF))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    if split_max_tensors:
        parts = sorted(dest.parent.glob(dest.stem + "-*-of-*.gguf"))
        return parts[0]
    return dest


def tiny_llama(dest: Path, tokenizer_from: str | Path, n_head: int = 4, n_head_kv: int = 2) -> Path:
    """Write a random-weight dense llama model (2 layers, 64 wide); returns ``dest``."""
    reader = gguf.GGUFReader(str(tokenizer_from))
    writer = gguf.GGUFWriter(str(dest), "llama")
    writer.add_name("tiny-llama-test")
    writer.add_context_length(2048)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(2)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head_kv)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(N_EMBD // n_head)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    n_vocab = _copy_tokenizer(reader, writer)
    writer.add_vocab_size(n_vocab)
    rng = np.random.default_rng(0)

    def weight(*shape: int) -> np.ndarray[Any, Any]:
        return (rng.standard_normal(shape) * 0.05).astype(np.float16)

    head_dim = N_EMBD // n_head
    writer.add_tensor("token_embd.weight", weight(n_vocab, N_EMBD))
    writer.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
    for i in range(2):
        p = f"blk.{i}."
        writer.add_tensor(p + "attn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        writer.add_tensor(p + "attn_q.weight", weight(n_head * head_dim, N_EMBD))
        writer.add_tensor(p + "attn_k.weight", weight(n_head_kv * head_dim, N_EMBD))
        writer.add_tensor(p + "attn_v.weight", weight(n_head_kv * head_dim, N_EMBD))
        writer.add_tensor(p + "attn_output.weight", weight(N_EMBD, n_head * head_dim))
        writer.add_tensor(p + "ffn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        writer.add_tensor(p + "ffn_gate.weight", weight(N_FF, N_EMBD))
        writer.add_tensor(p + "ffn_up.weight", weight(N_FF, N_EMBD))
        writer.add_tensor(p + "ffn_down.weight", weight(N_EMBD, N_FF))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return dest
