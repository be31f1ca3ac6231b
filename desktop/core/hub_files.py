"""What a model download is made of, as resolved from the hub: plain frozen records, no I/O.
The hub client (backends.hub) finds them, the downloader (backends.downloader) fetches them,
and the model manager shows them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RemoteFile:
    """One file to fetch, as resolved from the hub."""

    repo: str
    path: str  # inside the repo
    url: str
    size: int
    sha256: str | None


@dataclass(frozen=True)
class GgufGroup:
    """One loadable model in a repo: a single file, or all parts of a split file, and the
    repo's vision projector (an mmproj GGUF) when it is downloaded with the model."""

    name: str
    files: tuple[RemoteFile, ...]
    #: Fetched into the model's own folder (not its place in the repo), so pairing finds it.
    projector: RemoteFile | None = None

    @property
    def size(self) -> int:
        """Bytes to download: every part, and the projector."""
        return sum(f.size for f in self.downloads)

    @property
    def model_size(self) -> int:
        """Bytes of the model's own parts (the projector left out)."""
        return sum(f.size for f in self.files)

    @property
    def downloads(self) -> tuple[RemoteFile, ...]:
        """Every file of the download, the model's parts first, then its projector."""
        return self.files + ((self.projector,) if self.projector is not None else ())

    @property
    def first(self) -> RemoteFile:
        return self.files[0]
