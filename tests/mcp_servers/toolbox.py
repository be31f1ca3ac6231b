"""An MCP server for the hub's tests, written with the SDK's ``MCPServer``.

Well-behaved tools (``add``, ``echo``, ``weather``, ``picture``) and misbehaving ones: ``hang``
never answers, ``crash`` exits the process mid-call, ``flood`` writes megabytes to stderr, and
``big`` answers with megabytes of text. ``--stubborn`` makes a program only SIGKILL ends.

    python -m tests.mcp_servers.toolbox                       # stdio
    python -m tests.mcp_servers.toolbox --http --log FILE     # Streamable HTTP on 127.0.0.1

Over HTTP it binds a free port and prints ``PORT <n>`` on stdout once it listens; with ``--log``
it appends one line per HTTP request it receives ("POST /mcp"), so a test can prove that none
arrived.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio
from mcp.server.mcpserver import Image, MCPServer

server = MCPServer("toolbox", log_level="WARNING")

#: A 1x1 PNG, for a result that is not text.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def echo(text: str) -> str:
    """Say the text back."""
    return text


@server.tool()
def weather(city: str) -> str:
    """Today's (made-up) weather in a city."""
    return f"Sunny in {city}, 21 °C"


@server.tool(structured_output=False)
def picture() -> list[Any]:
    """A caption and a tiny PNG."""
    return ["A dot:", Image(data=PNG, format="png")]


@server.tool()
async def hang() -> str:
    """Never answers (until cancelled)."""
    await anyio.sleep(3600)
    return "woke up"


@server.tool()
def crash(code: int = 3) -> str:
    """Say why on stderr, then exit the process mid-call."""
    print("toolbox: crashing on purpose", file=sys.stderr, flush=True)
    os._exit(code)


@server.tool()
def flood(megabytes: int = 5) -> str:
    """Write megabytes of noise to stderr, then answer."""
    line = "noise " * 20 + "\n"
    for _ in range(megabytes * 1024 * 1024 // len(line)):
        sys.stderr.write(line)
    sys.stderr.write("flood: the last line\n")
    sys.stderr.flush()
    return "flooded"


@server.tool(structured_output=False)
def big(megabytes: int = 10) -> str:
    """An answer of this many megabytes of text."""
    return "x" * (megabytes * 1024 * 1024)


ASGIApp = Callable[..., Awaitable[None]]


def _logged(app: ASGIApp, log: str) -> ASGIApp:
    """``app``, appending "METHOD path" to ``log`` for each HTTP request it receives."""

    async def logged(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            with open(log, "a", encoding="utf-8") as file:
                file.write(f"{scope['method']} {scope['path']}\n")
        await app(scope, receive, send)

    return logged


def _serve_http(log: str | None) -> None:
    import uvicorn

    app: ASGIApp = server.streamable_http_app()
    if log:
        app = _logged(app, log)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--http", action="store_true", help="Streamable HTTP instead of stdio")
    parser.add_argument("--log", help="append each HTTP request's method and path here")
    parser.add_argument(
        "--stderr-at-start", type=int, default=0, help="KB to write to stderr first"
    )
    parser.add_argument(
        "--stubborn", action="store_true", help="ignore SIGTERM and stay after stdin closes"
    )
    options = parser.parse_args()
    if options.stubborn:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if options.stderr_at_start:
        sys.stderr.write("startup noise\n" * (options.stderr_at_start * 1024 // 14))
        sys.stderr.flush()
    if options.http:
        _serve_http(options.log)
    else:
        server.run()
    if options.stubborn:
        time.sleep(3600)  # only SIGKILL ends it now


if __name__ == "__main__":
    main()
