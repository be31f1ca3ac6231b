"""Hostile model files, through the real window and the real engine child.

For each file: the user sees one message that names the file and says why; the question is kept
and the answer marked failed; the file is marked as failed in the model picker and is not picked
up again at the next start; and the window and its engine host go on working: the bundled model
answers right after, in the same window.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import gguf
import pytest
from PySide6.QtWidgets import QFileDialog
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.core.messages import MessageStatus, Role
from desktop.core.models import LocalModel
from desktop.storage.paths import AppPaths
from desktop.ui.main_window import MainWindow
from tests.gguf_edit import with_string
from tests.gguf_make import tiny_llama
from tests.hostile.conftest import bundled_still_answers, send_and_wait
from tests.ui.driving import answer_modal, file_dialog_answer


def _missing(dest: Path, _source: str) -> None:
    pass  # never written


def _empty(dest: Path, _source: str) -> None:
    dest.write_bytes(b"")


def _truncated(fraction: float) -> Callable[[Path, str], None]:
    def make(dest: Path, source: str) -> None:
        data = Path(source).read_bytes()
        dest.write_bytes(data[: int(len(data) * fraction)])

    return make


def _random(dest: Path, _source: str) -> None:
    dest.write_bytes(os.urandom(1_000_000))


def _garbage_tensors(dest: Path, source: str) -> None:
    """The real header, then random bytes where the weights should be (same length)."""
    reader = gguf.GGUFReader(source)
    start = int(reader.data_offset)
    data = Path(source).read_bytes()
    dest.write_bytes(data[:start] + os.urandom(len(data) - start))


def _unknown_architecture(dest: Path, source: str) -> None:
    with_string(source, "general.architecture", "zzzzz", dest)


@pytest.fixture(autouse=True)
def _no_gdb_backtrace(monkeypatch: pytest.MonkeyPatch) -> None:
    """ggml answers an abort by attaching gdb (when installed) to print a backtrace, which takes
    seconds; the engine child inherits this and skips it. The abort itself is unchanged."""
    monkeypatch.setenv("GGML_NO_BACKTRACE", "1")


def _aborts(dest: Path, source: str) -> None:
    # 4 query heads over 3 key/value heads: shapes agree with the hparams, so it loads, then
    # ggml's GGML_ASSERT(ggml_can_mul_mat(a, b)) aborts the child when the graph is built.
    tiny_llama(dest, source, n_head=4, n_head_kv=3)


def _spoilt(maker: Callable[[Path, str], None]) -> Callable[[Path, str], None]:
    """A file that was a good model when opened, then changed by ``maker`` (deleted, cut)."""

    def spoil(dest: Path, source: str) -> None:
        dest.unlink()
        maker(dest, source)

    return spoil


#: Refused when opened (Model → Open GGUF file…): (maker, words besides the file name).
REFUSED: dict[str, tuple[Callable[[Path, str], None], tuple[str, ...]]] = {
    "empty": (_empty, ("empty", "0 bytes")),
    "truncated-10": (_truncated(0.10), ("incomplete",)),
    "truncated-50": (_truncated(0.50), ("incomplete",)),
    "truncated-99": (_truncated(0.99), ("incomplete",)),
    "random": (_random, ("not a GGUF model file",)),
    "unknown-arch": (_unknown_architecture, ("zzzzz", "cannot run")),
}

#: Opened as a good copy, then spoilt, or fine by every check and crashing llama.cpp: they
#: fail when a message is sent. (maker applied after opening, or None; words in the message)
CASES: dict[str, tuple[Callable[[Path, str], None] | None, tuple[str, ...]]] = {
    "missing": (_spoilt(_missing), ("not found",)),
    "empty": (_spoilt(_empty), ("empty", "0 bytes")),
    "truncated-10": (_spoilt(_truncated(0.10)), ("file bounds",)),
    "truncated-50": (_spoilt(_truncated(0.50)), ("file bounds",)),
    "truncated-99": (_spoilt(_truncated(0.99)), ("file bounds",)),
    "random": (_spoilt(_random), ("not a GGUF model file",)),
    "unknown-arch": (_spoilt(_unknown_architecture), ("unknown model architecture", "zzzzz")),
    "assert-abort": (None, ("crashed the engine", "SIGABRT", "GGML_ASSERT")),
}


def open_model(qtbot: QtBot, window: MainWindow, path: Path) -> None:
    """Model → Open GGUF file…, the file chosen in the dialog."""
    failures = answer_modal(file_dialog_answer(path), QFileDialog)
    window.open_model_action.trigger()
    assert not failures, failures


def _failed_on(
    window: MainWindow,
    qtbot: QtBot,
    bad: Path,
    *,
    answered_first: bool,
    spoil: Callable[[], None] | None = None,
) -> str:
    """Send with ``bad`` opened (and then spoilt); returns the message the user was shown.
    ``answered_first``: the bundled model answers a question first, so there is an earlier
    answer to lose."""
    questions = ["First question"] if answered_first else []
    if answered_first:
        send_and_wait(qtbot, window, questions[0])
    open_model(qtbot, window, bad)
    assert not window.banner.isVisible(), window.banner.label.text()
    if spoil is not None:
        spoil()
    questions.append("Question for the bad file")
    send_and_wait(qtbot, window, questions[-1])
    assert window.isVisible()
    assert window.banner.isVisible()
    shown = window.banner.label.text()
    assert window.conversation_id is not None
    history = window.chat.store.messages(window.conversation_id)
    assert [m.content for m in history if m.role == Role.USER] == questions
    if answered_first:
        assert history[1].status == MessageStatus.COMPLETE and history[1].content
    assert history[-1].status == MessageStatus.FAILED
    assert history[-1].error == shown
    assert shown in window.chat_view.toPlainText() or "Failed" in window.chat_view.toPlainText()
    return shown


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_bad_model_file_is_refused_when_opened(
    window: MainWindow, qtbot: QtBot, tmp_path: Path, smollm_path: str, case: str
) -> None:
    make, words = REFUSED[case]
    bad = tmp_path / f"{case}.gguf"
    make(bad, smollm_path)
    before = window.model_picker.currentData()
    open_model(qtbot, window, bad)
    shown = window.banner.label.text()
    assert window.banner.isVisible()
    assert bad.name in shown and shown.endswith("It was not added.")
    for word in words:
        assert word in shown, shown
    assert all(m.path != str(bad) for m in window.chat.models)
    assert window.model_picker.currentData() == before
    assert window.chat.store.user_models() == []


@pytest.mark.parametrize("case", list(CASES))
def test_bad_model_file(
    window: MainWindow, qtbot: QtBot, tmp_path: Path, smollm_path: str, case: str
) -> None:
    spoil, words = CASES[case]
    bad = tmp_path / f"{case}.gguf"
    if spoil is None:
        _aborts(bad, smollm_path)
        shown = _failed_on(window, qtbot, bad, answered_first=False)
    else:
        shutil.copyfile(smollm_path, bad)  # good when opened
        shown = _failed_on(
            window, qtbot, bad, answered_first=False, spoil=lambda: spoil(bad, smollm_path)
        )
    assert bad.name in shown
    for word in words:
        assert word in shown, shown
    # Marked where models are chosen, the reason in the tooltip.
    index = window.model_picker.findData(window.chat.models[-1].id)
    assert window.chat.models[-1].path == str(bad)
    assert "failed to load" in window.model_picker.itemText(index)
    assert shown in str(window.model_picker.itemData(index, 3))  # ToolTipRole
    assert window.chat.store.model_errors() == {str(bad): shown}
    bundled_still_answers(qtbot, window)


def test_garbage_weights_load_and_answer_without_a_crash(
    window: MainWindow, qtbot: QtBot, tmp_path: Path, smollm_path: str
) -> None:
    """Random weights with a valid header are a valid model as far as anyone can tell: it must
    answer (nonsense) without taking the engine or the window down."""
    bad = tmp_path / "garbage-tensors.gguf"
    _garbage_tensors(bad, smollm_path)
    open_model(qtbot, window, bad)
    send_and_wait(qtbot, window, "Hello")
    assert window.conversation_id is not None
    answer = window.chat.store.messages(window.conversation_id)[-1]
    assert answer.status == MessageStatus.COMPLETE, answer.error
    assert "\ufffd" not in answer.content
    bundled_still_answers(qtbot, window)


def test_a_model_that_crashed_is_not_loaded_at_the_next_start(
    home: AppPaths, window: MainWindow, qtbot: QtBot, tmp_path: Path, smollm_path: str
) -> None:
    bad = tmp_path / "aborts.gguf"
    _aborts(bad, smollm_path)
    shown = _failed_on(window, qtbot, bad, answered_first=True)
    chosen = window.chat.model_of(window.conversation_id)
    assert isinstance(chosen, LocalModel)
    assert chosen.path == str(bad)  # still the chat's choice in this session
    window.close()

    again = build_window(home)
    qtbot.addWidget(again)
    try:
        # The next start opens that chat: it is on the bundled model, not the one that crashed.
        current = again.chat.model_of(again.conversation_id)
        assert isinstance(current, LocalModel) and current.source == "bundled"
        assert again.chat.model_error(again.chat.models[-1]) == shown
        assert "failed to load" in again.model_picker.itemText(
            again.model_picker.findData(again.chat.models[-1].id)
        )
        assert again.model_picker.currentData() == current.id
    finally:
        again.close()
        again.chat.store.close()


def test_a_file_in_the_models_folder_that_crashed_is_not_loaded_at_the_next_start(
    home: AppPaths, qtbot: QtBot, smollm_path: str
) -> None:
    """The same promise for a file the user never added by hand: one downloaded, or dropped
    into the models folder. (Its failure used to be remembered for added files only.)"""
    bad = home.models / "dropped-in.gguf"
    _aborts(bad, smollm_path)
    first = build_window(home)
    qtbot.addWidget(first)
    try:
        [model] = [m for m in first.chat.models if m.path == str(bad)]
        assert model.source != "user"
        first.chat.select_model(model.id)
        send_and_wait(qtbot, first, "Question for the dropped-in file")
        shown = first.banner.label.text()
        assert bad.name in shown and "crashed the engine" in shown
        assert first.chat.store.model_errors() == {str(bad): shown}
    finally:
        first.close()
        first.chat.store.close()

    again = build_window(home)
    qtbot.addWidget(again)
    try:
        current = again.chat.model_of(again.conversation_id)
        assert isinstance(current, LocalModel) and current.source == "bundled"
        index = again.model_picker.findData(model.id)
        assert "failed to load" in again.model_picker.itemText(index)
    finally:
        again.close()
        again.chat.store.close()


def test_a_broken_file_in_the_models_folder_is_marked_before_anything_is_sent(
    home: AppPaths, qtbot: QtBot, smollm_path: str
) -> None:
    """A file dropped into the models folder gets the same check as one opened: marked failed
    with its reason, never pre-selected; once it is a good file, the mark is gone."""
    dropped = home.models / "dropped.gguf"
    _truncated(0.5)(dropped, smollm_path)
    first = build_window(home)
    qtbot.addWidget(first)
    try:
        index = first.model_picker.findData("local:dropped")
        assert index >= 0
        assert first.model_picker.itemText(index).endswith("⚠ failed to load")
        tooltip = str(first.model_picker.itemData(index, 3))  # ToolTipRole
        assert "Cannot load dropped.gguf: the file is incomplete" in tooltip
        assert first.model_picker.currentData() != "local:dropped"
        assert first.chat.store.model_errors() == {}  # not remembered: it may be fixed
    finally:
        first.close()
        first.chat.store.close()

    shutil.copyfile(smollm_path, dropped)
    again = build_window(home)
    qtbot.addWidget(again)
    try:
        index = again.model_picker.findData("local:dropped")
        assert "failed" not in again.model_picker.itemText(index)
    finally:
        again.close()
        again.chat.store.close()
