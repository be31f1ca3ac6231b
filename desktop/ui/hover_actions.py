"""A small toolbar over the message under the mouse: copy, edit (a question) or regenerate (an
answer), and its versions ‹ 2/3 ›, at the card's top right. Its buttons do what the message's
context menu does (message_copy.message_actions: one list for both).

Keyboard: Alt+Down / Alt+Up in the chat move to the next / previous message (the toolbar shows
over it); the Menu key or Shift+F10 then opens that message's context menu, which lists every
action.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QPoint, QRectF, Qt, QTimer
from PySide6.QtGui import QKeyEvent, QMouseEvent, QTextCursor
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QMenu, QToolButton, QWidget

from desktop.ui.icon_set import set_icon
from desktop.ui.message_cards import Card, card_index
from desktop.ui.message_copy import (
    MessageAction,
    message_actions,
    open_message_menu,
    run_action,
)

if TYPE_CHECKING:
    from desktop.ui.main_window import MainWindow

_ATTRIBUTE = "hover_actions"
#: The toolbar's distance from its card's top-right corner.
INSET = 6
_STYLE = """
#messageToolbar { background: palette(base); border: 1px solid palette(mid); border-radius: 8px; }
#messageToolbar QToolButton {
    border: none; border-radius: 6px; padding: 2px 7px; background: transparent; }
#messageToolbar QToolButton:hover, #messageToolbar QToolButton:focus {
    background: palette(midlight); }
#messageToolbar QLabel { color: palette(placeholder-text); padding: 0 2px; }
"""


class HoverToolbar(QFrame):
    """The floating row of buttons for one message (a child of the chat's viewport)."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("messageToolbar")
        self.setAccessibleName("Message actions")
        self.setStyleSheet(_STYLE)
        self._row = row = QHBoxLayout(self)
        row.setContentsMargins(3, 2, 3, 2)
        row.setSpacing(1)
        self.message_id: int | None = None
        self.hide()

    def fill(
        self,
        message_id: int,
        actions: list[MessageAction],
        versions: str,
        on_click: Callable[[int, MessageAction], None],
    ) -> None:
        """Buttons for ``actions`` of message ``message_id`` (the old ones go), and between
        its version arrows where it is among its versions (``versions``, "2/3"; "": none)."""
        row = self._row
        while row.count():
            item = row.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self.message_id = message_id
        shown = [a for a in actions if a.icon]  # the rest are the menu's only
        others = [a for a in shown if a.kind != "version"]
        previous = [a for a in shown if a.icon == "previous"]
        following = [a for a in shown if a.icon == "next"]
        for action in [*others, *previous]:
            row.addWidget(self._button(message_id, action, on_click))
        if versions:
            label = QLabel(versions, self)
            label.setObjectName("hover-versions")
            row.addWidget(label)
        for action in following:
            row.addWidget(self._button(message_id, action, on_click))
        # Children added to a toolbar already in sight stay hidden until shown (Qt's rule):
        # moving from one message to the next drew an empty 8×6 box under a real X server.
        for index in range(row.count()):
            item = row.itemAt(index)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.show()
        self.adjustSize()

    def _button(
        self, message_id: int, action: MessageAction, on_click: Callable[[int, MessageAction], None]
    ) -> QToolButton:
        button = QToolButton(self)
        button.setText(action.tip)
        set_icon(button, action.icon)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        button.setToolTip(action.tip)
        button.setAccessibleName(action.tip)
        button.setObjectName(_button_name(action))
        button.setAutoRaise(True)
        button.setCursor(Qt.CursorShape.PointingHandCursor)
        button.clicked.connect(lambda _c=False: on_click(message_id, action))
        return button


def _button_name(action: MessageAction) -> str:
    return f"hover-{action.icon if action.kind == 'version' else action.kind}"


class HoverActions(QObject):
    """Owns the chat's hover toolbar: shows it over the message under the mouse (or the one
    moved to with Alt+Up/Down), keeps it there as the chat scrolls and changes."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window.chat_view)  # goes with the view it watches
        self.window = window
        self._view = window.chat_view
        self.index = card_index(window)
        self.toolbar = HoverToolbar(self._view.viewport())
        self._card: Card | None = None
        self._viewport = viewport = self._view.viewport()
        viewport.setMouseTracking(True)
        viewport.installEventFilter(self)
        self._view.installEventFilter(self)
        self._view.verticalScrollBar().valueChanged.connect(lambda _v: self._place())
        # Once per event-loop turn, however many pieces stream in: a C++ timer restarted by
        # each change runs no Python per piece.
        self._refresh_timer = QTimer(self, singleShot=True, interval=0)
        self._refresh_timer.timeout.connect(self._refresh)
        self._view.document().contentsChanged.connect(self._refresh_timer.start)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if watched is self._viewport:
            if kind == QEvent.Type.MouseMove and isinstance(event, QMouseEvent):
                self.hover(event.position().toPoint())
            elif kind == QEvent.Type.Leave:
                QTimer.singleShot(100, self, self._hide_unless_hovered)
            elif kind == QEvent.Type.Resize:
                self._place()
        elif watched is self._view and kind == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            return self._key(event.key(), event.modifiers())
        return False

    def _key(self, key: int, modifiers: Qt.KeyboardModifier) -> bool:
        """Alt+Up/Down between messages; Menu or Shift+F10 opens the message's menu (not
        left to the platform: offscreen and some desktops make no menu of the key)."""
        if modifiers == Qt.KeyboardModifier.AltModifier and key in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            self.step(1 if key == Qt.Key.Key_Down else -1)
            return True
        menu_key = key == Qt.Key.Key_Menu and modifiers == Qt.KeyboardModifier.NoModifier
        if menu_key or (key == Qt.Key.Key_F10 and modifiers == Qt.KeyboardModifier.ShiftModifier):
            self.open_menu()
            return True
        return False

    def open_menu(self) -> QMenu:
        """The context menu of the message moved to (else the one at the text cursor), at
        its header."""
        card = self._card
        if card is not None:
            rect = self.index.rect(card)
            pos = QPoint(round(rect.left()) + 2 * INSET, round(rect.top()) + 2 * INSET)
        else:
            pos = self._view.cursorRect().center()
        return open_message_menu(self.window, pos)

    def hover(self, pos: QPoint) -> None:
        """The mouse is at ``pos`` in the viewport: the toolbar goes over the message there."""
        if self.toolbar.isVisible() and self.toolbar.geometry().contains(pos):
            return
        self.show_for(self.index.card_at(pos.y()))

    def show_for(self, card: Card | None) -> None:
        """The toolbar over ``card`` (None: hidden)."""
        shown = self._card
        same = card is not None and shown is not None and card.message_id == shown.message_id
        if same and self.toolbar.isVisible():  # the same message: no need to ask the store
            self._card = card
            self._place()
            return
        actions = (
            message_actions(self.window, card.message_id)
            if card is not None and card.message_id is not None
            else []
        )
        if card is None or card.message_id is None or not actions:
            self._card = None
            self.toolbar.hide()
            return
        if card != self._card or self.toolbar.message_id != card.message_id:
            self.toolbar.fill(card.message_id, actions, self._versions(card.message_id), self._run)
        self._card = card
        self._place()
        self.toolbar.show()
        self.toolbar.raise_()

    def _versions(self, message_id: int) -> str:
        conversation = self.window.conversation_id
        versions = (
            self.window.library.versions(conversation).get(message_id) if conversation else None
        )
        return f"{versions.index}/{versions.count}" if versions is not None else ""

    def _run(self, message_id: int, action: MessageAction) -> None:
        if action.kind not in ("copy", "copy-plain"):  # the chat is about to change
            self.toolbar.hide()
            self._card = None
        run_action(self.window, message_id, action)

    def step(self, direction: int) -> Card | None:
        """Move to the next (1) or previous (-1) message from the one the toolbar is over
        (none: to the first or last in sight): the text cursor goes to its header (where the
        Menu key opens its menu), the view scrolls to it, the toolbar shows over it."""
        cards = self.index.cards()
        if not cards:
            return None
        current = self._card
        at = next((i for i, c in enumerate(cards) if current and c.first == current.first), None)
        if at is None:
            height = self._viewport.height()
            seen = [i for i, c in enumerate(cards) if self.index.rect(c).intersects(_band(height))]
            target = (seen[0] if direction > 0 else seen[-1]) if seen else len(cards) - 1
        else:
            target = max(0, min(len(cards) - 1, at + direction))
        card = cards[target]
        cursor = QTextCursor(self._view.document().findBlockByNumber(card.first))
        self._view.setTextCursor(cursor)
        self._view.ensureCursorVisible()
        self.show_for(card)
        return card

    def _place(self) -> None:
        card = self._card
        if card is None:
            return
        rect = self.index.rect(card)
        size = self.toolbar.sizeHint()
        x = round(rect.right()) - size.width() - INSET
        # Over the header; kept in sight while the rest of a tall card is.
        y = max(round(rect.top()) + INSET, INSET)
        y = min(y, round(rect.bottom()) - size.height())
        self.toolbar.setGeometry(x, y, size.width(), size.height())

    def _hide_unless_hovered(self) -> None:
        if not self.toolbar.underMouse() and not self._view.viewport().underMouse():
            self.toolbar.hide()
            self._card = None

    def _refresh(self) -> None:
        """The document changed: the card shown may have moved, or gone."""
        card = self._card
        if card is None or not self._view.isVisible():  # a closed window: its store may be too
            return
        same = next((c for c in self.index.cards() if c.message_id == card.message_id), None)
        if same is None:
            self.toolbar.hide()
            self._card = None
            return
        self._card = same
        self._place()


def _band(height: int) -> QRectF:
    """The viewport's height as a band any card in sight crosses."""
    return QRectF(0, 0, 1_000_000, height)


def install_hover_actions(window: MainWindow) -> HoverActions:
    """The chat's hover toolbar and Alt+Up/Down between messages (idempotent)."""
    existing = getattr(window, _ATTRIBUTE, None)
    if isinstance(existing, HoverActions):
        return existing
    actions = HoverActions(window)
    window.chat_view.setAccessibleDescription(
        "Alt+Down and Alt+Up move between messages; the Menu key or Shift+F10 lists what "
        "can be done to the message: copy, edit or regenerate, delete, its versions."
    )
    setattr(window, _ATTRIBUTE, actions)
    return actions
