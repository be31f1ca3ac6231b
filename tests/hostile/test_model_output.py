"""Hostile model output, rendered by the real chat view: nothing is fetched, no dangerous link
is opened, and huge or deeply nested markup renders in bounded time."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QUrl
from pytestqt.qtbot import QtBot

from desktop.core.messages import Role
from desktop.ui.main_window import MainWindow
from tests.hostile.responsiveness import Heartbeat
from tests.loopback import JsonHandler, LoopbackServer


class _Recorder(JsonHandler):
    def do_GET(self) -> None:
        self.send_json(200, {})


def _render(window: MainWindow, text: str) -> float:
    """Stream ``text`` into the view as an answer, finish it; returns the seconds it took."""
    view = window.chat_view
    started = time.perf_counter()
    view.begin_answer(10_000, "Hostile model")
    view.append_answer_text(text)
    view.finish_answer(text, "complete")
    view.finish_rendering()
    return time.perf_counter() - started


def test_images_and_html_pointing_at_a_server_fetch_nothing(
    window: MainWindow, qtbot: QtBot
) -> None:
    with LoopbackServer(_Recorder, None, "hostile-http") as server:
        url = server.url
        text = (
            f"![tracker]({url}/md.png)\n\n"
            f'<img src="{url}/img.png"> <iframe src="{url}/frame"></iframe>\n'
            f'<script src="{url}/x.js">fetch("{url}/js")</script>\n'
            f'<link rel="stylesheet" href="{url}/s.css"><video src="{url}/v.mp4"></video>\n'
            f'<div style="background:url({url}/bg.png)">styled</div>'
        )
        _render(window, text)
        qtbot.wait(300)  # any fetch would have started by now
        assert server.connections == 0
    shown = window.chat_view.toPlainText()
    assert "styled" in shown


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(document.cookie)",
        "file:///etc/passwd",
        "smb://evil.example/share",
        "JaVaScRiPt:alert(1)",
    ],
)
def test_dangerous_links_are_never_opened(window: MainWindow, link: str) -> None:
    _render(window, f"[click me]({link})")
    # What a click on the link does: the view hands it to the window, which refuses it
    # without a dialog (a dialog would block this test, proving the refusal).
    window.chat_view.link_requested.emit(QUrl(link))
    assert "was not opened" in window.banner.label.text()


def test_very_long_line_deep_nesting_and_a_huge_table_render_in_bounded_time(
    window: MainWindow, qtbot: QtBot
) -> None:
    """Before: a one-megabyte line or a 50,000-row table froze the window for minutes (Qt's
    layout of one huge paragraph, or of a huge table). Now such answers stay plain text, long
    lines shown broken, with a note; nothing of the text is lost."""
    view = window.chat_view
    long_line = "x" * 999_999 + "END"
    assert _render(window, long_line) < 30
    shown = view.toPlainText()
    assert "Shown as plain text, long lines broken" in shown
    assert long_line in shown.replace("\n", "")  # all of it, in lines of 5,000
    nested = "\n".join("  " * depth + "- level" for depth in range(500))
    assert _render(window, nested) < 30
    table = "| a | b |\n|---|---|\n" + "".join(f"| {i} | {i * 2} |\n" for i in range(50_000))
    assert _render(window, table) < 30
    shown = view.toPlainText()
    assert "| 49999 | 99998 |" in shown and "too large to format" in shown
    # Opened again from the history (the stored message), the same rule applies.
    store = window.chat.store
    conversation = store.create_conversation("Huge table")
    store.add_message(conversation.id, Role.USER, "A table, please.")
    store.add_message(conversation.id, Role.ASSISTANT, table, model="local:x")
    # Its text goes in a slice per event-loop turn: the window keeps painting meanwhile.
    heart = Heartbeat(interval_ms=10)
    heart.start()
    window.open_conversation(conversation.id)
    qtbot.waitUntil(lambda: not view.rendering, timeout=60_000)
    heart.stop()
    assert heart.max_gap_s < 1.0, heart.summary()  # before: one stall of ~1.5 s (2 cores)
    shown = view.toPlainText()
    assert "| 49999 | 99998 |" in shown and "too large to format" in shown
    assert shown.count("| 4") == table.count("| 4")  # every row is in, once
