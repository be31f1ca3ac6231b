"""Streaming into the real window, before and after issue 22's look, in one run.

bench/stream_ui.py streams into a bare ChatView; the window's chat now also paints message
cards, keeps a readable line width and shows hover actions, all installed on the window's view.
This benchmark streams the same 20,000-token answer (stream_ui's Stream: 500 tokens/s, a delta
every 30 ms, a 5 ms heartbeat) into ``window.chat_view`` of a window built as `llamaside`
builds it, once with the code before issue 22 (a git worktree at BEFORE) and once with this
tree, alternating, ROUNDS times each, each in a process of its own:

    python bench/stream_window.py

Reports per tree: the append cost per token over the first and last 1,000 tokens, the longest
event-loop stall while streaming and the stalls over 50 ms (with the GUI thread's own CPU time
in each, which tells the app's work from waiting for a shared CPU), and the ratios after/before.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "542d6e1"  # the last commit before issue 22's first change
ROUNDS = 3
SIZE = (1100, 760)


def child() -> None:
    """One stream into the window of the tree on PYTHONPATH; prints the numbers as JSON."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from desktop.app import build_window
    from desktop.storage.paths import AppPaths

    from stream_ui import STALL_MS, Stream, answer_tokens

    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    with tempfile.TemporaryDirectory(prefix="llamaside-bench-") as home:
        os.environ["LLAMASIDE_HOME"] = home
        window = build_window(AppPaths.from_env())
        window.resize(*SIZE)
        window.show()
        app.processEvents()
        stream = Stream(app, window.chat_view, answer_tokens())
        stream.run()
        gaps = stream.stream_gaps
        result = {
            "first_us": stream.per_token(True) * 1e6,
            "last_us": stream.per_token(False) * 1e6,
            "longest_ms": max(gaps),
            "stalls": sum(1 for g in gaps if g > STALL_MS),
            "stall_cpu_ms": [cpu for _at, _gap, cpu in stream.stalls],
            "busiest_ms": max(stream.stream_busy),
            "final_gap_ms": stream.final_gap,
            "code": str(Path(sys.modules["desktop"].__file__ or "").parent.parent),
        }
        window.close()
        window.chat.store.close()
    print(json.dumps(result))


def run_tree(tree: Path) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=f"{tree}{os.pathsep}{ROOT / 'bench'}")
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    if Path(str(result["code"])).resolve() != tree.resolve():
        raise SystemExit(f"the child ran {result['code']}, not {tree}")
    return result


def main() -> None:
    from report import write_section

    with tempfile.TemporaryDirectory(prefix="llamaside-before-") as folder:
        before = Path(folder) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(before), BEFORE],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        try:
            runs: dict[str, list[dict[str, object]]] = {"before": [], "after": []}
            for _round in range(ROUNDS):
                for name, tree in (("before", before), ("after", ROOT)):
                    runs[name].append(run_tree(tree))
                    print(name, runs[name][-1], flush=True)
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(before)], cwd=ROOT, check=False
            )

    def median(name: str, key: str) -> float:
        return statistics.median(float(str(r[key])) for r in runs[name])

    rows = []
    for key, label in (
        ("first_us", "append cost per token, first 1,000 tokens (µs)"),
        ("last_us", "append cost per token, last 1,000 tokens (µs)"),
        ("longest_ms", "longest event-loop stall while streaming (ms)"),
        ("busiest_ms", "most GUI-thread CPU within one heartbeat gap (ms)"),
        ("final_gap_ms", "longest stall from the end-of-answer render (ms)"),
    ):
        b, a = median("before", key), median("after", key)
        rows.append(f"| {label} | {b:.1f} | {a:.1f} | {a / b:.2f} |")
    stalls = {
        name: ", ".join(
            f"{r['stalls']}" + (f" (CPU {r['stall_cpu_ms']})" if r["stalls"] else "")
            for r in results
        )
        for name, results in runs.items()
    }
    body = (
        f"The 20,000-token answer of the section above streamed into the chat of a whole window "
        f"({SIZE[0]}×{SIZE[1]}, offscreen), as `llamaside` builds it: before issue 22 (commit "
        f"{BEFORE}, a worktree) and this tree (message cards painted behind the text, the "
        f"readable line width, hover actions), alternating, {ROUNDS} runs each, each in a "
        f"process of its own; medians.\n\n"
        "| measure | before | after | after / before |\n|---|---:|---:|---:|\n"
        + "\n".join(rows)
        + f"\n\nStalls over 50 ms while streaming, per run: before {stalls['before']}; after "
        f"{stalls['after']} (the GUI thread's CPU time in a stall under a few ms means it was "
        "waiting for a CPU: the machine, not the app).\n"
    )
    print(body)
    write_section("stream-window", "Streaming into the window: before and after issue 22", body)


if __name__ == "__main__":
    if "--child" in sys.argv:
        child()
    else:
        sys.path.insert(0, str(ROOT / "bench"))
        main()
