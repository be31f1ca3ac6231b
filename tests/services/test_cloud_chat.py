"""ChatService with cloud models: the real SDKs against our loopback servers, a real store.

What is checked is what the user relies on: an answer is marked with where it came from and
what it cost; the lock, the offline switch and the missing consent send nothing at all (the
server sees no connection); every failure ends in the answer with the text so far kept.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from desktop.backends.network import Offline
from desktop.core.messages import MessageStatus, Role
from desktop.core.models import LocalModel
from desktop.core.params import SamplingParams
from desktop.services.chat import (
    ChatService,
    CloudRefused,
    ConsentRequired,
    HistoryConsentRequired,
)
from desktop.services.cloud import CloudService
from desktop.services.engine_host import EngineHost
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings
from desktop.storage.store import ChatStore
from tests.cloudserver import CloudServer, refuse_dns

KEY = "sk-test-cloud-chat-5f3a9c"
TIMEOUT_MS = 20_000


@pytest.fixture
def server() -> Iterator[CloudServer]:
    with CloudServer() as cloud:
        yield cloud


@pytest.fixture
def cloud_chat(
    home: AppPaths, qtbot: QtBot, server: CloudServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ChatService]:
    """ChatService with OpenAI and Anthropic pointed at our server, keys from the environment
    (the read-only source; the keyring path is tested with the window)."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    store = ChatStore(home.database)
    settings = Settings(home.settings)
    cloud = CloudService(store, settings, home.pricing)
    cloud.timeout_s = 2.0
    cloud.set_base_url("openai", server.base_url + "/v1")
    cloud.set_base_url("anthropic", server.base_url)
    service = ChatService(store, settings, home.models, EngineHost(), cloud=cloud)
    service.sampling = SamplingParams(temperature=0.0, max_tokens=100)
    yield service
    service.shutdown()
    store.close()


def enable(chat: ChatService, qtbot: QtBot, provider: str, model: str) -> str:
    """Turn the provider on the way the settings page does; the id of one of its models, for a
    chat to pick (a cloud model is always a chat's own choice)."""
    assert chat.cloud is not None
    with qtbot.waitSignal(chat.cloud.checked, timeout=TIMEOUT_MS) as checked:
        chat.cloud.set_enabled(provider, True)
    assert checked.args is not None and checked.args[2], checked.args
    picked = f"{provider}:{model}"
    assert any(m.id == picked for m in chat.cloud_models)
    assert chat.default_model is not None and chat.default_model.id != picked
    return picked


def finish(chat: ChatService, qtbot: QtBot, conversation_id: int, text: str) -> Any:
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS):
        assert chat.send(conversation_id, text)
    return chat.store.messages(conversation_id)[-1]


@pytest.mark.parametrize(
    ("provider", "prompt_tokens", "price"),
    [("openai", 11, (2.5, 10.0)), ("anthropic", 13, (3.0, 15.0))],
)
def test_cloud_answer_is_marked_priced_and_recorded(
    cloud_chat: ChatService,
    qtbot: QtBot,
    server: CloudServer,
    provider: str,
    prompt_tokens: int,
    price: tuple[float, float],
) -> None:
    model = "gpt-4o" if provider == "openai" else "claude-sonnet-4-20250514"
    server.state.models = [model, "other-model"]
    picked = enable(cloud_chat, qtbot, provider, model)
    assert cloud_chat.cloud is not None
    cloud_chat.cloud.grant_consent(provider)
    conv = cloud_chat.store.create_conversation(model=picked)
    answer = finish(cloud_chat, qtbot, conv.id, "Say hello from far away")
    assert answer.status == MessageStatus.COMPLETE
    assert answer.content == "Hello from the cloud."
    assert answer.model == f"{provider}:{model}"
    assert answer.usage["prompt_tokens"] == prompt_tokens
    assert answer.usage["output_tokens"] == 5
    expected = (prompt_tokens * price[0] + 5 * price[1]) / 1_000_000
    assert answer.usage["cost_usd"] == pytest.approx(expected)
    assert answer.usage["price_checked"]
    chat_body = server.state.requests[-1]["body"]
    assert chat_body["messages"][-1] == {"role": "user", "content": "Say hello from far away"}

    record = cloud_chat.store.outbound()
    assert [r.purpose for r in record] == ["models", "chat"]
    sent = record[-1]
    assert (sent.destination, sent.host, sent.model) == (provider, "127.0.0.1", model)
    assert sent.conversation_id == conv.id
    assert sent.conversation == "Say hello from far away"  # the chat's title
    assert sent.bytes_sent > len("Say hello from far away")
    assert KEY not in repr(record)


def test_a_follow_up_sends_the_whole_conversation(
    cloud_chat: ChatService, qtbot: QtBot, server: CloudServer
) -> None:
    picked = enable(cloud_chat, qtbot, "openai", "gpt-4o")
    assert cloud_chat.cloud is not None
    cloud_chat.cloud.grant_consent("openai")
    conv = cloud_chat.store.create_conversation(model=picked, system_prompt="Be brief.")
    finish(cloud_chat, qtbot, conv.id, "First")
    finish(cloud_chat, qtbot, conv.id, "Second")
    assert server.state.requests[-1]["body"]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "First"},
        {"role": "assistant", "content": "Hello from the cloud."},
        {"role": "user", "content": "Second"},
    ]


def test_nothing_is_sent_without_consent(
    cloud_chat: ChatService, qtbot: QtBot, server: CloudServer
) -> None:
    picked = enable(cloud_chat, qtbot, "openai", "gpt-4o")
    before = server.connections
    conv = cloud_chat.store.create_conversation(model=picked)
    assert cloud_chat.needs_consent(cloud_chat.model_of(conv.id))
    with pytest.raises(ConsentRequired) as refused:
        cloud_chat.send(conv.id, "private words")
    assert "will be sent to OpenAI at " + server.base_url + "/v1" in str(refused.value)
    assert server.connections == before
    assert cloud_chat.store.messages(conv.id) == []
    assert not cloud_chat.busy


def test_local_only_chat_sends_nothing(
    cloud_chat: ChatService, qtbot: QtBot, server: CloudServer
) -> None:
    picked = enable(cloud_chat, qtbot, "openai", "gpt-4o")
    assert cloud_chat.cloud is not None
    cloud_chat.cloud.grant_consent("openai")
    conv = cloud_chat.store.create_conversation(model=picked)
    cloud_chat.set_local_only(conv.id, True)
    before = server.connections
    with pytest.raises(CloudRefused, match="local only"):
        cloud_chat.send(conv.id, "private words")
    assert server.connections == before
    assert cloud_chat.store.messages(conv.id) == []
    assert cloud_chat.store.get_conversation(conv.id).local_only


def test_offline_switch_blocks_chat_and_model_lists(
    cloud_chat: ChatService, qtbot: QtBot, server: CloudServer
) -> None:
    picked = enable(cloud_chat, qtbot, "openai", "gpt-4o")
    cloud = cloud_chat.cloud
    assert cloud is not None
    cloud.grant_consent("openai")
    cloud.set_offline(True)
    before = server.connections
    conv = cloud_chat.store.create_conversation(model=picked)
    with pytest.raises(Offline, match="offline"):
        cloud_chat.send(conv.id, "hello")
    with qtbot.waitSignal(cloud.checked, timeout=TIMEOUT_MS) as checked:
        cloud.test_connection("openai")
    assert checked.args is not None and not checked.args[2]
    assert "offline" in checked.args[3]
    assert server.connections == before
    assert [r.purpose for r in cloud.record()] == ["models"]  # from before the switch
    # The switch survives a restart (it is a setting), and turning it off works again.
    assert Settings(cloud.settings.path).get("offline") is True
    cloud.set_offline(False)
    assert finish(cloud_chat, qtbot, conv.id, "hello").status == MessageStatus.COMPLETE


def test_going_offline_stops_a_streaming_answer(
    cloud_chat: ChatService, qtbot: QtBot, server: CloudServer
) -> None:
    picked = enable(cloud_chat, qtbot, "openai", "gpt-4o")
    assert cloud_chat.cloud is not None
    cloud_chat.cloud.grant_consent("openai")
    server.state.endless = True
    server.state.delay_s = 0.02
    conv = cloud_chat.store.create_conversation(model=picked)
    shown: list[str] = []
    cloud_chat.answer_delta.connect(lambda _c, _a, text: shown.append(text))
    cloud_chat.send(conv.id, "go on forever")
    qtbot.waitUntil(lambda: len(shown) >= 3, timeout=TIMEOUT_MS)
    with qtbot.waitSignal(cloud_chat.answer_finished, timeout=2_000):
        cloud_chat.cloud.set_offline(True)
    answer = cloud_chat.store.messages(conv.id)[-1]
    assert answer.status == MessageStatus.STOPPED
    assert answer.content == "".join(shown)


def test_stop_ends_an_endless_stream_and_keeps_the_text(
    cloud_chat: ChatService, qtbot: QtBot, server: CloudServer
) -> None:
    picked = enable(cloud_chat, qtbot, "anthropic", "gpt-4o")
    assert cloud_chat.cloud is not None
    cloud_chat.cloud.grant_consent("anthropic")
    server.state.endless = True
    server.state.delay_s = 0.01
    conv = cloud_chat.store.create_conversation(model=picked)
    shown: list[str] = []
    cloud_chat.answer_delta.connect(lambda _c, _a, text: shown.append(text))
    cloud_chat.send(conv.id, "never stop")
    qtbot.waitUntil(lambda: len(shown) >= 20, timeout=TIMEOUT_MS)
    with qtbot.waitSignal(cloud_chat.answer_finished, timeout=1_000) as finished:
        cloud_chat.stop()
    assert finished.args is not None and finished.args[2] == "stopped"
    answer = cloud_chat.store.messages(conv.id)[-1]
    assert answer.content == "".join(shown)
    # The worker closes the HTTP stream: the server stops writing soon after.
    cloud_chat.cloud_streams.shutdown(wait_s=5)
    assert not any(t.is_alive() for t in cloud_chat.cloud_streams._threads.values())


FAULTS: list[tuple[str, dict[str, Any], str, str]] = [
    ("401", {"statuses": [401]}, "rejected the API key", ""),
    ("403", {"statuses": [403]}, "no access to that model", ""),
    ("404", {"statuses": [404]}, "does not know that model", ""),
    ("429", {"statuses": [429, 429], "retry_after": "0.1"}, "rate-limiting", ""),
    ("500", {"statuses": [500]}, "server error (500)", ""),
    ("529", {"statuses": [529]}, "overloaded", ""),
    ("cut", {"cut_after": 2}, "broke mid-answer", "Hello from"),
    ("malformed", {"malformed": True}, "malformed stream event", "Hello from"),
    ("empty body", {"empty_body": True}, "without sending anything", ""),
    ("timeout", {"stall_s": 3.0}, "did not answer in time", ""),
]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize(("fault", "state", "says", "kept"), FAULTS, ids=[f[0] for f in FAULTS])
def test_each_cloud_failure_ends_in_the_answer(
    cloud_chat: ChatService,
    qtbot: QtBot,
    server: CloudServer,
    provider: str,
    fault: str,
    state: dict[str, Any],
    says: str,
    kept: str,
) -> None:
    picked = enable(cloud_chat, qtbot, provider, "gpt-4o")
    assert cloud_chat.cloud is not None
    cloud_chat.cloud.grant_consent(provider)
    for key, value in state.items():
        setattr(server.state, key, copy.deepcopy(value))  # FAULTS is shared
    conv = cloud_chat.store.create_conversation(model=picked)
    answer = finish(cloud_chat, qtbot, conv.id, "hello")
    assert answer.status == MessageStatus.FAILED, (fault, answer)
    assert answer.error and says in answer.error, answer.error
    assert KEY not in answer.error
    assert answer.content == kept
    assert not cloud_chat.busy


def test_rate_limit_is_retried_once_after_retry_after(
    cloud_chat: ChatService, qtbot: QtBot, server: CloudServer
) -> None:
    picked = enable(cloud_chat, qtbot, "openai", "gpt-4o")
    assert cloud_chat.cloud is not None
    cloud_chat.cloud.grant_consent("openai")
    server.state.statuses = [429]
    server.state.retry_after = "0.2"
    conv = cloud_chat.store.create_conversation(model=picked)
    answer = finish(cloud_chat, qtbot, conv.id, "hello")
    assert answer.status == MessageStatus.COMPLETE
    chats = [r for r in cloud_chat.store.outbound() if r.purpose == "chat"]
    assert len(chats) == 2  # both attempts left the machine, both are in the record


@pytest.mark.parametrize(
    ("base_url", "says"),
    [
        ("http://api.example.invalid/v1", "could not be looked up (DNS"),
        ("http://127.0.0.1:9/v1", "connection refused"),
    ],
)
def test_unreachable_servers_are_named(
    cloud_chat: ChatService,
    qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
    base_url: str,
    says: str,
) -> None:
    refuse_dns(monkeypatch)
    picked = enable(cloud_chat, qtbot, "openai", "gpt-4o")
    cloud = cloud_chat.cloud
    assert cloud is not None
    providers = cloud.providers()
    providers.update("openai", base_url=base_url)  # keep the cached model list
    cloud.settings.set("providers", providers.to_settings())
    cloud.grant_consent("openai")
    conv = cloud_chat.store.create_conversation(model=picked)
    answer = finish(cloud_chat, qtbot, conv.id, "hello")
    assert answer.status == MessageStatus.FAILED
    assert answer.error and says in answer.error, answer.error
    assert base_url in answer.error


def test_moving_a_provider_asks_again_and_turning_it_off_falls_back_to_local(
    cloud_chat: ChatService, qtbot: QtBot, server: CloudServer
) -> None:
    picked = enable(cloud_chat, qtbot, "openai", "gpt-4o")
    cloud = cloud_chat.cloud
    assert cloud is not None
    cloud.grant_consent("openai")
    moved = server.base_url.replace("127.0.0.1", "localhost") + "/v1"
    cloud.set_base_url("openai", moved)  # the same server under another name
    assert not cloud.has_consent("openai")  # consent was for the old address
    conv = cloud_chat.store.create_conversation(model=picked)
    # The moved provider's model list is gone, so the chat shows (and would use) the local
    # model meanwhile; new chats start on the local model whatever happens.
    assert cloud_chat.model_of(conv.id) == cloud_chat.default_model
    assert isinstance(cloud_chat.default_model, LocalModel)
    with qtbot.waitSignal(cloud.checked, timeout=TIMEOUT_MS):
        cloud.refresh_models("openai")
    # Listed again, the chat has its own model back, and nothing goes without a new yes.
    assert cloud_chat.model_of(conv.id).id == picked  # type: ignore[union-attr]
    assert cloud_chat.model_of(None) == cloud_chat.default_model
    before = server.connections
    with pytest.raises(ConsentRequired):
        cloud_chat.send(conv.id, "private words")
    assert server.connections == before
    assert cloud_chat.store.messages(conv.id) == []


def test_turning_a_provider_off_stops_its_answer(
    cloud_chat: ChatService, qtbot: QtBot, server: CloudServer
) -> None:
    picked = enable(cloud_chat, qtbot, "openai", "gpt-4o")
    assert cloud_chat.cloud is not None
    cloud_chat.cloud.grant_consent("openai")
    server.state.endless = True
    server.state.delay_s = 0.02
    conv = cloud_chat.store.create_conversation(model=picked)
    shown: list[str] = []
    cloud_chat.answer_delta.connect(lambda _c, _a, text: shown.append(text))
    cloud_chat.send(conv.id, "go on")
    qtbot.waitUntil(lambda: len(shown) >= 3, timeout=TIMEOUT_MS)
    with qtbot.waitSignal(cloud_chat.answer_finished, timeout=2_000):
        cloud_chat.cloud.set_enabled("openai", False)
    assert cloud_chat.store.messages(conv.id)[-1].status == MessageStatus.STOPPED


def test_settings_written_by_the_cli_meanwhile_survive(cloud_chat: ChatService) -> None:
    settings = cloud_chat.settings
    other = Settings(settings.path)  # as `llamaside offline on` would, from another process
    other.set("offline", True)
    settings.set("model", "local:smollm2-135m-instruct")
    assert Settings(settings.path).get("offline") is True


def test_a_chat_answered_here_goes_to_the_cloud_only_with_a_yes_for_its_history(
    cloud_chat: ChatService, qtbot: QtBot, server: CloudServer
) -> None:
    """Consent once per provider is not enough: a chat whose earlier messages stayed on this
    computer asks again, naming how many go where; after they went, a follow-up does not."""
    picked = enable(cloud_chat, qtbot, "openai", "gpt-4o")
    assert cloud_chat.cloud is not None
    cloud_chat.cloud.grant_consent("openai")
    store = cloud_chat.store
    local = "local:smollm2-135m-instruct"
    conv = store.create_conversation(model=local, system_prompt="My private notes.")
    question = store.add_message(conv.id, Role.USER, "my diagnosis is…")
    store.add_message(
        conv.id,
        Role.ASSISTANT,
        "I see.",
        model=local,
        status=MessageStatus.COMPLETE,
        parent_id=question.id,
    )
    cloud_chat.select_model(picked, conv.id)
    assert cloud_chat.model_of(conv.id).id == picked  # type: ignore[union-attr]
    assert cloud_chat.default_model is not None and cloud_chat.default_model.id == local

    before = server.connections
    with pytest.raises(HistoryConsentRequired) as asked:
        cloud_chat.send(conv.id, "what should I do?")
    share = asked.value.share
    assert (share.count, share.answered_here, share.system_prompt) == (2, True, True)
    assert str(asked.value) == (
        "2 earlier messages, answered on this computer, and this chat's system prompt will be "
        "sent to gpt-4o at 127.0.0.1:" + server.base_url.rsplit(":", 1)[1] + " (OpenAI) with "
        "your message."
    )
    assert server.connections == before  # nothing left
    assert len(store.messages(conv.id)) == 2  # and nothing was saved

    answer = finish_shared(cloud_chat, qtbot, conv.id, "what should I do?")
    assert answer.status == MessageStatus.COMPLETE
    assert [m["content"] for m in server.state.requests[-1]["body"]["messages"]] == [
        "My private notes.",
        "my diagnosis is…",
        "I see.",
        "what should I do?",
    ]
    # Everything before the cloud's answer went there already: a follow-up asks nothing.
    assert cloud_chat.unshared_history(conv.id) is None
    finish(cloud_chat, qtbot, conv.id, "thanks")

    # Back to the local model for a turn (stored as the engine would), then the cloud again:
    # only that turn is new to the provider.
    cloud_chat.select_model(local, conv.id)
    path = store.messages(conv.id)
    q2 = store.add_message(conv.id, Role.USER, "a local question", parent_id=path[-1].id)
    store.add_message(
        conv.id,
        Role.ASSISTANT,
        "a local answer",
        model=local,
        status=MessageStatus.COMPLETE,
        parent_id=q2.id,
    )
    cloud_chat.select_model(picked, conv.id)
    again = cloud_chat.unshared_history(conv.id)
    assert again is not None and (again.count, again.system_prompt) == (2, False)


def finish_shared(chat: ChatService, qtbot: QtBot, conversation_id: int, text: str) -> Any:
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS):
        assert chat.send(conversation_id, text, share_history=True)
    return chat.store.messages(conversation_id)[-1]
