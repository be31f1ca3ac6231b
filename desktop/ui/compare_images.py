"""The compare window's pictures: the prompt's own strip (attachments.py: the Attach button,
paste and drop on the prompt box, thumbnails with ×), a mark on each model that cannot see them
while they are attached (under its picker, and on its column's header once the comparison has
begun; the sentence why is its tooltip), and each round's pictures above its prompt in every
column, where a click opens one whole (image_viewer.py). A reopened comparison shows its rounds'
pictures the same way.

A column whose model cannot see is not asked: the comparison service ends it at once with the
same sentence, which the column shows as its answer's failure.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import (
    QBoxLayout,
    QComboBox,
    QLabel,
    QPlainTextEdit,
    QSizePolicy,
    QWidget,
)

from desktop.core.parts import Image
from desktop.services.chat import ChatService
from desktop.services.chat_images import vision_note
from desktop.services.compare import CompareSession
from desktop.services.images import ImageService
from desktop.ui.attachments import Attachments, emoji_drawn
from desktop.ui.compare_parts import ColumnWidget
from desktop.ui.design import set_tone
from desktop.ui.image_viewer import ImageViewer
from desktop.ui.message_images import IMAGE_ACTION, THUMB_SCHEME, stored_name
from desktop.ui.render import action_href

#: A blind column's tooltip: the sentence why names the model, which the vote must not know.
BLIND_NOTE = "This model cannot see pictures: it will not be asked (its name shows after the vote)."
#: The box a round's thumbnail is shown in, in a column (px): a row of a few fits a column.
COLUMN_THUMB = (160, 100)


def sight_mark() -> str:
    """The mark of a model that cannot see: an eye crossed out where a font draws it."""
    return ("👁✕" if emoji_drawn() else "✕") + " cannot see pictures"


def image_service_of(widget: QWidget | None) -> ImageService | None:
    """The main window's image service, when the compare window was opened from it."""
    service = getattr(widget, "images", None)
    return service if isinstance(service, ImageService) else None


class ComparePictures(QObject):
    """Owns the pictures for the compare window's next prompt (``attachments``; None without an
    image service: then it takes none), the cannot-see marks (one under each picker, and each
    column's ``sight``), and the pictures of the rounds shown (``rounds``: round -> pictures).
    """

    def __init__(self, images: ImageService | None, chat: ChatService, window: QWidget) -> None:
        super().__init__(window)
        self.images = images
        self.chat = chat
        self._window = window
        self.attachments = Attachments(images, window) if images is not None else None
        self.rounds: dict[int, tuple[Image, ...]] = {}
        self._marks: list[tuple[QComboBox, QLabel]] = []

    # -- the next prompt's pictures -------------------------------------------------------------

    def place(
        self,
        box: QPlainTextEdit,
        buttons: QBoxLayout,
        layout: QBoxLayout,
        on_change: Callable[[], None],
    ) -> None:
        """Take pictures pasted or dropped on the prompt ``box``; the Attach button goes with
        the window's ``buttons`` (before their stretch), the strip and its line of refusals
        into ``layout`` (over the prompt, as in the chat's composer)."""
        if self.attachments is None:
            return
        self.attachments.watch(box)
        self.attachments.changed.connect(on_change)
        button = self.attachments.button
        button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)  # as Send
        buttons.insertWidget(max(0, buttons.count() - 1), button)
        layout.addWidget(self.attachments.strip)
        layout.addWidget(self.attachments.note)

    def ready(self) -> tuple[Image, ...]:
        """The pictures ready to go with the prompt, in the strip's order."""
        return self.attachments.pictures() if self.attachments is not None else ()

    def attached(self) -> bool:
        """Whether any picture is in the strip (ready or still being prepared)."""
        return bool(self.ready() or self.waiting())

    def waiting(self) -> str:
        """Why Send must wait ("" when it need not): pictures still being prepared."""
        names = self.attachments.preparing() if self.attachments is not None else []
        return (
            f"Still preparing {', '.join(names)}: send when it shows above the box."
            if names
            else ""
        )

    def sent(self) -> None:
        """The round went with its pictures: the strip empties."""
        if self.attachments is not None:
            self.attachments.clear()

    # -- who cannot see ---------------------------------------------------------------------------

    def mark_for(self, picker: QComboBox) -> QLabel:
        """The mark under a picker (hidden but while pictures are attached and its model is
        blind to them); the window places it."""
        mark = QLabel(sight_mark(), picker.parentWidget())
        mark.setObjectName(f"pickerSight{len(self._marks)}")
        bold = mark.font()
        bold.setBold(True)
        mark.setFont(bold)
        set_tone(mark, "danger")
        mark.hide()
        self._marks.append((picker, mark))
        return mark

    def refresh(self, session: CompareSession | None, columns: Sequence[ColumnWidget]) -> None:
        """Each shown picker's and column's mark: shown while pictures are attached, for a model
        that cannot see them (the sentence why as its tooltip)."""
        attached = self.attached()
        by_id = {m.id: m for m in self.chat.all_models}
        for picker, mark in self._marks:
            model = by_id.get(str(picker.currentData()))
            shown = attached and model is not None and not picker.isHidden()
            _mark(mark, vision_note(model) if shown else "")
        notes = session.cannot_see() if session is not None and attached else {}
        for column in columns:
            note = notes.get(column.slot, "")
            _mark(column.sight, BLIND_NOTE if note and session and session.blind else note)

    # -- the rounds' pictures -----------------------------------------------------------------

    def add_column(self, column: ColumnWidget) -> None:
        """A new column: its thumbnails come from the image service, a click opens one."""
        column.view.images = self.images
        column.view.action_requested.connect(self._on_action)

    def show_prompt(
        self, column: ColumnWidget, text: str, round_index: int, images: Sequence[Image]
    ) -> None:
        """A round's prompt in a column, its pictures above its words (as the chat shows them)."""
        self.rounds[round_index] = tuple(images)
        column.view.append_user(text, pictures=round_pictures_html(images, round_index))

    def reset(self) -> None:
        """A new (or reopened) comparison: no round is shown."""
        self.rounds.clear()

    @Slot(str, int, int)
    def _on_action(self, kind: str, round_index: int, index: int) -> None:
        if kind == IMAGE_ACTION:
            self.open_picture(round_index, index)

    def open_picture(self, round_index: int, index: int) -> ImageViewer | None:
        """Picture ``index`` of a round, whole, in a viewer of its own."""
        pictures = self.rounds.get(round_index, ())
        if self.images is None or not 0 <= index < len(pictures):
            return None
        picture = pictures[index]
        if not stored_name(picture.path):
            return None
        viewer = ImageViewer(self.images.path_of(picture), picture.alt or "Picture", self._window)
        viewer.show()
        return viewer


def column_size(image: Image) -> tuple[int, int]:
    """A round's thumbnail's size in a column: the picture's shape within COLUMN_THUMB."""
    if image.width <= 0 or image.height <= 0:
        return COLUMN_THUMB[1], COLUMN_THUMB[1]
    scale = min(COLUMN_THUMB[0] / image.width, COLUMN_THUMB[1] / image.height, 1.0)
    return max(1, round(image.width * scale)), max(1, round(image.height * scale))


def round_pictures_html(images: Sequence[Image], round_index: int) -> str:
    """A round's pictures above its prompt in a column: linked thumbnails as the chat's
    (message_images.py), smaller (a column is narrow, and its answer is what is compared)."""
    cells = []
    for index, image in enumerate(images):
        if not stored_name(image.path):  # an import naming a file elsewhere: not shown
            continue
        width, height = column_size(image)
        name = html.escape(image.alt or "picture", quote=True)
        source = html.escape(f"{THUMB_SCHEME}:{image.path}?w={width}", quote=True)
        cells.append(
            f'<a href="{action_href(IMAGE_ACTION, round_index, index)}"><img src="{source}" '
            f'width="{width}" height="{height}" alt="{name}" title="{name}"></a>'
        )
    row = "&nbsp;&nbsp;".join(cells)
    return f'<p style="margin-top:4px; margin-bottom:4px">{row}</p>' if cells else ""


def _mark(label: QLabel, note: str) -> None:
    label.setText(sight_mark())
    label.setToolTip(note)
    label.setAccessibleName(f"Cannot see pictures: {note}" if note else "")
    label.setVisible(bool(note))
