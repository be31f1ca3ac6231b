"""Text zoom: View → Zoom In (Ctrl+= or Ctrl++), Zoom Out (Ctrl+-) and Actual Size (Ctrl+0)
make the chat's text and the message box's larger or smaller, a point at a time; the choice is
the "text_zoom" setting (points above the normal size; below it when negative), so it holds
across restarts."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QWidget

from desktop.services.chat import ChatService
from desktop.ui.menus import Menus

SETTING = "text_zoom"
#: The smallest text zoom goes to, in points, and the most points it adds.
SMALLEST_PT = 6
MOST_STEPS = 24


class Zoom(QObject):
    """Owns the text zoom in force: the "text_zoom" setting, the fonts of the widgets it
    applies to (each from its own normal size), and View's zoom actions."""

    def __init__(self, chat: ChatService, menus: Menus, widgets: Sequence[QWidget]) -> None:
        super().__init__(menus)
        self.chat = chat
        self._normal = [(widget, widget.font().pointSizeF()) for widget in widgets]
        saved = chat.settings.get(SETTING, 0)
        self.steps = self._bounded(saved if isinstance(saved, int) else 0)
        menus.zoom_in_action.triggered.connect(lambda _checked=False: self.zoom(self.steps + 1))
        menus.zoom_out_action.triggered.connect(lambda _checked=False: self.zoom(self.steps - 1))
        menus.actual_size_action.triggered.connect(lambda _checked=False: self.zoom(0))
        self._apply()

    def _bounded(self, steps: int) -> int:
        smallest = min((size for _widget, size in self._normal if size > 0), default=SMALLEST_PT)
        return max(min(steps, MOST_STEPS), min(0, round(SMALLEST_PT - smallest)))

    def zoom(self, steps: int) -> None:
        """Text ``steps`` points from its normal size (bounded), applied and saved."""
        steps = self._bounded(steps)
        if steps == self.steps:
            return
        self.steps = steps
        self._apply()
        self.chat.settings.set(SETTING, steps)

    def _apply(self) -> None:
        for widget, normal in self._normal:
            if normal <= 0:  # a font sized in pixels: left as it is
                continue
            font = widget.font()
            font.setPointSizeF(normal + self.steps)
            widget.setFont(font)
