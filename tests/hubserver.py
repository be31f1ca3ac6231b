"""A small Hugging Face hub of our own on 127.0.0.1, for tests (HF_ENDPOINT points at it).

It serves the routes huggingface_hub and our downloader use:
  GET  /api/models?search=...             list_models
  GET  /api/models/{repo}[/revision/{r}]  model_info (?blobs=true adds sizes and LFS sha256)
  HEAD/GET /{repo}/resolve/{rev}/{path}   file bytes, with Range support
and injects faults on demand, per file: drop the connection after N bytes, fail with a status
once, corrupt one byte, throttle, or gate the repo behind a token (401 + X-Error-Code GatedRepo).
Run with ``python -m tests.hubserver FILE...`` to try it by hand.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.loopback import JsonHandler, LoopbackServer, StateServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class Faults:
    #: Close the connection after sending this many bytes of the body (once per entry).
    drop_after: list[int] = field(default_factory=list)
    #: Answer with these statuses first, one per request, e.g. [500] or [429].
    statuses: list[int] = field(default_factory=list)
    retry_after: int | None = None
    #: Flip the byte at this offset in what is served (the hub's sha256 stays the true one).
    corrupt_at: int | None = None
    #: Bytes per second; None = as fast as possible.
    rate: float | None = None
    #: Ignore Range headers (answer 200 with the whole file).
    ignore_range: bool = False
    #: Answer the next ranged request with a 206 for the wrong bytes (from the start).
    wrong_range_once: bool = False


@dataclass
class HostedFile:
    data: bytes
    sha256: str
    faults: Faults = field(default_factory=Faults)
    #: Body bytes actually sent, all requests together.
    bytes_sent: int = 0
    requests: list[str] = field(default_factory=list)


@dataclass
class HostedRepo:
    files: dict[str, HostedFile] = field(default_factory=dict)
    gated_token: str | None = None
    downloads: int = 100


class HubState:
    def __init__(self) -> None:
        self.repos: dict[str, HostedRepo] = {}
        self.lock = threading.Lock()

    def add(self, repo: str, path: str, data: bytes | Path, **faults: Any) -> HostedFile:
        content = data.read_bytes() if isinstance(data, Path) else data
        hosted = HostedFile(content, hashlib.sha256(content).hexdigest(), Faults(**faults))
        self.repos.setdefault(repo, HostedRepo()).files[path] = hosted
        return hosted

    def file(self, repo: str, path: str) -> HostedFile:
        return self.repos[repo].files[path]


class _Handler(JsonHandler):
    server: StateServer[HubState]

    def _authorized(self, repo: HostedRepo) -> bool:
        if repo.gated_token is None:
            return True
        return self.headers.get("Authorization", "") == f"Bearer {repo.gated_token}"

    def _gated(self, repo_id: str) -> None:
        self.send_json(
            401,
            {"error": f"Access to model {repo_id} is restricted."},
            {"X-Error-Code": "GatedRepo", "X-Error-Message": "gated"},
        )

    def do_GET(self) -> None:
        self._route(head=False)

    def do_HEAD(self) -> None:
        self._route(head=True)

    def _route(self, head: bool) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        state = self.server.state
        if path == "/api/models":
            query = parse_qs(url.query)
            term = query.get("search", [""])[0].lower()
            found = [
                {
                    "id": repo_id,
                    "modelId": repo_id,
                    "downloads": repo.downloads,
                    "likes": 1,
                    "tags": ["gguf"],
                    "gated": repo.gated_token is not None,
                    "private": False,
                }
                for repo_id, repo in sorted(state.repos.items())
                if term in repo_id.lower()
            ]
            return self.send_json(200, found)
        match = re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?", path)
        if match:
            repo_id = match.group(1)
            repo = state.repos.get(repo_id)
            if repo is None:
                return self.send_json(
                    404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}
                )
            if not self._authorized(repo):
                return self._gated(repo_id)
            blobs = "blobs=true" in url.query.lower() or "blobs=True" in url.query
            siblings = []
            for file_path, hosted in sorted(repo.files.items()):
                entry: dict[str, Any] = {"rfilename": file_path}
                if blobs:
                    entry["size"] = len(hosted.data)
                    entry["blobId"] = hosted.sha256[:40]
                    entry["lfs"] = {
                        "sha256": hosted.sha256,
                        "size": len(hosted.data),
                        "pointerSize": 134,
                    }
                siblings.append(entry)
            return self.send_json(
                200,
                {
                    "id": repo_id,
                    "sha": COMMIT,
                    "private": False,
                    "gated": "manual" if repo.gated_token else False,
                    "tags": ["gguf"],
                    "siblings": siblings,
                },
            )
        match = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if match:
            return self._serve_file(match.group(1), match.group(3), head)
        return self.send_json(404, {"error": "not found"})

    def _serve_file(self, repo_id: str, file_path: str, head: bool) -> None:
        state = self.server.state
        repo = state.repos.get(repo_id)
        if repo is None or file_path not in repo.files:
            return self.send_json(
                404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"}
            )
        if not self._authorized(repo):
            return self._gated(repo_id)
        hosted = repo.files[file_path]
        faults = hosted.faults
        with state.lock:
            hosted.requests.append(self.headers.get("Range", ""))
            status = faults.statuses.pop(0) if faults.statuses else None
        if status is not None:
            extra = {"Retry-After": str(faults.retry_after)} if faults.retry_after else {}
            return self.send_json(status, {"error": f"injected {status}"}, extra)
        data = hosted.data
        if faults.corrupt_at is not None:
            data = (
                data[: faults.corrupt_at]
                + bytes([data[faults.corrupt_at] ^ 0xFF])
                + data[faults.corrupt_at + 1 :]
            )
        start = 0
        range_header = self.headers.get("Range")
        if range_header and not faults.ignore_range:
            start = int(re.fullmatch(r"bytes=(\d+)-\d*", range_header).group(1))  # type: ignore[union-attr]
            if faults.wrong_range_once and start > 0:
                faults.wrong_range_once = False
                start = 0
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        # A view, not a copy: slicing a 500 MB bytes would copy it before the first byte goes.
        body = memoryview(data)[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{hosted.sha256}"')
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if head:
            return None
        with state.lock:
            drop = faults.drop_after.pop(0) if faults.drop_after else None
        sent = 0
        # Large sends keep this server's own per-chunk work out of throughput measurements
        # (bench/download.py); small ones keep a throttled rate smooth.
        step = 64 * 1024 if faults.rate else 1024 * 1024
        limit = len(body) if drop is None else min(drop, len(body))
        started = time.monotonic()
        try:
            while sent < limit:
                chunk = body[sent : min(sent + step, limit)]
                self.wfile.write(chunk)
                sent += len(chunk)
                with state.lock:
                    hosted.bytes_sent += len(chunk)
                if faults.rate:
                    ahead = sent / faults.rate - (time.monotonic() - started)
                    if ahead > 0:
                        time.sleep(ahead)
            if drop is not None:
                # Mid-body: the client sees the stream end early.
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
        except (BrokenPipeError, ConnectionResetError):
            return None
        return None


class HubServer(LoopbackServer[HubState]):
    """Start with ``with HubServer() as hub:``; ``hub.url`` is the HF_ENDPOINT to use."""

    def __init__(self) -> None:
        super().__init__(_Handler, HubState(), "hub-server")

    def __enter__(self) -> HubServer:
        super().__enter__()
        return self


if __name__ == "__main__":
    import sys

    with HubServer() as hub:
        for arg in sys.argv[1:]:
            hub.state.add("local/test-GGUF", Path(arg).name, Path(arg))
        print(f"HF_ENDPOINT={hub.url}", flush=True)
        threading.Event().wait()
