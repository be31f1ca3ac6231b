"""Pictures in the compare window (issue 21), offscreen, opened from the main window's menu and
driven as a user does: the Attach button with its file dialog answered, a paste and a drop on
the prompt box, the strip and its ×; a model that cannot see marked before sending; a round
sent to SmolLM2 with a (tiny, random) vision projector, to gpt-4o and to text-only gpt-3.5-turbo
on our loopback OpenAI server: the seeing ones answer (gpt-4o's request carries the picture, its
mark says so), the text-only one is not asked and says why; the round's thumbnails in every
column, a click opening the picture; a past comparison reopened shows them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image as PILImage
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage, QTextCursor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog, QLabel, QLineEdit, QWidget
from pytestqt.qtbot import QtBot

from desktop.core.params import SamplingParams
from desktop.services.chat_images import vision_note
from desktop.ui.attachments import PictureChip
from desktop.ui.chat_view import ChatView
from desktop.ui.compare_past import PAST_ID
from desktop.ui.compare_window import CompareWindow
from desktop.ui.image_viewer import ImageViewer
from desktop.ui.main_window import MainWindow
from desktop.ui.message_images import THUMB_SCHEME
from tests.cloudserver import CloudServer
from tests.ui.driving import answer_modal, choose_compare_models
from tests.vision_models import write_llama4_projector

SMOL = "local:smollm2-135m-instruct"
TEXT_ONLY = "openai:gpt-3.5-turbo"
CLOUD_EYES = "openai:gpt-4o"
TIMEOUT_MS = 120_000


@pytest.fixture
def server() -> Iterator[CloudServer]:
    with CloudServer() as cloud:
        cloud.state.models = ["gpt-3.5-turbo", "gpt-4o"]
        yield cloud


@pytest.fixture
def compare(
    window: MainWindow,
    qtbot: QtBot,
    server: CloudServer,
    smollm_path: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> CompareWindow:
    """The compare window, opened from the menu, with SmolLM2 given a vision projector (it
    sees) and OpenAI's gpt-3.5-turbo on the loopback server (it does not)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-compare-pictures")
    projector = write_llama4_projector(tmp_path / "mmproj-smol.gguf", 576)
    window.chat.store.set_model_projector(smollm_path, str(projector))
    cloud = window.chat.cloud
    assert cloud is not None
    cloud.set_base_url("openai", server.base_url + "/v1")
    with qtbot.waitSignal(cloud.checked, timeout=TIMEOUT_MS):
        cloud.set_enabled("openai", True)
    cloud.grant_consent("openai")
    window.chat.refresh_models()
    window.chat.sampling = SamplingParams(temperature=0.0, max_tokens=8)
    window.compare_action.trigger()  # Compare → Compare models side by side…
    shown = window.compare_window
    assert shown is not None
    qtbot.waitExposed(shown)
    choose_compare_models(shown, SMOL, TEXT_ONLY)
    return shown


def a_picture(folder: Path, name: str = "red-square.png", size: int = 64) -> Path:
    path = folder / name
    PILImage.new("RGB", (size, size), (220, 20, 20)).save(path)
    return path


def pick_files(*paths: Path) -> Callable[[QWidget], None]:
    """An answer for the Attach dialog: the files typed in quotes, then Open."""

    def answer(widget: QWidget) -> None:
        assert isinstance(widget, QFileDialog), widget
        widget.setDirectory(str(paths[0].parent))
        edit = widget.findChild(QLineEdit, "fileNameEdit")
        assert edit is not None
        edit.setText(" ".join(f'"{p.name}"' for p in paths))
        widget.accept()

    return answer


def ready(compare: CompareWindow) -> list[str]:
    chips = compare.findChildren(PictureChip)
    return [c.name for c in chips if c.image is not None and c.isVisibleTo(compare)]


def marks(compare: CompareWindow) -> list[QLabel]:
    """The cannot-see marks shown (under the pickers and on the columns' headers)."""
    found = [label for label in compare.findChildren(QLabel) if "Sight" in label.objectName()]
    return [label for label in found if label.isVisibleTo(compare)]


def thumbnails(view: ChatView) -> list[tuple[int, str]]:
    """(position, name) of each image in a column's document."""
    found = []
    block = view.document().begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            fmt = fragment.charFormat()
            if fmt.isImageFormat():
                found.append((fragment.position(), fmt.toImageFormat().name()))
            it += 1
        block = block.next()
    return found


def click_thumbnail(view: ChatView, position: int) -> None:
    cursor = QTextCursor(view.document())
    cursor.setPosition(position)
    view.setTextCursor(cursor)
    view.ensureCursorVisible()
    rect = view.cursorRect(cursor)
    spot = QPoint(rect.right() + 20, rect.center().y())  # inside the picture, after its edge
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=spot)


def test_a_round_with_a_picture_is_answered_by_the_model_that_sees(
    window: MainWindow, compare: CompareWindow, qtbot: QtBot, server: CloudServer, tmp_path: Path
) -> None:
    choose_compare_models(compare, SMOL, TEXT_ONLY, CLOUD_EYES)  # gpt-4o sees too
    attachments = compare.pictures.attachments
    assert attachments is not None and attachments.button.isEnabled()
    assert marks(compare) == []  # nothing attached: nothing to warn about
    failures = answer_modal(pick_files(a_picture(tmp_path, "red-square.png", 300)), QFileDialog)
    QTest.mouseClick(attachments.button, Qt.MouseButton.LeftButton)
    assert not failures, failures
    qtbot.waitUntil(lambda: ready(compare) == ["red-square.png"], timeout=TIMEOUT_MS)
    # Before sending: the text-only model's picker is marked, with the sentence why.
    blind = next(m for m in window.chat.all_models if m.id == TEXT_ONLY)
    (mark,) = marks(compare)
    assert mark.objectName() == "pickerSight1"
    assert "cannot see pictures" in mark.text()
    assert mark.toolTip() == vision_note(blind)

    compare.input_box.setFocus()
    qtbot.keyClicks(compare.input_box, "What colour is it?")
    qtbot.keyClick(compare.input_box, Qt.Key.Key_Return)
    session = compare.session
    assert session is not None
    with qtbot.waitSignal(session.round_finished, timeout=TIMEOUT_MS):
        pass
    seeing, text_only, cloud_eyes = session.results[0]
    assert seeing is not None and seeing.status == "complete" and seeing.text
    assert seeing.answer.usage.prompt_tokens > 20  # the picture's embeddings were in it
    assert text_only is not None and text_only.status == "failed"
    assert text_only.error == session.cannot_see()[1] == vision_note(blind)
    assert cloud_eyes is not None and cloud_eyes.status == "complete"
    # Only gpt-4o was asked, with the picture (a data URL) before the words.
    (body,) = server.state.bodies("/chat/completions")
    assert body["model"] == "gpt-4o"
    content = body["messages"][-1]["content"]
    assert [c["type"] for c in content] == ["image_url", "text"]
    assert content[0]["image_url"]["url"].startswith("data:image/")
    (picture,) = session.images[0]
    assert picture.alt == "red-square.png" and (picture.width, picture.height) == (300, 300)
    # The strip emptied with the send; with no picture attached no mark is shown.
    assert attachments.pictures() == () and not attachments.strip.isVisible()
    assert marks(compare) == []
    # The failure reads as the sentence why, under the column's (empty) answer.
    shown = compare.columns[1].view.toPlainText()
    assert f"Failed: {vision_note(blind)}" in shown
    # Its metrics strip says the same, in place of numbers.
    assert compare.columns[1].metrics.shown_text() == f"Failed: {vision_note(blind)}"
    assert "What colour is it?" in shown
    assert "☁ cloud" in shown and "picture sent" not in shown  # nothing went to it
    assert "☁ cloud · 1 picture sent" in compare.columns[2].view.toPlainText()
    # The round's picture above its prompt in both columns: the small thumbnail, scaled.
    for column in compare.columns:
        ((_position, name),) = thumbnails(column.view)
        assert name.startswith(f"{THUMB_SCHEME}:{picture.path}")
        image = column.view.document().resource(1, QUrl(name))  # 1: ImageResource
        assert isinstance(image, QImage) and 0 < image.width() <= 160  # a column is narrow
    # A click on it opens the picture whole.
    view = compare.columns[0].view
    click_thumbnail(view, thumbnails(view)[0][0])
    qtbot.waitUntil(lambda: compare.findChild(ImageViewer) is not None)
    viewer = compare.findChild(ImageViewer)
    assert viewer is not None
    qtbot.waitExposed(viewer)
    assert viewer.windowTitle().startswith("red-square.png — 300 × 300 px")
    QTest.keyClick(viewer, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not viewer.isVisible())
    # A picture for the next round: now the text-only column's header is marked as well.
    QApplication.clipboard().setImage(QImage(str(tmp_path / "red-square.png")))
    compare.input_box.setFocus()
    QTest.keyClick(compare.input_box, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: ready(compare) == ["Pasted image"], timeout=TIMEOUT_MS)
    assert sorted(m.objectName() for m in marks(compare)) == ["columnSight1", "pickerSight1"]
    sight = compare.columns[1].sight
    assert "cannot see pictures" in sight.text() and sight.toolTip() == vision_note(blind)
    assert not compare.columns[0].sight.isVisibleTo(compare)  # the model that sees

    # Reopened from the past comparisons (its row chosen, then Enter): the thumbnails again.
    comparison_id = session.comparison_id
    compare.new_button.click()
    assert all(thumbnails(c.view) == [] for c in compare.columns)
    history = compare.history
    row = next(r for r in range(history.count()) if history.item(r).data(PAST_ID) == comparison_id)
    rect = history.visualItemRect(history.item(row))
    qtbot.mouseClick(history.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.keyClick(history, Qt.Key.Key_Return)
    assert "Reopened" in compare.notice.text()
    assert len(compare.columns) == 3
    assert "☁ cloud · 1 picture sent" in compare.columns[2].view.toPlainText()
    for column in compare.columns:
        ((_position, name),) = thumbnails(column.view)
        assert name.startswith(f"{THUMB_SCHEME}:{picture.path}")
    assert vision_note(blind) in compare.columns[1].view.toPlainText()
    view = compare.columns[1].view
    click_thumbnail(view, thumbnails(view)[0][0])
    qtbot.waitUntil(lambda: compare.findChild(ImageViewer) is not None)
    reopened = compare.findChild(ImageViewer)
    assert reopened is not None and reopened.windowTitle().startswith("red-square.png")
    reopened.close()


def test_paste_and_drop_on_the_prompt_and_the_marks_follow_the_strip(
    compare: CompareWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    box = compare.input_box
    box.setFocus()
    picture = QImage(120, 80, QImage.Format.Format_RGB32)
    picture.fill(Qt.GlobalColor.darkCyan)
    QApplication.clipboard().setImage(picture)
    QTest.keyClick(box, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: ready(compare) == ["Pasted image"], timeout=TIMEOUT_MS)
    assert box.toPlainText() == ""  # nothing pasted as text
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(a_picture(tmp_path, "dropped.png")))])
    at, copy = QPoint(20, 20), Qt.DropAction.CopyAction
    none = Qt.KeyboardModifier(0)
    enter = QDragEnterEvent(at, copy, mime, Qt.MouseButton.LeftButton, none)
    QApplication.sendEvent(box.viewport(), enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(at), copy, mime, Qt.MouseButton.LeftButton, none)
    QApplication.sendEvent(box.viewport(), drop)
    assert drop.isAccepted()
    qtbot.waitUntil(lambda: ready(compare) == ["Pasted image", "dropped.png"], timeout=TIMEOUT_MS)
    assert box.toPlainText() == ""  # the file's path is not typed in
    assert [m.objectName() for m in marks(compare)] == ["pickerSight1"]
    # Another column with the same text-only model: it is marked too; removing it unmarks it.
    QTest.mouseClick(compare.add_button, Qt.MouseButton.LeftButton)
    choose_compare_models(compare, SMOL, TEXT_ONLY, TEXT_ONLY)
    assert [m.objectName() for m in marks(compare)] == ["pickerSight1", "pickerSight2"]
    QTest.mouseClick(compare.remove_button, Qt.MouseButton.LeftButton)
    assert [m.objectName() for m in marks(compare)] == ["pickerSight1"]
    # Each picture's ×: the strip empties, and the mark goes with the last picture.
    for chip in compare.findChildren(PictureChip):
        QTest.mouseClick(chip.remove, Qt.MouseButton.LeftButton)
    assert ready(compare) == [] and marks(compare) == []
    QApplication.clipboard().setText("plain words")  # text still pastes as text
    QTest.keyClick(box, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert box.toPlainText() == "plain words"


@pytest.fixture(autouse=True)
def _clipboard_emptied() -> Iterator[None]:
    yield
    QApplication.clipboard().clear()
