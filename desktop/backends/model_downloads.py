"""Downloading one model: every file of a (possibly split) GGUF, in order, with one progress.

Plain threads-and-callbacks code: the CLI calls it directly, the GUI's download service runs it
on a worker thread. It never touches the history database itself; it reports each file's state
through ``on_file`` so the caller records it on its own thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from desktop.backends.downloader import (
    DownloadCancelled,
    DownloadError,
    Progress,
    RemoteFile,
    check_disk,
    download_file,
    part_path,
    sha256_file,
)
from desktop.backends.hub import GgufGroup


@dataclass
class ModelProgress:
    """A whole model's download progress, over all its files, for the caller's callback."""

    name: str
    done: int
    total: int
    speed: float
    file_index: int  # 1-based
    file_count: int
    #: A resume re-reading what an earlier run downloaded (its sha256): bytes read so far, of
    #: how many (to_check 0: not checking).
    checked: int = 0
    to_check: int = 0

    @property
    def eta_s(self) -> float | None:
        return (self.total - self.done) / self.speed if self.speed > 0 else None


#: (remote file, local target, status, error): status is queued / partial / verified / failed.
FileCallback = Callable[[RemoteFile, Path, str, str | None], None]


def target_for(models_dir: Path, remote: RemoteFile) -> Path:
    """models/<publisher>/<repo>/<path in repo>: the layout LM Studio users know."""
    return models_dir.joinpath(*remote.repo.split("/"), *remote.path.split("/"))


def targets(models_dir: Path, group: GgufGroup) -> list[tuple[RemoteFile, Path]]:
    """Every file of the download with where it goes: the model's parts in the repo's layout,
    its projector beside part 1 (whatever its folder in the repo: unsloth keeps quants in
    sub-folders and the projector at the top), so that pairing finds it."""
    placed = [(remote, target_for(models_dir, remote)) for remote in group.files]
    if group.projector is not None:
        name = group.projector.path.rsplit("/", 1)[-1]
        placed.append((group.projector, placed[0][1].parent / name))
    return placed


def bytes_on_disk(models_dir: Path, group: GgufGroup) -> int:
    have = 0
    for remote, target in targets(models_dir, group):
        if target.exists():
            have += target.stat().st_size
        elif part_path(target).exists():
            have += min(part_path(target).stat().st_size, remote.size)
    return have


def download_group(
    group: GgufGroup,
    models_dir: Path,
    *,
    headers: dict[str, str],
    on_progress: Callable[[ModelProgress], None] | None = None,
    on_file: FileCallback | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Fetch and verify every part, then the projector; returns the path to give llama.cpp
    (part 1)."""
    cancel = cancel or threading.Event()
    check_disk(models_dir, group.size - bytes_on_disk(models_dir, group), group.name)
    finished = 0
    placed = targets(models_dir, group)
    count = len(placed)
    if on_file:
        # Record every part before fetching any, so a restart knows the whole model, not
        # only the parts it had reached.
        for remote, target in placed:
            done = target.exists() and target.stat().st_size == remote.size
            on_file(remote, target, "verified" if done else "queued", None)
    for index, (remote, target) in enumerate(placed, start=1):
        target.parent.mkdir(parents=True, exist_ok=True)
        if on_file:
            on_file(remote, target, "partial", None)

        def report(p: Progress, index: int = index, base: int = finished) -> None:
            if on_progress:
                on_progress(
                    ModelProgress(
                        group.name,
                        base + p.done,
                        group.size,
                        p.speed,
                        index,
                        count,
                        p.checked,
                        p.to_check,
                    )
                )

        try:
            download_file(remote, target, headers=headers, on_progress=report, cancel=cancel)
        except DownloadCancelled:
            if on_file:
                on_file(remote, target, "partial", None)
            raise
        except DownloadError as exc:
            if on_file:
                on_file(remote, target, "failed", str(exc))
            raise
        finished += remote.size
        if on_file:
            on_file(remote, target, "verified", None)
    return target_for(models_dir, group.first)


def verify_file(path: Path, sha256: str | None) -> str | None:
    """None if the file is intact, else what is wrong with it."""
    if not path.is_file():
        return f"{path.name} is missing."
    with path.open("rb") as handle:
        if handle.read(4) != b"GGUF":
            return f"{path.name} is not a GGUF file."
    if sha256 and sha256_file(path) != sha256:
        return f"{path.name} is damaged: its sha256 does not match the hub's."
    return None
