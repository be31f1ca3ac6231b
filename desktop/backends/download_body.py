"""Moving one response body into the .part fast, hashing it as it goes, and the progress that
makes (downloader runs the attempts around it).

On a fast link the client's CPU is the limit. The body is read from the socket into a few reused
1 MiB buffers (not through httpx's 64 KiB, multi-copy iterator) and hashed on a second thread
while the next buffer arrives, so with a core free for the hash a download runs at close to the
speed of sha256 itself.
"""

from __future__ import annotations

import errno
import hashlib
import queue
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

from desktop.backends.download_errors import DiskFullError, DownloadCancelled
from desktop.core.hub_files import RemoteFile

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
