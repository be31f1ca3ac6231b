"""Cost of appending streamed text to the chat view: first tokens vs last tokens of a long answer.

Streams a ~5,000-word answer (as ~7,000 token-sized pieces) into the real ChatView offscreen
and times each append, including Qt's event processing. Flat cost means the view does not
re-render what is already shown.
"""

from __future__ import annotations

import os
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication

from desktop.ui.chat_view import ChatView

from report import write_section

WORDS = 5000


def pieces() -> list[str]:
    out = []
    for i in range(WORDS):
        word = f" word{i % 97}"
        out.extend([word[:3], word[3:]] if i % 3 == 0 else [word])
        if i % 60 == 59:
            out.append("\n\n")
    return out


def main() -> None:
    app = QApplication.instance() or QApplication([])
    view = ChatView()
    view.resize(900, 700)
    view.show()
    view.begin_answer(1, "Model")
    costs = []
    for piece in pieces():
        start = time.perf_counter()
        view.append_answer_text(piece)
        app.processEvents()
        costs.append(time.perf_counter() - start)
    start = time.perf_counter()
    view.finish_answer(view.toPlainText(), "complete")
    app.processEvents()
    final = time.perf_counter() - start
    first, last = costs[:1000], costs[-1000:]
    ratio = statistics.mean(last) / statistics.mean(first)
    body = (
        f"A {WORDS:,}-word answer streamed into ChatView as {len(costs):,} pieces "
        f"(offscreen Qt).\n\n| measure | value |\n|---|---:|\n"
        f"| mean append, first 1,000 pieces | {statistics.mean(first) * 1e6:.0f} µs |\n"
        f"| mean append, last 1,000 pieces | {statistics.mean(last) * 1e6:.0f} µs |\n"
        f"| last / first | {ratio:.2f} |\n"
        f"| slowest append | {max(costs) * 1000:.1f} ms |\n"
        f"| final Markdown render of the whole answer (once) | {final * 1000:.0f} ms |\n"
    )
    print(body)
    write_section("stream-ui", "Streaming into the chat view", body)
    view.close()


if __name__ == "__main__":
    main()
