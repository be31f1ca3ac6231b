"""What our test servers on 127.0.0.1 share: a threaded HTTP server with a state object, a JSON
reply helper, and start/stop as a context manager."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, TypeVar

State = TypeVar("State")


class StateServer(ThreadingHTTPServer, Generic[State]):
    daemon_threads = True
    state: State
    #: TCP connections accepted: the proof that "nothing was sent" means no connection at all.
    connections = 0

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.connections += 1
        return True


class JsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet tests

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


class LoopbackServer(Generic[State]):
    """``with Server() as s:`` serves on a free port of 127.0.0.1 until the block ends."""

    def __init__(self, handler: type[JsonHandler], state: State, name: str, port: int = 0) -> None:
        self.state = state
        # port 0: a free one. A given port brings a stopped server back at the same address.
        self._server: StateServer[State] = StateServer(("127.0.0.1", port), handler)
        self._server.state = state
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name=name)

    @property
    def connections(self) -> int:
        return self._server.connections

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> LoopbackServer[State]:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
