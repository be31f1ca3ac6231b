"""Pictures given on the command line (`llamaside chat --image`, `llamaside compare --image`,
a batch file's "image"): checked, prepared and stored in the app's image folder as the window's
ImageService stores them, without Qt; and how --json output lists them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from desktop.backends.images import ImageError, prepare_file
from desktop.core.parts import Image
from desktop.storage.images import ImageStore, ImageStoreError
from desktop.storage.paths import AppPaths

#: A file bigger than this is refused before it is decoded (as the window refuses it).
MAX_IMAGE_FILE_BYTES = 200_000_000


def store_pictures(paths: AppPaths, files: Sequence[str | Path]) -> list[Image]:
    """Check, prepare and store picture files in the app's image folder (as the window's
    ImageService does, without Qt); raises ImageError naming the file."""
    images = ImageStore(paths.images)
    stored = []
    for file in files:
        path = Path(file).expanduser()
        if path.is_dir():
            raise ImageError(f"{path.name} is a folder, not a picture.")
        if path.is_file() and path.stat().st_size > MAX_IMAGE_FILE_BYTES:
            raise ImageError(f"{path.name} is {path.stat().st_size // 1_000_000} MB: too large.")
        prepared = prepare_file(path)
        try:
            stored.append(
                images.put(
                    prepared.data,
                    prepared.media_type,
                    alt=path.name,
                    width=prepared.width,
                    height=prepared.height,
                    thumbnail=prepared.thumbnail,
                )
            )
        except ImageStoreError as exc:
            raise ImageError(str(exc)) from None
    return stored


def image_json(image: Image) -> dict[str, Any]:
    """A sent picture as --json output lists it: its file's name, the stored copy, its size."""
    return {
        "name": image.alt,
        "stored": image.path,
        "media_type": image.media_type,
        "width": image.width,
        "height": image.height,
    }
