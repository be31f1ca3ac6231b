"""A cloud provider's failures as sentences for the user: an HTTP status, a provider's error
body, a connection that failed or broke mid-answer, a timeout, the offline switch; and the
Retry-After a rate limit asks for. The key never appears in them (scrubbed).
"""

from __future__ import annotations

import math
import re
from types import ModuleType
from typing import Any

from desktop.backends.cloud_stream import _Answer
from desktop.backends.network import Offline
from desktop.core.cloud_params import refused_parameter
from desktop.core.errors import LlamasideError


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


class ProviderFailures:
    """Owns turning what went wrong in a provider's request into a CloudError with a sentence
    that says what to check, the key scrubbed out. A part of cloud._Provider, which sets the
    attributes below."""

    _sdk: ModuleType
    name: str
    label: str
    base_url: str
    timeout: float
    keyless: bool
    _secret: str

    def _scrub(self, text: str) -> str:
        if self._secret:
            text = text.replace(self._secret, "[key]")
        return re.sub(r"(?i)(bearer|x-api-key:?)\s+\S+", r"\1 [key]", text)

    def _cut(self, answer: _Answer) -> CloudError:
        answer.usage = {}
        if not answer.pieces and not answer.calling:
            return CloudError(
                f"{self.label} ({self.base_url}) ended the answer without sending anything "
                f"(an empty stream). Try again."
            )
        # A call's arguments may be half sent: only whole steps' calls are ever run.
        said = {
            (True, False): "The text so far is kept.",
            (True, True): "The text so far is kept; its tool calls are not run.",
            (False, True): "Its tool calls are not run.",
        }[(bool(answer.pieces), answer.calling)]
        return CloudError(
            f"The connection to {self.label} ({self.base_url}) broke mid-answer. {said}",
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
