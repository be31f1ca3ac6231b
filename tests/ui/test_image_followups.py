"""Pictures in the window after they are sent, offscreen, driven as a user does: a cloud answer's
mark says how many pictures its question sent (while it streams and when the chat is opened
again; a local answer says nothing of them), a question that outgrew SmolLM2's context goes
again with its pictures after the oldest turns are dropped, and the viewer reads a 4096 px
picture off the GUI thread (a 10 ms timer sees no gap over 100 ms)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from PySide6.QtCore import Qt, QUrl
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.core.messages import MessageStatus, Role
from desktop.core.params import LoadParams, SamplingParams
from desktop.core.parts import Text, images_of
from desktop.storage.paths import AppPaths
from desktop.ui.image_viewer import ImageViewer
from desktop.ui.main_window import MainWindow
from desktop.ui.message_images import IMAGE_ACTION
from desktop.ui.render import action_href
from tests.cloudserver import CloudServer
from tests.ui.driving import pick_in_combo
from tests.ui.test_context_window import click_when_shown
from tests.ui.test_image_attach import (
    GapRecorder,
    a_picture,
    drop_on_box,
    file_mime,
    ready,
    thumbnails_in_chat,
)
from tests.vision_models import write_llama4_projector

KEY = "sk-test-window-pictures-3e9a"
TIMEOUT_MS = 60_000


# -- the cloud mark says pictures were sent -----------------------------------------------------


@pytest.fixture
def server() -> Iterator[CloudServer]:
    with CloudServer() as cloud:
        cloud.state.reply = ["A red", " square."]
        yield cloud


@pytest.fixture
def cloud_window(
    home: AppPaths, qtbot: QtBot, server: CloudServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MainWindow]:
    """The window with OpenAI (our loopback server) turned on and agreed to."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    win = build_window(home)
    win.chat.sampling = SamplingParams(temperature=0.0, max_tokens=20)
    qtbot.addWidget(win)
    win.resize(1000, 600)
    win.show()
    qtbot.waitExposed(win)
    cloud = win.chat.cloud
    assert cloud is not None
    cloud.set_base_url("openai", server.base_url + "/v1")
    with qtbot.waitSignal(cloud.checked, timeout=TIMEOUT_MS):
        cloud.set_enabled("openai", True)
    cloud.grant_consent("openai")
    yield win
    win.close()
    win.chat.store.close()


def header_lines(window: MainWindow) -> list[str]:
    """The chat view's answer headers (the lines with a where-answered mark), each without
    the time it ends with."""
    text = window.chat_view.toPlainText()
    lines = [line for line in text.splitlines() if "· local" in line or "· ☁ cloud" in line]
    timed = [re.fullmatch(r"(.*?)\s+· [\w ]*\d\d:\d\d", line) for line in lines]
    assert all(timed), lines
    return [match.group(1) for match in timed if match]


def test_a_cloud_answer_says_how_many_pictures_its_question_sent(
    cloud_window: MainWindow, qtbot: QtBot, server: CloudServer, tmp_path: Path
) -> None:
    window = cloud_window
    pick_in_combo(window.model_picker, "openai:gpt-4o")
    drop_on_box(window, file_mime(a_picture(tmp_path, "one.png"), a_picture(tmp_path, "two.png")))
    qtbot.waitUntil(lambda: ready(window) == ["one.png", "two.png"])
    window.input_box.setPlainText("What are these?")
    seen: list[list[str]] = []
    window.chat.answer_delta.connect(lambda *_: seen.append(header_lines(window)))
    with qtbot.waitSignal(window.chat.answer_finished, timeout=TIMEOUT_MS):
        QTest.mouseClick(window.send_button, Qt.MouseButton.LeftButton)
    assert seen and seen[0][-1].endswith("· ☁ cloud · 2 pictures sent")  # while it streams
    assert header_lines(window)[-1].endswith("· ☁ cloud · 2 pictures sent")
    assert len(server.state.requests) >= 1
    # A question without pictures: its answer's mark says nothing of them.
    window.input_box.setPlainText("And now?")
    with qtbot.waitSignal(window.chat.answer_finished, timeout=TIMEOUT_MS):
        QTest.mouseClick(window.send_button, Qt.MouseButton.LeftButton)
    assert header_lines(window)[-1].endswith("· ☁ cloud")

    # The chat opened again from the history: the same marks, from the stored questions.
    assert window.conversation_id is not None
    window.open_conversation(window.conversation_id)
    marks = header_lines(window)
    assert len(marks) == 2
    assert marks[0].endswith("· ☁ cloud · 2 pictures sent")
    assert marks[1].endswith("· ☁ cloud")


def test_a_local_answer_to_a_question_with_a_picture_says_nothing_of_it(
    cloud_window: MainWindow, tmp_path: Path
) -> None:
    window = cloud_window
    store = window.chat.store
    assert window.images is not None
    picture = window.images.store_file(a_picture(tmp_path))
    conv = store.create_conversation("Stored")
    for model in ("local:smollm2-135m-instruct", "openai:gpt-4o-mini"):
        store.add_message(conv.id, Role.USER, "What is it?", parts=(picture, Text("What is it?")))
        store.add_message(
            conv.id, Role.ASSISTANT, "A square.", model=model, status=MessageStatus.COMPLETE
        )
    window.open_conversation(conv.id)
    local, cloud = header_lines(window)
    assert local.endswith("· local")
    assert cloud.endswith("· ☁ cloud · 1 picture sent")


# -- an outgrown chat's question goes again with its pictures -----------------------------------


def test_a_question_sent_again_after_dropping_the_oldest_keeps_its_picture(
    window: MainWindow, qtbot: QtBot, smollm_path: str, tmp_path: Path
) -> None:
    chat = window.chat
    projector = write_llama4_projector(tmp_path / "mmproj-smol.gguf", 576)
    chat.store.set_model_projector(smollm_path, str(projector))
    chat.refresh_models()
    chat.load_params = LoadParams(n_ctx=256, n_threads=2)
    chat.sampling = SamplingParams(temperature=0.0, max_tokens=8)
    store = chat.store
    conv = store.create_conversation("Long one")
    for i in range(8):
        store.add_message(conv.id, Role.USER, f"Question {i}: " + "tell me about llamas " * 6)
        store.add_message(
            conv.id, Role.ASSISTANT, f"Answer {i}: " + "llamas are camelids " * 6, model="local:x"
        )
    window.open_conversation(conv.id)
    drop_on_box(window, file_mime(a_picture(tmp_path)))
    qtbot.waitUntil(lambda: ready(window) == ["red-square.png"])
    window.input_box.setPlainText("And this one?")
    buttons: list[str] = []
    click_when_shown("Drop the oldest and send", buttons)
    with qtbot.waitSignal(chat.outgrown, timeout=TIMEOUT_MS):
        QTest.mouseClick(window.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(store.messages(conv.id)) == 18, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not chat.busy, timeout=TIMEOUT_MS)
    assert "Drop the oldest and send" in buttons
    question, answer = store.messages(conv.id)[-2:]
    (picture,) = images_of(question.parts)
    assert (question.content, picture.alt) == ("And this one?", "red-square.png")
    assert answer.status == MessageStatus.COMPLETE
    assert store.get_conversation(conv.id).context_from > store.messages(conv.id)[0].id
    assert thumbnails_in_chat(window)  # the question on screen shows its picture again


def seeing_smollm(window: MainWindow, smollm_path: str, tmp_path: Path) -> None:
    chat = window.chat
    projector = write_llama4_projector(tmp_path / "mmproj-smol.gguf", 576)
    chat.store.set_model_projector(smollm_path, str(projector))
    chat.refresh_models()
    chat.load_params = LoadParams(n_ctx=256, n_threads=2)
    chat.sampling = SamplingParams(temperature=0.0, max_tokens=8)


def test_cancel_in_the_outgrown_dialog_gives_the_picture_back(
    window: MainWindow, qtbot: QtBot, smollm_path: str, tmp_path: Path
) -> None:
    choice = "Cancel"
    seeing_smollm(window, smollm_path, tmp_path)
    chat = window.chat
    store = chat.store
    conv = store.create_conversation("Long one")
    for i in range(8):
        store.add_message(conv.id, Role.USER, f"Question {i}: " + "tell me about llamas " * 6)
        store.add_message(
            conv.id, Role.ASSISTANT, f"Answer {i}: " + "llamas are camelids " * 6, model="local:x"
        )
    window.open_conversation(conv.id)
    drop_on_box(window, file_mime(a_picture(tmp_path)))
    qtbot.waitUntil(lambda: ready(window) == ["red-square.png"])
    window.input_box.setPlainText("And this one?")
    buttons: list[str] = []
    click_when_shown(choice, buttons)
    with qtbot.waitSignal(chat.outgrown, timeout=TIMEOUT_MS):
        QTest.mouseClick(window.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not chat.busy, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: window.input_box.toPlainText().startswith("And this one?"))
    assert choice in buttons
    assert ready(window) == ["red-square.png"]
    assert len(store.messages(conv.id)) == 16  # nothing was sent


def test_a_message_too_long_for_the_model_comes_back_with_its_picture(
    window: MainWindow, qtbot: QtBot, smollm_path: str, tmp_path: Path
) -> None:
    seeing_smollm(window, smollm_path, tmp_path)
    chat = window.chat
    conv = chat.store.create_conversation("Too long")
    window.open_conversation(conv.id)
    drop_on_box(window, file_mime(a_picture(tmp_path)))
    qtbot.waitUntil(lambda: ready(window) == ["red-square.png"])
    words = "llamas " * 400  # far beyond the 256-token context on its own
    window.input_box.setPlainText(words)
    with qtbot.waitSignal(chat.rejected, timeout=TIMEOUT_MS):
        QTest.mouseClick(window.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not chat.busy, timeout=TIMEOUT_MS)
    assert window.input_box.toPlainText().strip() == words.strip()
    assert ready(window) == ["red-square.png"]
    assert chat.store.messages(conv.id) == []


# -- the viewer reads a large picture off the GUI thread ----------------------------------------


def viewers(window: MainWindow) -> list[ImageViewer]:
    return [v for v in window.findChildren(ImageViewer) if v.isVisible()]


def reading_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "background-picture"]


def test_the_viewer_opens_a_4096_px_picture_without_freezing_the_window(
    window: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    # Noise does not compress: a 4096 x 4096 PNG that takes a fifth of a second to decode.
    noise = np.random.default_rng(1).integers(0, 256, (4096, 4096, 3), dtype=np.uint8)
    path = tmp_path / "noise.png"
    PILImage.fromarray(noise).save(path, compress_level=1)
    assert window.images is not None
    picture = window.images.store_file(path)
    assert (picture.width, picture.height) == (4096, 4096)
    store = window.chat.store
    conv = store.create_conversation("Noise")
    question = store.add_message(conv.id, Role.USER, "Look", parts=(picture, Text("Look")))
    window.open_conversation(conv.id)
    link = QUrl(action_href(IMAGE_ACTION, question.id, 0))  # what its thumbnail's click sends
    with GapRecorder() as gaps:
        window.chat_view.anchorClicked.emit(link)
        (viewer,) = viewers(window)
        first = viewer.label.text(), viewer.windowTitle()
        qtbot.waitUntil(lambda: not viewer.label.pixmap().isNull(), timeout=TIMEOUT_MS)
        qtbot.wait(50)  # the picture shown, fitted
    assert gaps.longest < 0.100, f"the window stalled for {gaps.longest * 1000:.0f} ms"
    # Until it was in: "Loading…" in a window of the picture's size, named with it.
    assert first[0] == "Loading…"
    assert first[1].startswith("noise.png — 4096 × 4096 px")
    assert viewer.pixmap.width() == 4096
    shown = viewer.label.pixmap()
    assert not shown.isNull() and shown.width() <= viewer.width()
    QTest.keyClick(viewer, Qt.Key.Key_Plus)
    assert viewer.scale is not None
    QTest.keyClick(viewer, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not viewers(window))

    # Closed before the picture is in: the late result goes nowhere, nothing breaks.
    window.chat_view.anchorClicked.emit(link)
    (viewer,) = viewers(window)
    assert viewer.loading
    QTest.keyClick(viewer, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not reading_threads(), timeout=TIMEOUT_MS)
    qtbot.wait(50)
    assert not viewers(window)
