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
    """One loadable model in a repo: a single file, or all parts of a split file."""

    name: str
    files: tuple[RemoteFile, ...]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def first(self) -> RemoteFile:
        return self.files[0]
