"""Hostile text through the real window and engine: what is stored and shown, exactly."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop.core.messages import MessageStatus, Role
from desktop.core.params import LoadParams
from desktop.engine.llama_setup import LogCapture
from desktop.engine.runner import Runner
from desktop.engine.text_filters import TokenText
from desktop.ui.main_window import MainWindow
from tests.hostile.conftest import TIMEOUT_MS, send_and_wait


def test_a_1_mb_paste_is_given_back_with_the_reason(window: MainWindow, qtbot: QtBot) -> None:
    line = "Lorem ipsum dolor sit amet, ünïcödé 😀 —\tend\n"
    text = line * (1_000_000 // len(line.encode()))
    window.input_box.setPlainText(text)
    with qtbot.waitSignal(window.chat.rejected, timeout=TIMEOUT_MS):
        qtbot.keyClick(window.input_box, Qt.Key.Key_Return)
    assert "too long for this model's context" in window.banner.label.text()
    assert window.input_box.toPlainText() == text
    assert window.conversation_id is not None
    assert window.chat.store.messages(window.conversation_id) == []
    assert not window.chat.busy and window.send_button.isEnabled()


@pytest.mark.parametrize(
    "text",
    [
        "before\x00after \x00\x00 end",
        "שלום עולם — مرحبا بالعالم (RTL) and e\u0301 a\u0308\u0301\u0323 Z\u0336\u0337",
        "Repeat exactly: 😀👍🏽👨‍👩‍👧 🇫🇷",
    ],
    ids=["nul", "rtl-combining", "emoji"],
)
def test_odd_text_is_stored_exactly_and_the_answer_is_clean(
    window: MainWindow, qtbot: QtBot, text: str
) -> None:
    send_and_wait(qtbot, window, text)
    assert window.conversation_id is not None
    question, answer = window.chat.store.messages(window.conversation_id)
    assert question.role == Role.USER and question.content == text
    assert answer.status == MessageStatus.COMPLETE, answer.error
    # Streamed UTF-8 is decoded incrementally: a character split across tokens never shows
    # up as U+FFFD, on screen or in the history.
    assert "\ufffd" not in answer.content
    shown = window.chat_view.toPlainText()
    assert "\ufffd" not in shown
    assert text.replace("\x00", "")[:6] in shown.replace("\x00", "")


def test_100000_newlines_alone_are_not_sent(window: MainWindow, qtbot: QtBot) -> None:
    window.input_box.setPlainText("\n" * 100_000)
    qtbot.keyClick(window.input_box, Qt.Key.Key_Return)
    assert not window.chat.busy
    assert window.conversation_id is not None
    assert window.chat.store.messages(window.conversation_id) == []


def test_100000_newlines_inside_a_question(window: MainWindow, qtbot: QtBot) -> None:
    text = "top" + "\n" * 100_000 + "bottom"
    window.input_box.setPlainText(text)
    finished: list[str] = []
    window.chat.answer_finished.connect(lambda _c, _a, status: finished.append(status))
    qtbot.keyClick(window.input_box, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: bool(finished), timeout=TIMEOUT_MS)
    assert window.conversation_id is not None
    stored = window.chat.store.messages(window.conversation_id)
    if finished[0] == "rejected":  # too long: given back whole, nothing stored
        assert window.input_box.toPlainText() == text
        assert stored == []
    else:
        assert stored[0].content == text
        assert stored[1].status == MessageStatus.COMPLETE


@pytest.fixture(scope="module")
def runner(smollm_path: str, extra_bufts: bool) -> Runner:
    """The engine's own Runner with the real SmolLM2 vocabulary (byte-level BPE), loaded in
    this process: the test needs its token-to-bytes function, not an answer."""
    loaded = Runner(LogCapture())
    loaded.load(smollm_path, LoadParams(n_ctx=256, n_threads=1, extra_bufts=extra_bufts))
    return loaded


def _stream(runner: Runner, tokens: list[int]) -> list[str]:
    text_of = TokenText(runner._piece)
    return [text_of.feed(t) for t in tokens] + [text_of.flush()]


def test_characters_split_across_tokens_never_show_a_replacement(runner: Runner) -> None:
    text = "Emoji 😀👍🏽👨‍👩‍👧🇫🇷, scripts: 東京 שלום مرحبا, accents: e\u0301 ŀ"
    tokens = runner._llm.tokenize(text.encode(), add_bos=False, special=False)
    # The case under test is real: some tokens are not whole UTF-8 on their own.
    broken = [t for t in tokens if not _valid_utf8(runner._piece(t))]
    assert len(broken) >= 5, broken
    shown = _stream(runner, tokens)
    assert all("\ufffd" not in piece for piece in shown), shown
    assert "".join(shown) == text


def test_invalid_utf8_from_the_model_is_marked_and_the_answer_goes_on(runner: Runner) -> None:
    """A model can emit any byte token in any order: a lone continuation byte can never start
    a character, nor can a character cut off at the end of the answer be finished. Each
    becomes U+FFFD in place; the rest is intact."""
    n_vocab = runner._llm.n_vocab()
    stray = next(t for t in range(n_vocab) if runner._piece(t) in (b"\x80", b"\xa9", b"\xbf"))
    emoji = runner._llm.tokenize("😀".encode(), add_bos=False, special=False)
    before = runner._llm.tokenize(b"A", add_bos=False, special=False)
    after = runner._llm.tokenize(b"B", add_bos=False, special=False)
    assert len(emoji) > 1  # split across tokens
    shown = _stream(runner, [*before, stray, *emoji, *after, *emoji[:-1]])
    assert "".join(shown) == "A\ufffd😀B\ufffd"


def _valid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
