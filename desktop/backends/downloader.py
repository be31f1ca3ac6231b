"""Resumable, verified downloads of large files over HTTP.

huggingface_hub resolves what to fetch (URL, size, sha256, auth headers); this module moves the
bytes, because recent huggingface_hub releases delete a partial file on failure and resume only
within one process, and a 60 GB model must survive a restart, a dropped network and a sleep.

Rules: bytes go to ``<target>.part`` beside the target; each attempt resumes with an HTTP Range
request from the .part's size; a file becomes ``<target>`` (atomic rename) only after its size,
its sha256 and its GGUF header check out. Nothing unverified is ever at the target path.

Moving a body's bytes (socket reads into reused buffers, the sha256 on a second thread) is
download_body's; the exceptions are download_errors'.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path

# httpx2 is the HTTP client huggingface_hub itself uses (the maintained successor of httpx).
import httpx2 as httpx
from filelock import FileLock, Timeout

from desktop.backends.download_body import (
    CHUNK,
    ProgressCallback,
    _body_socket,
    _HashThread,
    _Meter,
    _read_socket,
    _write_all,
)
from desktop.backends.download_body import Progress as Progress  # noqa: PLC0414 (re-export)
from desktop.backends.download_body import RunningHash as RunningHash  # noqa: PLC0414
from desktop.backends.download_errors import DiskFullError as DiskFullError  # noqa: PLC0414
from desktop.backends.download_errors import DownloadCancelled as DownloadCancelled  # noqa: PLC0414
from desktop.backends.download_errors import DownloadError as DownloadError  # noqa: PLC0414
from desktop.backends.download_errors import HashMismatchError as HashMismatchError  # noqa: PLC0414
from desktop.core.hub_files import RemoteFile as RemoteFile  # noqa: PLC0414 (re-export)

#: Room left on the disk beyond the file itself, so the system never runs completely dry.
DISK_MARGIN = 256 * 1024 * 1024
RETRIES = 8
#: How long a download waits for another holder of its file's lock before saying who has it.
LOCK_WAIT_S = 5.0
#: Transient failures: waits between attempts grow from 1 s to at most 30 s.
BACKOFF_MAX_S = 30.0


def part_path(target: Path) -> Path:
    return target.with_name(target.name + ".part")


def sha256_file(
    path: Path, cancel: threading.Event | None = None, on_bytes: Callable[[int], None] | None = None
) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(8 * CHUNK):
            if cancel is not None and cancel.is_set():
                raise DownloadCancelled("Verification was cancelled.")
            digest.update(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
    return digest.hexdigest()


def check_disk(folder: Path, needed: int, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if needed + DISK_MARGIN > free:
        raise DiskFullError(
            f"Not enough disk space for {name}: it needs {needed / 1e9:.1f} GB more, "
            f"{free / 1e9:.1f} GB are free in {folder}."
        )


def _range_start(response: httpx.Response) -> int | None:
    """The first byte of a 206 reply, from its Content-Range header ("bytes 100-199/1000")."""
    value = response.headers.get("Content-Range", "")
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _retry_after(response: httpx.Response | None, attempt: int) -> float:
    if response is not None:
        value = response.headers.get("Retry-After", "")
        if value.isdigit():
            return min(float(value), BACKOFF_MAX_S)
    return float(min(2**attempt, BACKOFF_MAX_S))


def _transfer(
    client: httpx.Client,
    remote: RemoteFile,
    part: Path,
    *,
    headers: dict[str, str],
    meter: _Meter,
    cancel: threading.Event,
    running: RunningHash,
) -> None:
    """One attempt: append the missing bytes to the .part file."""
    have = part.stat().st_size if part.exists() else 0
    if have > remote.size:
        part.unlink()  # longer than the file can be: not ours to trust
        have = 0
    meter.progress.done = have
    if have == remote.size:
        return
    request_headers = {**headers, "Range": f"bytes={have}-"}
    with client.stream("GET", remote.url, headers=request_headers) as response:
        if response.status_code == 416:
            # The server says our .part is already past the end of its file: the .part is
            # stale (another version of the file). Start over on the next attempt.
            part.unlink(missing_ok=True)
            meter.progress.done = 0
            raise DownloadError(
                f"{remote.path}: the partial download did not match; starting over."
            )
        if response.status_code == 206 and _range_start(response) != have:
            have = 0  # a range we did not ask for: trust nothing, start over
            meter.progress.done = 0
            part.unlink(missing_ok=True)
            raise DownloadError(f"{remote.path}: the server sent the wrong part of the file.")
        if response.status_code == 200 and have:
            have = 0  # the server ignored the range: start over
            meter.progress.done = 0
        elif response.status_code not in (200, 206):
            response.read()
            raise httpx.HTTPStatusError(
                f"HTTP {response.status_code}", request=response.request, response=response
            )
        mode = "ab" if have else "wb"
        running.cover(part, have, cancel)
        # Unbuffered: every write goes straight to the file, so what arrived is on disk.
        with part.open(mode, buffering=0) as handle:
            sock = _body_socket(response)
            if sock is not None:
                length = int(response.headers["Content-Length"])
                # What h11 already took off the socket with the headers comes first. Keep the
                # iterator alive: dropping it would close the connection under us.
                body = response.iter_raw()
                first = next(body, b"")
                _write_all(handle, memoryview(first), remote)
                running.update(first)
                meter.add(len(first))
                hasher = _HashThread(running)
                try:
                    _read_socket(
                        sock,
                        length - len(first),
                        handle,
                        remote=remote,
                        meter=meter,
                        cancel=cancel,
                        hasher=hasher,
                    )
                finally:
                    hasher.close()
                    del body
                return
            # Pieces as they arrive (no 1 MiB batching): if the connection drops, what did
            # arrive is on disk and is not fetched again.
            for chunk in response.iter_bytes():
                if cancel.is_set():
                    raise DownloadCancelled(f"Download of {remote.path} was paused.")
                _write_all(handle, memoryview(chunk), remote)
                running.update(chunk)
                meter.add(len(chunk))


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The verifying TLS context httpx would build (system trust store), built once: loading
    the CA certificates is a noticeable share of a fast download, and every file of a split
    model would pay it again."""
    return httpx.create_ssl_context()


def download_file(
    remote: RemoteFile,
    target: Path,
    *,
    headers: dict[str, str] | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Path:
    """Fetch ``remote`` to ``target``, resuming any .part left by an earlier run, and verify it.

    Raises DownloadCancelled (the .part is kept), DiskFullError, HashMismatchError (the bad
    .part is removed), or DownloadError with a sentence for the user.
    """
    cancel = cancel or threading.Event()
    part = part_path(target)
    if target.exists() and target.stat().st_size == remote.size:
        return target  # verified on an earlier run (only verified files are ever renamed)
    have = part.stat().st_size if part.exists() else 0
    check_disk(target.parent, max(0, remote.size - have), remote.path)
    progress = Progress(done=min(have, remote.size), total=remote.size)
    meter = _Meter(on_progress, progress)
    own_client = client is None
    http = client or httpx.Client(
        follow_redirects=True, timeout=httpx.Timeout(30.0, connect=10.0), verify=_tls_context()
    )
    running = RunningHash()
    # One process at a time per file: the window and `llamaside models download` must never
    # append to the same .part (both would, and the hash would cover neither).
    lock = FileLock(str(target.with_name(target.name + ".lock")))
    # A run of this process that was just paused may still be finishing its last read.
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            lock.acquire(timeout=0.1)
            break
        except Timeout:
            if cancel.is_set():
                raise DownloadCancelled(f"Download of {remote.path} was paused.") from None
            if time.monotonic() > deadline:
                raise DownloadError(
                    f"{remote.path} is being downloaded by another Llamaside (the window or "
                    f"`llamaside models download`); it goes on there."
                ) from None
    try:
        if target.exists() and target.stat().st_size == remote.size:
            return target  # the other holder finished it while this one waited
        have = part.stat().st_size if part.exists() else 0
        progress.done = min(have, remote.size)
        if 0 < have <= remote.size:
            # The sha256 of what an earlier run left is rebuilt from the disk before any
            # request (a server would not wait for 60 GB to be read): shown as checking.
            progress.to_check = have
            meter.check(0)
            running.cover(part, have, cancel, on_bytes=meter.check)
            progress.to_check = progress.checked = 0
            meter.add(0, force=True)
        attempt = 0
        while True:
            before = part.stat().st_size if part.exists() else 0
            try:
                _transfer(
                    http,
                    remote,
                    part,
                    headers=headers or {},
                    meter=meter,
                    cancel=cancel,
                    running=running,
                )
                size = part.stat().st_size if part.exists() else 0
                if size == remote.size:
                    break
                raise DownloadError(
                    f"{remote.path}: the server sent {size} of {remote.size} bytes."
                )
            except (DownloadCancelled, DiskFullError):
                raise
            except (httpx.TransportError, httpx.HTTPStatusError, DownloadError) as exc:
                response = exc.response if isinstance(exc, httpx.HTTPStatusError) else None
                status = response.status_code if response is not None else None
                if status is not None and status in (401, 403, 404):
                    raise DownloadError(_http_message(remote, status)) from None
                # Retries are counted per stall: an attempt that moved the file forward
                # resets the count (a flaky network must not fail a 60 GB download).
                grew = (part.stat().st_size if part.exists() else 0) > before
                attempt = 1 if grew else attempt + 1
                if attempt > RETRIES:
                    raise DownloadError(
                        f"Download of {remote.path} failed after {RETRIES} retries "
                        f"({_describe(exc)}). What was downloaded is kept; try again to resume."
                    ) from None
                # Wait in small steps so Pause/Cancel stays responsive.
                remaining = _retry_after(response, attempt - 1)
                while remaining > 0:
                    if cancel.is_set():
                        raise DownloadCancelled(f"Download of {remote.path} was paused.") from None
                    step = min(0.1, remaining)
                    sleep(step)
                    remaining -= step
                progress.done = part.stat().st_size if part.exists() else 0
        meter.add(0, force=True)
        running.cover(part, remote.size, cancel)  # no-op unless bytes came another way
        verify_part(remote, part, cancel, running.digest.hexdigest())
        os.replace(part, target)
        return target
    finally:
        lock.release()
        with contextlib.suppress(OSError):
            lock_path = Path(lock.lock_file)
            if target.exists():
                lock_path.unlink()  # done: nothing to guard any more
        if own_client:
            http.close()


def verify_part(
    remote: RemoteFile, part: Path, cancel: threading.Event | None = None, digest: str | None = None
) -> None:
    """Check the .part against the hub's sha256 (``digest``: already computed while writing)
    and the GGUF magic; a bad copy is deleted."""
    with part.open("rb") as handle:
        magic = handle.read(4)
    if remote.sha256:
        actual = digest or sha256_file(part, cancel)
        if actual != remote.sha256:
            part.unlink()
            raise HashMismatchError(
                f"{remote.path} is damaged: its sha256 is {actual[:12]}…, the hub says "
                f"{remote.sha256[:12]}…. The bad copy was deleted; download it again."
            )
    if remote.path.lower().endswith(".gguf") and magic != b"GGUF":
        part.unlink()
        raise HashMismatchError(f"{remote.path} is not a GGUF file; the copy was deleted.")


def _http_message(remote: RemoteFile, status: int) -> str:
    if status in (401, 403):
        return (
            f"{remote.repo} needs permission: accept its license on Hugging Face and add "
            f"your Hugging Face token (HF {status})."
        )
    return f"{remote.path} is not on the hub any more (HTTP 404)."


def _describe(exc: Exception) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    return type(exc).__name__ if not str(exc) else f"{type(exc).__name__}: {exc}"


def remove_partial(target: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        part_path(target).unlink()
