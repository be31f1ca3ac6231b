"""Resumable, verified downloads of large files over HTTP.

huggingface_hub resolves what to fetch (URL, size, sha256, auth headers); this module moves the
bytes, because recent huggingface_hub releases delete a partial file on failure and resume only
within one process, and a 60 GB model must survive a restart, a dropped network and a sleep.

Rules: bytes go to ``<target>.part`` beside the target; each attempt resumes with an HTTP Range
request from the .part's size; a file becomes ``<target>`` (atomic rename) only after its size,
its sha256 and its GGUF header check out. Nothing unverified is ever at the target path.

Speed: on a fast link the client's CPU is the limit. The body is read from the socket into a few
reused 1 MiB buffers (not through httpx's 64 KiB, multi-copy iterator) and hashed on a second
thread while the next buffer arrives, so with a core free for the hash a download runs at close
to the speed of sha256 itself.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import queue
import shutil
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

# httpx2 is the HTTP client huggingface_hub itself uses (the maintained successor of httpx).
import httpx2 as httpx
from filelock import FileLock, Timeout

from desktop.core.errors import LlamasideError
from desktop.core.hub_files import RemoteFile as RemoteFile  # noqa: PLC0414 (re-export)

CHUNK = 1 << 20
#: The body is read straight from the socket into buffers this big, written, then hashed on a
#: second thread; 1 MiB keeps Python's per-buffer work negligible and a buffer still in cache
#: between the read and the write. BUFFERS of them let the network run ahead of the hash by a
#: few milliseconds, which absorbs a thread briefly losing its core on a busy machine.
BUFFER = 1 << 20
BUFFERS = 8
#: Largest single write to the .part. Linux gives the page cache folios as large as a write
#: (ext4 on 6.x kernels), and finding free 1 MiB blocks of memory stalls writes; 128 KiB
#: writes do not, for a few more system calls (docs/benchmarks.md).
WRITE = 128 * 1024
#: A buffer still filling is written out after this long anyway, so a slow network still shows
#: progress and a drop or a pause loses nothing that arrived.
FLUSH_S = 0.25
#: Room left on the disk beyond the file itself, so the system never runs completely dry.
DISK_MARGIN = 256 * 1024 * 1024
RETRIES = 8
#: How long a download waits for another holder of its file's lock before saying who has it.
LOCK_WAIT_S = 5.0
#: Transient failures: waits between attempts grow from 1 s to at most 30 s.
BACKOFF_MAX_S = 30.0


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


@dataclass
class Progress:
    """One file's download progress, as handed to the caller's progress callback."""

    done: int
    total: int
    #: Bytes per second over the last few seconds.
    speed: float = 0.0
    #: Bytes fetched over the network by this process (what a resume did not re-fetch).
    fetched: int = 0
    #: While a resume re-reads the .part left by an earlier run to rebuild its sha256: how
    #: much of it is read, of how much (to_check 0: not checking).
    checked: int = 0
    to_check: int = 0

    @property
    def eta_s(self) -> float | None:
        if self.speed <= 0:
            return None
        return (self.total - self.done) / self.speed


ProgressCallback = Callable[[Progress], None]


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


class _Meter:
    """Speed over a sliding window, and throttled progress calls (10 per second at most)."""

    def __init__(self, callback: ProgressCallback | None, progress: Progress) -> None:
        self.callback = callback
        self.progress = progress
        self.samples: list[tuple[float, int]] = [(time.monotonic(), progress.done)]
        self.last_call = 0.0

    def check(self, n: int) -> None:
        """Bytes of an earlier run's .part re-read for its hash (reported, not fetched)."""
        self.progress.checked += n
        now = time.monotonic()
        if self.callback is not None and (
            now - self.last_call >= 0.1 or self.progress.checked >= self.progress.to_check
        ):
            self.last_call = now
            self.callback(self.progress)

    def add(self, n: int, force: bool = False) -> None:
        self.progress.done += n
        self.progress.fetched += n
        now = time.monotonic()
        if not force and now - self.last_call < 0.1:
            return
        self.samples.append((now, self.progress.done))
        self.samples = [s for s in self.samples if now - s[0] <= 5.0] or self.samples[-1:]
        t0, d0 = self.samples[0]
        if now > t0:
            self.progress.speed = (self.progress.done - d0) / (now - t0)
        self.last_call = now
        if self.callback is not None:
            self.callback(self.progress)


class RunningHash:
    """sha256 of the .part's first ``length`` bytes, kept up to date as bytes are written, so
    a finished download is verified without reading 60 GB a second time."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.length = 0

    def cover(
        self,
        part: Path,
        have: int,
        cancel: threading.Event,
        on_bytes: Callable[[int], None] | None = None,
    ) -> None:
        """Make the hash cover exactly the first ``have`` bytes of the .part on disk."""
        if self.length == have:
            return
        self.digest, self.length = hashlib.sha256(), 0
        if not have:
            return
        with part.open("rb") as handle:
            while self.length < have:
                chunk = handle.read(min(8 * CHUNK, have - self.length))
                if not chunk:
                    break
                if cancel.is_set():
                    raise DownloadCancelled("Download was paused.")
                self.update(chunk)
                if on_bytes is not None:
                    on_bytes(len(chunk))

    def update(self, chunk: bytes | memoryview) -> None:
        self.digest.update(chunk)
        self.length += len(chunk)


class _HashThread:
    """Hashes buffers on a second thread while the next ones are read and written.

    sha256 runs at about the speed of a fast local network: done inline it would halve the
    throughput. hashlib releases the GIL for large buffers, so the hash and the socket reads
    truly overlap. The buffers come back through ``free`` once hashed, so at most BUFFERS of
    them exist and the network can be only that far ahead.
    """

    def __init__(self, running: RunningHash) -> None:
        self.running = running
        self.free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        self.todo: queue.SimpleQueue[tuple[bytearray, int] | None] = queue.SimpleQueue()
        self.made = 0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="download-hash", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (item := self.todo.get()) is not None:
            buffer, length = item
            try:
                if self.error is None:
                    with memoryview(buffer) as view:
                        self.running.update(view[:length])
            except BaseException as exc:  # reported by close(), on the reading thread
                self.error = exc
            self.free.put(buffer)

    def buffer(self) -> bytearray:
        """A free buffer; waits for one to be hashed once BUFFERS exist. Made as needed, not
        up front: zeroing them all would delay the first byte by milliseconds."""
        try:
            return self.free.get_nowait()
        except queue.Empty:
            if self.made < BUFFERS:
                self.made += 1
                return bytearray(BUFFER)
            return self.free.get()

    def hash(self, buffer: bytearray, length: int) -> None:
        """Hash ``buffer[:length]`` (already written to the .part) and then reuse it."""
        self.todo.put((buffer, length))

    def close(self) -> None:
        """Wait until everything handed over is hashed, so the hash covers the whole .part."""
        self.todo.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


def _body_socket(response: httpx.Response) -> socket.socket | None:
    """The socket to read the rest of the body from directly, or None to go through httpx.

    Through httpx each 64 KiB that arrives is copied three more times (into h11's buffer, out
    of it, into bytes) and passes several layers of Python; at local-network speeds that, not
    the network, is the limit.
    The socket is httpcore's documented "network_stream" extension. Only a plain HTTP/1.1 body
    of known length qualifies: no chunked transfer, no content-encoding, and TLS only where
    the socket itself decrypts (not TLS inside a proxy tunnel, done in memory by httpcore).
    """
    headers = response.headers
    stream = response.extensions.get("network_stream")
    if (
        response.http_version != "HTTP/1.1"
        or "Content-Length" not in headers
        or "Transfer-Encoding" in headers
        or headers.get("Content-Encoding", "identity").lower() != "identity"
        or stream is None
    ):
        return None
    sock = stream.get_extra_info("socket")
    if not isinstance(sock, socket.socket):
        return None
    if stream.get_extra_info("ssl_object") is not None and not isinstance(sock, ssl.SSLSocket):
        return None
    return sock


def _write_all(handle: IO[bytes], view: memoryview, remote: RemoteFile) -> None:
    try:
        while view:
            written = handle.write(view[:WRITE])
            view = view[written or 0 :]
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DiskFullError(
                f"The disk filled up while downloading {remote.path}. What was "
                f"downloaded is kept; free some space and resume."
            ) from None
        raise


def _read_socket(
    sock: socket.socket,
    length: int,
    handle: IO[bytes],
    *,
    remote: RemoteFile,
    meter: _Meter,
    cancel: threading.Event,
    hasher: _HashThread,
) -> None:
    """Append up to ``length`` body bytes from ``sock`` to the .part; stop early at EOF (the
    caller sees a short .part and resumes). What arrived is written even when the read fails."""
    remaining = length
    while remaining > 0:
        buffer = hasher.buffer()
        filled = 0
        ended = False
        try:
            with memoryview(buffer) as view:
                want = min(len(buffer), remaining)
                started = time.monotonic()
                try:
                    while filled < want:
                        received = sock.recv_into(view[filled:want])
                        if not received:
                            ended = True
                            break
                        filled += received
                        if cancel.is_set() or time.monotonic() - started > FLUSH_S:
                            break
                except TimeoutError as exc:
                    raise httpx.ReadTimeout(str(exc) or "timed out") from exc
                except OSError as exc:
                    raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
                finally:
                    _write_all(handle, view[:filled], remote)
        finally:
            # Written bytes are always hashed: the hash must keep covering the .part.
            hasher.hash(buffer, filled)
        meter.add(filled)
        remaining -= filled
        if cancel.is_set():
            raise DownloadCancelled(f"Download of {remote.path} was paused.")
        if ended:
            return


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
