"""A readable line length for the chat: in a wide window the conversation keeps to about
MAX_TEXT_PX of text (at the normal text size, more with text zoom), centred; a window narrower
than that uses its whole width, as before. Lines of 2,300 px are hard to read: the eye loses
its place going back to the start of the next one.

The room left over goes into the side margins of the document's root frame (the view's
background, so the whole width still scrolls, selects and takes the wheel). Qt resets that
frame's format when the document is replaced (setHtml, clear): the view calls apply() then.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QTextEdit

#: Text width at the application's normal font size: about 100 characters a line.
MAX_TEXT_PX = 820


class TextWidth(QObject):
    """Owns the side margins of one text view's document: set from the viewport's width and
    the view's font whenever either changes, so that the text is at most max_text_px wide."""

    def __init__(self, view: QTextEdit) -> None:
        super().__init__(view)
        self.view = view
        view.installEventFilter(self)  # font changes (text zoom)
        view.viewport().installEventFilter(self)  # resizes, the scroll bar's coming included

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.Resize, QEvent.Type.FontChange):
            self.apply()
        return False

    def max_text_px(self) -> float:
        """MAX_TEXT_PX scaled by the view's font against the application's (text zoom)."""
        normal = QApplication.font().pointSizeF()
        size = self.view.font().pointSizeF()
        return MAX_TEXT_PX * size / normal if normal > 0 and size > 0 else MAX_TEXT_PX

    def apply(self) -> None:
        """Centre the text in the viewport when it is wider than the text may be."""
        document = self.view.document()
        margin = document.documentMargin()
        room = self.view.viewport().width() - 2 * margin
        side = margin + max(0.0, (room - self.max_text_px()) / 2)
        frame = document.rootFrame()
        fmt = frame.frameFormat()
        if fmt.leftMargin() == side and fmt.rightMargin() == side:
            return  # unchanged: setting it again would lay the whole document out again
        fmt.setLeftMargin(side)
        fmt.setRightMargin(side)
        frame.setFrameFormat(fmt)
