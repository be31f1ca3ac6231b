"""Hostile storage: a full disk, a read-only data folder, a database from a newer version, a
corrupt database. Real SQLite files on real (small, mounted) file systems.

Outcome asserted each time: a clear message, and nothing that was already saved is lost.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.core.errors import LlamasideError, NewerSchemaError
from desktop.core.messages import MessageStatus, Role
from desktop.core.params import SamplingParams
from desktop.storage.paths import HOME_ENV, AppPaths
from desktop.storage.store import ChatStore
from desktop.ui.main_window import MainWindow
from tests.hostile.conftest import send_and_wait


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs of its own, so that "the disk is full" is the kernel's real ENOSPC. Needs
    root (CI runs as root); unmounted afterwards whatever happens."""
    mount = tmp_path / "fs"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder: Path) -> Path:
    """Fill the file system until the kernel says ENOSPC; returns the filler file."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for size in (1 << 20, 4096, 1):  # big steps, then the last bytes
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
        with pytest.raises(OSError) as caught:
            os.write(fd, b"\0")
        assert caught.value.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def _open_window(home: Path, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> MainWindow:
    monkeypatch.setenv(HOME_ENV, str(home))
    win = build_window(AppPaths.from_env())
    win.chat.sampling = SamplingParams(temperature=0.0, max_tokens=12)
    qtbot.addWidget(win)
    win.show()
    return win


def test_disk_full_when_sending(
    small_fs: Path, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    win = _open_window(small_fs / "home", qtbot, monkeypatch)
    try:
        send_and_wait(qtbot, win, "First question")
        assert win.conversation_id is not None
        before = [(m.role, m.content) for m in win.chat.store.messages(win.conversation_id)]
        filler = _fill(small_fs)
        win.input_box.setFocus()
        win.input_box.setPlainText("Second question, typed on a full disk")
        qtbot.keyClick(win.input_box, Qt.Key.Key_Return)  # Enter sends
        assert "disk is full" in win.banner.label.text()
        assert win.input_box.toPlainText() == "Second question, typed on a full disk"
        assert not win.chat.busy and win.send_button.isEnabled()
        filler.unlink()
        send_and_wait(qtbot, win, win.input_box.toPlainText())
        after = win.chat.store.messages(win.conversation_id)
        assert [(m.role, m.content) for m in after][:2] == before
        assert after[-2].content == "Second question, typed on a full disk"
        assert after[-1].status == MessageStatus.COMPLETE
    finally:
        win.close()
        win.chat.store.close()


def test_disk_full_while_the_answer_is_written(
    small_fs: Path, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    win = _open_window(small_fs / "home", qtbot, monkeypatch)
    try:
        send_and_wait(qtbot, win, "First question")
        fillers: list[Path] = []
        win.chat.answer_started.connect(lambda _c, _a: fillers.append(_fill(small_fs)))
        send_and_wait(qtbot, win, "Second question")
        assert fillers, "the disk was filled as the answer started"
        shown = win.chat_view.toPlainText()
        assert "could not be saved" in win.banner.label.text()
        assert not win.chat.busy and win.send_button.isEnabled()
        assert win.conversation_id is not None
        conversation = win.conversation_id
        win.close()
        win.chat.store.close()
        fillers[0].unlink()
        store = ChatStore(AppPaths.from_env().database)
        try:
            saved = store.messages(conversation)
        finally:
            store.close()
        assert [m.content for m in saved if m.role == Role.USER] == [
            "First question",
            "Second question",
        ]
        assert saved[1].status == MessageStatus.COMPLETE and saved[1].content in shown
    finally:
        win.close()


def _history_with_one_chat(paths: AppPaths) -> int:
    store = ChatStore(paths.create().database)
    try:
        conversation = store.create_conversation()
        store.add_message(conversation.id, Role.USER, "keep me")
        return conversation.id
    finally:
        store.close()


def test_read_only_data_folder_is_refused_with_a_message_and_left_alone(
    small_fs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HOME_ENV, str(small_fs / "home"))
    paths = AppPaths.from_env()
    _history_with_one_chat(paths)
    before = paths.database.read_bytes()
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    with pytest.raises(LlamasideError) as caught:
        build_window(paths)
    assert str(paths.database) in str(caught.value)
    assert "read-only" in str(caught.value)
    assert paths.database.read_bytes() == before


def test_newer_database_is_refused_and_not_overwritten(home: AppPaths, qtbot: QtBot) -> None:
    conversation = _history_with_one_chat(home)
    with sqlite3.connect(home.database) as db:
        db.execute("INSERT INTO _migrations (id, name, applied) VALUES (999, 'future', 'x')")
    db.close()
    before = home.database.read_bytes()
    with pytest.raises(NewerSchemaError, match="newer version of Llamaside"):
        build_window(home)
    assert home.database.read_bytes() == before
    assert not list(home.database.parent.glob("*.corrupt-*"))
    with sqlite3.connect(home.database) as db:
        rows = db.execute(
            "SELECT content FROM messages WHERE conversation_id = ?", [conversation]
        ).fetchall()
    db.close()
    assert rows == [("keep me",)]


def test_corrupt_database_is_kept_and_the_app_opens_with_a_message(
    home: AppPaths, qtbot: QtBot
) -> None:
    _history_with_one_chat(home)
    data = bytearray(home.database.read_bytes())
    data[:100] = os.urandom(100)  # the header: SQLite no longer knows the file
    home.database.write_bytes(bytes(data))
    win = build_window(home)
    qtbot.addWidget(win)
    try:
        win.show()
        kept = win.chat.store.corrupt_copy
        assert kept is not None and kept.read_bytes() == bytes(data)
        assert str(kept) in win.banner.label.text()
        assert "damaged" in win.banner.label.text()
        win.chat.sampling = SamplingParams(temperature=0.0, max_tokens=8)
        send_and_wait(qtbot, win, "Hello")  # the new history works
        assert win.conversation_id is not None
        assert win.chat.store.messages(win.conversation_id)[-1].status == MessageStatus.COMPLETE
    finally:
        win.close()
        win.chat.store.close()
