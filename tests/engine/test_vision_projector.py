"""llama.cpp's multimodal library (mtmd) end to end on a random-weight Llama 4 vision projector
written by tests/vision_models.py: load it next to SmolLM2 (and the tiny llama4 model), turn PNGs
into chunks, encode and decode them, sample an answer. Raw bindings in this process, the way
the engine child will use them; llama.cpp's own logs are read from the process's stderr."""

from __future__ import annotations

import ctypes
import io
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gguf
import llama_cpp
import pytest
from llama_cpp import mtmd_cpp
from PIL import Image

from desktop.engine.llama_setup import model_params
from tests.gguf_make import N_EMBD, tiny_llama4
from tests.vision_models import tile_tokens, write_llama4_projector

SMOL_N_EMBD = 576
TILE_TOKENS = tile_tokens()  # 16 with the writer's defaults (64 px tiles, 8 px patches)


def load_text_model(path: str | Path, extra_bufts: bool) -> llama_cpp.Llama:
    with model_params([], extra_bufts):  # in this process: the mode safe here
        return llama_cpp.Llama(model_path=str(path), n_ctx=1024, n_threads=2, verbose=False)


@contextmanager
def mtmd_context(projector: Path, llm: llama_cpp.Llama) -> Iterator[Any]:
    params = mtmd_cpp.mtmd_context_params_default()
    params.use_gpu = False
    params.n_threads = 2
    params.warmup = False
    ctx = mtmd_cpp.mtmd_init_from_file(str(projector).encode(), llm.model, params)
    assert ctx, "mtmd_init_from_file returned NULL"
    try:
        yield ctx
    finally:
        mtmd_cpp.mtmd_free(ctx)


@pytest.fixture(scope="module")
def smollm(smollm_path: str, extra_bufts: bool) -> Iterator[llama_cpp.Llama]:
    llm = load_text_model(smollm_path, extra_bufts)
    yield llm
    llm.close()


@pytest.fixture(scope="module")
def projector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_llama4_projector(tmp_path_factory.mktemp("mmproj") / "mmproj.gguf", SMOL_N_EMBD)


def png(width: int, height: int) -> bytes:
    image = Image.new("RGB", (width, height), (200, 30, 30))
    for x in range(0, width, max(1, width // 8)):
        for y in range(height):
            image.putpixel((x, y), (0, 0, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@contextmanager
def tokenized(ctx: Any, image: bytes, question: str = "What is in the picture?") -> Iterator[Any]:
    """mtmd_tokenize a ChatML prompt with the media marker where the image goes."""
    buf = (ctypes.c_uint8 * len(image)).from_buffer_copy(image)
    bitmap = mtmd_cpp.mtmd_helper_bitmap_init_from_buf(ctx, buf, len(image), False)
    assert bitmap, "the PNG was not decoded"
    marker = mtmd_cpp.mtmd_default_marker().decode()
    prompt = (f"<|im_start|>user\n{marker}\n{question}<|im_end|>\n<|im_start|>assistant\n").encode()
    text = mtmd_cpp.mtmd_input_text(prompt, len(prompt), True, True)
    chunks = mtmd_cpp.mtmd_input_chunks_init()
    bitmaps = (mtmd_cpp.mtmd_bitmap_p_ctypes * 1)(bitmap)
    try:
        assert mtmd_cpp.mtmd_tokenize(ctx, chunks, ctypes.byref(text), bitmaps, 1) == 0
        yield chunks
    finally:
        mtmd_cpp.mtmd_input_chunks_free(chunks)
        mtmd_cpp.mtmd_bitmap_free(bitmap)


def chunk_list(chunks: Any) -> list[tuple[str, int]]:
    kinds = {
        mtmd_cpp.MTMD_INPUT_CHUNK_TYPE_TEXT: "text",
        mtmd_cpp.MTMD_INPUT_CHUNK_TYPE_IMAGE: "image",
    }
    out = []
    for i in range(mtmd_cpp.mtmd_input_chunks_size(chunks)):
        chunk = mtmd_cpp.mtmd_input_chunks_get(chunks, i)
        kind = kinds[mtmd_cpp.mtmd_input_chunk_get_type(chunk)]
        out.append((kind, mtmd_cpp.mtmd_input_chunk_get_n_tokens(chunk)))
    return out


def answer(ctx: Any, llm: llama_cpp.Llama, chunks: Any, max_tokens: int = 4) -> list[int]:
    """Evaluate the chunks one at a time (where the engine can stop between them), then sample
    greedily; returns the sampled tokens."""
    llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(llm.ctx), True)
    n_chunks = mtmd_cpp.mtmd_input_chunks_size(chunks)
    n_past = 0
    for i in range(n_chunks):
        chunk = mtmd_cpp.mtmd_input_chunks_get(chunks, i)
        # The helper adds a text chunk's tokens to *new_n_past (sets it for an image): start it
        # at n_past.
        new_n_past = llama_cpp.llama_pos(n_past)
        last = i == n_chunks - 1
        rc = mtmd_cpp.mtmd_helper_eval_chunk_single(
            ctx, llm.ctx, chunk, n_past, 0, 512, last, ctypes.byref(new_n_past)
        )
        assert rc == 0
        n_past = new_n_past.value
    assert n_past == mtmd_cpp.mtmd_helper_get_n_pos(chunks)
    sampler = llama_cpp.llama_sampler_init_greedy()
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    tokens: list[int] = []
    try:
        for _ in range(max_tokens):
            token = llama_cpp.llama_sampler_sample(sampler, llm.ctx, -1)
            tokens.append(token)
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                break
            batch = llama_cpp.llama_batch_get_one((llama_cpp.llama_token * 1)(token), 1)
            assert llama_cpp.llama_decode(llm.ctx, batch) == 0
    finally:
        llama_cpp.llama_sampler_free(sampler)
    return tokens


def test_projector_carries_what_mtmd_reads(projector: Path) -> None:
    fields = gguf.GGUFReader(str(projector)).fields
    assert fields["general.architecture"].contents() == "clip"
    assert fields["clip.projector_type"].contents() == "llama4"
    assert fields["clip.vision.projection_dim"].contents() == SMOL_N_EMBD
    assert fields["clip.vision.projector.scale_factor"].contents() == 2


def test_small_image_is_one_chunk_and_answered(
    projector: Path, smollm: llama_cpp.Llama, capfd: pytest.CaptureFixture[str]
) -> None:
    with mtmd_context(projector, smollm) as ctx, tokenized(ctx, png(64, 64)) as chunks:
        layout = chunk_list(chunks)
        assert [kind for kind, _ in layout] == ["text", "image", "text"]
        assert layout[1][1] == TILE_TOKENS
        tokens = answer(ctx, smollm, chunks)
    assert tokens
    assert smollm.detokenize(tokens)
    assert "image decoded" in capfd.readouterr().err


@pytest.mark.parametrize(
    ("width", "height", "tiles"),
    [(1000, 700, 9), (3000, 2000, 6)],  # 3 x 3 and 3 x 2 tiles of 64 px, then the overview
)
def test_large_image_is_one_chunk_per_tile_plus_the_overview(
    projector: Path, smollm: llama_cpp.Llama, width: int, height: int, tiles: int
) -> None:
    with mtmd_context(projector, smollm) as ctx, tokenized(ctx, png(width, height)) as chunks:
        layout = chunk_list(chunks)
        images = [n for kind, n in layout if kind == "image"]
        assert images == [TILE_TOKENS] * (tiles + 1)
        for i in range(mtmd_cpp.mtmd_input_chunks_size(chunks)):
            chunk = mtmd_cpp.mtmd_input_chunks_get(chunks, i)
            if mtmd_cpp.mtmd_input_chunk_get_type(chunk) != mtmd_cpp.MTMD_INPUT_CHUNK_TYPE_IMAGE:
                continue
            assert mtmd_cpp.mtmd_encode_chunk(ctx, chunk) == 0
            embd = mtmd_cpp.mtmd_get_output_embd(ctx)
            assert all(math.isfinite(embd[j]) for j in range(TILE_TOKENS * SMOL_N_EMBD))


def test_projector_for_another_width_is_refused(
    tmp_path: Path, smollm: llama_cpp.Llama, capfd: pytest.CaptureFixture[str]
) -> None:
    wrong = write_llama4_projector(tmp_path / "mmproj-64.gguf", 64)
    params = mtmd_cpp.mtmd_context_params_default()
    params.use_gpu = False
    params.warmup = False
    assert mtmd_cpp.mtmd_init_from_file(str(wrong).encode(), smollm.model, params) is None
    err = capfd.readouterr().err
    assert "mismatch between text model (n_embd = 576) and mmproj (n_embd = 64)" in err


def test_tiny_llama4_answers_an_image(tmp_path: Path, smollm_path: str, extra_bufts: bool) -> None:
    model = tiny_llama4(tmp_path / "tiny-llama4.gguf", smollm_path)
    projector = write_llama4_projector(tmp_path / "mmproj-llama4.gguf", N_EMBD)
    llm = load_text_model(model, extra_bufts)
    try:
        with mtmd_context(projector, llm) as ctx, tokenized(ctx, png(64, 64)) as chunks:
            assert [kind for kind, _ in chunk_list(chunks)] == ["text", "image", "text"]
            assert answer(ctx, llm, chunks)
    finally:
        llm.close()
