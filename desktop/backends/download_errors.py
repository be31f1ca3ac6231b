"""How a download fails, as the exceptions its callers catch: each says in a sentence what
happened and whether what arrived is kept."""

from __future__ import annotations

from desktop.core.errors import LlamasideError


class DownloadError(LlamasideError):
    """A download that could not be done, said in a sentence for the user."""

    pass


class DiskFullError(DownloadError):
    """The disk has no room for the file (before it starts, or mid-way: what arrived is kept)."""

    pass


class HashMismatchError(DownloadError):
    """The copy is not the file the hub describes (sha256, or not a GGUF); it was deleted."""

    pass


class DownloadCancelled(DownloadError):
    """Paused or cancelled by the caller; the .part is kept for a resume."""

    pass
