"""Pictures for messages: attached files and pasted images checked, made storable and stored
off the GUI thread (a 50-megapixel photo takes seconds to decode), thumbnails, and the sweep
that deletes pictures no message needs any more.

The window asks ``attach_files`` / ``attach_data`` and hears back through ``attached`` (an
Image part, ready to send) or ``refused`` (the file's name and why); the CLI calls ``store_file``
on its own thread.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from desktop.backends.images import (
    ImageError,
    PreparedImage,
    prepare,
    prepare_file,
    thumbnail_file,
)
from desktop.core.parts import Image
from desktop.services.background import Background
from desktop.storage.images import ImageStore
from desktop.storage.store import ChatStore

#: A paste or drop bigger than this is refused before it is decoded (no picture is this big).
MAX_FILE_BYTES = 200_000_000


class ImageService(QObject):
    """Owns the app's picture folder for the window and the CLI.

    Signals:
    attached(int, object): a request's ticket and the stored Image part.
    refused(int, str): a request's ticket and a sentence naming the file and why.
    """

    attached = Signal(int, object)
    refused = Signal(int, str)

    def __init__(self, images: ImageStore, store: ChatStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.images = images
        self.store = store
        self._tickets = itertools.count(1)
        self._background = Background(self)
        self._background.done.connect(self._on_done)
        self._background.failed.connect(self._on_failed)

    @property
    def root(self) -> Path:
        """The folder Image parts name their files in (a Prompt's image_root)."""
        return self.images.root

    def path_of(self, image: Image) -> Path:
        return self.images.path(image.path)

    def thumbnail_of(self, image: Image) -> Path | None:
        """The picture's thumbnail file, made now if it is missing (an imported chat's);
        None when the picture itself is gone."""
        thumb = self.images.thumb_path(image.path)
        if thumb.is_file():
            return thumb
        try:
            self.images.put_thumbnail(image.path, thumbnail_file(self.images.path(image.path)))
        except (ImageError, OSError):
            return None
        return thumb

    # -- attaching --------------------------------------------------------------------------

    def store_file(self, path: Path) -> Image:
        """Check, prepare and store one file now (blocking); raises ImageError."""
        if path.is_file() and path.stat().st_size > MAX_FILE_BYTES:
            raise ImageError(f"{path.name} is {path.stat().st_size // 1_000_000} MB: too large.")
        prepared = prepare_file(path)
        return self._put(prepared, path.name)

    def store_data(self, data: bytes, name: str) -> Image:
        if len(data) > MAX_FILE_BYTES:
            raise ImageError(f"{name} is {len(data) // 1_000_000} MB: too large.")
        return self._put(prepare(data, name), name)

    def _put(self, prepared: PreparedImage, name: str) -> Image:
        return self.images.put(
            prepared.data,
            prepared.media_type,
            alt=name,
            width=prepared.width,
            height=prepared.height,
            thumbnail=prepared.thumbnail,
        )

    def attach_files(self, paths: Sequence[Path]) -> list[int]:
        """Attach files in the background; one ticket each (answered by attached/refused)."""
        tickets = []
        for path in paths:
            ticket = next(self._tickets)
            tickets.append(ticket)
            self._background.call(str(ticket), partial(self.store_file, Path(path)))
        return tickets

    def attach_data(self, data: bytes, name: str = "Pasted image") -> int:
        """Attach a pasted or dropped image's bytes in the background."""
        ticket = next(self._tickets)
        self._background.call(str(ticket), lambda: self.store_data(data, name))
        return ticket

    @Slot(str, object)
    def _on_done(self, tag: str, result: object) -> None:
        if tag.isdigit() and isinstance(result, Image):
            self.attached.emit(int(tag), result)

    @Slot(str, str)
    def _on_failed(self, tag: str, message: str) -> None:
        if tag.isdigit():
            self.refused.emit(int(tag), message)

    # -- the sweep ------------------------------------------------------------------------------

    def sweep(self, keep: Iterable[str] = ()) -> int:
        """Delete the pictures no message or comparison names (``keep``: ones attached in the
        composer but not sent yet). Returns how many went."""
        return self.images.remove_unused(self.store.image_names_in_use() | set(keep))

    def wait(self, timeout: float = 10.0) -> None:
        """Let attachments in flight finish (tests, and closing the window)."""
        self._background.wait(timeout)
