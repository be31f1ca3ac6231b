"""A picture of a message, whole, in a window of its own: fitted to the window at first, its
name and pixel size in the title; Ctrl+wheel or + and - zoom, 0 fits it again, Esc closes.

The stored picture is at most 4096 px a side (backends/images.py), so reading it here, when
the user asked to see it, takes a moment at most.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QImageReader, QKeyEvent, QPixmap, QResizeEvent, QShowEvent, QWheelEvent
from PySide6.QtWidgets import QDialog, QLabel, QScrollArea, QVBoxLayout, QWidget

from desktop import APP_NAME

#: Each zoom step multiplies the scale by this.
ZOOM_STEP = 1.25
MIN_SCALE = 0.05
MAX_SCALE = 8.0


class ImageViewer(QDialog):
    """Owns one picture shown whole and its zoom (``scale``; None: fitted to the window)."""

    def __init__(self, path: Path, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("imageViewer")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        reader = QImageReader(str(path))
        reader.setAutoTransform(True)
        self.pixmap = QPixmap.fromImage(reader.read())
        size = self.pixmap.size()
        if self.pixmap.isNull():
            title = f"{name} — the picture's file could not be read"
        else:
            title = f"{name} — {size.width()} × {size.height()} px"
        self.setWindowTitle(f"{title} — {APP_NAME}")
        self.scale: float | None = None
        self.label = QLabel(self)
        self.label.setObjectName("imageViewerPicture")
        self.label.setAccessibleName(f"Picture: {name}")
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.area = QScrollArea(self)
        self.area.setWidget(self.label)
        self.area.setWidgetResizable(True)
        self.area.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # Ctrl+wheel zooms wherever the pointer is; the scroll area would scroll instead.
        self.area.viewport().installEventFilter(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.area)
        screen = self.screen().availableGeometry() if self.screen() else None
        limit = (screen.width() * 0.8, screen.height() * 0.8) if screen else (1200.0, 800.0)
        fit = min(limit[0] / max(1, size.width()), limit[1] / max(1, size.height()), 1.0)
        self.resize(max(320, int(size.width() * fit) + 4), max(240, int(size.height() * fit) + 4))

    def shown_scale(self) -> float:
        """The scale the picture is drawn at now (the fitted one, when fitted)."""
        if self.scale is not None:
            return self.scale
        view = self.area.viewport().size()
        size = self.pixmap.size()
        if size.isEmpty():
            return 1.0
        return min(view.width() / size.width(), view.height() / size.height(), 1.0)

    def _show(self) -> None:
        if self.pixmap.isNull():
            self.label.setText("The picture's file could not be read.")
            return
        scale = self.shown_scale()
        size = self.pixmap.size() * scale
        mode = Qt.TransformationMode.SmoothTransformation
        shown = self.pixmap.scaled(size, Qt.AspectRatioMode.KeepAspectRatio, mode)
        self.label.setPixmap(shown)
        # Fitted: no scroll bars; zoomed: the label as large as the picture, to scroll.
        self.area.setWidgetResizable(self.scale is None)
        if self.scale is not None:
            self.label.resize(shown.size())

    def zoom(self, steps: int) -> None:
        """``steps`` in (positive) or out; 0 fits the picture to the window again."""
        if steps == 0:
            self.scale = None
        else:
            scale = self.shown_scale() * ZOOM_STEP**steps
            self.scale = min(MAX_SCALE, max(MIN_SCALE, scale))
        self._show()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._show()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.scale is None:
            self._show()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom(1)
        elif key == Qt.Key.Key_Minus:
            self.zoom(-1)
        elif key == Qt.Key.Key_0:
            self.zoom(0)
        else:
            super().keyPressEvent(event)  # Esc closes

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        ctrl = Qt.KeyboardModifier.ControlModifier
        if isinstance(event, QWheelEvent) and event.modifiers() & ctrl:
            delta = event.angleDelta().y()
            if delta:
                self.zoom(1 if delta > 0 else -1)
            return True
        return super().eventFilter(watched, event)
