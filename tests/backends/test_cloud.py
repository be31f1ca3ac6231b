"""The real openai and anthropic SDKs against servers of ours on 127.0.0.1 (base_url)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from desktop.backends import secrets
from desktop.backends.cloud import AnthropicProvider, CloudError, OpenAIProvider
from desktop.backends.providers import ProviderConfig, ProviderError, key_for, open_provider
from desktop.core.params import SamplingParams
from desktop.core.usage import StopReason
from tests.cloudserver import CloudServer

KEY = "sk-test-0123456789abcdef"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
PARAMS = SamplingParams(temperature=0.5, max_tokens=100)


@pytest.fixture
def server() -> Iterator[CloudServer]:
    with CloudServer() as cloud:
        yield cloud


OPEN: list[OpenAIProvider | AnthropicProvider] = []


@pytest.fixture(autouse=True)
def _close_providers() -> Iterator[None]:
    yield
    while OPEN:
        OPEN.pop().close()


def openai(server: CloudServer) -> OpenAIProvider:
    provider = OpenAIProvider("openai", server.base_url + "/v1", KEY)
    OPEN.append(provider)
    return provider


def anthropic(server: CloudServer) -> AnthropicProvider:
    provider = AnthropicProvider("anthropic", server.base_url, KEY)
    OPEN.append(provider)
    return provider


@pytest.mark.parametrize("make", [openai, anthropic])
def test_stream_text_then_usage(server: CloudServer, make: object) -> None:
    provider = make(server)  # type: ignore[operator]
    pieces = list(provider.stream(MESSAGES, "model-x", PARAMS))
    assert pieces == ["Hello", " from", " the", " cloud", "."]
    result = provider.last
    assert result.text == "Hello from the cloud." and result.finished
    assert result.usage.output_tokens == 5
    assert result.usage.prompt_tokens in (11, 13)
    assert result.usage.stop_reason == StopReason.STOP
    request = server.state.requests[-1]
    assert request["body"]["model"] == "model-x"
    # The key goes in the auth header only.
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert KEY in headers.get("authorization", "") + headers.get("x-api-key", "")


def test_openai_asks_for_usage_and_anthropic_gets_the_system_apart(server: CloudServer) -> None:
    list(openai(server).stream(MESSAGES, "gpt-4o", PARAMS))
    body = server.state.requests[-1]["body"]
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"][0]["role"] == "system"
    list(anthropic(server).stream(MESSAGES, "claude-x", PARAMS))
    body = server.state.requests[-1]["body"]
    assert body["system"] == "Be brief."
    assert [m["role"] for m in body["messages"]] == ["user"]


@pytest.mark.parametrize("make", [openai, anthropic])
def test_max_tokens_is_a_length_stop(server: CloudServer, make: object) -> None:
    provider = make(server)  # type: ignore[operator]
    list(provider.stream(MESSAGES, "m", SamplingParams(max_tokens=2)))
    assert provider.last.text == "Hello from"
    assert provider.last.usage.stop_reason == StopReason.LENGTH


@pytest.mark.parametrize("make", [openai, anthropic])
@pytest.mark.parametrize(
    ("status", "words"),
    [
        (401, "rejected the API key"),
        (403, "no access"),
        (404, "does not know"),
        (429, "rate-limiting"),
        (500, "server error"),
        (529, "overloaded"),
    ],
)
def test_status_errors_are_sentences_without_the_key(
    server: CloudServer, make: object, status: int, words: str
) -> None:
    server.state.statuses = [status]
    provider = make(server)  # type: ignore[operator]
    with pytest.raises(CloudError) as info:
        list(provider.stream(MESSAGES, "m", PARAMS))
    assert words in str(info.value)
    assert KEY not in str(info.value)


@pytest.mark.parametrize("make", [openai, anthropic])
def test_rate_limit_with_retry_after_is_retried_once(server: CloudServer, make: object) -> None:
    server.state.statuses = [429]
    server.state.retry_after = "0"
    provider = make(server)  # type: ignore[operator]
    assert "".join(provider.stream(MESSAGES, "m", PARAMS)) == "Hello from the cloud."
    server.state.statuses = [429, 429]
    with pytest.raises(CloudError, match="rate-limiting"):
        list(provider.stream(MESSAGES, "m", PARAMS))


@pytest.mark.parametrize("make", [openai, anthropic])
@pytest.mark.parametrize("fault", ["cut", "malformed"])
def test_broken_stream_keeps_the_partial_text(
    server: CloudServer, make: object, fault: str
) -> None:
    if fault == "cut":
        server.state.cut_after = 3
    else:
        server.state.malformed = True
    provider = make(server)  # type: ignore[operator]
    got: list[str] = []
    with pytest.raises(CloudError) as info:
        for piece in provider.stream(MESSAGES, "m", PARAMS):
            got.append(piece)
    assert info.value.partial == "".join(got)
    assert got[:2] == ["Hello", " from"]
    assert provider.last.text == "".join(got) and not provider.last.finished


@pytest.mark.parametrize("make", [openai, anthropic])
@pytest.mark.parametrize("fault", ["reset", "stall"])
def test_a_reset_or_a_stall_mid_answer_is_named_with_the_text_kept(
    server: CloudServer, make: object, fault: str
) -> None:
    """The Anthropic SDK lets the HTTP library's errors through mid-stream (the OpenAI SDK
    wraps them): both must read as what happened, not "sent something unexpected"."""
    cls = OpenAIProvider if make is openai else AnthropicProvider
    provider = cls("p", server.base_url + ("/v1" if make is openai else ""), KEY, timeout=0.5)
    OPEN.append(provider)
    got: list[str] = []
    if fault == "reset":
        server.state.reset_after = 2
        server.state.reset_when = threading.Event()
    else:
        server.state.hang_after = 2
        server.state.hang_s = 2.0
    with pytest.raises(CloudError) as failed:
        for piece in provider.stream(MESSAGES, "m", PARAMS):
            got.append(piece)
            if len(got) == 2 and server.state.reset_when is not None:
                server.state.reset_when.set()  # both pieces read: now the reset
    assert failed.value.partial == "Hello from" == "".join(got)
    message = str(failed.value)
    assert "unexpected" not in message and message.endswith("The text so far is kept.")
    if fault == "reset":
        assert "broke mid-answer" in message and "reset" in message
    else:
        assert "stopped sending mid-answer and did not go on in time (0.5 s)" in message


@pytest.mark.parametrize("make", [openai, anthropic])
def test_connection_refused(make: object) -> None:
    with CloudServer() as gone:
        url = gone.base_url
    cls = OpenAIProvider if make is openai else AnthropicProvider
    provider = cls("p", url + ("/v1" if make is openai else ""), KEY)
    OPEN.append(provider)
    with pytest.raises(CloudError, match="Cannot connect"):
        list(provider.stream(MESSAGES, "m", PARAMS))


@pytest.mark.parametrize("make", [openai, anthropic])
def test_model_list_comes_from_the_api(server: CloudServer, make: object) -> None:
    server.state.models = ["b-model", "a-model"]
    assert make(server).list_models() == ["a-model", "b-model"]  # type: ignore[operator]


@pytest.mark.parametrize("make", [openai, anthropic])
def test_stop_ends_the_answer_with_what_was_shown(server: CloudServer, make: object) -> None:
    import threading

    from desktop.core.usage import StopReason as Reason

    provider = make(server)  # type: ignore[operator]
    cancel = threading.Event()
    got = []
    for piece in provider.stream(MESSAGES, "m", PARAMS, cancel):
        got.append(piece)
        if len(got) == 2:
            cancel.set()
    assert got == ["Hello", " from"]
    assert provider.last.text == "Hello from"
    assert provider.last.usage.stop_reason == Reason.CANCELLED


def test_stop_during_a_rate_limit_wait_sends_nothing_again(server: CloudServer) -> None:
    server.state.statuses = [429]
    server.state.retry_after = "5"
    provider = openai(server)
    cancel = threading.Event()
    pieces: list[str] = []
    worker = threading.Thread(
        target=lambda: pieces.extend(provider.stream(MESSAGES, "m", PARAMS, cancel))
    )
    worker.start()
    deadline = time.monotonic() + 10
    while not server.state.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    provider.abort()
    worker.join(timeout=2)
    assert not worker.is_alive()  # did not sit out the 5 s
    assert len(server.state.requests) == 1 and pieces == []
    assert provider.last.usage.stop_reason == StopReason.CANCELLED


@pytest.mark.parametrize("make", [openai, anthropic])
def test_stop_closes_a_slow_stream_at_once(server: CloudServer, make: object) -> None:
    server.state.delay_s = 3.0  # a piece every 3 s
    provider = make(server)  # type: ignore[operator]
    pieces: list[str] = []
    worker = threading.Thread(target=lambda: pieces.extend(provider.stream(MESSAGES, "m", PARAMS)))
    worker.start()
    time.sleep(0.5)  # connected, waiting for the first piece
    started = time.monotonic()
    provider.abort()
    worker.join(timeout=5)
    assert time.monotonic() - started < 1.0
    assert provider.last.usage.stop_reason == StopReason.CANCELLED


def test_overloaded_mid_stream_is_named(server: CloudServer) -> None:
    server.state.error_event_after = 2
    provider = anthropic(server)
    with pytest.raises(CloudError) as failed:
        list(provider.stream(MESSAGES, "m", PARAMS))
    assert "overloaded (529)" in str(failed.value)
    assert failed.value.partial == "Hello from"


def test_a_key_never_shows_in_an_error(server: CloudServer) -> None:
    # A key with a line break cannot go in a header; the HTTP library says so, quoting it.
    secret = "sk-secret-with-break\r"
    provider = OpenAIProvider("openai", server.base_url + "/v1", secret)
    OPEN.append(provider)
    with pytest.raises(CloudError) as failed:
        list(provider.stream(MESSAGES, "m", PARAMS))
    assert "sk-secret-with-break" not in str(failed.value)


def test_keys_are_trimmed_and_unsendable_ones_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    config = ProviderConfig("openai", "openai", "http://127.0.0.1:9/v1", enabled=True)
    monkeypatch.setenv("OPENAI_API_KEY", "  sk-from-a-windows-file\r\n")
    monkeypatch.setattr(secrets, "get_secret", lambda _name: None)
    assert key_for(config) == ("sk-from-a-windows-file", "OPENAI_API_KEY")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-two\x01parts")
    with pytest.raises(ProviderError) as refused:
        open_provider(config)
    assert "cannot be sent" in str(refused.value) and "sk-two" not in str(refused.value)


# -- what each model accepts (issue 17) -------------------------------------------------------


def _bodies(server: CloudServer) -> list[dict[str, object]]:
    return [r["body"] for r in server.state.requests if r["path"].endswith("/completions")]


def test_openai_reasoning_model_is_sent_what_it_accepts_in_one_request(
    server: CloudServer,
) -> None:
    server.state.reasoning_model = True  # refuses max_tokens and temperature/top_p != 1
    server.state.reasoning_tokens = 7
    provider = openai(server)
    text = "".join(provider.stream(MESSAGES, "o3-mini", PARAMS))
    assert text == "Hello from the cloud."
    [body] = _bodies(server)
    assert body["max_completion_tokens"] == 100
    assert "max_tokens" not in body and "temperature" not in body and "top_p" not in body
    usage = provider.last.usage
    assert usage.reasoning_tokens == 7 and usage.output_tokens == 12
    assert usage.not_applied == ("temperature", "top-p")
    assert usage.thinking_s > 0  # it counted reasoning tokens before the answer


def test_a_model_that_refuses_a_parameter_is_asked_again_without_it(server: CloudServer) -> None:
    """A model we do not know by name: its 400s (OpenAI's own error bodies) name what it does
    not take; each is left out and the request sent again, and remembered for that model."""
    server.state.reasoning_model = True
    provider = openai(server)
    assert "".join(provider.stream(MESSAGES, "gpt-9-preview", PARAMS)) == "Hello from the cloud."
    bodies = _bodies(server)
    assert len(bodies) == 3  # temperature refused, then top_p, then the answer
    assert "temperature" in bodies[0] and "top_p" in bodies[1] and "top_p" not in bodies[2]
    assert provider.last.usage.not_applied == ("temperature", "top-p")
    list(provider.stream(MESSAGES, "gpt-9-preview", PARAMS))
    assert len(_bodies(server)) == 4  # remembered: one request


def test_openai_compatible_hosts_keep_max_tokens_and_sampling(server: CloudServer) -> None:
    provider = OpenAIProvider("together", server.base_url + "/v1", KEY)
    OPEN.append(provider)
    list(provider.stream(MESSAGES, "o3-mini", PARAMS))  # a name is not enough off OpenAI
    [body] = _bodies(server)
    assert body["max_tokens"] == 100 and body["temperature"] == 0.5 and body["top_p"] == 0.95
    assert provider.last.usage.not_applied == ()


def test_a_compatible_server_that_wants_max_completion_tokens_gets_it(
    server: CloudServer,
) -> None:
    server.state.reasoning_model = True
    provider = OpenAIProvider("my-vllm", server.base_url + "/v1", KEY)
    OPEN.append(provider)
    list(provider.stream(MESSAGES, "m", SamplingParams(temperature=1.0, top_p=1.0)))
    first, second = _bodies(server)
    assert "max_tokens" in first and second["max_completion_tokens"] == 1024


def test_reasoning_effort_goes_to_models_that_have_it(server: CloudServer) -> None:
    provider = openai(server)
    effort = SamplingParams(temperature=1.0, top_p=1.0, reasoning_effort="high")
    list(provider.stream(MESSAGES, "gpt-5-mini", effort))
    list(provider.stream(MESSAGES, "gpt-4o", effort))
    reasoning, chat = _bodies(server)
    assert reasoning["reasoning_effort"] == "high"
    assert "reasoning_effort" not in chat
    assert provider.last.usage.not_applied == ("reasoning effort",)


@pytest.mark.parametrize("make", [openai, anthropic])
def test_a_refused_request_shows_the_apis_own_sentence(server: CloudServer, make: object) -> None:
    server.state.statuses = [400]
    provider = make(server)  # type: ignore[operator]
    with pytest.raises(CloudError) as info:
        list(provider.stream(MESSAGES, "m", PARAMS))
    assert "refused the request as invalid (400)" in str(info.value)
    assert "It said: injected 400" in str(info.value)


def test_shown_thinking_of_a_compatible_server_is_kept_apart(server: CloudServer) -> None:
    server.state.reasoning_content = ["The user greets me.", " I greet back."]
    provider = OpenAIProvider("deepseek", server.base_url + "/v1", KEY)
    OPEN.append(provider)
    assert "".join(provider.stream(MESSAGES, "deepseek-reasoner", PARAMS)) == (
        "Hello from the cloud."
    )
    assert provider.last.reasoning == "The user greets me. I greet back."
    assert provider.last.usage.thinking_s > 0


def test_claude_extended_thinking_streams_its_thinking_apart(server: CloudServer) -> None:
    server.state.thinking = ["Let me think", " about a greeting."]
    provider = anthropic(server)
    thinking = SamplingParams(max_tokens=100, thinking_budget=2000)
    assert "".join(provider.stream(MESSAGES, "claude-sonnet-4-5", thinking)) == (
        "Hello from the cloud."
    )
    [request] = [r["body"] for r in server.state.requests if r["path"] == "/v1/messages"]
    assert request["thinking"] == {"type": "enabled", "budget_tokens": 2000}
    assert request["max_tokens"] == 2100  # the answer keeps its own 100
    assert provider.last.reasoning == "Let me think about a greeting."
    assert provider.last.usage.thinking_s > 0
    list(provider.stream(MESSAGES, "claude-sonnet-4-5", SamplingParams(thinking_budget=10)))
    assert server.state.requests[-1]["body"]["thinking"]["budget_tokens"] == 1024  # its least
