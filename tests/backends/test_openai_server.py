"""The local OpenAI-compatible server, driven by the official openai SDK over loopback, answered
by the real engine child on the bundled SmolLM2: one server (and one without a key beside one
with a key) shared by the module's tests, run in this process on free ports."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest

from desktop.backends.cloud import OpenAIProvider
from desktop.backends.engine_client import SyncEngine
from desktop.backends.local_models import BUNDLED_ID, bundled_model
from desktop.backends.openai_server import CLIENT_GONE, BackgroundServer, OpenAIServer
from desktop.backends.serve_policy import ServerRefused, check_bind, is_loopback
from desktop.backends.served_engine import ServedEngine, ServedLog
from desktop.core.answer import Prompt, TextDelta
from desktop.core.models import LocalModel
from desktop.core.params import LoadParams, SamplingParams

KEY = "sk-test-local-server"
BARE_ID = BUNDLED_ID.removeprefix("local:")
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
COUNTING = [{"role": "user", "content": "Count from 1 to 1000, separated by commas."}]
#: A greedy answer that runs to 900 tokens on SmolLM2 (its counting stops after 70).
LONG = [{"role": "user", "content": "List one hundred animals, one per line, numbered."}]
#: A line of the request text that must never reach the served-requests log.
SECRET_PROMPT = "my secret plans for the zebra parade"


@dataclass
class Served:
    served: ServedEngine
    log: ServedLog
    open: BackgroundServer
    keyed: BackgroundServer

    clients: list[openai.OpenAI]

    def client(self, key: str = "unused", *, keyed: bool = False) -> openai.OpenAI:
        """A new SDK client (closed when the module ends: an open socket left is an error)."""
        server = self.keyed if keyed else self.open
        made = openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0, timeout=120)
        self.clients.append(made)
        return made


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, extra_bufts: bool) -> Iterator[Served]:
    smol = bundled_model()
    assert smol is not None
    folder = tmp_path_factory.mktemp("served")
    broken = folder / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 60)  # a header that is not a model
    models = [smol, LocalModel.for_file(str(broken), source="user")]
    engine = SyncEngine()
    engine_served = ServedEngine(
        engine,
        lambda: models,
        LoadParams(n_ctx=1024, n_threads=2, extra_bufts=extra_bufts),
        SamplingParams(max_tokens=64),
    )
    engine_served.load(smol)
    log = ServedLog(folder / "served-requests.jsonl")
    open_server = BackgroundServer(OpenAIServer(engine_served, log).app, port=0)
    keyed_server = BackgroundServer(OpenAIServer(engine_served, log, api_key=KEY).app, port=0)
    open_server.start()
    keyed_server.start()
    try:
        yield (made := Served(engine_served, log, open_server, keyed_server, []))
    finally:
        for client in made.clients:
            client.close()
        open_server.stop()
        keyed_server.stop()
        engine_served.close()


def _ask(client: openai.OpenAI, messages: Any, **kw: Any) -> Any:
    return client.chat.completions.create(
        model=kw.pop("model", BUNDLED_ID), messages=messages, temperature=0, **kw
    )


def _raw(url: str, body: bytes | None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _error_shape(body: bytes) -> dict[str, Any]:
    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    return dict(error)


def _wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def _wait_for_entry(
    log: ServedLog, status: int, after: int, timeout: float = 30.0
) -> dict[str, Any]:
    """The first entry with this status among those after the first ``after``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in log.entries()[after:] if e["status"] == status]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no log entry with status {status}: {log.entries()}")


def test_models_lists_the_local_models_with_their_app_ids(served: Served) -> None:
    ids = [m.id for m in served.client().models.list()]
    assert ids[0] == BUNDLED_ID
    assert served.client().models.retrieve(BARE_ID).id == BUNDLED_ID


def test_non_streaming_answer_is_openai_shaped(served: Served) -> None:
    # The id without "local:" is taken too.
    answer = _ask(served.client(), QUESTION, model=BARE_ID, max_tokens=12, seed=1)
    assert answer.object == "chat.completion" and answer.id.startswith("chatcmpl-")
    assert answer.model == BUNDLED_ID and answer.created > 0
    [choice] = answer.choices
    assert choice.message.role == "assistant" and choice.message.content.strip()
    assert choice.finish_reason in ("stop", "length")
    assert answer.usage.prompt_tokens > 5
    assert 0 < answer.usage.completion_tokens <= 12
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens


def test_streaming_gives_the_same_text_and_the_usage_last(served: Served) -> None:
    client = served.client()
    whole = _ask(client, QUESTION, max_completion_tokens=16)
    chunks = list(
        _ask(client, QUESTION, max_tokens=16, stream=True, stream_options={"include_usage": True})
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == (
        whole.choices[0].finish_reason
    )
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.completion_tokens == whole.usage.completion_tokens
    assert all(c.usage is None for c in chunks[:-1])


def test_the_stream_is_server_sent_events_ending_with_done(served: Served) -> None:
    body = {"model": BUNDLED_ID, "messages": QUESTION, "max_tokens": 4, "stream": True}
    status, raw = _raw(served.open.base_url + "/chat/completions", json.dumps(body).encode("utf-8"))
    assert status == 200
    events = [e for e in raw.decode().split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    assert json.loads(events[-2].removeprefix("data: "))["choices"][0]["finish_reason"]


def test_a_stop_string_ends_the_answer_there(served: Served) -> None:
    client = served.client()
    text = _ask(client, COUNTING, max_tokens=24).choices[0].message.content
    stop = text[len(text) // 2 : len(text) // 2 + 2]
    cut = _ask(client, COUNTING, max_tokens=24, stop=[stop])
    assert cut.choices[0].message.content == text[: text.index(stop)]
    assert cut.choices[0].finish_reason == "stop"
    streamed = _ask(client, COUNTING, max_tokens=24, stop=stop, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed) == text[: text.index(stop)]


def test_concurrent_clients_are_answered_first_come_first_served(served: Served) -> None:
    solo = _ask(served.client(), QUESTION, max_tokens=10)
    alone, question_tokens = solo.choices[0].message.content, solo.usage.prompt_tokens
    logged = len(served.log.entries())
    marks: dict[str, float] = {}
    texts: dict[str, str] = {}
    first_chunk = threading.Event()

    def client(name: str, messages: list[dict[str, str]], tokens: int) -> None:
        pieces = []
        for chunk in _ask(served.client(), messages, max_tokens=tokens, stream=True):
            content = chunk.choices[0].delta.content if chunk.choices else None
            if content:
                marks.setdefault(f"{name}-first", time.monotonic())
                first_chunk.set()
                pieces.append(content)
        marks[f"{name}-end"] = time.monotonic()
        texts[name] = "".join(pieces)

    a = threading.Thread(target=client, args=("a", COUNTING, 64))
    a.start()
    assert first_chunk.wait(60)  # a holds the engine now
    b = threading.Thread(target=client, args=("b", QUESTION, 10))
    b.start()
    # b is queued (or already answering) before c asks.
    _wait_until(lambda: served.served.waiting == 1 or "b-first" in marks)
    c = threading.Thread(target=client, args=("c", QUESTION, 10))
    c.start()
    for thread in (a, b, c):
        thread.join(120)
    assert texts["b"] == texts["c"] == alone
    assert texts["a"].startswith("1")
    # One at a time, in arrival order: a's answer ended first, then b's, then c's.
    assert marks["a-first"] < marks["b-first"] < marks["c-first"]
    # A stream's log line is written after its [DONE] reaches the client: wait for all three.
    _wait_until(lambda: len(served.log.entries()) >= logged + 3)
    ended = [e["prompt_tokens"] for e in served.log.entries()[logged:]]
    assert ended[1:] == [question_tokens, question_tokens] and ended[0] != question_tokens


def test_a_client_that_leaves_mid_stream_frees_the_engine(served: Served) -> None:
    stopped_before, logged = served.served.stopped, len(served.log.entries())
    stream = _ask(served.client(), LONG, max_tokens=900, stream=True)
    received = 0
    for chunk in stream:
        received += bool(chunk.choices and chunk.choices[0].delta.content)
        if received == 3:
            break
    stream.close()
    # The next request is answered (the engine stopped the abandoned answer, not ran 900 tokens).
    assert _ask(served.client(), QUESTION, max_tokens=4).choices[0].message.content
    entry = _wait_for_entry(served.log, CLIENT_GONE, logged)
    assert entry["finish"] == "cancelled" and entry["stream"] is True
    assert 3 <= entry["completion_tokens"] < 900
    assert served.served.stopped == stopped_before + 1


def test_a_client_that_leaves_while_queued_never_reaches_the_engine(served: Served) -> None:
    skipped_before = served.served.skipped
    # The engine's one worker is kept busy until the test opens the gate, so the next request
    # waits its turn. (A long answer held it before, but SmolLM2 counts for 70 tokens, about a
    # second on a quiet machine: sometimes done before the client gave up.)
    gate = threading.Event()
    held = served.served._worker.submit(gate.wait, 60)
    try:
        # A client that gives up while waiting its turn (its timeout closes the connection).
        impatient = openai.OpenAI(
            base_url=served.open.base_url, api_key="unused", max_retries=0, timeout=1.0
        )
        served.clients.append(impatient)
        with pytest.raises(openai.APITimeoutError):
            _ask(impatient, QUESTION, max_tokens=4)
        time.sleep(1.0)  # the server's loop sees the closed connection (it takes milliseconds)
    finally:
        gate.set()
        held.result(timeout=10)
    assert _ask(served.client(), QUESTION, max_tokens=4).choices[0].message.content
    assert served.served.skipped == skipped_before + 1


def test_bad_json_and_missing_messages_are_400_invalid_request(served: Served) -> None:
    status, body = _raw(served.open.base_url + "/chat/completions", b"{not json")
    assert status == 400
    assert _error_shape(body)["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError) as missing:
        _ask(served.client(), [])
    assert missing.value.status_code == 400
    assert missing.value.body["param"] == "messages"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as hot:
        _ask(served.client(), QUESTION, max_tokens=4, top_p=0)
    assert hot.value.body["param"] == "top_p"  # type: ignore[index]
    status, body = _raw(served.open.base_url + "/completions", None)  # not served here
    assert status == 404 and "/v1/chat/completions" in _error_shape(body)["message"]


def test_an_unknown_model_is_404_model_not_found(served: Served) -> None:
    with pytest.raises(openai.NotFoundError) as failed:
        _ask(served.client(), QUESTION, model="gpt-4o", max_tokens=4)
    assert failed.value.code == "model_not_found"
    assert "/v1/models" in failed.value.message
    # A path is not a model a client may load.
    with pytest.raises(openai.NotFoundError):
        _ask(served.client(), QUESTION, model=bundled_model().path, max_tokens=4)  # type: ignore[union-attr]


PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 24},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}
ASK_PERSON = [{"role": "user", "content": "Describe a person with a name and an age."}]


def test_response_format_holds_the_answer_to_the_schema(served: Served) -> None:
    client = served.client()
    free = _ask(client, ASK_PERSON, max_tokens=40).choices[0].message.content
    with pytest.raises(ValueError):  # left free, the model writes prose
        json.loads(free)
    schema = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON}}
    held = _ask(client, ASK_PERSON, max_tokens=80, response_format=schema)
    person = json.loads(held.choices[0].message.content)
    assert set(person) == {"name", "age"} and isinstance(person["name"], str)
    assert isinstance(person["age"], int) and 0 <= person["age"] <= 150
    assert held.choices[0].finish_reason == "stop"  # the grammar ends the answer with the object
    streamed = _ask(client, ASK_PERSON, max_tokens=80, response_format=schema, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    assert json.loads(text) == person
    paris = [{"role": "user", "content": "Reply in JSON with the keys city and country for Paris."}]
    anything = _ask(client, paris, max_tokens=60, response_format={"type": "json_object"})
    assert isinstance(json.loads(anything.choices[0].message.content), dict)
    assert anything.choices[0].finish_reason == "stop"


def test_a_schema_that_cannot_be_held_to_is_400(served: Served) -> None:
    fetched = {"type": "object", "properties": {"a": {"$ref": "https://example.com/s.json"}}}
    with pytest.raises(openai.BadRequestError) as refused:
        _ask(
            served.client(),
            ASK_PERSON,
            max_tokens=8,
            response_format={"type": "json_schema", "json_schema": {"schema": fetched}},
        )
    assert "response_format" in refused.value.message
    # The engine is none the worse for it.
    assert _ask(served.client(), QUESTION, max_tokens=4).choices[0].message.content


def test_a_prompt_longer_than_the_context_is_400_context_length_exceeded(served: Served) -> None:
    long = [{"role": "user", "content": "zebra " * 1500}]
    with pytest.raises(openai.BadRequestError) as failed:
        _ask(served.client(), long, max_tokens=4)
    assert failed.value.code == "context_length_exceeded"
    assert "1024" in failed.value.message


def test_a_model_that_fails_to_load_is_500_and_the_next_request_loads_again(
    served: Served,
) -> None:
    with pytest.raises(openai.InternalServerError) as failed:
        _ask(served.client(), QUESTION, model="local:broken", max_tokens=4)
    assert failed.value.code == "model_load_failed"
    assert _ask(served.client(), QUESTION, max_tokens=4).choices[0].message.content
    assert served.served.loaded_path == bundled_model().path  # type: ignore[union-attr]


def test_a_set_key_is_required_on_every_request(served: Served) -> None:
    with pytest.raises(openai.AuthenticationError) as wrong:
        served.client("sk-wrong", keyed=True).models.list()
    assert wrong.value.code == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        _ask(served.client("sk-wrong", keyed=True), QUESTION, max_tokens=4)
    status, body = _raw(served.keyed.base_url + "/chat/completions", b"{}")
    assert status == 401 and _error_shape(body)["code"] == "invalid_api_key"
    right = served.client(KEY, keyed=True)
    assert next(m.id for m in right.models.list()) == BUNDLED_ID
    assert _ask(right, QUESTION, max_tokens=4).choices[0].message.content


WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 20}},
            "required": ["city"],
        },
    },
}


def test_a_forced_tool_call_comes_back_as_tool_calls(served: Served) -> None:
    answer = _ask(
        served.client(),
        [{"role": "user", "content": "What is the weather in Paris?"}],
        max_tokens=48,
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    [choice] = answer.choices
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls
    assert call.function.name == "get_weather" and call.id
    assert "city" in json.loads(call.function.arguments)


def test_tools_and_a_response_format_give_a_call_or_an_answer_in_that_format(
    served: Served,
) -> None:
    schema = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON}}
    client = served.client()

    def is_person(content: str | None) -> bool:
        person = json.loads(content or "")
        return set(person) == {"name", "age"} and isinstance(person["age"], int)

    # Before: a 400. The model may call (SmolLM2 calls whatever it is offered) or answer,
    # and then only in the format: never prose, never a call of something else.
    for question in (ASK_PERSON, [{"role": "user", "content": "What is the weather in Rome?"}]):
        [either] = _ask(
            client, question, max_tokens=80, tools=[WEATHER], response_format=schema
        ).choices
        if either.message.tool_calls:
            [call] = either.message.tool_calls
            assert call.function.name == "get_weather" and either.finish_reason == "tool_calls"
            assert "city" in json.loads(call.function.arguments)
        else:
            assert is_person(either.message.content) and either.finish_reason == "stop"
    # No call allowed: the text answer is held to the schema.
    [one] = _ask(
        client,
        ASK_PERSON,
        max_tokens=80,
        tools=[WEATHER],
        tool_choice="none",
        response_format=schema,
    ).choices
    assert not one.message.tool_calls and is_person(one.message.content)
    assert one.finish_reason == "stop"
    # A call the model must make stays a call.
    forced = _ask(
        client,
        [{"role": "user", "content": "What is the weather in Paris?"}],
        max_tokens=48,
        tools=[WEATHER],
        tool_choice="required",
        response_format=schema,
    )
    [call] = forced.choices[0].message.tool_calls
    assert call.function.name == "get_weather" and "city" in json.loads(call.function.arguments)


def test_the_apps_own_openai_compatible_provider_streams_from_it(served: Served) -> None:
    provider = OpenAIProvider("my-llamaside", served.keyed.base_url, KEY)
    try:
        prompt = Prompt.from_wire(QUESTION, SamplingParams(temperature=0, max_tokens=10))
        events = list(provider.events(prompt, BUNDLED_ID))
    finally:
        provider.close()
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == _ask(served.client(), QUESTION, max_tokens=10).choices[0].message.content


def test_each_request_is_logged_without_its_text(served: Served) -> None:
    before = len(served.log.entries())
    _ask(served.client(), [{"role": "user", "content": SECRET_PROMPT}], max_tokens=3)
    with pytest.raises(openai.NotFoundError):
        _ask(served.client(), QUESTION, model="nope", max_tokens=3)
    entries = served.log.entries()[before:]
    ok, missing = entries
    assert ok["client"] == "127.0.0.1" and ok["model"] == BUNDLED_ID and ok["status"] == 200
    assert ok["path"] == "/v1/chat/completions"
    assert ok["prompt_tokens"] > 0 and 0 < ok["completion_tokens"] <= 3 and ok["seconds"] >= 0
    assert missing["status"] == 404 and missing["error"] == "model_not_found"
    assert SECRET_PROMPT not in served.log.path.read_text()


def test_the_log_keeps_its_last_lines(tmp_path: Path) -> None:
    log = ServedLog(tmp_path / "log.jsonl", keep=20)
    for n in range(50):
        log.write({"n": n})
    kept = [e["n"] for e in log.entries()]
    assert kept[-1] == 49 and 20 <= len(kept) <= 22 and kept == sorted(kept)


def test_listening_beyond_this_machine_needs_a_key() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")
    assert not is_loopback("my-laptop.lan")
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", KEY)
    with pytest.raises(ServerRefused, match="needs an API key"):
        check_bind("0.0.0.0", None)
    with pytest.raises(ServerRefused, match="--new-key"):
        check_bind("192.168.1.4", "")
