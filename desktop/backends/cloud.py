"""Cloud chat providers through their official SDKs: OpenAI (and OpenAI-compatible endpoints)
and Anthropic. Each streams like the local engine: text pieces and tool calls, then usage and a
stop reason. A prompt's tools and earlier calls are laid out for each API by core.tool_wire.

No Qt here. Keys are passed in by the caller (from the keyring); they are never logged, and
error messages never include them. Every provider's base URL can be set: that is how users reach
Together, Groq, Fireworks or their own server, and how the tests reach servers on 127.0.0.1.
Reading a stream's events is cloud_stream's; a failure as a sentence is cloud_errors'; a
question's pictures as each API's image blocks (scaled to its limit) cloud_images'.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import ssl
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import replace
from types import ModuleType
from typing import Any

from desktop.backends.cloud_errors import CloudError as CloudError  # noqa: PLC0414 (re-export)
from desktop.backends.cloud_errors import ProviderFailures, _duration, _retry_after
from desktop.backends.cloud_images import Pictures, anthropic_images, openai_images
from desktop.backends.cloud_stream import _Answer, _Calls, _count, _field, _first
from desktop.backends.network import Network, Offline, Outbound
from desktop.core.answer import (
    Answer,
    AnswerEvent,
    Failed,
    Finished,
    Prompt,
    ReasoningDelta,
    TextDelta,
    ToolCallEvent,
)
from desktop.core.cloud_params import anthropic_request, openai_request
from desktop.core.messages import Role
from desktop.core.params import SamplingParams
from desktop.core.tool_wire import (
    anthropic_thinking_allowed,
    anthropic_tools,
    anthropic_wire,
    openai_tools,
    openai_wire,
)
from desktop.core.usage import StopReason
from desktop.core.vision import ANTHROPIC_LIMIT, COMPATIBLE_LIMIT, OPENAI_LIMIT, UploadLimit

#: One automatic retry after a rate limit, if the server asks to wait at most this long.
MAX_RETRY_AFTER_S = 20.0
#: Seconds to wait for a connection, or for the next bytes of an answer.
DEFAULT_TIMEOUT_S = 60.0


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


class _Provider(ProviderFailures):
    """What both SDKs share: the client, one retry after a 429, errors as sentences (its
    ProviderFailures part), and the request hook that enforces the offline switch and writes
    the privacy record."""

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
        #: The pictures the next requests' bodies carry, for the privacy record too.
        self._pictures = Pictures()
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
                images=self._pictures.count,
                image_bytes=self._pictures.size,
            )
        )

    def close(self) -> None:
        """Close the SDK's connection pool."""
        self._client.close()

    def list_models(self, purpose: str = "models") -> list[str]:
        """The provider's model ids (one request). ``purpose`` "test" marks a connection test."""
        self.network.check(f"{self.label} ({self.base_url})")
        self._purpose, self._pictures = (purpose, "", None), Pictures()
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
        self._purpose, self._pictures = ("chat", model, prompt.conversation_id), Pictures()
        items = self._texts(prompt, model, answer)
        failure: CloudError | None = None
        try:
            for item in items:
                if cancel.is_set():
                    break
                if isinstance(item, str):
                    answer.add(item)
                    yield TextDelta(item, len(answer.pieces))
                elif isinstance(item, ReasoningDelta):
                    answer.think(item.text)
                    yield item
                else:
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
        self, prompt: Prompt, model: str, answer: _Answer
    ) -> Generator[str | ReasoningDelta | ToolCallEvent, None, None]:
        raise NotImplementedError


class OpenAIProvider(_Provider):
    """OpenAI's Chat Completions API, and any server that speaks it (vLLM, llama-server...)."""

    api = "openai"
    default_label = "OpenAI"

    @property
    def upload_limit(self) -> UploadLimit:
        """The largest picture sent as it is (OpenAI's own reading size; the compatible hosts
        take less)."""
        return OPENAI_LIMIT if self.official else COMPATIBLE_LIMIT

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
        self, prompt: Prompt, model: str, answer: _Answer
    ) -> Generator[str | ReasoningDelta | ToolCallEvent, None, None]:
        refused = self._refused.setdefault(model, set())
        messages, tools = openai_wire(prompt), openai_tools(prompt)
        messages, self._pictures = openai_images(messages, self.upload_limit, self.label)
        # Each refusal of a parameter we can leave out costs one more request, at most a few.
        for attempt in range(4):
            request = openai_request(
                model, prompt.sampling, official=self.official, refused=frozenset(refused)
            )
            body = {"model": model, "messages": messages, "stream": True, **request.params, **tools}
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
        calls = _Calls()
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
                fragments = delta.get("tool_calls")
                if fragments:
                    answer.call_began()
                    calls.openai(fragments)
                reason = choice.get("finish_reason")
                if reason == "length":
                    answer.reason = StopReason.LENGTH
                ended = ended or bool(reason)
            # An SSE stream that simply stops (no finish_reason) was cut, not finished.
            if not ended:
                raise self._cut(answer)
            # Whole calls only, once the stream has ended; some hosts end a step that called
            # tools with "stop", so the calls, not finish_reason "tool_calls", say so.
            if calls and answer.reason != StopReason.LENGTH:
                answer.reason = StopReason.TOOL_CALLS
            for call in calls.all():
                yield ToolCallEvent(call)
        finally:
            stream.close()  # cancel closes the HTTP stream


class AnthropicProvider(_Provider):
    """Anthropic's Messages API (streaming)."""

    api = "anthropic"
    default_label = "Anthropic"
    upload_limit = ANTHROPIC_LIMIT

    @staticmethod
    def _load_sdk() -> ModuleType:
        import anthropic

        return anthropic

    def _make_client(self, **kwargs: Any) -> Any:
        return self._sdk.Anthropic(**kwargs)

    def _texts(
        self, prompt: Prompt, model: str, answer: _Answer
    ) -> Generator[str | ReasoningDelta | ToolCallEvent, None, None]:
        system = "\n\n".join(
            text
            for text in (prompt.system, *(m.text for m in prompt.messages if m.role == Role.SYSTEM))
            if text
        )
        messages, self._pictures = anthropic_images(
            anthropic_wire(prompt), self.upload_limit, self.label
        )
        thinking = anthropic_thinking_allowed(prompt, messages)
        request = anthropic_request(prompt.sampling, thinking=thinking)
        answer.not_applied = request.not_applied
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": messages,
            **request.params,
            **anthropic_tools(prompt),
        }
        if system:
            kwargs["system"] = system
        stream = self._open(lambda: self._raw_stream("/v1/messages", {**kwargs, "stream": True}))
        if stream is None:
            answer.reason = StopReason.CANCELLED
            return
        started = False
        stop_reason: str | None = None
        prompt_tokens = output = cached = 0
        calls = _Calls()
        try:
            for event in stream:
                kind = _field(event, "type")
                index = event.get("index")
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
                    elif kind == "input_json_delta" and isinstance(index, int):
                        piece = delta.get("partial_json")
                        calls.extend(index, piece if isinstance(piece, str) else "")
                elif kind == "content_block_start" and isinstance(index, int):
                    block = _field(event, "content_block")
                    if block.get("type") == "tool_use":
                        answer.call_began()
                        calls.start(index, str(block.get("id") or ""), str(block.get("name") or ""))
                elif kind == "message_start":
                    started = True
                    usage = _field(_field(event, "message"), "usage")
                    prompt_tokens = _count(usage, "input_tokens")
                    output = _count(usage, "output_tokens")
                    cached = _count(usage, "cache_read_input_tokens")
                elif kind == "message_delta":
                    stop_reason = _field(event, "delta").get("stop_reason") or stop_reason
                    usage = _field(event, "usage")
                    output = _count(usage, "output_tokens") or output
                    prompt_tokens = _count(usage, "input_tokens") or prompt_tokens
            # The events stopped before message_start, or before message_delta said why.
            if not started or stop_reason is None:
                raise self._cut(answer)
            # Anthropic's input_tokens leave out what was read from its cache.
            answer.usage = {"prompt": prompt_tokens + cached, "output": output, "cached": cached}
            if stop_reason == "max_tokens":
                answer.reason = StopReason.LENGTH
            elif stop_reason == "tool_use" or calls:
                answer.reason = StopReason.TOOL_CALLS
            # As from OpenAI: the calls once the step has ended well, never a cut step's calls
            # (a block's content_block_stop says only that block is whole).
            for call in calls.all():
                yield ToolCallEvent(call)
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
