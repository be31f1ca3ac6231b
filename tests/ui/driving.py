"""Driving the window as a user does: a row's own context menu, a combo box's popup, the
dialogs that a click opens (answered by the test as a person would answer them).

Each helper goes through what the user touches, so a menu entry that is wired wrong (a
``triggered(bool)`` arriving as a path, a menu acting on the open chat instead of the row)
fails here as it would for the user.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtGui import QContextMenuEvent, QTextCursor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QFileDialog,
    QLineEdit,
    QMenu,
    QPushButton,
    QTextEdit,
    QWidget,
)

from desktop.ui.compare_window import CompareWindow

#: How long a helper waits for a menu or a dialog to show before giving up, in ms.
WAIT_MS = 10_000
POLL_MS = 20


def _plain(text: str) -> str:
    return text.replace("&", "").strip()


def when_shown(
    find: Callable[[], QWidget | None], act: Callable[[QWidget], None], failures: list[str]
) -> None:
    """Poll (from the event loop, so it works inside a modal exec) until ``find`` returns a
    widget, then ``act`` on it. A wait that runs out is recorded in ``failures``."""
    waited = [0]

    def poll() -> None:
        widget = find()
        if widget is None:
            waited[0] += POLL_MS
            if waited[0] > WAIT_MS:
                failures.append("nothing showed")
                return
            QTimer.singleShot(POLL_MS, poll)
            return
        try:
            act(widget)
        except Exception as exc:  # a failing answer must fail the test, not hang it
            failures.append(repr(exc))

    QTimer.singleShot(POLL_MS, poll)


def choose_from_context_menu(
    view: QAbstractItemView, row_center: QPoint | None, entry: str
) -> list[str]:
    """Right-click the view at a row (a real QContextMenuEvent, as a mouse sends it) and click
    ``entry`` in the menu that pops up; ``row_center`` None: the keyboard's menu key instead,
    on the view's current row. Returns the menu's entries as shown."""
    shown: list[str] = []
    failures: list[str] = []

    def popup() -> QWidget | None:
        widget = QApplication.activePopupWidget()
        return widget if isinstance(widget, QMenu) else None

    def click(widget: QWidget) -> None:
        assert isinstance(widget, QMenu)
        actions = [a for a in widget.actions() if not a.isSeparator()]
        shown.extend(_plain(a.text()) for a in actions)
        chosen = next((a for a in actions if _plain(a.text()) == entry), None)
        if chosen is None:
            widget.close()
            raise AssertionError(f"no {entry!r} in the menu: {shown}")
        QTest.mouseClick(
            widget, Qt.MouseButton.LeftButton, pos=widget.actionGeometry(chosen).center()
        )

    when_shown(popup, click, failures)
    if row_center is None:  # the Menu key goes to the focused view, at no mouse position
        event = QContextMenuEvent(
            QContextMenuEvent.Reason.Keyboard, QPoint(0, 0), view.mapToGlobal(QPoint(0, 0))
        )
        QApplication.sendEvent(view, event)
    else:
        viewport = view.viewport()
        event = QContextMenuEvent(
            QContextMenuEvent.Reason.Mouse, row_center, viewport.mapToGlobal(row_center)
        )
        QApplication.sendEvent(viewport, event)
    assert not failures, failures
    return shown


def answer_modal(
    answer: Callable[[QWidget], None], kind: type[QWidget] = QWidget, name: str = ""
) -> list[str]:
    """Answer the next modal dialog (of ``kind``, and ``name`` if given) when it shows; call
    before the click that opens it. Returns failures (empty when it was answered)."""
    failures: list[str] = []

    def modal() -> QWidget | None:
        widget = QApplication.activeModalWidget()
        if not isinstance(widget, kind) or (name and widget.objectName() != name):
            return None
        return widget

    when_shown(modal, answer, failures)
    return failures


def pick_in_combo(combo: QComboBox, data: object) -> None:
    """Open the combo box's list and click the entry that carries ``data``."""
    index = combo.findData(data)
    assert index >= 0, (
        f"{data!r} is not offered: {[combo.itemText(i) for i in range(combo.count())]}"
    )
    combo.showPopup()
    view = combo.view()
    QTest.qWaitForWindowExposed(view.window())
    rect = view.visualRect(combo.model().index(index, 0))
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert not view.isVisible() or combo.currentIndex() == index


def choose_compare_models(compare: CompareWindow, *model_ids: str) -> None:
    """As many columns as models (its + and − buttons), then each column's model picked."""

    def shown() -> int:
        return sum(picker.isVisibleTo(compare) for picker in compare.pickers)

    while shown() < len(model_ids):
        assert compare.add_button.isEnabled(), f"{shown()} columns at most"
        QTest.mouseClick(compare.add_button, Qt.MouseButton.LeftButton)
    while shown() > len(model_ids):
        assert compare.remove_button.isEnabled(), f"{shown()} columns at least"
        QTest.mouseClick(compare.remove_button, Qt.MouseButton.LeftButton)
    for picker, model_id in zip(compare.pickers, model_ids, strict=False):
        pick_in_combo(picker, model_id)


def button_named(parent: QWidget, name: str) -> QPushButton:
    """The one push button in ``parent`` with this accessible name, or else this text."""
    buttons = parent.findChildren(QPushButton)
    found = [b for b in buttons if b.accessibleName() == name]
    found = found or [b for b in buttons if _plain(b.text()) == name]
    assert len(found) == 1, (name, [b.accessibleName() or _plain(b.text()) for b in buttons])
    return found[0]


def file_dialog_answer(path: Path) -> Callable[[QWidget], None]:
    """An answer for a file dialog: the path typed into its file name box, then Open/Save."""

    def answer(widget: QWidget) -> None:
        assert isinstance(widget, QFileDialog), widget
        edit = widget.findChild(QLineEdit, "fileNameEdit")
        assert edit is not None
        edit.setText(str(path))
        widget.accept()

    return answer


def link_point(view: QTextEdit, href: str) -> QPoint:
    """Where, in the view's viewport, the first link to ``href`` is; the view is scrolled to
    it first if it is out of sight (as the user scrolls to it)."""
    document = view.document()
    block = document.begin()
    start: int | None = None
    while block.isValid() and start is None:
        fragments = block.begin()
        while not fragments.atEnd():
            fragment = fragments.fragment()
            if fragment.isValid() and fragment.charFormat().anchorHref() == href:
                start = fragment.position()
                break
            fragments += 1
        block = block.next()
    assert start is not None, f"no link to {href!r} on screen"
    first: int = start

    def point() -> QPoint:
        cursor = QTextCursor(document)
        cursor.setPosition(first)
        left = view.cursorRect(cursor).center()
        cursor.setPosition(first + 1)
        right = view.cursorRect(cursor).center()
        return QPoint((left.x() + right.x()) // 2, left.y())  # inside its first character

    at = point()
    if not view.viewport().rect().contains(at):
        bar = view.verticalScrollBar()
        bar.setValue(bar.value() + at.y() - view.viewport().height() // 2)
        at = point()
    assert view.viewport().rect().contains(at), (at, view.viewport().rect())
    assert view.anchorAt(at) == href, (view.anchorAt(at), href)
    return at


def click_link(view: QTextEdit, href: str) -> None:
    """Click the first link to ``href`` in the view, as the user clicks it."""
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=link_point(view, href))
