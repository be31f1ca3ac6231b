"""A picture of a message, whole, in a window of its own: fitted to the window at first, its
name and pixel size in the title; Ctrl+wheel or + and - zoom, 0 fits it again, Esc closes.

The stored picture is at most 4096 px a side (backends/images.py), yet decoding one that size
takes a fifth of a second: a picture over SYNC_PIXELS is read on a thread of its own, the viewer
showing "Loading…" (at its final size, read from the file's header) until it arrives through a
queued signal, so the window never stalls. A smaller one is read at once, shown as it opens.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QSize, Qt, Slot
from PySide6.QtGui import (
    QImage,
    QImageReader,
    QKeyEvent,
    QPixmap,
    QResizeEvent,
    QShowEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QDialog, QLabel, QScrollArea, QVBoxLayout, QWidget

from desktop import APP_NAME
from desktop.services.background import Background

#: Each zoom step multiplies the scale by this.
ZOOM_STEP = 1.25
MIN_SCALE = 0.05
MAX_SCALE = 8.0
#: A picture of up to this many pixels is read on the GUI thread (a few milliseconds at most).
SYNC_PIXELS = 1_000_000
#: What the viewer says while a large picture is read.
LOADING = "Loading…"


def read_picture(path: Path) -> QImage:
    """The picture in the file, turned as its EXIF says (a null QImage if it cannot be read).
    Safe off the GUI thread: a QImage, never a QPixmap."""
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    return reader.read()


class ImageViewer(QDialog):
    """Owns one picture shown whole and its zoom (``scale``; None: fitted to the window), and
    the reading of a large one off the GUI thread (``loading`` until it is in)."""

    def __init__(self, path: Path, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("imageViewer")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.name = name
        header = QImageReader(str(path))
        header.setAutoTransform(True)
        size = header.size()  # the header only: no pixel is decoded here
        self.pixmap = QPixmap()
        self.loading = not size.isValid() or size.width() * size.height() > SYNC_PIXELS
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
        #: Reads a large picture; its own object, so a viewer closed meanwhile drops the result.
        self._reader: Background | None = None
        if self.loading:
            self._reader = Background()
            self._reader.done.connect(self._on_read)
            self._reader.failed.connect(self._on_read)
            self._reader.call("picture", lambda: read_picture(path))
            self._set_title(size)
        else:
            self._on_read("picture", read_picture(path))

    def _set_title(self, size: QSize) -> None:
        if size.isValid():
            title = f"{self.name} — {size.width()} × {size.height()} px"
        else:
            title = f"{self.name} — the picture's file could not be read"
        self.setWindowTitle(f"{title} — {APP_NAME}")

    @Slot(str, object)
    def _on_read(self, _tag: str, picture: object) -> None:
        """The picture is in (or could not be read): shown from now on."""
        image = picture if isinstance(picture, QImage) else QImage()
        self.pixmap = QPixmap.fromImage(image)
        self.loading = False
        self._set_title(self.pixmap.size() if not self.pixmap.isNull() else QSize())
        self._show()

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
        if self.loading:
            self.label.setText(LOADING)
            return
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
        if self.loading:
            return
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
