"""Tiny Llama 4 vision projectors (mmproj GGUF files) written by the tests with the `gguf` package.

``write_llama4_projector`` writes what ``convert_hf_to_gguf.py --mmproj`` writes for Llama 4
Scout (``Llama4VisionModel``: general.architecture "clip", clip.projector_type "llama4"), with
random weights and dimensions of our choosing. llama.cpp's multimodal library (mtmd) loads it
next to any text model whose embedding width is ``n_embd_text`` and encodes images with it, so
tests run the whole image path on a CPU in milliseconds without downloading 1.6 GB.

The structure is Llama 4's own (tools/mtmd/models/llama4.cpp): patches cut by a linear "unfold
convolution" without bias, a CLS token, learned position embeddings, a pre-norm ViT with
LayerNorms, biased attention with 2D RoPE and a GELU MLP, a post-norm, the CLS token dropped,
pixel shuffle by ``scale_factor`` (the key clip.vision.projector.scale_factor, 1 / Scout's
pixel_shuffle_ratio 0.5), the two-layer GELU adapter (mm.model.mlp.1/2) and the final projection
into the text model's width (mm.model.fc). mtmd cuts an image larger than ``image_size`` into up
to 3 x 3 tiles of ``image_size`` plus an overview, each tile an image chunk of its own.

``SCOUT_VISION`` holds the dimensions of Scout's real vision encoder: pass it to write a
projector of Scout's size (about 870 M random parameters, 1.7 GB at f16) for a benchmark.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Final, TypedDict

import gguf
import numpy as np


class VisionDims(TypedDict):
    """Keyword arguments of ``write_llama4_projector`` that describe an encoder's size."""

    n_embd_text: int
    image_size: int
    patch_size: int
    n_layer: int
    n_embd: int
    n_head: int
    n_ff: int
    n_proj: int
    scale_factor: int


#: Llama-4-Scout-17B-16E(-Instruct)'s vision_config (HF config.json) and text hidden size, as
#: convert_hf_to_gguf.py writes them: hidden_size 1408, 34 layers, 16 heads (head dim 88),
#: intermediate_size 5632, image_size 336, patch_size 14 (24 x 24 = 576 patches a tile),
#: pixel_shuffle_ratio 0.5 (scale factor 2: 1408 * 4 = 5632 wide, 144 tokens a tile),
#: projector_input_dim = projector_output_dim = vision_output_dim 4096, text hidden size 5120.
SCOUT_VISION: Final[VisionDims] = VisionDims(
    n_embd_text=5120,
    image_size=336,
    patch_size=14,
    n_layer=34,
    n_embd=1408,
    n_head=16,
    n_ff=5632,
    n_proj=4096,
    scale_factor=2,
)

#: Llama 4's image processor normalises every channel with mean 0.5 and std 0.5.
IMAGE_MEAN: Final = [0.5, 0.5, 0.5]
IMAGE_STD: Final = [0.5, 0.5, 0.5]


def tile_tokens(image_size: int = 64, patch_size: int = 8, scale_factor: int = 2) -> int:
    """Embeddings one tile (or the overview) becomes: its patches over the pixel shuffle."""
    return (image_size // patch_size) ** 2 // scale_factor**2


def write_llama4_projector(
    dest: Path,
    n_embd_text: int,
    *,
    image_size: int = 64,
    patch_size: int = 8,
    n_layer: int = 1,
    n_embd: int = 64,
    n_head: int = 4,
    n_ff: int = 128,
    n_proj: int = 128,
    scale_factor: int = 2,
    seed: int = 0,
) -> Path:
    """Write a random-weight Llama 4 vision projector for a text model ``n_embd_text`` wide.

    ``image_size``: a tile's side in pixels; ``patch_size``: a patch's side (the image must be
    a whole number of patches, and the patches per side a multiple of ``scale_factor``);
    ``n_layer``, ``n_embd``, ``n_head``, ``n_ff``: the ViT's depth, width, heads, MLP width
    (the head dimension a multiple of 4, for 2D RoPE's halves); ``n_proj``: the adapter's
    width (Scout's projector_input_dim/output_dim). Matrices are f16; vectors, norms and the
    position embeddings f32, as the converter writes them at ``--outtype f16``. Returns ``dest``.
    """
    n_side = image_size // patch_size
    if image_size % patch_size or n_side % scale_factor:
        raise ValueError(
            f"image_size {image_size} must be a whole number of {patch_size}-pixel patches, "
            f"and the patches per side a multiple of the scale factor {scale_factor}"
        )
    if n_embd % n_head or (n_embd // n_head) % 4:
        raise ValueError(f"n_embd {n_embd} over {n_head} heads must give a multiple of 4")
    n_patches = n_side * n_side

    writer = gguf.GGUFWriter(str(dest), gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.MMPROJ])
    writer.add_type(gguf.GGUFType.MMPROJ)
    writer.add_name("tiny-llama4-vision-test")
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    # MmprojModel.set_gguf_parameters
    writer.add_clip_has_vision_encoder(True)
    writer.add_vision_projection_dim(n_embd_text)
    writer.add_vision_image_size(image_size)
    writer.add_vision_patch_size(patch_size)
    writer.add_vision_embedding_length(n_embd)
    writer.add_vision_feed_forward_length(n_ff)
    writer.add_vision_block_count(n_layer)
    writer.add_vision_head_count(n_head)
    writer.add_vision_image_mean(IMAGE_MEAN)
    writer.add_vision_image_std(IMAGE_STD)
    # Llama4VisionModel.set_gguf_parameters
    writer.add_clip_projector_type(gguf.VisionProjectorType.LLAMA4)
    writer.add_vision_attention_layernorm_eps(1e-5)
    writer.add_vision_projector_scale_factor(scale_factor)
    writer.add_vision_use_gelu(True)

    rng = np.random.default_rng(seed)

    # numpy shapes are ggml's dimensions reversed: a Linear(n_in, n_out) is numpy (n_out, n_in)
    def weight(*shape: int) -> np.ndarray[Any, Any]:
        scale = np.float32(1.0 / math.sqrt(shape[-1]))
        values: np.ndarray[Any, Any] = rng.standard_normal(shape, dtype=np.float32) * scale
        return values.astype(np.float16)

    def bias(n: int) -> np.ndarray[Any, Any]:
        return (rng.standard_normal(n, dtype=np.float32) * 0.02).astype(np.float32)

    def norm(name: str, n: int) -> None:
        writer.add_tensor(name + ".weight", np.ones(n, dtype=np.float32))
        writer.add_tensor(name + ".bias", np.zeros(n, dtype=np.float32))

    def linear(name: str, n_out: int, n_in: int, *, with_bias: bool = True) -> None:
        writer.add_tensor(name + ".weight", weight(n_out, n_in))
        if with_bias:
            writer.add_tensor(name + ".bias", bias(n_out))

    # vision_model.patch_embedding.linear: Linear(3 * p * p, n_embd, bias=False)
    linear("v.patch_embd", n_embd, 3 * patch_size * patch_size, with_bias=False)
    writer.add_tensor("v.class_embd", bias(n_embd))
    # V_ENC_EMBD_POS is always f32 (ggml's CPU add takes no f16 addend)
    writer.add_tensor("v.position_embd.weight", weight(n_patches + 1, n_embd).astype(np.float32))
    norm("v.pre_ln", n_embd)
    norm("v.post_ln", n_embd)
    for i in range(n_layer):
        p = f"v.blk.{i}."
        norm(p + "ln1", n_embd)
        linear(p + "attn_q", n_embd, n_embd)
        linear(p + "attn_k", n_embd, n_embd)
        linear(p + "attn_v", n_embd, n_embd)
        linear(p + "attn_out", n_embd, n_embd)
        norm(p + "ln2", n_embd)
        linear(p + "ffn_up", n_ff, n_embd)  # mlp.fc1
        linear(p + "ffn_down", n_embd, n_ff)  # mlp.fc2
    # vision_adapter.mlp (Llama4VisionMLP2, no bias): fc1 takes the pixel-shuffled patches
    n_shuffled = n_embd * scale_factor * scale_factor
    linear("mm.model.mlp.1", n_proj, n_shuffled, with_bias=False)
    linear("mm.model.mlp.2", n_proj, n_proj, with_bias=False)
    # multi_modal_projector.linear_1: into the text model's embedding width
    linear("mm.model.fc", n_embd_text, n_proj, with_bias=False)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return dest
