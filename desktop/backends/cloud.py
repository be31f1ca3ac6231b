"""Cloud chat providers through their official SDKs: OpenAI (and OpenAI-compatible endpoints)
and Anthropic. Each streams like the local engine: text pieces, then usage and a stop reason.

No Qt here. Keys are passed in by the caller (from the keyring); they are never logged, and
error messages never include them. Every provider's base URL can be set: that is how users reach
Together, Groq, Fireworks or their own server, and how the tests reach servers on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import functools
import math
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any

from desktop.backends.network import Network, Offline, Outbound
from desktop.core.answer import (
    Answer,
    AnswerEvent,
    Failed,
    Finished,
    Prompt,
    ReasoningDelta,
    TextDelta,
)
from desktop.core.cloud_params import anthropic_request, openai_request, refused_parameter
from desktop.core.errors import LlamasideError
from desktop.core.params import SamplingParams
from desktop.core.usage import StopReason, Usage

#: One automatic retry after a rate limit, if the server asks to wait at most this long.
MAX_RETRY_AFTER_S = 20.0
#: Seconds to wait for a connection, or for the next bytes of an answer.
DEFAULT_TIMEOUT_S = 60.0


def _field(event: object, name: str) -> Any:
    """``event[name]`` as a dict for nested objects ({} when absent or null). A server that
    sends something other than JSON objects sent a malformed stream (ValueError, named so)."""
    if not isinstance(event, dict):
        raise ValueError(f"expected a JSON object, got {str(event)[:80]!r}")
    value = event.get(name)
    if name in _OBJECTS:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError(f"expected a JSON object for {name!r}, got {str(value)[:80]!r}")
    return value


#: Fields that hold JSON objects: absent reads as {} so lookups inside them need no checks.
_OBJECTS = frozenset({"usage", "delta", "message"})


def _first(items: object) -> dict[str, Any]:
    if not isinstance(items, list) or not isinstance(items[0], dict):
        raise ValueError(f"expected a list of JSON objects, got {str(items)[:80]!r}")
    return items[0]


def _count(usage: object, name: str) -> int:
    value = usage.get(name) if isinstance(usage, dict) else None
    return value if isinstance(value, int) else 0


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One TLS context for every provider client of this process.

    Building one loads the CA bundle, and the SDKs would build one per client, i.e. per answer
    and per column: in a comparison, CPU taken from the local model beside them. It is what
    the SDKs' HTTP client (httpx2) would build (SSL_CERT_FILE and SSL_CERT_DIR as they are when
    the first client opens); an SSLContext may be shared between threads.
    """
    import httpx2

    return httpx2.create_ssl_context()


class CloudError(LlamasideError):
    """A provider failed; ``partial`` is the text that had arrived, kept by the caller."""

    def __init__(self, message: str, partial: str = "", refused: str | None = None) -> None:
        super().__init__(message)
        self.partial = partial
        #: A request parameter the model said it does not support (a 400), if one we can drop.
        self.refused = refused


def _describe_status(provider: str, status: int) -> str:
    return {
        400: f"{provider} refused the request as invalid (400).",
        401: f"{provider} rejected the API key (401). Check the key in Settings → Providers.",
        403: f"{provider} refused: this key has no access to that model (403).",
        404: f"{provider} does not know that model or address (404).",
        429: f"{provider} is rate-limiting this key (429); try again in a moment.",
        529: f"{provider} is overloaded (529); try again shortly.",
    }.get(status, f"{provider} had a server error ({status}); try again.")


#: Words in a resolver's error (Linux, macOS, Windows) that mean the name does not resolve.
_DNS_FAILURES = (
    "name or service not known",
    "nodename nor servname",
    "getaddrinfo failed",
    "temporary failure in name resolution",
    "no address associated",
)


def _connection_reason(cause: BaseException) -> str:
    """Why a connection failed, in words that say what to check."""
    text = str(cause)
    lowered = text.lower()
    if any(marker in lowered for marker in _DNS_FAILURES):
        return (
            f"the server's name could not be looked up (DNS: {text}). Check the address, "
            f"or whether this computer is online."
        )
    if "refused" in lowered:
        return "nothing is listening at that address (connection refused). Is the server running?"
    return f"{text}."


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:g} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.0f} hours"


def _retry_after(headers: Any) -> float | None:
    """Seconds from a numeric Retry-After header; None when absent or unusable (a date,
    negative, not a number): then there is no automatic retry."""
    value = headers.get("retry-after") if headers is not None else None
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


#: Error types in an error body (Anthropic's, also sent mid-stream with HTTP 200) and the
#: status they stand for.
_ERROR_TYPES = {
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "rate_limit_error": 429,
    "overloaded_error": 529,
    "api_error": 500,
    "invalid_request_error": 400,
}


def _error_object(exc: Any) -> dict[str, Any]:
    """The error object of an error body: Anthropic's SDK keeps the whole body ({"type":
    "error", "error": {...}}), OpenAI's only the object inside ({"message", "param", ...})."""
    body = getattr(exc, "body", None)
    if not isinstance(body, dict):
        return {}
    inner = body.get("error")
    return inner if isinstance(inner, dict) else body


def _status_of(exc: Any) -> int:
    status = int(getattr(exc, "status_code", 0) or 0)
    body = getattr(exc, "body", None)
    kind = _error_object(exc).get("type") or (body.get("type") if isinstance(body, dict) else None)
    if status < 400 and kind in _ERROR_TYPES:  # an error event inside a 200 stream
        return _ERROR_TYPES[str(kind)]
    return status


def _provider_message(exc: Any) -> str:
    """The provider's own explanation from an error body, short."""
    message = _error_object(exc).get("message")
    if not isinstance(message, str):
        return ""
    return " ".join(message.split())[:300]


@dataclass
class _Answer:
    """What one streamed answer has produced so far."""

    pieces: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    first: float = 0.0
    reason: StopReason = StopReason.STOP
    #: Token counts from the provider; empty until its final usage event arrived.
    usage: dict[str, int] = field(default_factory=dict)
    #: Thinking shown by the model, and when it began and ended.
    reasoning: list[str] = field(default_factory=list)
    thinking_from: float = 0.0
    thinking_to: float = 0.0
    #: The user's settings the request left out (the model does not take them).
    not_applied: tuple[str, ...] = ()

    def add(self, text: str) -> None:
        if not self.first:
            self.first = time.perf_counter()
        self.pieces.append(text)

    def think(self, text: str) -> None:
        now = time.perf_counter()
        self.thinking_from = self.thinking_from or now
        self.thinking_to = now
        self.reasoning.append(text)

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def usage_now(self) -> Usage:
        end = time.perf_counter()
        return Usage(
            prompt_tokens=self.usage.get("prompt", 0),
            prompt_tokens_evaluated=self.usage.get("prompt", 0),
            output_tokens=self.usage.get("output", len(self.pieces)),
            time_to_first_token_s=(self.first or end) - self.started,
            total_s=end - self.started,
            stop_reason=self.reason,
            reasoning_tokens=self.usage.get("reasoning", 0),
            cached_prompt_tokens=self.usage.get("cached", 0),
            thinking_s=round(self._thinking_s(end), 3),
            not_applied=self.not_applied,
        )

    def _thinking_s(self, end: float) -> float:
        """From the request to the answer's first text, when the model thought first (shown or
        counted): the wait a user sees as "thinking"."""
        if not (self.reasoning or self.usage.get("reasoning")):
            return 0.0
        return (self.first or self.thinking_to or end) - self.started


class _Provider:
    """What both SDKs share: the client, one retry after a 429, errors as sentences, and the
    request hook that enforces the offline switch and writes the privacy record."""

    api = ""
    #: The label when the caller gives none.
    default_label = ""

    def __init__(
        self,
        name: str,
        base_url: str,
        api_key: str,
        *,
        label: str = "",
        network: Network | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        keyless: bool = False,
    ) -> None:
        self._sdk = sdk = self._load_sdk()
        #: Sent without a key of the user's (an endpoint of theirs that needs none).
        self.keyless = keyless
        self.name = name
        self.label = label or self.default_label
        self.base_url = base_url
        self.network = network or Network()
        #: The answer ``stream`` read last (its text, thinking, usage and how it ended).
        self.last = Answer()
        self.timeout = timeout
        #: Only to scrub it from error text (an HTTP library may quote a bad header).
        self._secret = api_key
        self._cancel: threading.Event | None = None
        #: The response being read, so that Stop can close it at once from another thread.
        self._live: Any = None
        #: What the next requests are for, for the privacy record (set per call).
        self._purpose: tuple[str, str, int | None] = ("", "", None)
        #: Per model, the parameters it refused (a 400 naming them): left out from then on.
        self._refused: dict[str, set[str]] = {}
        http_client = sdk.DefaultHttpxClient(
            event_hooks={"request": [self._on_request]}, verify=shared_ssl_context()
        )
        # Retries are ours (one, after a rate limit, honouring Retry-After).
        self._client = self._make_client(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            timeout=timeout,
            http_client=http_client,
        )

    @staticmethod
    def _load_sdk() -> ModuleType:
        raise NotImplementedError

    def _make_client(self, **kwargs: Any) -> Any:
        raise NotImplementedError

    def _on_request(self, request: Any) -> None:
        """Runs inside the SDK for every HTTP request, before any connection is made."""
        self.network.check(f"{self.label} ({self.base_url})")
        purpose, model, conversation_id = self._purpose
        self.network.sent(
            Outbound(
                destination=self.name,
                host=str(request.url.host),
                purpose=purpose or "other",
                model=model,
                conversation_id=conversation_id,
                bytes_sent=len(request.method) + len(str(request.url)) + len(request.content),
            )
        )

    def close(self) -> None:
        """Close the SDK's connection pool."""
        self._client.close()

    def list_models(self, purpose: str = "models") -> list[str]:
        """The provider's model ids (one request). ``purpose`` "test" marks a connection test."""
        self.network.check(f"{self.label} ({self.base_url})")
        self._purpose = (purpose, "", None)
        try:
            return sorted(m.id for m in self._client.models.list())
        except Exception as exc:
            raise self._error(exc, "") from None

    def _open(self, start: Callable[[], Any]) -> Any:
        """Start the request; after a 429 that says when to come back, try once more. None when
        Stop was pressed during the wait (nothing is sent again)."""
        try:
            self._live = start()
            return self._live
        except self._sdk.RateLimitError as exc:
            wait = _retry_after(exc.response.headers)
            if wait is None or wait > MAX_RETRY_AFTER_S:
                if wait is not None:  # too long to wait for the user: say what it asked
                    raise CloudError(
                        f"{self.label} is rate-limiting this key (429) and asks to wait "
                        f"{_duration(wait)} before the next request."
                    ) from None
                raise self._error(exc, "") from None
            if self._cancel is not None:
                if self._cancel.wait(wait):
                    return None
            else:
                time.sleep(wait)
        except Exception as exc:
            raise self._error(exc, "") from None
        if self._cancel is not None and self._cancel.is_set():
            return None
        try:
            self._live = start()
            return self._live
        except self._sdk.RateLimitError as exc:
            # Say that it was retried: the user need not press Send again at once.
            error = self._error(exc, "")
            again = f"It was tried once more after the {_duration(wait)} it asked to wait."
            raise CloudError(f"{error} {again}") from None
        except Exception as exc:
            raise self._error(exc, "") from None

    def _raw_stream(self, path: str, body: dict[str, Any]) -> Any:
        """POST a streaming request through the SDK (its auth, headers, timeouts, status errors
        and SSE decoding, error events included) and get each event as the JSON the server
        sent. The SDKs' typed chunks (pydantic models; Anthropic's helper rebuilds the whole
        message per delta) cost CPU that a comparison takes from the local model's cores, and
        we read only three fields per event."""
        client = self._client
        return client.post(
            path, body=body, cast_to=object, stream=True, stream_cls=self._sdk.Stream[object]
        )

    def abort(self) -> None:
        """Stop from another thread: the stream's reader ends now, not at the next piece."""
        if self._cancel is not None:
            self._cancel.set()
        live = self._live
        if live is None:
            return
        # A reader blocked in recv() does not notice a close() from another thread; shutting
        # the socket down wakes it at once. httpx exposes the socket as the network stream's
        # extra info. Closing mid-read may raise in either thread; it is closed either way.
        with contextlib.suppress(Exception):
            network_stream = live.response.extensions["network_stream"]
            network_stream.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            live.close()

    def _scrub(self, text: str) -> str:
        if self._secret:
            text = text.replace(self._secret, "[key]")
        return re.sub(r"(?i)(bearer|x-api-key:?)\s+\S+", r"\1 [key]", text)

    def _cut(self, answer: _Answer) -> CloudError:
        answer.usage = {}
        if not answer.pieces:
            return CloudError(
                f"{self.label} ({self.base_url}) ended the answer without sending anything "
                f"(an empty stream). Try again."
            )
        return CloudError(
            f"The connection to {self.label} ({self.base_url}) broke mid-answer. "
            f"The text so far is kept.",
            answer.text,
        )

    def _error(self, exc: Exception, partial: str) -> CloudError:
        error = self._describe(exc, partial)
        return CloudError(self._scrub(str(error)), error.partial, error.refused)

    @staticmethod
    def _connection_error(exc: Exception, where: str, partial: str) -> CloudError:
        cause = exc.__cause__ or exc
        if partial:
            return CloudError(
                f"The connection to {where} broke mid-answer ({cause}). The text so far is kept.",
                partial,
            )
        return CloudError(f"Cannot connect to {where}: {_connection_reason(cause)}", partial)

    def _timeout_error(self, where: str, partial: str) -> CloudError:
        if partial:
            return CloudError(
                f"{where} stopped sending mid-answer and did not go on in time "
                f"({_duration(self.timeout)}). The text so far is kept.",
                partial,
            )
        return CloudError(f"{where} did not answer in time ({_duration(self.timeout)}).", partial)

    def _describe(self, exc: Exception, partial: str) -> CloudError:
        import httpx2

        sdk = self._sdk
        where = f"{self.label} ({self.base_url})"
        offline = exc.__cause__ if isinstance(exc.__cause__, Offline) else exc
        if isinstance(offline, Offline):
            return CloudError(str(offline), partial)
        if isinstance(exc, sdk.APIStatusError):
            status = _status_of(exc)
            message = _describe_status(self.label, status)
            if status == 401 and self.keyless:
                message = (
                    f"{self.label} asks for an API key (401): this endpoint was used without "
                    f"one. Add its key with `llamaside keys set {self.name}` or on its page in "
                    f"Cloud → Cloud providers."
                )
            detail = _provider_message(exc)
            if detail and status in (400, 404, 422):
                message += f" It said: {detail}"
            if partial:
                message += " The text so far is kept."
            refused = refused_parameter(_error_object(exc)) if status == 400 else None
            return CloudError(message, partial, refused)
        # Mid-stream, the OpenAI SDK wraps the HTTP library's errors in its own; the Anthropic
        # SDK lets them through.
        if isinstance(exc, (sdk.APITimeoutError, httpx2.TimeoutException)):
            return self._timeout_error(where, partial)
        if isinstance(exc, (sdk.APIConnectionError, httpx2.TransportError)):
            return self._connection_error(exc, where, partial)
        if isinstance(exc, ValueError):  # JSONDecodeError: half an event, or not JSON at all
            kept = " The text so far is kept." if partial else ""
            return CloudError(f"{where} sent a malformed stream event ({exc}).{kept}", partial)
        return CloudError(
            f"{where} sent something unexpected: {type(exc).__name__}: {exc}", partial
        )

    def events(
        self, prompt: Prompt, model: str, cancel: threading.Event | None = None
    ) -> Generator[AnswerEvent, None, None]:
        """One answer as typed events; the last is Finished or Failed (a provider's fault, the
        offline switch and a cut connection are a Failed event with a sentence, not a raise)."""
        self._cancel = cancel = cancel or threading.Event()
        answer = _Answer()
        try:
            self.network.check(f"{self.label} ({self.base_url})")
        except Offline as exc:
            yield Failed(str(exc))
            return
        self._purpose = ("chat", model, prompt.conversation_id)
        items = self._texts(prompt.wire(), model, prompt.sampling, answer)
        failure: CloudError | None = None
        try:
            for item in items:
                if cancel.is_set():
                    break
                if isinstance(item, str):
                    answer.add(item)
                    yield TextDelta(item, len(answer.pieces))
                else:
                    answer.think(item.text)
                    yield item
        except Exception as exc:
            # After abort() closed the response under the reader, the error is the Stop.
            if not cancel.is_set():
                failure = exc if isinstance(exc, CloudError) else self._error(exc, answer.text)
        finally:
            items.close()  # on Stop, this is what closes the HTTP stream
            self._live = None
        if failure is not None:
            yield Failed(str(failure))
            return
        if cancel.is_set():
            answer.reason = StopReason.CANCELLED
        yield Finished(answer.usage_now())

    def stream(
        self,
        messages: list[dict[str, str]],
        model: str,
        sampling: SamplingParams,
        cancel: threading.Event | None = None,
        conversation_id: int | None = None,
    ) -> Generator[str, None, None]:
        """The answer's text alone (scripts, tests); ``last`` holds the whole Answer. A failure
        raises CloudError with the text that had arrived."""
        prompt = replace(Prompt.from_wire(messages, sampling), conversation_id=conversation_id)
        self.last = last = Answer()
        for event in self.events(prompt, model, cancel):
            last.add(event)
            if isinstance(event, TextDelta):
                yield event.text
            elif isinstance(event, Failed):
                raise CloudError(event.message, last.text)

    def _texts(
        self, messages: list[dict[str, str]], model: str, sampling: SamplingParams, answer: _Answer
    ) -> Generator[str | ReasoningDelta, None, None]:
        raise NotImplementedError


class OpenAIProvider(_Provider):
    """OpenAI's Chat Completions API, and any server that speaks it (vLLM, llama-server...)."""

    api = "openai"
    default_label = "OpenAI"

    @staticmethod
    def _load_sdk() -> ModuleType:
        import openai

        return openai

    def _make_client(self, **kwargs: Any) -> Any:
        return self._sdk.OpenAI(**kwargs)

    @property
    def official(self) -> bool:
        """OpenAI's own API (its rules for reasoning models), not an OpenAI-compatible host."""
        return self.name == "openai"

    def _texts(
        self, messages: list[dict[str, str]], model: str, sampling: SamplingParams, answer: _Answer
    ) -> Generator[str | ReasoningDelta, None, None]:
        refused = self._refused.setdefault(model, set())
        # Each refusal of a parameter we can leave out costs one more request, at most a few.
        for attempt in range(4):
            request = openai_request(
                model, sampling, official=self.official, refused=frozenset(refused)
            )
            body = {"model": model, "messages": messages, "stream": True, **request.params}
            try:
                stream = self._open(functools.partial(self._raw_stream, "/chat/completions", body))
                break
            except CloudError as exc:
                if exc.refused is None or exc.refused in refused or attempt == 3:
                    raise
                refused.add(exc.refused)  # remembered for this model while the app runs
        answer.not_applied = request.not_applied
        if stream is None:
            answer.reason = StopReason.CANCELLED
            return
        ended = False
        try:
            for chunk in stream:
                usage = _field(chunk, "usage")
                if usage:
                    answer.usage = {
                        "prompt": _count(usage, "prompt_tokens"),
                        "output": _count(usage, "completion_tokens"),
                        "reasoning": _count(
                            _field(usage, "completion_tokens_details"), "reasoning_tokens"
                        ),
                        "cached": _count(_field(usage, "prompt_tokens_details"), "cached_tokens"),
                    }
                choices = _field(chunk, "choices")
                if not choices:
                    continue
                choice = _first(choices)
                delta = _field(choice, "delta")
                # DeepSeek, vLLM and llama-server send the model's thinking apart from the
                # answer, under one of these names.
                thought = delta.get("reasoning_content") or delta.get("reasoning")
                if isinstance(thought, str) and thought:
                    yield ReasoningDelta(thought)
                content = delta.get("content")
                if isinstance(content, str) and content:
                    yield content
                reason = choice.get("finish_reason")
                if reason == "length":
                    answer.reason = StopReason.LENGTH
                ended = ended or bool(reason)
            # An SSE stream that simply stops (no finish_reason) was cut, not finished.
            if not ended:
                raise self._cut(answer)
        finally:
            stream.close()  # cancel closes the HTTP stream


class AnthropicProvider(_Provider):
    """Anthropic's Messages API (streaming)."""

    api = "anthropic"
    default_label = "Anthropic"

    @staticmethod
    def _load_sdk() -> ModuleType:
        import anthropic

        return anthropic

    def _make_client(self, **kwargs: Any) -> Any:
        return self._sdk.Anthropic(**kwargs)

    def _texts(
        self, messages: list[dict[str, str]], model: str, sampling: SamplingParams, answer: _Answer
    ) -> Generator[str | ReasoningDelta, None, None]:
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        request = anthropic_request(sampling)
        answer.not_applied = request.not_applied
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": [m for m in messages if m["role"] != "system"],
            **request.params,
        }
        if system:
            kwargs["system"] = system
        stream = self._open(lambda: self._raw_stream("/v1/messages", {**kwargs, "stream": True}))
        if stream is None:
            answer.reason = StopReason.CANCELLED
            return
        started = False
        stop_reason: str | None = None
        prompt = output = cached = 0
        try:
            for event in stream:
                kind = _field(event, "type")
                if kind == "content_block_delta":
                    delta = _field(event, "delta")
                    kind = delta.get("type")
                    text = delta.get("text")
                    if kind == "text_delta" and isinstance(text, str) and text:
                        yield text
                    elif kind == "thinking_delta":
                        thought = delta.get("thinking")
                        if isinstance(thought, str) and thought:
                            yield ReasoningDelta(thought)
                elif kind == "message_start":
                    started = True
                    usage = _field(_field(event, "message"), "usage")
                    prompt, output = _count(usage, "input_tokens"), _count(usage, "output_tokens")
                    cached = _count(usage, "cache_read_input_tokens")
                elif kind == "message_delta":
                    stop_reason = _field(event, "delta").get("stop_reason") or stop_reason
                    usage = _field(event, "usage")
                    output = _count(usage, "output_tokens") or output
                    prompt = _count(usage, "input_tokens") or prompt
            # The events stopped before message_start, or before message_delta said why.
            if not started or stop_reason is None:
                raise self._cut(answer)
            # Anthropic's input_tokens leave out what was read from its cache.
            answer.usage = {"prompt": prompt + cached, "output": output, "cached": cached}
            if stop_reason == "max_tokens":
                answer.reason = StopReason.LENGTH
        finally:
            stream.close()  # closes the HTTP stream


Provider = OpenAIProvider | AnthropicProvider


class CloudSource:
    """One cloud model as an AnswerSource: its provider's stream for that model, cancellable
    from any thread (Stop closes the HTTP stream at once)."""

    def __init__(self, provider: Provider, model_id: str, model_name: str) -> None:
        self.provider = provider
        self.model_id = model_id
        self.model_name = model_name
        self._cancel = threading.Event()

    def answer(self, prompt: Prompt) -> Generator[AnswerEvent, None, None]:
        self._cancel = threading.Event()
        return self.provider.events(prompt, self.model_name, self._cancel)

    def cancel(self) -> None:
        self._cancel.set()
        self.provider.abort()

    def close(self) -> None:
        self.provider.close()
