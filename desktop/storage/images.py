"""The pictures messages hold: one file per content (named by its sha256), a thumbnail beside
it, and the sweep that removes the files no message or comparison names any more.

Messages keep an ``Image`` part naming the file, never the bytes, so a picture sent in ten chats
is stored once, and the database stays small enough to search and back up.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from desktop.core.errors import LlamasideError
from desktop.core.parts import Image
from desktop.core.vision import STORED_TYPES

_NAME = re.compile(r"^[0-9a-f]{64}\.(png|jpg)$")
THUMBS = "thumbs"
#: A picture younger than this is never swept: it may be attached in a composer, not yet sent.
MIN_AGE_S = 24 * 3600.0


class ImageStoreError(LlamasideError):
    """A picture could not be written (a full disk, a read-only folder)."""


def image_name(data: bytes, media_type: str) -> str:
    """The file name an image's bytes are stored under."""
    return hashlib.sha256(data).hexdigest() + STORED_TYPES[media_type]


def valid_name(name: str) -> bool:
    """A name this store made (an import naming ``../../etc/passwd`` is not one)."""
    return bool(_NAME.match(name))


class ImageStore:
    """Owns the image folder. Safe from any thread: every write is a new file renamed into
    place, and a name's content never changes."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str) -> Path:
        return self.root / name

    def thumb_path(self, name: str) -> Path:
        return self.root / THUMBS / (Path(name).stem + ".png")

    def has(self, name: str) -> bool:
        return valid_name(name) and self.path(name).is_file()

    def read(self, name: str) -> bytes:
        if not valid_name(name):
            raise ImageStoreError(f"{name!r} is not the name of a stored image.")
        try:
            return self.path(name).read_bytes()
        except OSError as exc:
            raise ImageStoreError(
                f"The picture {name[:12]}… is missing from {self.root} ({exc.strerror})."
            ) from None

    def _write(self, target: Path, data: bytes) -> None:
        if target.is_file() and target.stat().st_size == len(data):
            target.touch()  # the same content, already here: young again for the sweep
            return
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise ImageStoreError(
                f"Could not save the picture in {target.parent}: {exc.strerror or exc}."
            ) from None

    def put(
        self,
        data: bytes,
        media_type: str,
        *,
        alt: str = "",
        width: int = 0,
        height: int = 0,
        thumbnail: bytes = b"",
    ) -> Image:
        """Store the bytes (PNG or JPEG) once; the Image part that names them."""
        if media_type not in STORED_TYPES:
            raise ImageStoreError(f"Only PNG and JPEG pictures are stored, not {media_type}.")
        name = image_name(data, media_type)
        self._write(self.path(name), data)
        if thumbnail:
            self._write(self.thumb_path(name), thumbnail)
        return Image(media_type, name, alt, width, height, len(data))

    def put_thumbnail(self, name: str, thumbnail: bytes) -> None:
        self._write(self.thumb_path(name), thumbnail)

    def names(self) -> set[str]:
        if not self.root.is_dir():
            return set()
        return {p.name for p in self.root.iterdir() if valid_name(p.name)}

    def remove_unused(self, used: Iterable[str], min_age_s: float = MIN_AGE_S) -> int:
        """Delete the pictures (and thumbnails) not in ``used`` and older than ``min_age_s``
        (younger ones may be in a composer, attached but not sent); how many went."""
        keep = set(used)
        removed = 0
        now = time.time()
        for name in self.names() - keep:
            try:
                if now - self.path(name).stat().st_mtime < min_age_s:
                    continue
                self.path(name).unlink(missing_ok=True)
                self.thumb_path(name).unlink(missing_ok=True)
                removed += 1
            except OSError:
                continue  # in use on Windows, or the folder went read-only: next sweep
        return removed
