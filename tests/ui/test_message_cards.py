"""Each message as a card: a header line (who, the model's badge, the time), painted behind its
text as a rounded rectangle in the palette's colours, the user's tinted; View → Theme
recolours the cards of the open chat."""

from __future__ import annotations

from itertools import pairwise

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QImage, QPalette, QTextDocument
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from desktop.core.history_format import EXPORT_FORMAT
from desktop.core.params import SamplingParams
from desktop.ui.main_window import MainWindow
from desktop.ui.message_cards import CardPainter, card_colours, find_cards, install_cards
from tests.ui.driving import click_link

MODEL = "local:smollm2-135m-instruct"


def seed(window: MainWindow) -> int:
    messages = [
        {"role": "user", "content": "How do llamas hum?", "created": "2025-03-04T09:15:00+00:00"},
        {"role": "assistant", "content": "Softly, *through the nose*.", "model": MODEL,
         "created": "2025-03-04T09:15:07+00:00"},
        {"role": "user", "content": "And alpacas?", "created": "2025-03-04T09:16:00+00:00"},
        {"role": "assistant", "content": "They hum too.", "model": MODEL,
         "created": "2025-03-04T09:16:04+00:00"},
    ]  # fmt: skip
    data = {"format": EXPORT_FORMAT, "version": 1, "conversations": [
        {"title": "Humming", "created": "2025-03-04", "updated": "2025-03-04",
         "messages": messages}
    ]}  # fmt: skip
    [conversation_id] = window.chat.store.import_conversations(data)
    return conversation_id


def close(one: QColor, two: QColor, within: int = 3) -> bool:
    pairs = ((one.red(), two.red()), (one.green(), two.green()), (one.blue(), two.blue()))
    return all(abs(a - b) <= within for a, b in pairs)


def grab(window: MainWindow) -> QImage:
    viewport = window.chat_view.viewport()
    return viewport.grab().toImage().scaled(viewport.size())


def check_painted(window: MainWindow, painter: CardPainter) -> tuple[QColor, QColor]:
    """The user's and the answer's card fills as painted, checked against the palette."""
    image = grab(window)
    palette = window.chat_view.palette()
    base = palette.color(QPalette.ColorRole.Base)
    fills = []
    for card in painter.index.cards()[:2]:
        rect = painter.index.rect(card)
        inside = QPoint(round(rect.left()) + 12, round(rect.top()) + 3)  # padding, no text
        corner = QPoint(round(rect.left()) + 1, round(rect.top()) + 1)
        fill, _outline = card_colours(palette, card.user)
        shown = image.pixelColor(inside)
        assert close(shown, fill), (card, shown.name(), fill.name())
        assert not close(shown, base, 1), (shown.name(), base.name())  # a card, not the view
        # The corner is rounded off: the view's background shows there.
        assert close(image.pixelColor(corner), base, 8), image.pixelColor(corner).name()
        fills.append(shown)
    assert not close(fills[0], fills[1], 1)  # the user's card is told apart
    return fills[0], fills[1]


def test_messages_are_cards_with_a_header_and_follow_the_theme(
    window: MainWindow, qtbot: QtBot
) -> None:
    conversation_id = seed(window)
    painter = install_cards(window)
    assert install_cards(window) is painter  # idempotent
    window.theme_actions["light"].trigger()
    window.open_conversation(conversation_id)
    ids = [m.id for m in window.chat.store.messages(conversation_id)]
    qtbot.waitUntil(lambda: [c.message_id for c in painter.index.cards()] == ids)
    assert [c.user for c in painter.index.cards()] == [True, False, True, False]
    lines = window.chat_view.toPlainText().split("\n")
    assert lines[0].startswith("You") and "Mar 2025" in lines[0]  # a past day: its date
    answer_header = lines[2]
    assert answer_header.startswith("SmolLM2") and "· local" in answer_header
    # The cards do not touch: each header has room above it.
    rects = [painter.index.rect(c) for c in painter.index.cards()]
    assert all(a.bottom() + 8 < b.top() for a, b in pairwise(rects))

    window.chat_view.viewport().repaint()
    light = check_painted(window, painter)
    try:
        window.theme_actions["dark"].trigger()
        qtbot.waitUntil(
            lambda: window.chat_view.palette().color(QPalette.ColorRole.Base).lightness() < 128
        )
        window.chat_view.viewport().repaint()
        dark = check_painted(window, painter)
        assert all(a.lightness() > 128 > b.lightness() for a, b in zip(light, dark, strict=True))
    finally:
        window.theme_actions["system"].trigger()  # the app outlives the test


def test_a_new_message_gets_its_card_while_the_chat_is_open(
    window: MainWindow, qtbot: QtBot
) -> None:
    painter = install_cards(window)
    window.chat.sampling = SamplingParams(temperature=0.8, seed=1, max_tokens=8)
    window.input_box.setFocus()
    qtbot.keyClicks(window.input_box, "Say hi.")
    with qtbot.waitSignal(window.chat.answer_finished, timeout=60_000):
        qtbot.keyClick(window.input_box, Qt.Key.Key_Return)
    conversation_id = window.conversation_id or 0
    ids = [m.id for m in window.chat.store.messages(conversation_id)]
    # Written live, with no id in its header: the cards take them from the branch.
    qtbot.waitUntil(lambda: [c.message_id for c in painter.index.cards()] == ids)
    qtbot.waitUntil(lambda: painter.space() == 0)  # spaced as a reopened chat is
    rects = [painter.index.rect(c) for c in painter.index.cards()]
    assert rects[0].bottom() + 8 < rects[1].top()


def test_cards_found_piece_by_piece_match_a_whole_scan(window: MainWindow, qtbot: QtBot) -> None:
    """While answers stream, only the blocks from each change on are looked at again (the
    whole answer was scanned per piece); what is found must be what a whole scan finds."""
    painter = install_cards(window)
    index = painter.index
    view = window.chat_view
    window.chat.sampling = SamplingParams(temperature=0.0, max_tokens=48)
    seen: list[bool] = []

    def check(*_args: object) -> None:
        seen.append(index.found() == find_cards(view.document()))

    window.chat.answer_delta.connect(check)
    for question in ("Name three fruits.", "And three vegetables?"):
        window.input_box.setFocus()
        qtbot.keyClicks(window.input_box, question)
        with qtbot.waitSignal(window.chat.answer_finished, timeout=60_000):
            qtbot.keyClick(window.input_box, Qt.Key.Key_Return)
        check()
    window.chat.answer_delta.disconnect(check)
    assert len(seen) > 4 and all(seen)
    assert len(index.found()) == 4  # two questions, two answers


SENTENCE = "Llamas hum softly through the nose when they are curious or worried."


def shown_on_screen(window: MainWindow) -> QImage:
    """The chat as the screen has it: what the piece-by-piece repaints left in the window's
    backing store (the offscreen platform grabs that), not a fresh paint."""
    viewport = window.chat_view.viewport()
    at = viewport.mapTo(window, QPoint(0, 0))
    screen = window.screen()
    shot = screen.grabWindow(window.winId(), at.x(), at.y(), viewport.width(), viewport.height())
    return shot.toImage().convertToFormat(QImage.Format.Format_RGB32)


def test_cards_repainted_piece_by_piece_look_as_a_whole_repaint(
    window: MainWindow, qtbot: QtBot
) -> None:
    """Only what changes is repainted as an answer streams (the whole view was, per piece):
    the cards' edges must still end up where a full repaint draws them, while the answer
    grows past the view's height, as a new question's card comes and when the answer is
    rendered at its end."""
    install_cards(window)
    window.resize(900, 600)
    window.open_conversation(seed(window))
    view = window.chat_view
    app = QApplication.instance()
    assert app is not None

    def same_as_full_repaint() -> bool:
        for _turn in range(3):  # a change, the spacing it calls for, the repaint
            app.processEvents()
        full = view.viewport().grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
        return shown_on_screen(window) == full

    view.append_user("Tell me more about the humming.")
    view.begin_answer(1, "SmolLM2", MODEL)
    assert same_as_full_repaint()
    words = SENTENCE.split(" ")
    text = ""
    for n in range(240):
        piece = words[n % len(words)] + (" " if n % 29 else "\n\n")
        text += piece
        view.append_answer_text(piece)
        app.processEvents()
        if n % 60 == 59:
            assert same_as_full_repaint(), n
    assert view.verticalScrollBar().value() > 0  # it grew past the view
    view.finish_answer(text, "complete")
    qtbot.waitUntil(lambda: not view.rendering)
    assert same_as_full_repaint()


CODE = "def hum(times: int) -> str:\n    return 'mmm' * times"


def test_a_code_block_has_a_bar_with_its_language_and_copy(
    window: MainWindow, qtbot: QtBot
) -> None:
    messages = [
        {"role": "user", "content": "Hum in Python?", "created": "2025-03-04T09:15:00+00:00"},
        {"role": "assistant", "content": f"Here:\n\n```python\n{CODE}\n```\n\nThat hums.",
         "model": MODEL, "created": "2025-03-04T09:15:07+00:00"},
    ]  # fmt: skip
    data = {"format": EXPORT_FORMAT, "version": 1, "conversations": [
        {"title": "Code", "created": "2025-03-04", "updated": "2025-03-04", "messages": messages}
    ]}  # fmt: skip
    [conversation_id] = window.chat.store.import_conversations(data)
    window.open_conversation(conversation_id)
    view = window.chat_view
    # The bar is the code's table's first row: the language at the left, Copy at the right;
    # the code is the row below.
    found = view.document().find("python", 0, QTextDocument.FindFlag.FindCaseSensitively)
    table = found.currentTable()
    assert table is not None and table.rows() == 2
    assert table.cellAt(found).row() == 0 and table.cellAt(found).column() == 0
    copy_cell = table.cellAt(0, 1).firstCursorPosition()
    copy_cell.movePosition(copy_cell.MoveOperation.EndOfBlock, copy_cell.MoveMode.KeepAnchor)
    assert copy_cell.selectedText().strip("\xa0 ") == "Copy"
    code_cell = table.cellAt(1, 0)
    assert code_cell.columnSpan() == 2
    # Its Copy, clicked as the user does, puts exactly the code on the clipboard.
    href = copy_cell.charFormat().anchorHref()
    assert href
    clipboard = QApplication.clipboard()
    clipboard.setText("")
    with qtbot.waitSignal(view.copied):
        click_link(view, href)
    assert clipboard.text() == CODE
