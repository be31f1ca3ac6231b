"""Streaming a long answer into the chat view: event-loop stalls and cost per appended token.

Target: a 20,000-token answer streamed at 500 tokens/s into the chat view causes no event-loop
stall over 50 ms, and the cost per appended token is flat from the first to the last thousand
tokens.

The real ChatView, shown offscreen, in a running Qt event loop. A QTimer feeder delivers text
the way the app does: the engine child flushes what it has every FLUSH_S
(desktop.engine.runner.DELTA_FLUSH_INTERVAL_S, 30 ms), so at 500 tokens/s a delta of ~15 tokens
arrives every 30 ms, and each becomes one ChatService.answer_delta -> ChatView.append_answer_text
call. A tick that comes late delivers every delta that fell due meanwhile, one call each, as
queued signals would. A 5 ms heartbeat timer records how long the loop was kept from it: its
gaps beyond 5 ms are the stalls a user would feel (scrolling, typing, resizing).

A second, tight-loop measurement (each piece appended, then processEvents) is the earlier
version of this benchmark, kept as a check of the work per piece including Qt's layout and
painting, with no timer waits in between.
"""

from __future__ import annotations

import itertools
import os
import re
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QElapsedTimer, Qt, QTimer
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QApplication, QTextBrowser

from desktop.engine.runner import DELTA_FLUSH_INTERVAL_S
from desktop.ui import chat_view
from desktop.ui.chat_view import ChatView
from desktop.ui.render import markdown_to_html

from report import write_section

TOKENS = 20_000
RATE = 500  # tokens/s
FLUSH_S = DELTA_FLUSH_INTERVAL_S
HEARTBEAT_MS = 5
STALL_MS = 50
WINDOW = 1_000  # tokens at each end compared
TIGHT_WORDS = 5_000

_PARAGRAPHS = [
    "The **llama** (*Lama glama*) is a domesticated South American camelid, widely used as a "
    "meat and pack animal by Andean cultures since the pre-Columbian era. Llamas are social "
    "animals and live with others as a herd; their wool is soft and contains only a small "
    "amount of lanolin.",
    "Here is how you might model a herd in Python, keeping each animal's `name` and `load`:",
    "```python\n"
    "from dataclasses import dataclass\n\n\n"
    "@dataclass\n"
    "class Llama:\n"
    "    name: str\n"
    "    load_kg: float = 0.0\n\n"
    "    def carry(self, kg: float) -> None:\n"
    '        if self.load_kg + kg > 30:\n            raise ValueError("too heavy")\n'
    "        self.load_kg += kg\n"
    "```",
    "Some things to keep in mind when travelling with llamas:\n\n"
    "1. A llama carries about 25-30% of its body weight.\n"
    "2. They walk 20-30 km a day at altitude.\n"
    "3. When overloaded, a llama lies down and refuses to move.\n\n"
    "- Give them water at every stop.\n"
    "- Check their feet for stones.\n"
    "- Never tie two of them together.",
    "### Why the herd matters\n\n"
    "A lone llama is an unhappy llama: they communicate through ear posture, tail position and "
    "a range of humming sounds, and they will spit at one another (rarely at people) to settle "
    "disputes over food or rank. See [the overview](https://example.org/llamas) for more.",
    "| trait | llama | alpaca |\n|---|---|---|\n| height | 1.7-1.8 m | 0.8-1.0 m |\n"
    "| use | pack | fibre |",
    '```bash\nfor i in $(seq 1 10); do\n  echo "llama $i" >> herd.txt\ndone\n```',
]


def answer_tokens(count: int = TOKENS) -> list[str]:
    """Token-sized pieces of Markdown-ish text: paragraphs, lists, code blocks, a table."""
    tokens: list[str] = []
    for paragraph in itertools.cycle(_PARAGRAPHS):
        # Words with their leading space, runs of punctuation, newlines: then long words cut
        # into pieces of up to 4 characters, about what a BPE tokenizer gives for English.
        for part in re.findall(r"\n| ?\w+| ?[^\w\s]+| +", paragraph + "\n\n"):
            tokens.extend(part[i : i + 4] for i in range(0, len(part), 4))
            if len(tokens) >= count:
                return tokens[:count]
    raise AssertionError("unreachable")


class Stream:
    """Feeds the answer to the view on a FLUSH_S timer and watches the loop with a heartbeat."""

    def __init__(self, app: QApplication, view: ChatView, tokens: list[str]) -> None:
        self.app = app
        self.view = view
        self.tokens = tokens
        self.per_flush = max(1, round(RATE * FLUSH_S))
        self.sent = 0
        #: (tokens in the delta, seconds spent in append_answer_text) per call.
        self.calls: list[tuple[int, float]] = []
        self.gaps: list[float] = []  # heartbeat gaps beyond its interval, ms
        #: CPU time the GUI thread used in each gap, ms: tells a stall of our own work from
        #: the process waiting for a CPU (the machine is shared).
        self.busy: list[float] = []
        self.last_cpu = 0.0
        self.clock = QElapsedTimer()
        self.last_beat = 0.0
        self.feeder = QTimer()
        self.feeder.setTimerType(Qt.TimerType.PreciseTimer)
        self.feeder.setInterval(round(FLUSH_S * 1000))
        self.feeder.timeout.connect(self._feed)
        self.heartbeat = QTimer()
        self.heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
        self.heartbeat.setInterval(HEARTBEAT_MS)
        self.heartbeat.timeout.connect(self._beat)
        self.final_render = 0.0
        self.final_call = 0.0
        self.final_gap = 0.0
        self.final_busy = 0.0
        self.render_start = 0.0
        #: Heartbeat gaps while the answer streamed (before the end-of-answer render).
        self.stream_gaps: list[float] = []
        self.stream_busy: list[float] = []
        #: (seconds into the stream, gap ms, CPU ms) of the gaps over STALL_MS, to place them.
        self.stalls: list[tuple[float, float, float]] = []

    def run(self) -> None:
        self.view.begin_answer(1, "Model", "local:bench")
        self.clock.start()
        self.last_beat = self._now()
        self.last_cpu = time.thread_time()
        self.heartbeat.start()
        self.feeder.start()
        self.app.exec()

    def _now(self) -> float:
        return self.clock.nsecsElapsed() / 1e6

    def _beat(self) -> None:
        now = self._now()
        cpu = time.thread_time()
        gap = max(0.0, now - self.last_beat - HEARTBEAT_MS)
        self.gaps.append(gap)
        self.busy.append((cpu - self.last_cpu) * 1000)
        if gap > STALL_MS:
            self.stalls.append((now / 1000, gap, self.busy[-1]))
        self.last_beat = now
        self.last_cpu = cpu

    def _feed(self) -> None:
        # Every flush that fell due by now, each its own call (queued signals after a stall).
        due = min(len(self.tokens), int(self._now() / 1000 * RATE))
        while self.sent < due:
            end = min(due, self.sent + self.per_flush)
            delta = "".join(self.tokens[self.sent : end])
            start = time.perf_counter()
            self.view.append_answer_text(delta)
            self.calls.append((end - self.sent, time.perf_counter() - start))
            self.sent = end
        if self.sent >= len(self.tokens):
            self.feeder.stop()
            # Let the loop settle (layout, paint) before the end-of-answer render.
            QTimer.singleShot(200, self._finish)

    def _finish(self) -> None:
        self.stream_gaps = list(self.gaps)
        self.stream_busy = list(self.busy)
        before = len(self.gaps)
        self.render_start = time.perf_counter()
        self.view.finish_answer("".join(self.tokens), "complete")
        self.final_call = time.perf_counter() - self.render_start
        self._rendered(before)

    def _rendered(self, before: int) -> None:
        # A long answer is rendered over several event-loop turns: wait for the last part.
        if self.view.rendering:
            QTimer.singleShot(1, lambda: self._rendered(before))
            return
        self.final_render = time.perf_counter() - self.render_start
        # Whatever layout and painting the rendered answer costs lands in the next beats.
        QTimer.singleShot(500, lambda: self._stop(before))

    def _stop(self, before: int) -> None:
        self.final_gap = max(self.gaps[before:], default=0.0)
        self.final_busy = max(self.busy[before:], default=0.0)
        self.heartbeat.stop()
        self.app.quit()

    def per_token(self, first: bool) -> float:
        """Mean seconds per token of the calls that delivered the first/last WINDOW tokens."""
        calls = self.calls if first else list(reversed(self.calls))
        tokens = 0
        seconds = 0.0
        for n, cost in calls:
            tokens += n
            seconds += cost
            if tokens >= WINDOW:
                break
        return seconds / tokens


def tight_loop(app: QApplication) -> tuple[float, float, float]:
    """The earlier measurement: append one piece, process events, time both; first and last
    1,000 pieces (mean seconds) and the slowest."""
    view = ChatView()
    view.resize(900, 700)
    view.show()
    view.begin_answer(1, "Model")
    costs = []
    for piece in answer_tokens(int(TIGHT_WORDS * 1.35)):
        start = time.perf_counter()
        view.append_answer_text(piece)
        app.processEvents()
        costs.append(time.perf_counter() - start)
    view.close()
    return statistics.mean(costs[:WINDOW]), statistics.mean(costs[-WINDOW:]), max(costs)


def document_floor(app: QApplication, tokens: list[str]) -> dict[str, tuple[float, float]]:
    """The yardstick for "flat": the same deltas appended to a bare QTextBrowser through one
    kept cursor (Qt's own document, nothing of ours), and to ChatView, alternating, 3 rounds
    each; GUI-thread CPU per token (thread time, so waiting for a shared CPU does not count),
    first and last WINDOW tokens, median over the rounds. QTextDocument keeps its text and
    blocks in balanced trees, so an insertion costs more as the document grows, whoever
    inserts: what ChatView should add is no growth of its own."""
    per = max(1, round(RATE * FLUSH_S))
    deltas = ["".join(tokens[i : i + per]) for i in range(0, len(tokens), per)]
    window = WINDOW // per
    results: dict[str, list[tuple[float, float]]] = {"Qt": [], "ChatView": []}
    for _round in range(3):
        for name, rounds in results.items():
            append: Callable[[str], None]
            if name == "Qt":
                widget: QTextBrowser | ChatView = QTextBrowser()
                append = QTextCursor(widget.document()).insertText
            else:
                widget = view = ChatView()
                view.begin_answer(1, "Model", "local:bench")
                append = view.append_answer_text
            widget.resize(900, 700)
            widget.show()
            costs = []
            for i, delta in enumerate(deltas):
                start = time.thread_time()
                append(delta)
                costs.append(time.thread_time() - start)
                if i % 2:
                    app.processEvents()
            widget.close()
            rounds.append(
                (statistics.mean(costs[:window]) / per, statistics.mean(costs[-window:]) / per)
            )
    return {
        name: (statistics.median(r[0] for r in rounds), statistics.median(r[1] for r in rounds))
        for name, rounds in results.items()
    }


def whole_render(app: QApplication, text: str) -> float:
    """Seconds the previous behaviour stalled for at the end: the answer rendered whole, in
    one call, with its layout (for the same text, in the same run)."""
    view = ChatView()
    view.resize(900, 700)
    view.show()
    view.begin_answer(1, "Model", "local:bench")
    view.append_answer_text(text)
    app.processEvents()
    threshold = chat_view.PROGRESSIVE_RENDER_CHARS
    chat_view.PROGRESSIVE_RENDER_CHARS = len(text) + 1
    try:
        start = time.perf_counter()
        view.finish_answer(text, "complete")
        app.processEvents()
        seconds = time.perf_counter() - start
    finally:
        chat_view.PROGRESSIVE_RENDER_CHARS = threshold
    view.close()
    return seconds


def main() -> None:
    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    # Pygments loads a language's lexer (and compiles its patterns) the first time a code
    # block in that language is rendered: once per run, not per answer. Measured here, then
    # out of the way, as it is after the first such answer of a session.
    start = time.perf_counter()
    markdown_to_html("```python\nx = 1\n```\n\n```bash\nls\n```\n")
    lexers = time.perf_counter() - start
    view = ChatView()
    view.resize(900, 700)
    view.show()
    tokens = answer_tokens()
    stream = Stream(app, view, tokens)
    started = time.perf_counter()
    stream.run()
    duration = time.perf_counter() - started
    view.close()
    first, last = stream.per_token(True), stream.per_token(False)
    gaps = stream.stream_gaps
    stalls = sum(1 for g in gaps if g > STALL_MS)
    busy = stream.stream_busy
    print("gaps over 50 ms (s into the run, gap ms, GUI-thread CPU ms in it):", stream.stalls)
    quarter = len(gaps) // 4
    tight_first, tight_last, tight_max = tight_loop(app)
    whole = whole_render(app, "".join(tokens))
    floor = document_floor(app, tokens)
    (qt_first, qt_last), (ours_first, ours_last) = floor["Qt"], floor["ChatView"]
    body = (
        f"A {TOKENS:,}-token Markdown answer (paragraphs, lists, code blocks, a table; "
        f"{len(''.join(tokens)):,} characters) streamed into ChatView at {RATE} tokens/s: a "
        f"QTimer delivers a {stream.per_flush}-token delta every {FLUSH_S * 1000:.0f} ms, as the "
        f"engine's flushes arrive, in a running event loop (offscreen Qt); a {HEARTBEAT_MS} ms "
        f"heartbeat timer measures how long the loop is held up. The stream took "
        f"{duration:.1f} s.\n\n"
        "| measure | value |\n|---|---:|\n"
        f"| mean append cost per token, first {WINDOW:,} tokens | {first * 1e6:.1f} µs |\n"
        f"| mean append cost per token, last {WINDOW:,} tokens | {last * 1e6:.1f} µs |\n"
        f"| last / first | {last / first:.2f} |\n"
        f"| slowest append call | {max(c for _, c in stream.calls) * 1000:.1f} ms |\n"
        f"| longest event-loop stall while streaming (heartbeat gap beyond {HEARTBEAT_MS} ms) | "
        f"{max(gaps):.1f} ms |\n"
        f"| stalls over {STALL_MS} ms while streaming | {stalls}"
        + (
            " (GUI-thread CPU in each: "
            + ", ".join(f"{cpu:.1f} ms" for _at, _gap, cpu in stream.stalls)
            + "; under a few ms means the thread was not running: the machine, not the app)"
            if stream.stalls
            else ""
        )
        + " |\n"
        f"| most GUI-thread CPU time within one heartbeat gap, while streaming | "
        f"{max(busy):.1f} ms |\n"
        f"| longest stall, first / last quarter of the stream | "
        f"{max(gaps[:quarter]):.1f} / {max(gaps[-quarter:]):.1f} ms |\n"
        f"| final Markdown render of the whole answer: the finish_answer call | "
        f"{stream.final_call * 1000:.0f} ms |\n"
        f"| final render, until its last part is in (over several event-loop turns) | "
        f"{stream.final_render * 1000:.0f} ms |\n"
        f"| longest stall from it (render, then layout and paint) | "
        f"{stream.final_gap:.1f} ms (GUI-thread CPU in it: {stream.final_busy:.1f} ms) |\n"
        f"| the same answer rendered whole in one call (before: one stall) | "
        f"{whole * 1000:.0f} ms |\n"
        f"| first Python and Bash code blocks of the run (Pygments loads its lexers; once) | "
        f"{lexers * 1000:.0f} ms |\n\n"
        f"Tight loop (each of {int(TIGHT_WORDS * 1.35):,} pieces appended, then "
        "processEvents, timed together: includes Qt's layout and painting): "
        f"first {WINDOW:,} pieces {tight_first * 1e6:.0f} µs, last {WINDOW:,} "
        f"{tight_last * 1e6:.0f} µs (ratio {tight_last / tight_first:.2f}), slowest "
        f"{tight_max * 1000:.1f} ms.\n\n"
        f"Flat against what: the same deltas into a bare QTextBrowser through one kept cursor "
        f"(Qt's document alone) and into ChatView, alternating, GUI-thread CPU per token, median "
        f"of 3 rounds each: Qt alone {qt_first * 1e6:.0f} → {qt_last * 1e6:.0f} "
        f"µs (last / first {qt_last / qt_first:.2f}); ChatView {ours_first * 1e6:.0f} → "
        f"{ours_last * 1e6:.0f} µs (last / first {ours_last / ours_first:.2f}). The growth that "
        f"is Qt's own (its document keeps text and blocks in balanced trees) is the floor.\n"
    )
    print(body)
    write_section("stream-ui", "Streaming into the chat view", body)


if __name__ == "__main__":
    main()
