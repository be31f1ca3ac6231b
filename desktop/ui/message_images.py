"""A message's pictures in the chat view: a row of thumbnails above its words, each a link that
opens the full picture (image_viewer.py).

The HTML names a thumbnail by the picture's stored name under THUMB_SCHEME; the chat view asks
``thumbnail_image`` for it when Qt lays the message out, and that reads the picture's small
thumbnail file (at most 256 px), never the picture itself, scaled once to the size shown.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, QUrlQuery
from PySide6.QtGui import QGuiApplication, QImage, QPainter, QPalette

from desktop.core.parts import Image, Part, images_of, placeholder
from desktop.services.images import ImageService
from desktop.ui.render import action_href
from desktop.ui.tone_colours import tone_css

#: The chat view's URL scheme for a picture's thumbnail (its path: the stored name).
THUMB_SCHEME = "llamaside-thumb"
#: The action link a thumbnail is: opens the message's picture number ``target``.
IMAGE_ACTION = "image"
#: The box a thumbnail is shown in, in the chat (px): small enough for a row of several.
SHOWN_WIDTH = 220
SHOWN_HEIGHT = 150


def shown_size(image: Image) -> tuple[int, int]:
    """The thumbnail's size in the chat: the picture's shape within SHOWN_WIDTH x SHOWN_HEIGHT."""
    if image.width <= 0 or image.height <= 0:
        return SHOWN_HEIGHT, SHOWN_HEIGHT
    scale = min(SHOWN_WIDTH / image.width, SHOWN_HEIGHT / image.height, 1.0)
    return max(1, round(image.width * scale)), max(1, round(image.height * scale))


def thumb_url(image: Image) -> str:
    """The thumbnail's address in the chat, with the width it is shown at."""
    return f"{THUMB_SCHEME}:{image.path}?w={shown_size(image)[0]}"


def pictures_html(parts: Sequence[Part], message_id: int) -> str:
    """The message's pictures as one paragraph of linked thumbnails ("" for none)."""
    images = images_of(parts)
    cells, notes = [], []
    for index, image in enumerate(images):
        if not stored_name(image.path):  # an import naming a path elsewhere: words only
            notes.append(
                f'<p style="color:{tone_css("muted")}; font-size:small">'
                f"{html.escape(placeholder(image))}</p>"
            )
            continue
        width, height = shown_size(image)
        name = html.escape(image.alt or "picture", quote=True)
        href = action_href(IMAGE_ACTION, message_id, index)
        cells.append(
            f'<a href="{href}"><img src="{html.escape(thumb_url(image), quote=True)}" '
            f'width="{width}" height="{height}" alt="{name}" title="{name}"></a>'
        )
    row = "&nbsp;&nbsp;".join(cells)
    shown = f'<p style="margin-top:4px; margin-bottom:4px">{row}</p>' if cells else ""
    return shown + "".join(notes)


def stored_name(name: str) -> str:
    """The picture's name in the store; "" for one that names a path (an import's trick)."""
    return name if name and Path(name).name == name and name not in (".", "..") else ""


def thumbnail_image(images: ImageService | None, url: QUrl) -> QImage:
    """The thumbnail a THUMB_SCHEME url names, scaled (smoothly, once) to the width it is
    shown at; a grey box when the picture is gone, so the message still lays out."""
    name = stored_name(url.path())
    asked = QUrlQuery(url).queryItemValue("w")
    width = min(int(asked), SHOWN_WIDTH) if asked.isdigit() else 0
    path = images.thumbnail_of(Image("image/png", name)) if images and name else None
    picture = QImage(str(path)) if path is not None else QImage()
    if picture.isNull():
        return missing_picture()
    if width and picture.width() > width:
        mode = Qt.TransformationMode.SmoothTransformation
        picture = picture.scaledToWidth(width, mode)
    return picture


def missing_picture() -> QImage:
    """A grey box with a cross: the picture's file is gone (or was never in this store)."""
    box = QImage(SHOWN_HEIGHT, SHOWN_HEIGHT, QImage.Format.Format_RGB32)
    # In the theme's colours as it is drawn (a missing picture is rare: no redraw on a switch).
    palette = QGuiApplication.palette()
    box.fill(palette.color(QPalette.ColorRole.Midlight))
    painter = QPainter(box)
    painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
    painter.drawLine(0, 0, SHOWN_HEIGHT, SHOWN_HEIGHT)
    painter.drawLine(0, SHOWN_HEIGHT, SHOWN_HEIGHT, 0)
    painter.end()
    return box
