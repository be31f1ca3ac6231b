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
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QFileDialog,
    QLineEdit,
    QMenu,
    QWidget,
)

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


def file_dialog_answer(path: Path) -> Callable[[QWidget], None]:
    """An answer for a file dialog: the path typed into its file name box, then Open/Save."""

    def answer(widget: QWidget) -> None:
        assert isinstance(widget, QFileDialog), widget
        edit = widget.findChild(QLineEdit, "fileNameEdit")
        assert edit is not None
        edit.setText(str(path))
        widget.accept()

    return answer
