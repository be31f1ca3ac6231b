"""The privacy record as the rest of the app reads it: one plain frozen record per request that
left this computer. No I/O: the store (desktop.storage.privacy) writes and reads the rows, the
privacy service, its dialog and the CLI show and export them."""

from __future__ import annotations

from dataclasses import dataclass

from desktop.core.models import human_size


@dataclass(frozen=True)
class OutboundRecord:
    """One request that left this computer, as the privacy record keeps it: when, to whom
    (provider or hub, and host), why, for which model and chat, and how many bytes (and
    pictures). Never a key or a header."""

    id: int
    #: When it was sent (ISO time).
    at: str
    #: The provider's name ("openai", "my-vllm") or "huggingface".
    destination: str
    host: str
    #: chat, models (listing), test (Test connection), search, files, download.
    purpose: str
    #: The model asked ("" for none).
    model: str
    #: The chat whose messages were sent (None: no chat's).
    conversation_id: int | None
    #: Bytes of the request line and body.
    bytes_sent: int
    #: That chat's title, None when it was deleted since (the record outlives it) or for none.
    conversation: str | None = None
    #: Pictures the request carried, and their bytes as sent (before base64; bytes_sent counts
    #: the body, base64 included).
    images: int = 0
    image_bytes: int = 0

    @property
    def images_note(self) -> str:
        return images_note(self.images, self.image_bytes)


def images_note(images: int, image_bytes: int) -> str:
    """ "2 images, 340 KB" for a request that carried pictures; "" for one without."""
    if not images:
        return ""
    return f"{images} image{'s' if images != 1 else ''}, {human_size(image_bytes)}"
