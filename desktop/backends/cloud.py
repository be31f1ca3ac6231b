"""Cloud chat providers through their official SDKs: OpenAI (and OpenAI-compatible endpoints)
and Anthropic. Each streams like the local engine: text pieces, then usage and a stop reason.

No Qt here. Keys are passed in by the caller (from the keyring); they are never logged, and
error messages never include them. Every provider's base URL can be set: that is how users reach
Together, Groq, Fireworks or their own server, and how the tests reach servers on 127.0.0.1.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from desktop.core.errors import LlamasideError
from desktop.core.params import SamplingParams
from desktop.core.usage import StopReason, Usage

#: One automatic retry after a rate limit, if the server asks to wait at most this long.
MAX_RETRY_AFTER_S = 20.0


class CloudError(LlamasideError):
    """A provider failed; ``partial`` is the text that had arrived, kept by the caller."""

    def __init__(self, message: str, partial: str = "") -> None:
        super().__init__(message)
        self.partial = partial


@dataclass
class CloudResult:
    text: str = ""
    usage: Usage = field(default_factory=Usage)
    finished: bool = False


def _describe_status(provider: str, status: int, detail: str) -> str:
    what = {
        401: f"{provider} rejected the API key (401). Check the key in Settings → Providers.",
        403: f"{provider} refused: this key has no access to that model (403).",
        404: f"{provider} does not know that model or address (404).",
        429: f"{provider} is rate-limiting this key (429); try again in a moment.",
        529: f"{provider} is overloaded (529); try again shortly.",
    }.get(status)
    if what is None:
        what = f"{provider} had a server error ({status}); try again."
    return f"{what} {detail}".strip()


def _retry_after(headers: Any) -> float | None:
    value = headers.get("retry-after") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class OpenAIProvider:
    """OpenAI's Chat Completions API, and any server that speaks it (vLLM, llama-server...)."""

    api = "openai"

    def __init__(self, name: str, base_url: str, api_key: str, label: str = "OpenAI") -> None:
        import openai

        self.name = name
        self.label = label
        self.base_url = base_url
        # Retries are ours (one, after a rate limit, honouring Retry-After).
        self._client = openai.OpenAI(
            api_key=api_key, base_url=base_url, max_retries=0, timeout=60.0
        )
        self.last = CloudResult()

    def close(self) -> None:
        """Close the SDK's connection pool."""
        self._client.close()

    def list_models(self) -> list[str]:
        try:
            return sorted(m.id for m in self._client.models.list())
        except Exception as exc:
            raise self._error(exc, "") from None

    def stream(
        self,
        messages: list[dict[str, str]],
        model: str,
        sampling: SamplingParams,
        cancel: threading.Event | None = None,
    ) -> Generator[str, None, None]:
        import openai

        self.last = CloudResult()
        pieces: list[str] = []
        started = time.perf_counter()
        first = 0.0
        reason = StopReason.STOP
        ended = False
        usage: dict[str, int] = {}
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
        }
        if sampling.seed is not None:
            kwargs["seed"] = sampling.seed
        for attempt in (1, 2):
            try:
                stream = self._client.chat.completions.create(**kwargs)
                break
            except openai.RateLimitError as exc:
                wait = _retry_after(exc.response.headers)
                if attempt == 1 and wait is not None and wait <= MAX_RETRY_AFTER_S:
                    time.sleep(wait)
                    continue
                raise self._error(exc, "") from None
            except Exception as exc:
                raise self._error(exc, "") from None
        try:
            for chunk in stream:
                if cancel is not None and cancel.is_set():
                    reason = StopReason.CANCELLED
                    break
                if chunk.usage is not None:
                    usage = {
                        "prompt": chunk.usage.prompt_tokens,
                        "output": chunk.usage.completion_tokens,
                    }
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                text = choice.delta.content if choice.delta else None
                if text:
                    if not first:
                        first = time.perf_counter()
                    pieces.append(text)
                    yield text
                if choice.finish_reason == "length":
                    reason = StopReason.LENGTH
                if choice.finish_reason:
                    ended = True
            if not ended and reason != StopReason.CANCELLED:
                # An SSE stream that simply stops (no finish_reason) was cut, not finished.
                usage = {}
                raise CloudError(
                    f"The connection to {self.label} ({self.base_url}) broke "
                    f"mid-answer. The text so far is kept.",
                    "".join(pieces),
                )
        except CloudError:
            raise
        except Exception as exc:
            raise self._error(exc, "".join(pieces)) from None
        finally:
            stream.close()  # cancel closes the HTTP stream
            self._finish(pieces, started, first, reason, usage)

    def _finish(
        self,
        pieces: list[str],
        started: float,
        first: float,
        reason: StopReason,
        usage: dict[str, int],
    ) -> None:
        end = time.perf_counter()
        self.last = CloudResult(
            "".join(pieces),
            Usage(
                prompt_tokens=usage.get("prompt", 0),
                prompt_tokens_evaluated=usage.get("prompt", 0),
                output_tokens=usage.get("output", len(pieces)),
                time_to_first_token_s=(first or end) - started,
                total_s=end - started,
                stop_reason=reason,
            ),
            finished=bool(usage) or reason == StopReason.CANCELLED,
        )

    def _error(self, exc: Exception, partial: str) -> CloudError:
        import openai

        where = f"{self.label} ({self.base_url})"
        if isinstance(exc, openai.APIStatusError):
            return CloudError(_describe_status(self.label, exc.status_code, ""), partial)
        if isinstance(exc, openai.APITimeoutError):
            return CloudError(f"{where} did not answer in time.", partial)
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc
            if partial:
                return CloudError(
                    f"The connection to {where} broke mid-answer ({cause}). "
                    f"The text so far is kept.",
                    partial,
                )
            return CloudError(f"Cannot connect to {where}: {cause}.", partial)
        return CloudError(
            f"{where} sent something unexpected: {type(exc).__name__}: {exc}", partial
        )


class AnthropicProvider:
    """Anthropic's Messages API (streaming)."""

    api = "anthropic"

    def __init__(self, name: str, base_url: str, api_key: str, label: str = "Anthropic") -> None:
        import anthropic

        self.name = name
        self.label = label
        self.base_url = base_url
        self._client = anthropic.Anthropic(
            api_key=api_key, base_url=base_url, max_retries=0, timeout=60.0
        )
        self.last = CloudResult()

    def close(self) -> None:
        """Close the SDK's connection pool."""
        self._client.close()

    def list_models(self) -> list[str]:
        try:
            return sorted(m.id for m in self._client.models.list())
        except Exception as exc:
            raise self._error(exc, "") from None

    def stream(
        self,
        messages: list[dict[str, str]],
        model: str,
        sampling: SamplingParams,
        cancel: threading.Event | None = None,
    ) -> Generator[str, None, None]:
        import anthropic

        self.last = CloudResult()
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        turns = [m for m in messages if m["role"] != "system"]
        # The current Messages API takes no sampling parameters (the SDK no longer accepts
        # temperature): only the answer's length is ours to set.
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": turns,
            "max_tokens": sampling.max_tokens,
        }
        if system:
            kwargs["system"] = system
        pieces: list[str] = []
        started = time.perf_counter()
        first = 0.0
        reason = StopReason.STOP
        usage: dict[str, int] = {}
        for attempt in (1, 2):
            try:
                manager = self._client.messages.stream(**kwargs)
                stream = manager.__enter__()
                break
            except anthropic.RateLimitError as exc:
                wait = _retry_after(exc.response.headers)
                if attempt == 1 and wait is not None and wait <= MAX_RETRY_AFTER_S:
                    time.sleep(wait)
                    continue
                raise self._error(exc, "") from None
            except Exception as exc:
                raise self._error(exc, "") from None
        try:
            for text in stream.text_stream:
                if cancel is not None and cancel.is_set():
                    reason = StopReason.CANCELLED
                    break
                if not first:
                    first = time.perf_counter()
                pieces.append(text)
                yield text
            if reason != StopReason.CANCELLED:
                final = stream.get_final_message()
                if final.stop_reason is None:
                    # The events stopped before message_delta: the stream was cut.
                    raise CloudError(
                        f"The connection to {self.label} ({self.base_url}) broke "
                        f"mid-answer. The text so far is kept.",
                        "".join(pieces),
                    )
                usage = {"prompt": final.usage.input_tokens, "output": final.usage.output_tokens}
                if final.stop_reason == "max_tokens":
                    reason = StopReason.LENGTH
        except CloudError:
            raise
        except Exception as exc:
            raise self._error(exc, "".join(pieces)) from None
        finally:
            manager.__exit__(None, None, None)  # closes the HTTP stream
            end = time.perf_counter()
            self.last = CloudResult(
                "".join(pieces),
                Usage(
                    prompt_tokens=usage.get("prompt", 0),
                    prompt_tokens_evaluated=usage.get("prompt", 0),
                    output_tokens=usage.get("output", len(pieces)),
                    time_to_first_token_s=(first or end) - started,
                    total_s=end - started,
                    stop_reason=reason,
                ),
                finished=bool(usage) or reason == StopReason.CANCELLED,
            )

    def _error(self, exc: Exception, partial: str) -> CloudError:
        import anthropic

        where = f"{self.label} ({self.base_url})"
        if isinstance(exc, anthropic.APIStatusError):
            return CloudError(_describe_status(self.label, exc.status_code, ""), partial)
        if isinstance(exc, anthropic.APITimeoutError):
            return CloudError(f"{where} did not answer in time.", partial)
        if isinstance(exc, anthropic.APIConnectionError):
            cause = exc.__cause__ or exc
            if partial:
                return CloudError(
                    f"The connection to {where} broke mid-answer ({cause}). "
                    f"The text so far is kept.",
                    partial,
                )
            return CloudError(f"Cannot connect to {where}: {cause}.", partial)
        return CloudError(
            f"{where} sent something unexpected: {type(exc).__name__}: {exc}", partial
        )
