"""The local OpenAI-compatible server: ``GET /v1/models`` and ``POST /v1/chat/completions``
(streaming and not, tools included) for the models on this machine, served by Starlette on
uvicorn from one engine child (backends.served_engine), so editors, scripts and agents that
speak the OpenAI API can use them.

Loopback by default. Listening on any other address needs an API key (``check_bind``); with a
key, every request must carry it as ``Authorization: Bearer <key>``, loopback included. Each
request is one line in the served-requests log; nothing of it leaves the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from desktop.backends.openai_wire import (
    ChatRequest,
    Completion,
    StopScanner,
    WireError,
    error_body,
    finish_reason,
    parse_request,
    sse,
    wire_calls,
)
from desktop.backends.serve_policy import DEFAULT_HOST, DEFAULT_PORT, ServerRefused
from desktop.backends.served_engine import LOAD_FAILED, Job, JobQueue, ServedLog, log_entry
from desktop.backends.served_images import ServedImages, has_pictures
from desktop.core import protocol as P
from desktop.core.answer import (
    Answer,
    AnswerEvent,
    Failed,
    Finished,
    TextDelta,
    ToolCallEvent,
)
from desktop.core.errors import ModelNotFound

#: The status logged for a client that went away before its answer ended (nginx's).
CLIENT_GONE = 499


def _error(wire: WireError) -> JSONResponse:
    return JSONResponse(wire.body(), status_code=wire.status)


def _failure(event: Failed) -> WireError:
    """The OpenAI-shaped error for an answer that failed before its first word."""
    if event.overflow is not None:
        return WireError(400, event.message, code="context_length_exceeded", param="messages")
    if event.code == LOAD_FAILED:
        return WireError(500, event.message, type_="server_error", code="model_load_failed")
    if event.code == P.CRASHED:
        return WireError(500, event.message, type_="server_error", code="engine_crashed")
    if event.code in (P.ERROR_BAD_REQUEST, P.ERROR_IMAGE):
        return WireError(400, event.message)
    return WireError(500, event.message, type_="server_error", code="engine_error")


@dataclass
class _Served:
    """What one request's log line says, filled in as it goes."""

    client: str
    path: str
    model: str = ""
    status: int = 200
    stream: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish: str = ""
    #: An error's code, never its message (which may quote the request).
    error: str = ""
    #: The client went away before its answer ended.
    gone: bool = False


@dataclass
class _Exchange:
    """One chat request after its first event: what answering it needs."""

    body: ChatRequest
    completion: Completion
    job: Job
    first: AnswerEvent
    events: AsyncIterator[AnswerEvent]
    record: _Served
    started: float

    async def every(self) -> AsyncIterator[AnswerEvent]:
        """All the answer's events, the first one included."""
        yield self.first
        async for event in self.events:
            yield event


class OpenAIServer:
    """The Starlette app and what it serves from: the engine queue, the key, the log."""

    def __init__(
        self,
        served: JobQueue,
        log: ServedLog,
        api_key: str | None = None,
        images: ServedImages | None = None,
    ) -> None:
        self.served = served
        self.log = log
        #: Where pictures in requests are kept for the engine (None: text only).
        self.images = images
        self._key = api_key or None
        self.app = Starlette(
            routes=[
                Route("/v1/models", self.list_models, methods=["GET"]),
                Route("/v1/models/{model_id:path}", self.get_model, methods=["GET"]),
                Route("/v1/chat/completions", self.chat, methods=["POST"]),
            ],
            # Starlette's own 404, 405 and 500 in OpenAI's shape too: clients parse that.
            exception_handlers={HTTPException: _http_error, Exception: _internal_error},
        )

    def _refused(self, request: Request) -> JSONResponse | None:
        """401 when a key is set and the request does not carry it."""
        if self._key is None:
            return None
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), self._key.encode()
        ):
            return None
        message = (
            "Incorrect API key provided."
            if given
            else "This server needs an API key: send it as 'Authorization: Bearer <key>'."
        )
        return _error(WireError(401, message, code="invalid_api_key"))

    @staticmethod
    def _model_body(model_id: str) -> dict[str, Any]:
        return {"id": model_id, "object": "model", "created": 0, "owned_by": "llamaside"}

    async def list_models(self, request: Request) -> Response:
        started = time.monotonic()
        response = self._refused(request) or JSONResponse(
            {"object": "list", "data": [self._model_body(m.id) for m in self.served.models()]}
        )
        self._write_plain(request, response, started)
        return response

    async def get_model(self, request: Request) -> Response:
        started = time.monotonic()
        response: Response | None = self._refused(request)
        ref = request.path_params["model_id"]
        if response is None:
            try:
                ref = self.served.find(ref).id
                response = JSONResponse(self._model_body(ref))
            except ModelNotFound as exc:
                response = _error(WireError(404, str(exc), code="model_not_found", param="model"))
        self._write_plain(request, response, started, ref)
        return response

    def _write_plain(
        self, request: Request, response: Response, started: float, model: str = ""
    ) -> None:
        """The log line of a request that asked no model to answer."""
        record = _Served(_client(request), request.url.path, model=model)
        record.status = response.status_code
        if response.status_code >= 400:
            record.error = _code_of(response)
        self._write(record, started)

    async def chat(self, request: Request) -> Response:
        started = time.monotonic()
        record = _Served(_client(request), request.url.path)
        response: Response | None = self._refused(request)
        if response is None:
            try:
                response = await self._chat(request, record, started)
            except WireError as wire:
                response = _error(wire)
        if not isinstance(response, StreamingResponse):
            record.status = CLIENT_GONE if record.gone else response.status_code
            if response.status_code >= 400 and not record.error:
                record.error = _code_of(response)
            self._write(record, started)
        return response

    def _write(self, record: _Served, started: float) -> None:
        self.log.write(
            log_entry(
                client=record.client,
                path=record.path,
                model=record.model,
                status=record.status,
                started=started,
                prompt_tokens=record.prompt_tokens,
                completion_tokens=record.completion_tokens,
                stream=record.stream,
                finish=record.finish,
                error=record.error,
            )
        )

    async def _chat(self, request: Request, record: _Served, started: float) -> Response:
        body = parse_request(await request.body(), self.served.defaults)
        record.model, record.stream = body.model, body.stream
        try:
            model = self.served.find(body.model)
        except ModelNotFound as exc:
            raise WireError(404, str(exc), code="model_not_found", param="model") from None
        record.model = model.id
        messages = body.messages
        if has_pictures(messages):
            if self.images is None:
                raise WireError(400, "This server takes text only.", param="messages")
            # Pillow's work (decode, orient, scale, encode) stays off the event loop.
            messages = await asyncio.to_thread(self.images.store, messages, model)
        job = Job(model, messages, body.sampling, body.tools, body.tool_choice)
        self.served.submit(job)
        events = job.events()
        # Until the first event the client may still be queued: a client that leaves then
        # takes its job out of the queue.
        watcher = asyncio.ensure_future(_cancel_when_gone(request, job, record))
        try:
            first = await anext(events)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        if isinstance(first, Failed):
            raise _failure(first)
        exchange = _Exchange(body, Completion(model.id), job, first, events, record, started)
        if body.stream:
            return _EventStream(
                self._stream(exchange),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        watcher = asyncio.ensure_future(_cancel_when_gone(request, job, record))
        try:
            return await self._whole(exchange)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def _whole(self, x: _Exchange) -> Response:
        """The whole answer as one completion object."""
        answer, scanner, record, job = Answer(), StopScanner(x.body.stop), x.record, x.job
        text: list[str] = []
        async for event in x.every():
            answer.add(event)
            if isinstance(event, TextDelta):
                text.append(scanner.feed(event.text))
                if scanner.hit:
                    job.cancel()  # the answer ends at the stop string: free the engine
        text.append(scanner.flush())
        record.prompt_tokens = answer.usage.prompt_tokens
        record.completion_tokens = answer.usage.output_tokens
        if answer.error is not None and not answer.pieces:
            raise _failure(Failed(answer.error, answer.overflow, answer.code))
        if answer.error is not None:
            record.error = "engine_error"  # failed midway: what came is answered
        result = x.completion.whole(answer, "".join(text), scanner.hit)
        record.finish = result["choices"][0]["finish_reason"]
        return JSONResponse(result)

    async def _stream(self, x: _Exchange) -> AsyncIterator[bytes]:
        """The answer as server-sent events. Starlette cancels this when the client goes; the
        ``finally`` then stops the engine and logs the request as 499."""
        answer, scanner, record, job = Answer(), StopScanner(x.body.stop), x.record, x.job
        completion, usage_field = x.completion, x.body.include_usage
        ended = False
        try:
            yield sse(
                completion.chunk({"role": "assistant", "content": ""}, with_usage=usage_field)
            )
            calls = 0
            async for event in x.every():
                answer.add(event)
                if isinstance(event, TextDelta):
                    shown = scanner.feed(event.text)
                    if shown:
                        yield sse(completion.chunk({"content": shown}, with_usage=usage_field))
                    if scanner.hit:
                        job.cancel()
                elif isinstance(event, ToolCallEvent):
                    call = wire_calls([event.call], with_index=True)[0]
                    call["index"] = calls
                    calls += 1
                    yield sse(completion.chunk({"tool_calls": [call]}, with_usage=usage_field))
                elif isinstance(event, Finished | Failed):
                    ended = True
            rest = scanner.flush()
            if rest:
                yield sse(completion.chunk({"content": rest}, with_usage=usage_field))
            if answer.error is not None:
                record.error = "engine_error"
                # Mid-stream: the status is sent; OpenAI's servers send an error event so.
                yield sse(error_body(answer.error, "server_error", "engine_error"))
            reason = finish_reason(answer.usage, scanner.hit, bool(answer.calls))
            record.finish = reason
            yield sse(completion.chunk({}, reason, with_usage=usage_field))
            if usage_field:
                yield sse(completion.usage_chunk(answer.usage))
            yield sse("[DONE]")
        finally:
            if not ended:  # Starlette cancelled us: the client went away
                job.cancel()
                record.status = CLIENT_GONE
                record.finish = "cancelled"
            record.prompt_tokens = answer.usage.prompt_tokens
            record.completion_tokens = answer.usage.output_tokens or len(answer.pieces)
            self._write(record, x.started)


class _EventStream(StreamingResponse):
    """A StreamingResponse that closes its generator when it ends, however it ends: cancelled
    on a disconnect, the generator may be left at a ``yield``, and its ``finally`` (stop the
    engine, log the request) must run now, not when it is collected."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            closer = getattr(self.body_iterator, "aclose", None)
            if closer is not None:
                await closer()


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = f"{request.method} {request.url.path}: " + (
        exc.detail if isinstance(exc, HTTPException) else "failed"
    )
    if status == 404:
        message += ". This server has GET /v1/models and POST /v1/chat/completions."
    kind = "invalid_request_error" if status < 500 else "server_error"
    return _error(WireError(status, message, type_=kind))


async def _internal_error(_request: Request, exc: Exception) -> Response:
    return _error(
        WireError(500, f"Internal error: {type(exc).__name__}: {exc}", type_="server_error")
    )


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


def _code_of(response: Response) -> str:
    """The error code of an error response, for the log."""
    try:
        body = json.loads(bytes(response.body))
        error = body.get("error") or {}
        return str(error.get("code") or error.get("type") or "")
    except (ValueError, AttributeError):
        return ""


async def _cancel_when_gone(request: Request, job: Job, record: _Served) -> None:
    """Cancel the job when the client disconnects (runs until cancelled itself)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            record.gone = True
            job.cancel()
            return


class BackgroundServer:
    """The server on a thread of its own (the window's switch, tests): ``start`` returns once
    it listens, ``port`` is the port it got (0 asks the system for a free one)."""

    def __init__(self, app: Any, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=3,  # a stream still going at stop is cut after this
        )
        self.server = uvicorn.Server(config)
        self.host = host
        self._thread = threading.Thread(target=self.server.run, name="openai-server", daemon=True)

    @property
    def port(self) -> int:
        for server in self.server.servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        raise RuntimeError("the server is not listening")

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive():
                raise ServerRefused(f"The server could not listen on {self.host}.")
            if time.monotonic() > deadline:
                raise ServerRefused("The server did not start in time.")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)
