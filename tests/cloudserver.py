"""Servers of ours on 127.0.0.1 that speak OpenAI's Chat Completions SSE and Anthropic's
Messages SSE as documented, so the real SDKs can be tested through base_url.

    POST /v1/chat/completions   (stream: data: {chunk}\\n\\n ... data: [DONE])
    POST /v1/messages           (event: message_start / content_block_delta / message_delta ...)
    GET  /v1/models             (both APIs' list shapes)

Tool calls on demand (``tool_steps``): a request is answered with the next step's calls,
streamed as each API documents them (OpenAI: ``delta.tool_calls`` fragments by index, the
first with id, type and name, then pieces of the arguments, finish_reason "tool_calls";
Anthropic: a ``tool_use`` block with empty input, ``input_json_delta`` pieces, the block's
stop, stop_reason "tool_use"); once the steps run out, with text.

Faults on demand: a status with an error body (optionally with retry-after, once), a stream cut
after N pieces (a clean close, or a TCP reset), a malformed event, a pause between pieces, a
stall before answering or after N pieces, an endless stream, a 200 with an empty body, one
huge event. Every request's headers and body are recorded.

``refuse_dns`` makes names under .invalid fail to resolve (or resolve to 127.0.0.1 on demand)
without a packet sent.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.loopback import JsonHandler, LoopbackServer, StateServer

if TYPE_CHECKING:  # the benchmarks use these servers without pytest
    import pytest


@dataclass
class ScriptedCall:
    """One tool call a server streams: its id, its name and its arguments in pieces (joined,
    they need not be valid JSON: a model may write broken arguments)."""

    call_id: str
    name: str
    pieces: list[str] = field(default_factory=lambda: ["{}"])


@dataclass
class CloudState:
    reply: list[str] = field(default_factory=lambda: ["Hello", " from", " the", " cloud", "."])
    models: list[str] = field(default_factory=lambda: ["gpt-4o", "gpt-4o-mini"])
    #: Answer the next requests with these statuses (one each).
    statuses: list[int] = field(default_factory=list)
    retry_after: str | None = None
    #: Close the connection after this many text pieces.
    cut_after: int | None = None
    #: Reset the connection (TCP RST, as a crashed proxy or a dropped NAT entry does) after
    #: this many text pieces; if ``reset_when`` is given, only once it is set (the test waits
    #: until the client has shown the pieces: a reset may discard bytes not yet read).
    reset_after: int | None = None
    reset_when: threading.Event | None = None
    malformed: bool = False
    #: Seconds between pieces (a slow model), and before the headers (a server that hangs).
    delay_s: float = 0.0
    stall_s: float = 0.0
    #: After this many pieces, send nothing for hang_s seconds (a server stuck mid-answer).
    hang_after: int | None = None
    hang_s: float = 0.0
    #: Send pieces until the client goes away.
    endless: bool = False
    #: Answer 200 with an event-stream content type and no events at all.
    empty_body: bool = False
    #: Make the first piece this many bytes long (one huge event).
    huge_piece: int = 0
    #: Anthropic only: after this many pieces, an `event: error` (overloaded) mid-stream.
    error_event_after: int | None = None
    #: OpenAI: answer as OpenAI's reasoning models do: a 400 with OpenAI's own error body for
    #: max_tokens, or a temperature/top_p other than 1; reasoning tokens in the usage.
    reasoning_model: bool = False
    reasoning_tokens: int = 0
    #: OpenAI-compatible servers' shown thinking (delta.reasoning_content), before the answer.
    reasoning_content: list[str] = field(default_factory=list)
    #: Anthropic: thinking pieces streamed in a thinking block when the request asks for it.
    thinking: list[str] = field(default_factory=list)
    #: Each request takes the first step: the calls it answers with (after ``reply``'s text;
    #: set ``reply`` to [] for a step of calls alone). No steps left: text only, as before.
    tool_steps: list[list[ScriptedCall]] = field(default_factory=list)
    #: OpenAI: the finish_reason of a step with calls (some hosts say "stop").
    tool_finish: str = "tool_calls"
    #: Close the connection after the first piece of the first call's arguments.
    cut_in_call: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)

    def bodies(self, path: str = "") -> list[dict[str, Any]]:
        """The JSON bodies of the POST requests made so far (to ``path`` if given)."""
        return [r["body"] for r in self.requests if r["body"] and r["path"].endswith(path)]


class _Handler(JsonHandler):
    server: StateServer[CloudState]

    def _record(self, body: dict[str, Any]) -> None:
        self.server.state.requests.append(
            {"path": self.path, "headers": dict(self.headers), "body": body}
        )

    def do_GET(self) -> None:
        state = self.server.state
        self._record({})
        if self.path.startswith("/v1/models"):
            data = [
                {
                    "id": m,
                    "object": "model",
                    "created": 0,
                    "owned_by": "test",
                    "type": "model",
                    "display_name": m,
                    "created_at": "2026-01-01T00:00:00Z",
                }
                for m in state.models
            ]
            return self.send_json(
                200,
                {
                    "object": "list",
                    "data": data,
                    "has_more": False,
                    "first_id": None,
                    "last_id": None,
                },
            )
        return self.send_json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        self._record(body)
        anthropic = self.path.startswith("/v1/messages")
        if state.stall_s:
            time.sleep(state.stall_s)
        if state.statuses:
            status = state.statuses.pop(0)
            extra = {"retry-after": state.retry_after} if state.retry_after else {}
            if anthropic:
                kind = {
                    401: "authentication_error",
                    429: "rate_limit_error",
                    529: "overloaded_error",
                }.get(status, "api_error")
                return self.send_json(
                    status,
                    {"type": "error", "error": {"type": kind, "message": f"injected {status}"}},
                    extra,
                )
            return self.send_json(
                status,
                {
                    "error": {
                        "message": f"injected {status}",
                        "type": "invalid_request_error",
                        "code": str(status),
                    }
                },
                extra,
            )
        if not anthropic and state.reasoning_model:
            refusal = _reasoning_refusal(body)
            if refusal is not None:
                return self.send_json(400, {"error": refusal})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if state.empty_body:
            return None

        try:
            if anthropic:
                self._anthropic_stream(body)
            else:
                self._openai_stream(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _event(self, data: str, event: str | None = None) -> None:
        prefix = f"event: {event}\n" if event else ""
        self.wfile.write(f"{prefix}data: {data}\n\n".encode())
        self.wfile.flush()

    def _pieces(self, max_tokens: int) -> list[str]:
        state = self.server.state
        pieces = state.reply[:max_tokens]
        if state.huge_piece and pieces:
            pieces = ["x" * state.huge_piece, *pieces[1:]]
        return pieces

    def _each(self, pieces: list[str]) -> Any:
        """The pieces to send, paced; endless repeats them until the client disconnects."""
        state = self.server.state
        index = 0
        while True:
            for piece in pieces:
                if state.delay_s:
                    time.sleep(state.delay_s)
                if index == state.hang_after:
                    time.sleep(state.hang_s)
                yield index, piece
                index += 1
            if not state.endless:
                return

    def _cut(self, index: int) -> bool:
        """Whether to end the stream before piece ``index``: closed cleanly, or reset."""
        state = self.server.state
        if state.reset_after is not None and index >= state.reset_after:
            if state.reset_when is not None:
                state.reset_when.wait(30)
            # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return True
        cut = state.cut_after
        if cut is not None and index >= cut:
            self.connection.shutdown(2)
            return True
        return False

    def _openai_stream(self, body: dict[str, Any]) -> None:
        state = self.server.state
        base = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": body.get("model", ""),
        }
        limit = body.get("max_completion_tokens") or body.get("max_tokens") or 1000
        pieces = self._pieces(int(limit))
        calls = state.tool_steps.pop(0) if state.tool_steps else []
        for thought in state.reasoning_content:
            delta = {"role": "assistant", "content": None, "reasoning_content": thought}
            self._event(
                json.dumps(
                    {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                )
            )
        for i, piece in self._each(pieces):
            if self._cut(i):
                return
            if state.malformed and i == 2:
                self._event('{"id": "chatcmpl-1", "choices": [{"delta": {"content": ')
                self.connection.shutdown(2)
                return
            delta = {"content": piece, **({"role": "assistant"} if i == 0 else {})}
            self._event(
                json.dumps(
                    {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                )
            )
        for index, call in enumerate(calls):
            for n, delta in enumerate(
                _openai_call_deltas(index, call, first=not (index or pieces))
            ):
                if state.cut_in_call and n == 2:
                    self.connection.shutdown(2)
                    return
                choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
                self._event(json.dumps({**base, "choices": [choice]}))
        finish = "length" if len(pieces) < len(state.reply) else "stop"
        if calls:
            finish = state.tool_finish
        self._event(
            json.dumps({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        )
        if (body.get("stream_options") or {}).get("include_usage"):
            self._event(
                json.dumps(
                    {
                        **base,
                        "choices": [],
                        "usage": {
                            "prompt_tokens": 11,
                            "completion_tokens": len(pieces)
                            + state.reasoning_tokens
                            + 7 * len(calls),
                            "total_tokens": 11
                            + len(pieces)
                            + state.reasoning_tokens
                            + 7 * len(calls),
                            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                            "completion_tokens_details": {
                                "reasoning_tokens": state.reasoning_tokens,
                                "audio_tokens": 0,
                            },
                        },
                    }
                )
            )
        self._event("[DONE]")

    def _anthropic_stream(self, body: dict[str, Any]) -> None:
        state = self.server.state
        pieces = self._pieces(int(body.get("max_tokens") or 1000))
        calls = state.tool_steps.pop(0) if state.tool_steps else []
        self._event(
            json.dumps(
                {
                    "type": "message_start",
                    "message": {
                        "id": "msg_1",
                        "type": "message",
                        "role": "assistant",
                        "content": [],
                        "model": body.get("model", ""),
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {"input_tokens": 13, "output_tokens": 1},
                    },
                }
            ),
            "message_start",
        )
        text_index = 0
        if body.get("thinking", {}).get("type") == "enabled" and state.thinking:
            text_index = 1
            self._block(0, {"type": "thinking", "thinking": "", "signature": ""})
            for thought in state.thinking:
                self._delta(0, {"type": "thinking_delta", "thinking": thought})
            self._delta(0, {"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA"})
            self._event(
                json.dumps({"type": "content_block_stop", "index": 0}), "content_block_stop"
            )
        if pieces or not calls:
            if not self._anthropic_text(text_index, pieces):
                return  # cut, broken or failed as the state asked
            text_index += 1
        for index, call in enumerate(calls, start=text_index):
            self._block(
                index, {"type": "tool_use", "id": call.call_id, "name": call.name, "input": {}}
            )
            for n, piece in enumerate(["", *call.pieces]):  # the first partial_json is empty
                if state.cut_in_call and n == 2:
                    self.connection.shutdown(2)
                    return
                self._delta(index, {"type": "input_json_delta", "partial_json": piece})
            self._event(
                json.dumps({"type": "content_block_stop", "index": index}), "content_block_stop"
            )
        stop = "max_tokens" if len(pieces) < len(state.reply) else "end_turn"
        if calls:
            stop = "tool_use"
        self._event(
            json.dumps(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": len(pieces) + 7 * len(calls)},
                }
            ),
            "message_delta",
        )
        self._event(json.dumps({"type": "message_stop"}), "message_stop")

    def _anthropic_text(self, text_index: int, pieces: list[str]) -> bool:
        """The text block (its pieces paced, cut, broken or failed as the state asks); False
        when the stream ended in it."""
        state = self.server.state
        self._block(text_index, {"type": "text", "text": ""})
        for i, piece in self._each(pieces):
            if self._cut(i):
                return False
            if state.error_event_after is not None and i == state.error_event_after:
                error = {"type": "overloaded_error", "message": "Overloaded"}
                self._event(json.dumps({"type": "error", "error": error}), "error")
                return False
            if state.malformed and i == 2:
                self._event(
                    '{"type": "content_block_delta", "index": 0, "delta": {', "content_block_delta"
                )
                self.connection.shutdown(2)
                return False
            self._delta(text_index, {"type": "text_delta", "text": piece})
        self._event(
            json.dumps({"type": "content_block_stop", "index": text_index}), "content_block_stop"
        )
        return True

    def _block(self, index: int, block: dict[str, Any]) -> None:
        start = {"type": "content_block_start", "index": index, "content_block": block}
        self._event(json.dumps(start), "content_block_start")

    def _delta(self, index: int, delta: dict[str, Any]) -> None:
        event = {"type": "content_block_delta", "index": index, "delta": delta}
        self._event(json.dumps(event), "content_block_delta")


def _openai_call_deltas(index: int, call: ScriptedCall, *, first: bool) -> list[dict[str, Any]]:
    """One call's deltas as OpenAI streams them: the call's index, id, type and name with empty
    arguments, then the arguments in pieces (the first delta of the message has the role)."""
    opening: dict[str, Any] = {
        "index": index,
        "id": call.call_id,
        "type": "function",
        "function": {"name": call.name, "arguments": ""},
    }
    head = {"role": "assistant", "content": None} if first else {}
    deltas: list[dict[str, Any]] = [{**head, "tool_calls": [opening]}]
    deltas += [
        {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
        for piece in call.pieces
    ]
    return deltas


def _reasoning_refusal(body: dict[str, Any]) -> dict[str, Any] | None:
    """What OpenAI answers a reasoning model's request that it does not take (its own words
    and fields, as its API sends them)."""
    if "max_tokens" in body:
        return {
            "message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            "type": "invalid_request_error",
            "param": "max_tokens",
            "code": "unsupported_parameter",
        }
    for name in ("temperature", "top_p"):
        if name in body and body[name] != 1:
            return {
                "message": f"Unsupported value: '{name}' does not support {body[name]} with this "
                "model. Only the default (1) value is supported.",
                "type": "invalid_request_error",
                "param": name,
                "code": "unsupported_value",
            }
    return None


class CloudServer(LoopbackServer[CloudState]):
    def __init__(self, port: int = 0) -> None:
        super().__init__(_Handler, CloudState(), "cloud-server", port)

    @property
    def base_url(self) -> str:
        return self.url

    def __enter__(self) -> CloudServer:
        super().__enter__()
        return self


def refuse_dns(monkeypatch: pytest.MonkeyPatch) -> Callable[[bool], None]:
    """A resolver that knows no *.invalid name: the DNS failure without a packet sent.

    Returns a switch: ``switch(True)`` makes every *.invalid name resolve to 127.0.0.1 (the
    name server is back), ``switch(False)`` fails them again."""
    real = socket.getaddrinfo
    up = [False]

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".invalid"):
            if up[0]:
                return real("127.0.0.1", *args, **kwargs)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    def switch(resolves: bool) -> None:
        up[0] = resolves

    return switch
