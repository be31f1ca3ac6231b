"""DownloadManager: model downloads on worker threads, reported to the GUI thread as signals.

Each job is one loadable model (one GGUF, or all parts of a split one). The bytes move on a
plain Python thread (backends.model_downloads); its callbacks emit signals, which Qt queues to
the GUI thread, where the history database is written. Downloads go on while the user chats.
Jobs found unfinished in the database at start-up come back paused, ready to resume.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from desktop.backends.downloader import (
    DownloadCancelled,
    RemoteFile,
    part_path,
    remove_partial,
)
from desktop.backends.hub import GgufGroup, Hub, group_files
from desktop.backends.model_downloads import ModelProgress, download_group, target_for
from desktop.core.errors import LlamasideError
from desktop.storage.store import ChatStore


class JobState(str, enum.Enum):
    QUEUED = "queued"
    DOWNLOADING = "downloading"
    PAUSED = "paused"
    DONE = "done"
    FAILED = "failed"


@dataclass
class DownloadJob:
    id: str
    repo: str
    group: GgufGroup
    state: JobState = JobState.QUEUED
    done: int = 0
    speed: float = 0.0
    error: str | None = None
    path: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def total(self) -> int:
        return self.group.size

    @property
    def eta_s(self) -> float | None:
        return (self.total - self.done) / self.speed if self.speed > 0 else None


class DownloadManager(QObject):
    """Signals:
    job_added(str): a job id.
    job_changed(str): progress or state of a job changed.
    job_finished(str, str): job id, the model file to load (part 1), verified.
    job_failed(str, str): job id, a message for the user.
    """

    job_added = Signal(str)
    job_changed = Signal(str)
    job_finished = Signal(str, str)
    job_failed = Signal(str, str)

    # Emitted from worker threads; connected to GUI-thread slots (queued by Qt).
    _progress = Signal(str, object)
    _file_state = Signal(object)
    _ended = Signal(str, str, str)  # job id, outcome (done/paused/failed), detail

    def __init__(
        self,
        store: ChatStore,
        models_dir: Path,
        hub_factory: Callable[[], Hub] = Hub,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.models_dir = models_dir
        self._hub_factory = hub_factory
        self.jobs: dict[str, DownloadJob] = {}
        self._progress.connect(self._on_progress)
        self._file_state.connect(self._on_file_state)
        self._ended.connect(self._on_ended)

    # -- public -------------------------------------------------------------------------------

    def start(self, repo: str, group: GgufGroup) -> str:
        job_id = f"{repo}/{group.name}"
        job = self.jobs.get(job_id)
        if job is None:
            job = DownloadJob(job_id, repo, group)
            self.jobs[job_id] = job
            self.job_added.emit(job_id)
        if job.state in (JobState.DOWNLOADING, JobState.DONE):
            return job_id
        self._run(job)
        return job_id

    def pause(self, job_id: str) -> None:
        job = self.jobs[job_id]
        job.cancel.set()

    def resume(self, job_id: str) -> None:
        job = self.jobs[job_id]
        if job.state in (JobState.PAUSED, JobState.FAILED, JobState.QUEUED):
            self._run(job)

    def cancel(self, job_id: str, keep_partial: bool) -> None:
        """Stop and forget a job; its partial files are deleted unless the user keeps them."""
        job = self.jobs.pop(job_id)
        job.cancel.set()
        if job.thread is not None:
            job.thread.join(timeout=10)
        for remote in job.group.files:
            target = target_for(self.models_dir, remote)
            if not keep_partial:
                remove_partial(target)
                if self.store.download(str(target)) and not target.exists():
                    self.store.forget_download(str(target))
        self.job_changed.emit(job_id)

    def restore(self) -> None:
        """Jobs left unfinished by an earlier run come back paused."""
        unfinished: dict[str, list[RemoteFile]] = {}
        rows = self.store.downloads()
        repos_with_unfinished = {r["repo"] for r in rows if r["status"] != "verified"}
        for row in rows:
            if row["repo"] in repos_with_unfinished:
                unfinished.setdefault(row["repo"], []).append(
                    RemoteFile(
                        repo=row["repo"],
                        path=row["path"],
                        url=row["url"],
                        size=row["size"],
                        sha256=row["sha256"],
                    )
                )
        for repo, files in unfinished.items():
            for group in group_files(files):
                targets = [target_for(self.models_dir, f) for f in group.files]
                if all(t.exists() for t in targets):
                    continue
                job = DownloadJob(f"{repo}/{group.name}", repo, group, JobState.PAUSED)
                job.done = sum(
                    t.stat().st_size
                    if t.exists()
                    else (part_path(t).stat().st_size if part_path(t).exists() else 0)
                    for t in targets
                )
                self.jobs[job.id] = job
                self.job_added.emit(job.id)

    def shutdown(self) -> None:
        """Pause everything (partial files are kept) and wait for the workers to stop."""
        for job in self.jobs.values():
            job.cancel.set()
        for job in self.jobs.values():
            if job.thread is not None:
                job.thread.join(timeout=10)

    @property
    def active(self) -> bool:
        return any(j.state == JobState.DOWNLOADING for j in self.jobs.values())

    # -- worker -------------------------------------------------------------------------------

    def _run(self, job: DownloadJob) -> None:
        job.cancel = threading.Event()
        job.state = JobState.DOWNLOADING
        job.error = None
        self.job_changed.emit(job.id)
        job.thread = threading.Thread(
            target=self._work, args=(job,), name=f"download-{job.group.name}", daemon=True
        )
        job.thread.start()

    def _work(self, job: DownloadJob) -> None:
        try:
            hub = self._hub_factory()
            path = download_group(
                job.group,
                self.models_dir,
                headers=hub.headers(),
                on_progress=lambda p: self._progress.emit(job.id, p),
                on_file=lambda remote, target, status, error: self._file_state.emit(
                    (remote, str(target), status, error)
                ),
                cancel=job.cancel,
            )
            self._ended.emit(job.id, "done", str(path))
        except DownloadCancelled:
            self._ended.emit(job.id, "paused", "")
        except LlamasideError as exc:
            self._ended.emit(job.id, "failed", str(exc))
        except Exception as exc:  # a worker must always report back
            self._ended.emit(job.id, "failed", f"{type(exc).__name__}: {exc}")

    # -- GUI thread ---------------------------------------------------------------------------

    @Slot(str, object)
    def _on_progress(self, job_id: str, progress: ModelProgress) -> None:
        job = self.jobs.get(job_id)
        if job is None:
            return
        job.done, job.speed = progress.done, progress.speed
        self.job_changed.emit(job_id)

    @Slot(object)
    def _on_file_state(self, item: tuple[RemoteFile, str, str, str | None]) -> None:
        remote, target, status, error = item
        self.store.record_download(
            target,
            repo=remote.repo,
            path=remote.path,
            url=remote.url,
            size=remote.size,
            sha256=remote.sha256,
            status=status,
            error=error,
        )

    @Slot(str, str, str)
    def _on_ended(self, job_id: str, outcome: str, detail: str) -> None:
        job = self.jobs.get(job_id)
        if job is None:
            return  # cancelled and forgotten
        if outcome == "done":
            job.state, job.path, job.done = JobState.DONE, detail, job.total
            self.job_changed.emit(job_id)
            self.job_finished.emit(job_id, detail)
        elif outcome == "paused":
            job.state = JobState.PAUSED
            self.job_changed.emit(job_id)
        else:
            job.state, job.error = JobState.FAILED, detail
            self.job_changed.emit(job_id)
            self.job_failed.emit(job_id, detail)


def describe(job: DownloadJob) -> dict[str, Any]:
    return {
        "id": job.id,
        "state": job.state.value,
        "done": job.done,
        "total": job.total,
        "speed": job.speed,
        "error": job.error,
    }
