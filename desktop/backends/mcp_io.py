"""What passes between an MCP server and the hub besides the protocol: a tool's result as text
for the model (other content named and sized, cut to a cap with a note), a call in flight as a
handle, and a stdio server's stderr kept as its last bytes only, however much it writes.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from desktop.core.parts import TOOL_CANCELLED, TOOL_OK

if TYPE_CHECKING:
    from mcp_types import CallToolResult

#: Set in each stdio server's environment so its process can be found (its pid) among ours.
MARKER_ENV = "LLAMASIDE_MCP_SERVER_ID"
#: Results longer than this (UTF-8 bytes) are cut, with a note: a model's context is finite.
DEFAULT_RESULT_CAP = 256 * 1024
#: The end of a server's stderr that is kept (the rest is read and dropped).
DEFAULT_STDERR_TAIL = 16 * 1024


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    return f"{max(1, round(n / 1024))} KB"


@dataclass(frozen=True)
class ToolOutcome:
    """What a call came to: the text for the model, and whether and how it went wrong."""

    content: str
    is_error: bool
    #: One of core.parts' TOOL_* statuses.
    status: str
    duration_s: float


class StderrTail:
    """A pipe for a server's stderr and a thread that keeps only its last ``limit`` bytes."""

    def __init__(self, limit: int = DEFAULT_STDERR_TAIL) -> None:
        read_fd, write_fd = os.pipe()
        self._read_fd = read_fd
        #: Handed to the SDK as errlog (the child's stderr); our copy is closed once it runs.
        self.writer = os.fdopen(write_fd, "w")
        self._limit = limit
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._lock = threading.Lock()
        #: Set at end of file: the server and every process it started have exited.
        self.closed = threading.Event()
        threading.Thread(target=self._pump, name="mcp-stderr", daemon=True).start()

    def _pump(self) -> None:
        try:
            while data := os.read(self._read_fd, 65536):
                with self._lock:
                    self._chunks.append(data)
                    self._size += len(data)
                    while self._size - len(self._chunks[0]) >= self._limit:
                        self._size -= len(self._chunks.popleft())
        except OSError:
            pass  # the pipe broke: nothing more will come
        finally:
            os.close(self._read_fd)
            self.closed.set()

    def close_writer(self) -> None:
        with contextlib.suppress(OSError):
            self.writer.close()

    def text(self) -> str:
        with self._lock:
            data = b"".join(self._chunks)[-self._limit :]
        return data.decode("utf-8", errors="replace")

    def last_line(self) -> str:
        lines = [line.strip() for line in self.text().splitlines() if line.strip()]
        return lines[-1][:300] if lines else ""


def _summary(block: Any) -> str:
    """One content block as text: text as it is, anything else named and sized."""
    kind = getattr(block, "type", "")
    if kind == "text":
        return str(block.text)
    if kind in ("image", "audio"):
        return f"[{block.mime_type}, {_size(len(block.data) * 3 // 4)}]"
    if kind == "resource_link":
        return f"[link: {block.uri}]"
    if kind == "resource":
        resource = block.resource
        if hasattr(resource, "text"):
            return str(resource.text)
        mime = resource.mime_type or "data"
        return f"[{mime}, {_size(len(resource.blob) * 3 // 4)}: {resource.uri}]"
    return f"[{kind or 'unknown'} content]"


def cut(text: str, cap: int) -> str:
    """``text`` within ``cap`` UTF-8 bytes, with a note saying how much was left out."""
    if len(text) <= cap // 4:  # cannot be over: at most 4 bytes a character
        return text
    data = text.encode("utf-8")
    if len(data) <= cap:
        return text
    kept = data[:cap].decode("utf-8", errors="ignore")
    return (
        f"{kept}\n\n[Cut: the tool answered {_size(len(data))}; the first {_size(cap)} are "
        f"kept and {_size(len(data) - cap)} were left out.]"
    )


def outcome_of(result: CallToolResult, cap: int, duration_s: float) -> ToolOutcome:
    """A tools/call result for the model: text joined, other content summarised, cut to cap."""
    parts = [_summary(block) for block in result.content]
    if not parts and result.structured_content is not None:
        parts = [json.dumps(result.structured_content, ensure_ascii=False)]
    text = cut("\n".join(parts), cap)
    return ToolOutcome(text, bool(result.is_error), TOOL_OK, duration_s)


class ToolCallHandle:
    """One call in flight: ``result`` waits for its outcome, ``cancel`` stops it (Stop)."""

    def __init__(
        self,
        future: concurrent.futures.Future[ToolOutcome] | None = None,
        outcome: ToolOutcome | None = None,
    ) -> None:
        self._future = future
        self._outcome = outcome
        self._started = time.monotonic()
        self._cancelled_after: float | None = None

    def done(self) -> bool:
        return self._future is None or self._future.done()

    def cancel(self) -> None:
        """Cancel the MCP request (the server is told); the outcome becomes cancelled."""
        if self._future is not None and self._future.cancel():
            self._cancelled_after = time.monotonic() - self._started

    def result(self, timeout: float | None = None) -> ToolOutcome:
        """The outcome; raises TimeoutError when it is not there within ``timeout``."""
        if self._outcome is not None or self._future is None:
            assert self._outcome is not None
            return self._outcome
        try:
            return self._future.result(timeout)
        except concurrent.futures.CancelledError:
            took = self._cancelled_after or time.monotonic() - self._started
            return ToolOutcome("The call was stopped.", True, TOOL_CANCELLED, took)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"The tool call did not end within {timeout} s.") from None


def find_pid(marker: str) -> int | None:
    """Our child process started with ``marker`` in its environment."""
    import psutil

    for child in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            if child.environ().get(MARKER_ENV) == marker:
                return int(child.pid)
    return None


def kill_tree(pid: int | None) -> None:
    """Kill a server that would not stop, and whatever it started."""
    if pid is None:
        return
    import psutil

    with contextlib.suppress(psutil.Error):
        process = psutil.Process(pid)
        for child in [*process.children(recursive=True), process]:
            with contextlib.suppress(psutil.Error):
                child.kill()
