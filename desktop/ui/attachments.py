"""Pictures for the next message, in the composer: the Attach button (📎, Ctrl+Shift+A), a
paste (Ctrl+V of an image, or of copied image files) and a drop of image files or image data
on the message box; a "Preparing photo.jpg…" chip while the image service reads a picture in
the background, then a strip of thumbnails, each with its name and a × that removes it.

A file the service refuses is named, with why, in a line under the strip: nothing typed or
attached is lost. When the chat's model cannot see, the button is off and its tooltip says why
(services.chat_images.vision_note); a paste or drop of a picture then says so instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QEvent, QIODevice, QMimeData, QObject, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QFontDatabase,
    QImage,
    QKeyEvent,
    QKeySequence,
    QPixmap,
)
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QScrollArea,
    QToolButton,
    QWidget,
)

from desktop.core.parts import Image
from desktop.services.images import ImageService
from desktop.ui.design import set_tone
from desktop.ui.icon_set import set_icon

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.gif)"
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif"})
ATTACH_TIP = "Attach images (PNG, JPEG, WebP, GIF): or paste or drop them on the message box"
PASTED = "Pasted image"
#: The thumbnail's side in a chip (px): the strip stays one line of the composer.
CHIP_THUMB = 48
#: Raw image types taken from a paste or drop whose picture Qt itself cannot decode.
RAW_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")


class PictureChip(QFrame):
    """One picture in the strip: "Preparing name…" at first, then its thumbnail, its name and
    a × (``remove``) once ready (``image``)."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pictureChip")
        self.name = name
        self.image: Image | None = None
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.thumb = QLabel(self)
        self.thumb.setFixedSize(CHIP_THUMB, CHIP_THUMB)
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumb.hide()
        self.label = QLabel(f"Preparing {name}…", self)
        set_tone(self.label, "muted")
        self.remove = QToolButton(self)
        self.remove.setText("×")
        self.remove.setAutoRaise(True)
        self.remove.setAccessibleName(f"Remove {name}")
        self.remove.setToolTip(f"Remove {name} from the message")
        self.remove.hide()
        self.setAccessibleName(f"Preparing {name}")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 2, 2)
        layout.setSpacing(4)
        layout.addWidget(self.thumb)
        layout.addWidget(self.label)
        layout.addWidget(self.remove)

    def fill(self, image: Image, thumbnail: Path | None) -> None:
        """The picture is ready: its thumbnail (scaled from the small file) and its name."""
        self.image = image
        pixmap = QPixmap(str(thumbnail)) if thumbnail is not None else QPixmap()
        if not pixmap.isNull():
            mode = Qt.TransformationMode.SmoothTransformation
            keep = Qt.AspectRatioMode.KeepAspectRatio
            self.thumb.setPixmap(pixmap.scaled(CHIP_THUMB, CHIP_THUMB, keep, mode))
        self.thumb.show()
        size = f"{image.width} × {image.height} px" if image.width else ""
        metrics = self.label.fontMetrics()
        self.label.setText(metrics.elidedText(self.name, Qt.TextElideMode.ElideMiddle, 160))
        set_tone(self.label, "")
        self.setToolTip(f"{self.name}\n{size}".strip())
        self.setAccessibleName(f"Picture {self.name}" + (f", {size}" if size else ""))
        self.remove.show()


class Attachments(QObject):
    """Owns the pictures attached to the next message: the Attach action and button, the
    strip of chips (``strip``), the line of refusals under it (``note``), the image service's
    requests in flight, and whether the chat's model can see (``vision_note``).

    Signals:
        changed(): a picture was added or removed (or one being prepared came or went).
    """

    changed = Signal()

    def __init__(self, images: ImageService, parent: QWidget) -> None:
        super().__init__(parent)
        self.images = images
        self._parent = parent
        self.vision_note = ""
        self._pending: dict[int, PictureChip] = {}
        self._refusals: list[str] = []
        self.action = QAction(_button_text(), parent)
        self.action.setObjectName("attachImagesAction")
        self.action.setShortcut(QKeySequence("Ctrl+Shift+A"))
        self.action.setToolTip(ATTACH_TIP)
        self.action.triggered.connect(lambda _checked=False: self.pick_files())
        self.button = QToolButton(parent)
        self.button.setObjectName("attachButton")
        self.button.setDefaultAction(self.action)
        self.button.setAccessibleName("Attach images")
        self.button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        set_icon(self.action, "attach")
        self.row = QWidget()
        self._chips = QHBoxLayout(self.row)
        self._chips.setContentsMargins(0, 0, 0, 0)
        self._chips.addStretch(1)
        self.strip = QScrollArea(parent)
        self.strip.setObjectName("attachmentStrip")
        self.strip.setAccessibleName("Pictures attached to the message")
        self.strip.setWidget(self.row)
        self.strip.setWidgetResizable(True)
        self.strip.setFrameShape(QFrame.Shape.NoFrame)
        self.strip.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.strip.setFixedHeight(CHIP_THUMB + 24)
        self.strip.hide()
        self.note = QLabel(parent)
        self.note.setObjectName("attachmentNote")
        self.note.setWordWrap(True)
        set_tone(self.note, "danger")
        self.note.hide()
        images.attached.connect(self._on_attached)
        images.refused.connect(self._on_refused)

    # -- what the composer asks -----------------------------------------------------------------

    def pictures(self) -> tuple[Image, ...]:
        """The pictures ready to send, in the strip's order."""
        return tuple(chip.image for chip in self._chip_widgets() if chip.image is not None)

    def preparing(self) -> list[str]:
        """Names of the pictures still being prepared."""
        return [chip.name for chip in self._pending.values()]

    def clear(self) -> None:
        """The message went: the strip empties (pictures still being prepared stay)."""
        for chip in self._chip_widgets():
            if chip.image is not None:
                self._drop_chip(chip)
        self._say([])
        self.changed.emit()

    def restore(self, images: Sequence[Image]) -> None:
        """Pictures that went with a message that came back unsent go back in the strip (those
        already there are not doubled)."""
        there = {picture.path for picture in self.pictures()}
        for image in images:
            if image.path in there:
                continue
            chip = PictureChip(image.alt or PASTED, self.row)
            self._chips.insertWidget(self._chips.count() - 1, chip)
            chip.fill(image, self.images.thumbnail_of(image))
            chip.remove.clicked.connect(lambda _checked=False, c=chip: self._remove(c))
            there.add(image.path)
        self.strip.setVisible(bool(self._chip_widgets()))
        self.changed.emit()

    def set_vision_note(self, note: str) -> None:
        """ "" when the chat's model sees; else why not (the button is off and says it)."""
        self.vision_note = note
        self.action.setEnabled(not note)
        self.action.setToolTip(note or ATTACH_TIP)

    def watch(self, box: QPlainTextEdit) -> None:
        """Take pastes and drops of pictures on the message box (text goes on as before)."""
        box.installEventFilter(self)
        box.viewport().installEventFilter(self)
        self.strip.setAcceptDrops(True)
        self.strip.viewport().installEventFilter(self)

    # -- attaching ----------------------------------------------------------------------------

    def pick_files(self) -> None:
        """The Attach button: a file dialog, any number of pictures."""
        if self.vision_note:
            return
        paths, _filter = QFileDialog.getOpenFileNames(
            self._parent.window(), "Attach images", "", IMAGE_FILTER
        )
        if paths:
            self.attach_paths([Path(p) for p in paths])

    def attach_paths(self, paths: list[Path]) -> None:
        self._say([])
        for path, ticket in zip(paths, self.images.attach_files(paths), strict=True):
            self._add_pending(ticket, path.name)

    def attach_data(self, data: bytes, name: str = PASTED) -> None:
        self._say([])
        self._add_pending(self.images.attach_data(data, name), name)

    def take(self, mime: QMimeData) -> bool:
        """Attach the pictures a paste or drop carries; False: none (the box takes it)."""
        files = _image_files(mime)
        data = b"" if files else _image_data(mime)
        if not (files or data):
            return False
        if self.vision_note:
            self._say([self.vision_note])
        elif files:
            self.attach_paths(files)
        else:
            self.attach_data(data)
        return True

    def _add_pending(self, ticket: int, name: str) -> None:
        chip = PictureChip(name, self.row)
        self._chips.insertWidget(self._chips.count() - 1, chip)
        self._pending[ticket] = chip
        self.strip.show()
        self.changed.emit()

    def _on_attached(self, ticket: int, image: object) -> None:
        chip = self._pending.pop(ticket, None)
        if chip is None or not isinstance(image, Image):
            return  # another window's request (a comparison's), or one given up
        chip.fill(image, self.images.thumbnail_of(image))
        chip.remove.clicked.connect(lambda _checked=False, c=chip: self._remove(c))
        self.changed.emit()

    def _on_refused(self, ticket: int, message: str) -> None:
        chip = self._pending.pop(ticket, None)
        if chip is None:
            return
        self._drop_chip(chip)
        self._say([*self._refusals, message])
        self.changed.emit()

    def _remove(self, chip: PictureChip) -> None:
        """The chip's ×: that picture leaves the message; focus goes back to the box."""
        self._drop_chip(chip)
        self.changed.emit()

    def _drop_chip(self, chip: PictureChip) -> None:
        self._chips.removeWidget(chip)
        chip.hide()
        chip.deleteLater()
        self.strip.setVisible(bool(self._chip_widgets()))

    def _chip_widgets(self) -> list[PictureChip]:
        chips = []
        for index in range(self._chips.count()):
            item = self._chips.itemAt(index)
            widget = item.widget() if item is not None else None
            if isinstance(widget, PictureChip):
                chips.append(widget)
        return chips

    def _say(self, messages: list[str]) -> None:
        """The line under the strip: why files were refused (or why pictures cannot go)."""
        self._refusals = messages
        self.note.setText("\n".join(messages))
        self.note.setVisible(bool(messages))

    # -- paste and drop -------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if isinstance(event, QKeyEvent) and event.type() == QEvent.Type.KeyPress:
            if event.matches(QKeySequence.StandardKey.Paste):
                mime = QApplication.clipboard().mimeData()
                return mime is not None and self.take(mime)
            return False
        if isinstance(event, QDragEnterEvent | QDragMoveEvent):
            mime = event.mimeData()
            if mime is not None and (_image_files(mime) or _has_picture(mime)):
                event.acceptProposedAction()
                return True
            return False
        if isinstance(event, QDropEvent) and event.type() == QEvent.Type.Drop:
            mime = event.mimeData()
            if mime is not None and self.take(mime):
                event.acceptProposedAction()
                return True
        return False


def emoji_drawn() -> bool:
    """Whether a font here draws emoji (a bare system, Xvfb's, would show empty boxes)."""
    return any("emoji" in family.lower() for family in QFontDatabase.families())


def _button_text() -> str:
    """📎 where a font draws it; a bare system (no emoji font) would show an empty box."""
    return "📎 Attach" if emoji_drawn() else "Attach…"


def _image_files(mime: QMimeData) -> list[Path]:
    """Local files a paste or drop names, if any of them is a picture by its name (the others
    go too, and are refused by name: a .txt among photos was dropped by mistake)."""
    if not mime.hasUrls():
        return []
    files = [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]
    return files if any(f.suffix.lower() in IMAGE_SUFFIXES for f in files) else []


def _has_picture(mime: QMimeData) -> bool:
    """A picture's pixels without text: a copied text with a picture of itself (a sheet's
    cells) pastes as the text."""
    if mime.hasText():
        return False
    return mime.hasImage() or any(mime.hasFormat(kind) for kind in RAW_TYPES)


def _image_data(mime: QMimeData) -> bytes:
    """A pasted or dropped picture's bytes ("" for none): Qt's image as a PNG stored fast (the
    service re-encodes it in the background), else the raw bytes of a type Qt cannot read."""
    if not _has_picture(mime):
        return b""
    picture = mime.imageData()
    if isinstance(picture, QImage) and not picture.isNull():
        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        # 100: no compression, the quickest to write. PySide6 takes the format as str only
        # (its stubs say bytes).
        picture.save(buffer, "PNG", 100)  # type: ignore[call-overload]
        buffer.close()
        return bytes(data.data())
    kind = next((k for k in RAW_TYPES if mime.hasFormat(k)), "")
    return bytes(mime.data(kind).data()) if kind else b""
