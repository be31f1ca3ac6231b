"""Small pieces shared by the windows: the message input box, the error banner, a label that
is never cut off."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QResizeEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QWidget,
)

from desktop.ui.design import set_tone
from desktop.ui.icon_set import set_icon


class InputBox(QPlainTextEdit):
    """Enter sends, Shift+Enter starts a new line.

    Signals:
        submitted(): the user pressed Enter.
    """

    submitted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("inputBox")
        self.setAccessibleName("Message")
        self.setPlaceholderText("Message the model — Enter sends, Shift+Enter for a new line")
        self.setTabChangesFocus(True)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.submitted.emit()
            return
        super().keyPressEvent(event)

    def sizeHint(self) -> QSize:
        return QSize(400, 84)


class FittingLabel(QLabel):
    """A label that is never cut off: it shows the longest of its texts that fits its width
    (the last, an icon, always does), with the whole text in its tooltip."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._texts: tuple[str, ...] = ("",)
        # It would like its whole text, and may shrink to its icon: never to nothing.
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def set_texts(self, *texts: str) -> None:
        """From the whole text to the shortest (an icon); the tooltip keeps the whole one."""
        self._texts = texts or ("",)
        self.setToolTip(self._texts[0])
        self.setAccessibleDescription(self._texts[0])
        self._fit()

    @property
    def full_text(self) -> str:
        return self._texts[0]

    def sizeHint(self) -> QSize:
        margins = self.contentsMargins()
        width = self.fontMetrics().horizontalAdvance(self._texts[0]) + 4
        return QSize(width + margins.left() + margins.right(), super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:
        margins = self.contentsMargins()
        width = self.fontMetrics().horizontalAdvance(self._texts[-1]) + 4
        return QSize(width + margins.left() + margins.right(), super().minimumSizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        room = self.contentsRect().width() - 4
        metrics = self.fontMetrics()
        shown = next(
            (t for t in self._texts if metrics.horizontalAdvance(t) <= room), self._texts[-1]
        )
        if shown != self.text():
            self.setText(shown)


class ErrorBanner(QWidget):
    """A dismissible, non-modal message above the input: errors never block the window.

    A message may be about a state (``topic``: "offline", "local-only") or about one chat
    (``conversation_id``): it goes away when that state ends or another chat is shown, so the
    banner never describes something that is no longer so.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorBanner")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setAccessibleName("Error message")
        close = QToolButton(self)
        close.setText("✕")
        close.setAccessibleName("Dismiss message")
        close.setToolTip("Dismiss this message")
        set_icon(close, "close")
        close.clicked.connect(self.hide)
        layout.addWidget(self.label, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        # The app stylesheet draws its surface (#errorBanner) in the theme's danger colours.
        set_tone(self.label, "danger")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        #: What the message shown is about (see the class's docstring).
        self.topic = ""
        self.conversation_id: int | None = None
        self.hide()

    def show_message(
        self, text: str, *, topic: str = "", conversation_id: int | None = None
    ) -> None:
        self.label.setText(text)
        self.topic = topic
        self.conversation_id = conversation_id
        self.show()

    def end_topic(self, topic: str) -> None:
        """The state the message was about has ended."""
        if self.topic == topic:
            self.hide()

    def chat_shown(self, conversation_id: int | None) -> None:
        """Another chat is on screen: a message about the one before goes."""
        if self.conversation_id is not None and self.conversation_id != conversation_id:
            self.hide()


class UndoBar(QWidget):
    """ "Deleted “x”. Undo" for a few seconds after a deletion.

    Signals:
        undo_requested(int): the id the deletion was about.
    """

    undo_requested = Signal(int)
    SHOWN_MS = 10_000

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("undoBar")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 4, 6, 4)
        self.label = QLabel(self)
        self.label.setTextFormat(Qt.TextFormat.PlainText)  # a chat title is not markup
        self.label.setAccessibleName("Deleted")
        self.undo_button = QPushButton("Undo", self)
        self.undo_button.setAccessibleName("Undo the deletion")
        self.undo_button.clicked.connect(self._undo)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.undo_button)
        self._target: int | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.hide)
        self.hide()

    def offer(self, target: int, text: str) -> None:
        self._target = target
        self.label.setText(text)
        self.show()
        self._timer.start(self.SHOWN_MS)

    def _undo(self) -> None:
        target, self._target = self._target, None
        self.hide()
        if target is not None:
            self.undo_requested.emit(target)
