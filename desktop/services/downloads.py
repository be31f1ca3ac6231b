"""DownloadManager: model downloads on worker threads, reported to the GUI thread as signals.

Each job is one loadable model (one GGUF, or all parts of a split one). The bytes move on a
plain Python thread (backends.model_downloads); its callbacks emit signals, which Qt queues to
the GUI thread, where the history database is written. Downloads go on while the user chats.
Jobs found unfinished in the database at start-up come back paused, ready to resume; those
that had failed come back failed, with the reason they were given.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from desktop.backends.downloader import (
    DownloadCancelled,
    RemoteFile,
    part_path,
    remove_partial,
)
from desktop.backends.hub import GgufGroup, Hub, group_files
from desktop.backends.model_downloads import ModelProgress, download_group, target_for, targets
from desktop.backends.network import Network
from desktop.core.catalog import Quant, is_projector_name
from desktop.core.errors import LlamasideError, StoreError
from desktop.services.model_catalog import repo_models
from desktop.services.relay import Relay
from desktop.storage.store import ChatStore


class JobState(str, enum.Enum):
    """Where a download job stands, as the Downloads tab shows it."""

    QUEUED = "queued"
    DOWNLOADING = "downloading"
    PAUSED = "paused"
    DONE = "done"
    FAILED = "failed"


@dataclass
class DownloadJob:
    """One model being downloaded: its files, state and progress, and its worker thread."""

    id: str
    repo: str
    group: GgufGroup
    state: JobState = JobState.QUEUED
    done: int = 0
    speed: float = 0.0
    #: While a resume re-reads an earlier run's partial file: bytes read, of how many.
    checked: int = 0
    to_check: int = 0
    error: str | None = None
    path: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    #: Which run of this job its worker belongs to (signals from older runs are ignored).
    run: int = 0
    #: Resume asked for while the previous run was still winding down.
    resume_pending: bool = False
    #: Finds the files on the hub (a catalog quant); run first by a job that has none yet.
    lookup: Callable[[], GgufGroup] | None = None

    @property
    def total(self) -> int:
        return self.group.size

    @property
    def eta_s(self) -> float | None:
        return (self.total - self.done) / self.speed if self.speed > 0 else None


def catalog_group(quant: Quant, network: Network) -> GgufGroup:
    """The files of a catalog quant, found in its repo by the catalog's pattern, with the
    repo's vision projector (the catalog's mmproj when the repo has it). Blocking: it asks the
    hub."""
    for group in repo_models(quant.repo, network, quant.mmproj):
        if all(quant.matches(f.path) for f in group.files):
            return group
    raise LlamasideError(f"{quant.repo} has no files for {quant.quant} any more.")


class DownloadManager(QObject):
    """Owns the model download jobs: their worker threads, states and database records.

    Signals:
    job_added(str): a job id.
    job_changed(str): progress or state of a job changed.
    job_finished(str, str): job id, the model file to load (part 1), verified.
    job_failed(str, str): job id, a message for the user.
    A job that was cancelled or removed is gone from ``jobs`` when its job_changed arrives.
    """

    job_added = Signal(str)
    job_changed = Signal(str)
    job_finished = Signal(str, str)
    job_failed = Signal(str, str)

    def __init__(
        self,
        store: ChatStore,
        models_dir: Path,
        network: Network | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.models_dir = models_dir
        #: The app's offline switch and privacy record, shared with the cloud providers.
        self.network = network or Network()
        self.jobs: dict[str, DownloadJob] = {}
        #: Cancelled jobs whose worker has not stopped yet, and whether to keep their files.
        self._cancelled: dict[str, tuple[DownloadJob, bool]] = {}
        self._runs = 0
        # The workers report through it, each call with its job id and run number; a report
        # from an older or cancelled run is ignored.
        self._relay = Relay(self)

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
        job.group = group  # a restored job may know only some of the parts
        self._run(job)
        return job_id

    def start_lookup(self, repo: str, name: str, lookup: Callable[[], GgufGroup]) -> str:
        """A download whose files are found on the hub first (a catalog quant).

        Listed from the click on, so a lookup that fails (offline, the repo moved) is a failed
        download with its reason, and Resume tries the lookup again. ``lookup`` runs on the
        worker thread.
        """
        job_id = f"{repo}/{name}"
        job = self.jobs.get(job_id)
        if job is None:
            job = DownloadJob(job_id, repo, GgufGroup(name, ()), lookup=lookup)
            self.jobs[job_id] = job
            self.job_added.emit(job_id)
        if job.state in (JobState.DOWNLOADING, JobState.DONE):
            return job_id
        self._run(job)
        return job_id

    def start_catalog(self, quant: Quant, name: str) -> str:
        """A catalog quant's download, listed as ``name``: its files are found in its repo by
        the catalog's pattern, on the worker thread (see start_lookup)."""
        network = self.network
        return self.start_lookup(quant.repo, name, lambda: catalog_group(quant, network))

    def pause(self, job_id: str) -> None:
        job = self.jobs[job_id]
        job.resume_pending = False
        job.cancel.set()

    def resume(self, job_id: str) -> None:
        job = self.jobs[job_id]
        if job.state == JobState.DOWNLOADING and job.cancel.is_set():
            job.resume_pending = True  # still pausing: carry on once that run has stopped
        elif job.state in (JobState.PAUSED, JobState.FAILED, JobState.QUEUED):
            self._run(job)

    def cancel(self, job_id: str, keep_partial: bool) -> None:
        """Stop and forget a job; its partial files are deleted unless the user keeps them.

        Never waits: if the worker is still inside a network read, the clean-up happens when
        that worker ends.
        """
        job = self.jobs.pop(job_id)
        job.cancel.set()
        if job.thread is not None and job.thread.is_alive():
            self._cancelled[job_id] = (job, keep_partial)
        else:
            self._forget(job, keep_partial)
        self.job_changed.emit(job_id)

    def remove(self, job_id: str) -> None:
        """Take a finished or failed job off the list. A finished model stays on disk; a failed
        one's partial files go, so nothing half-done is left behind or comes back at restart."""
        job = self.jobs[job_id]
        if job.state not in (JobState.DONE, JobState.FAILED):
            raise ValueError(f"{job_id} is {job.state.value}: cancel it instead.")
        del self.jobs[job_id]
        if job.state == JobState.FAILED:
            self._forget(job, keep_partial=False)
        self.job_changed.emit(job_id)

    def restore(self) -> None:
        """Jobs left unfinished by an earlier run come back paused, or failed with their
        reason if their last run failed."""
        unfinished: dict[str, list[RemoteFile]] = {}
        rows = self.store.downloads()
        repos_with_unfinished = {r.repo for r in rows if r.status != "verified"}
        errors = {(r.repo, r.path): r.error for r in rows if r.status == "failed"}
        #: Projectors by the folder they were fetched into: the model saved there owns one.
        projectors: dict[tuple[str, Path], RemoteFile] = {}
        for row in rows:
            if row.repo not in repos_with_unfinished:
                continue
            if not Path(row.local_path).is_relative_to(self.models_dir):
                # Its files are in another models folder (a chosen one on a drive not
                # connected now): resumed here, it would start again on this disk.
                continue
            if is_projector_name(row.path):
                projectors[row.repo, Path(row.local_path).parent] = row.remote
            else:
                unfinished.setdefault(row.repo, []).append(row.remote)
        for repo, files in unfinished.items():
            for found in group_files(files):
                folder = target_for(self.models_dir, found.first).parent
                group = GgufGroup(found.name, found.files, projectors.get((repo, folder)))
                placed = targets(self.models_dir, group)
                if all(t.exists() for _remote, t in placed):
                    continue
                job = DownloadJob(f"{repo}/{group.name}", repo, group, JobState.PAUSED)
                failed = [errors[repo, f.path] for f, _t in placed if (repo, f.path) in errors]
                if failed:
                    job.state = JobState.FAILED
                    job.error = failed[0] or "The download failed."
                job.done = sum(min(f.size, _bytes_at(t)) for f, t in placed)
                self.jobs[job.id] = job
                self.job_added.emit(job.id)

    def move_to(self, folder: Path) -> None:
        """Download into ``folder`` from now on (Preferences → Folders). Refused while a
        download is unfinished (failed ones included): its partial files are in the present
        folder, and resuming it elsewhere would start it again."""
        # A failed one too (Retry resumes its partial file), and one cancelled whose worker
        # has not stopped yet (its partial file goes when it has).
        unfinished = [
            *(job for job in self.jobs.values() if job.state != JobState.DONE),
            *(job for job, _keep in self._cancelled.values()),
        ]
        if unfinished:
            names = ", ".join(job.group.name for job in unfinished[:3])
            raise LlamasideError(
                f"Finish or cancel the downloads in Models and downloads first ({names}): "
                f"their partial files are in {self.models_dir}."
            )
        self.models_dir = folder

    def pause_all(self) -> None:
        """Pause every running download (the app went offline); they resume on request."""
        for job in self.jobs.values():
            if job.state == JobState.DOWNLOADING:
                self.pause(job.id)

    def shutdown(self, timeout: float = 3.0) -> None:
        """Pause everything (partial files are kept). Waits a little for the workers; one
        stuck in a network read is a daemon thread and ends with the process."""
        jobs = [*self.jobs.values(), *(job for job, _keep in self._cancelled.values())]
        for job in jobs:
            job.cancel.set()
        for job in jobs:
            if job.thread is not None:
                job.thread.join(timeout=timeout)

    # -- worker -------------------------------------------------------------------------------

    def _run(self, job: DownloadJob) -> None:
        if job.thread is not None and job.thread.is_alive():
            # The previous run is still winding down (inside a read): one writer per .part,
            # so this resume starts when that run has ended.
            job.resume_pending = True
            return
        self._runs += 1
        job.run = self._runs
        job.cancel = threading.Event()
        job.state = JobState.DOWNLOADING
        job.error = None
        job.resume_pending = False
        self.job_changed.emit(job.id)
        job.thread = threading.Thread(
            target=_work,
            args=(self._relay.post, self.models_dir, self.network),
            kwargs={
                "job_id": job.id,
                "run": job.run,
                "group": job.group,
                "cancel": job.cancel,
                "lookup": job.lookup,
            },
            name=f"download-{job.group.name}",
            daemon=True,
        )
        job.thread.start()

    # -- GUI thread ---------------------------------------------------------------------------

    def _current(self, job_id: str, run: int) -> DownloadJob | None:
        job = self.jobs.get(job_id)
        return job if job is not None and job.run == run else None

    def _forget(self, job: DownloadJob, keep_partial: bool) -> None:
        for _remote, target in targets(self.models_dir, job.group):
            if target.exists():
                continue  # a verified part stays usable
            if not keep_partial:
                remove_partial(target)
                self.store.forget_download(str(target))

    def _on_progress(self, job_id: str, run: int, progress: ModelProgress) -> None:
        job = self._current(job_id, run)
        if job is None:
            return
        job.done, job.speed = min(progress.done, job.total), progress.speed
        job.checked, job.to_check = progress.checked, progress.to_check
        self.job_changed.emit(job_id)

    def _on_resolved(self, job_id: str, run: int, group: GgufGroup) -> None:
        job = self._current(job_id, run)
        if job is not None:
            job.group = group
            self.job_changed.emit(job_id)

    def _on_file_state(
        self, job_id: str, run: int, item: tuple[RemoteFile, str, str, str | None]
    ) -> None:
        if self._current(job_id, run) is None:
            return  # a cancelled job must not come back through a late record
        remote, target, status, error = item
        try:
            self.store.record_download(target, **asdict(remote), status=status, error=error)
        except StoreError as exc:
            # The download's own outcome still arrives; say what could not be recorded.
            self.job_failed.emit(job_id, str(exc))

    def _on_ended(self, job_id: str, run: int, outcome: str, detail: str) -> None:
        cancelled = self._cancelled.get(job_id)
        if cancelled is not None and cancelled[0].run == run:
            del self._cancelled[job_id]
            self._forget(*cancelled)
            return
        job = self._current(job_id, run)
        if job is None:
            return
        if outcome == "paused" and job.resume_pending:
            job.state = JobState.PAUSED
            if job.thread is not None:
                job.thread.join(timeout=1.0)  # it is returning: this signal was its last act
            self._run(job)
            return
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


def _bytes_at(target: Path) -> int:
    if target.exists():
        return target.stat().st_size
    part = part_path(target)
    return part.stat().st_size if part.exists() else 0


def _work(
    post: Callable[..., None],
    models_dir: Path,
    network: Network,
    *,
    job_id: str,
    run: int,
    group: GgufGroup,
    cancel: threading.Event,
    lookup: Callable[[], GgufGroup] | None,
) -> None:
    """A download job's thread: it reports through ``post`` and holds no reference to the
    manager."""
    m = DownloadManager
    try:
        if not group.files and lookup is not None:
            group = lookup()
            post(m._on_resolved, job_id, run, group)
        hub = Hub(network=network)
        for remote in group.downloads:
            hub.note_download(remote)
        path = download_group(
            group,
            models_dir,
            headers=hub.headers(),
            on_progress=lambda p: post(m._on_progress, job_id, run, p),
            on_file=lambda remote, target, status, error: post(
                m._on_file_state, job_id, run, (remote, str(target), status, error)
            ),
            cancel=cancel,
        )
        post(m._on_ended, job_id, run, "done", str(path))
    except DownloadCancelled:
        post(m._on_ended, job_id, run, "paused", "")
    except LlamasideError as exc:
        post(m._on_ended, job_id, run, "failed", str(exc))
    except Exception as exc:  # a worker must always report back
        post(m._on_ended, job_id, run, "failed", f"{type(exc).__name__}: {exc}")
