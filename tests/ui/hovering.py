"""Driving a message's hover toolbar as the user does: the mouse over its card, a click on a
button (shared by the tests of the chat's messages)."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QToolButton, QWidget
from pytestqt.qtbot import QtBot

from desktop.core.messages import Role
from desktop.ui.hover_actions import HoverActions, install_hover_actions
from desktop.ui.main_window import MainWindow


def message_point(hover: HoverActions, role: Role, message_id: int | None = None) -> QPoint:
    """A point inside the card of message ``message_id`` (None: the last one of ``role``)."""
    for card in reversed(hover.index.cards()):
        assert card.message_id is not None
        if (message_id is None and hover.window.library.message(card.message_id).role == role) or (
            card.message_id == message_id
        ):
            return QPoint(60, round(hover.index.rect(card).center().y()))
    raise AssertionError(f"no card for {role} {message_id}")


def move_mouse(widget: QWidget, pos: QPoint) -> None:
    """The mouse to ``pos`` in ``widget``, handed to the widget's own window as a window system
    hands it to the window the user sees there. QTest.mouseMove(widget) moves QCursor instead,
    and the offscreen platform gives that move to the first shown window containing the point,
    which may be another window behind ours (e.g. a dialog an earlier test left open)."""
    top = widget.window()
    handle = top.windowHandle()
    assert handle is not None and top.isVisible(), "the mouse can only go over a shown window"
    QTest.mouseMove(handle, widget.mapTo(top, pos))


def hover_over(qtbot: QtBot, hover: HoverActions, role: Role, message_id: int | None = None) -> int:
    """Move the mouse over the message; returns its id once the toolbar shows over it."""
    point = message_point(hover, role, message_id)
    card = next(c for c in hover.index.cards() if hover.index.rect(c).contains(point.toPointF()))
    viewport = hover.window.chat_view.viewport()
    # In from outside the chat (the message box), so Qt sends the chat Enter, as for a user.
    move_mouse(hover.window.input_box, QPoint(5, 5))
    move_mouse(viewport, point - QPoint(0, 2))
    move_mouse(viewport, point)
    qtbot.waitUntil(
        lambda: hover.toolbar.isVisible() and hover.toolbar.message_id == card.message_id
    )
    assert hover.index.rect(card).contains(hover.toolbar.geometry().toRectF())
    assert card.message_id is not None
    return card.message_id


def button(hover: HoverActions, name: str) -> QToolButton:
    found = hover.toolbar.findChild(QToolButton, name)
    assert isinstance(found, QToolButton), name
    return found


def click_action(
    qtbot: QtBot, window: MainWindow, role: Role, name: str, message_id: int | None = None
) -> None:
    """Hover over the message and click its toolbar's button ``name`` ("hover-edit"…)."""
    hover = install_hover_actions(window)
    hover_over(qtbot, hover, role, message_id)
    QTest.mouseClick(button(hover, name), Qt.MouseButton.LeftButton)
