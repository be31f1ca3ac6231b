"""The engine child process: reads protocol requests on stdin, writes events on a private pipe.

Start it with ``python -m desktop.engine`` (or the frozen app with ``--engine``). It lives as long
as its stdin is open: if the host dies, the child exits too, so no orphan keeps gigabytes of
model weights in memory.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
import traceback
from typing import IO, Any

from desktop.core import protocol as P
from desktop.core.adapters import adapters_from_json
from desktop.core.errors import (
    ContextOverflow,
    ImageInputError,
    InvalidParameter,
    ModelLoadError,
    TemplateError,
)
from desktop.core.params import LoadParams, SamplingParams
from desktop.core.parts import part_to_json
from desktop.core.tools import ToolChoice, ToolSpec
from desktop.core.vision import wire_images, wire_text

#: After a shutdown request (or the host going away), how long the current request may take to
#: end by itself before the process exits regardless.
SHUTDOWN_GRACE_S = 0.5


class EventWriter:
    """Writes protocol events to the channel; safe to call from any thread."""

    def __init__(self, channel: IO[bytes]) -> None:
        self._channel = channel
        self._lock = threading.Lock()

    def send(self, event: str, request_id: int | None = None, **fields: Any) -> None:
        message: dict[str, Any] = {"ev": event}
        if request_id is not None:
            message["id"] = request_id
        message.update(fields)
        data = P.encode(message)
        with self._lock:
            self._channel.write(data)
            self._channel.flush()


def _take_protocol_channel() -> IO[bytes]:
    """Move the protocol off fd 1 before llama.cpp is imported.

    Native code (llama.cpp, ggml backends) may printf to stdout; if that landed in the protocol
    pipe it would corrupt it. We keep a private duplicate of the pipe for events and point fd 1
    at stderr, where stray output is harmless.
    """
    channel_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(channel_fd, "wb", buffering=0)


class Engine:
    """Request loop. Cancel requests are handled on the reader thread so they take effect while
    the main thread is inside a generation."""

    def __init__(self, writer: EventWriter) -> None:
        self._writer = writer
        self._requests: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._cancelled: set[int] = set()
        #: Set when a shutdown arrives or stdin closes: every request counts as cancelled.
        self._stopping = threading.Event()
        #: Set while the main thread waits for a request (not inside llama.cpp).
        self._idle = threading.Event()
        # Imported here, after the protocol channel is safe from native output.
        from desktop.engine.llama_setup import (
            LogCapture,
            ProgressThrottle,
            backend_name,
            build_problem,
            gpu_offload_supported,
            system_info,
        )
        from desktop.engine.runner import Runner

        #: Why this llama-cpp-python cannot run the engine ("" when it can): every load says it.
        self._problem = build_problem()

        self._log = LogCapture(echo=bool(os.environ.get("LLAMASIDE_ENGINE_LOG")))
        self._runner = Runner(self._log)
        #: Load progress goes to the host a few times a second (llama.cpp reports per tensor).
        self._throttle = ProgressThrottle
        import llama_cpp

        writer.send(
            P.EV_HELLO,
            pid=os.getpid(),
            llama_cpp_version=getattr(llama_cpp, "__version__", "unknown"),
            gpu_offload=gpu_offload_supported(),
            backend=backend_name() if gpu_offload_supported() else "CPU",
            system_info=system_info(),
            problem=self._problem,
        )

    def read_requests(self, stdin: IO[bytes]) -> None:
        for line in stdin:
            if not line.strip():
                continue
            try:
                request = P.decode(line)
            except ValueError as exc:
                self._writer.send(P.EV_ERROR, code=P.ERROR_BAD_REQUEST, message=str(exc))
                continue
            op = request.get("op")
            if op == P.OP_CANCEL:
                self._cancelled.add(int(request.get("target", -1)))
            elif op == P.OP_SHUTDOWN:
                break
            else:
                self._requests.put(request)
        # Shutdown, or the host closed our stdin (it exited or crashed). Either way, end now:
        # not after a queued generation or a multi-GB load that nobody is waiting for.
        self._stopping.set()
        self._requests.put(None)
        if not self._idle.wait(SHUTDOWN_GRACE_S):
            # Stuck in native code (a load, or a long prompt on a backend that does not poll
            # the abort callback): the process ending is what frees the memory anyway.
            sys.stderr.flush()
            os._exit(0)

    def serve(self) -> int:
        while True:
            self._idle.set()
            request = self._requests.get()
            if request is None or self._stopping.is_set():
                self._runner.unload()
                return 0
            self._idle.clear()
            self._handle(request)

    def _handle(self, request: dict[str, Any]) -> None:
        op = request.get("op")
        rid = int(request.get("id", -1))
        try:
            if op == P.OP_LOAD and self._problem:
                self._writer.send(P.EV_ERROR, rid, code=P.ERROR_ENGINE_BUILD, message=self._problem)
            elif op == P.OP_LOAD:
                self._load(rid, request)
            elif op == P.OP_GENERATE:
                self._generate(rid, request)
            else:
                self._writer.send(
                    P.EV_ERROR, rid, code=P.ERROR_BAD_REQUEST, message=f"unknown request {op!r}"
                )
        except ModelLoadError as exc:
            self._writer.send(P.EV_ERROR, rid, code=P.ERROR_LOAD_FAILED, message=str(exc))
        except ContextOverflow as exc:
            self._writer.send(
                P.EV_ERROR,
                rid,
                code=P.ERROR_CONTEXT_OVERFLOW,
                message=str(exc),
                n_tokens=exc.n_tokens,
                limit=exc.limit,
                conversation=exc.conversation,
            )
        except (InvalidParameter, TemplateError) as exc:
            self._writer.send(P.EV_ERROR, rid, code=P.ERROR_BAD_REQUEST, message=str(exc))
        except ImageInputError as exc:
            self._writer.send(P.EV_ERROR, rid, code=P.ERROR_IMAGE, message=str(exc))
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            self._writer.send(
                P.EV_ERROR, rid, code=P.ERROR_GENERATION, message=f"{type(exc).__name__}: {exc}"
            )
        finally:
            self._cancelled.discard(rid)

    def _load(self, rid: int, request: dict[str, Any]) -> None:
        params = LoadParams.from_dict(request.get("load", {}))
        started = time.perf_counter()
        progress = self._throttle(
            lambda fraction: self._writer.send(P.EV_LOAD_PROGRESS, rid, progress=fraction)
        )
        info = self._runner.load(str(request["path"]), params, progress)
        self._writer.send(
            P.EV_LOADED, rid, model=info.to_dict(), load_s=round(time.perf_counter() - started, 4)
        )

    def _generate(self, rid: int, request: dict[str, Any]) -> None:
        if not self._runner.loaded:
            self._writer.send(
                P.EV_ERROR, rid, code=P.ERROR_NOT_LOADED, message="No model is loaded."
            )
            return
        sampling = SamplingParams.from_dict(request.get("sampling", {}))
        messages = [_message(m) for m in request.get("messages", [])]
        tools = [ToolSpec.from_dict(t) for t in request.get("tools", [])]
        usage = self._runner.generate(
            messages,
            sampling,
            is_cancelled=lambda: rid in self._cancelled or self._stopping.is_set(),
            on_started=lambda n: self._writer.send(P.EV_STARTED, rid, prompt_tokens=n),
            on_text=lambda text, n: self._writer.send(P.EV_DELTA, rid, text=text, n=n),
            on_thought=lambda text, n: self._writer.send(P.EV_THOUGHT, rid, text=text, n=n),
            tools=tools,
            tool_choice=ToolChoice.from_dict(request.get("tool_choice")),
            on_call=lambda call: self._writer.send(P.EV_TOOL_CALL, rid, call=part_to_json(call)),
            adapters=adapters_from_json(request.get("adapters")),
        )
        self._writer.send(P.EV_DONE, rid, usage=usage.to_dict())


def _message(data: Any) -> dict[str, Any]:
    """One chat message as the template is given it: role and text content (with its
    pictures, where it has some), plus an answer's tool calls or a tool result's call id."""
    if not isinstance(data, dict) or "role" not in data:
        raise InvalidParameter(f"A message must be an object with a role, not {data!r:.80}.")
    content = data.get("content") or ""
    images = wire_images(content)
    # A message with pictures keeps its list (pictures, then text); Runner turns it into
    # llama.cpp's media markers. Anything else is text.
    text = wire_text(content) if isinstance(content, list) else str(content)
    if images:
        for item in images:
            if not isinstance(item.get("path"), str):
                raise InvalidParameter("An image in a message must name its file (path).")
        content = [*images, {"type": "text", "text": text}]
    message: dict[str, Any] = {"role": str(data["role"]), "content": content if images else text}
    for key in ("tool_calls", "tool_call_id", "name"):
        if key in data:
            message[key] = data[key]
    return message


def main() -> int:
    channel = _take_protocol_channel()
    writer = EventWriter(channel)
    engine = Engine(writer)
    reader = threading.Thread(
        target=engine.read_requests, args=(sys.stdin.buffer,), name="engine-stdin", daemon=True
    )
    reader.start()
    code = engine.serve()
    channel.close()
    # os._exit skips interpreter teardown, where llama.cpp's static destructors have been seen
    # to crash after the model is freed; the exit code must stay honest.
    sys.stderr.flush()
    os._exit(code)
