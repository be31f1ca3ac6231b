"""What the app remembers of each downloaded file: a plain frozen record, no I/O. The store
(desktop.storage) writes and reads it, so that a download resumes after a restart; the
downloads service and `llamaside models` read it."""

from __future__ import annotations

from dataclasses import dataclass

from desktop.core.hub_files import RemoteFile


@dataclass(frozen=True)
class DownloadRecord:
    """One file of a download as stored: where it goes on disk, the hub file it comes from,
    and how far it got (status queued / partial / verified / failed, and why it failed)."""

    #: Where the file is (or will be) on disk; the record's key.
    local_path: str
    repo: str
    #: The file's path inside the repo.
    path: str
    url: str
    size: int
    sha256: str | None
    status: str
    error: str | None
    #: When the record last changed (ISO time).
    updated: str

    @property
    def remote(self) -> RemoteFile:
        """The hub file this record downloads."""
        return RemoteFile(self.repo, self.path, self.url, self.size, self.sha256)
