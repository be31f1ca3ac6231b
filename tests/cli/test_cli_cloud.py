"""Cloud use from the CLI: keys in a real keyring, providers off until enabled, a chat through
the real SDKs to our servers on 127.0.0.1, and the key found in no file the app wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.core.messages import MessageStatus
from desktop.storage.paths import AppPaths
from desktop.storage.store import ChatStore
from tests.cloudserver import CloudServer
from tests.conftest import SMOL_REPO
from tests.hubserver import HubServer

KEY = "sk-live-THIS-IS-A-TEST-KEY-0123456789"


@pytest.fixture
def cloud() -> Iterator[CloudServer]:
    with CloudServer() as server:
        yield server


def run(
    home: AppPaths, extra: dict[str, str], *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        env.pop(name, None)  # only the keys a test gives in ``extra``
    env.update({"LLAMASIDE_HOME": str(home.data.parent), **extra})
    return subprocess.run(
        [sys.executable, "-m", "desktop", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_cloud_chat_needs_the_provider_on_and_a_key(
    home: AppPaths, cloud: CloudServer, secret_service: dict[str, str]
) -> None:
    env = secret_service
    assert (
        run(
            home, env, "providers", "set", "openai", "--base-url", cloud.base_url + "/v1"
        ).returncode
        == 0
    )
    off = run(home, env, "chat", "-m", "openai:gpt-4o", "Hi")
    assert off.returncode == 1 and "is off, so nothing was sent" in off.stderr
    assert cloud.state.requests == []  # not a single request while the provider is off

    assert run(home, env, "providers", "enable", "openai").returncode == 0
    keyless = run(home, env, "chat", "-m", "openai:gpt-4o", "Hi")
    assert keyless.returncode == 1 and "No API key for openai" in keyless.stderr
    assert cloud.state.requests == []

    saved = run(home, env, "keys", "set", "openai", stdin=KEY + "\n")
    assert saved.returncode == 0, saved.stderr
    listed = run(home, env, "keys", "list").stdout
    assert "openai       key in the system keyring" in listed
    answer = run(home, env, "chat", "-m", "openai:gpt-4o", "--json", "Hi")
    assert answer.returncode == 0, answer.stderr
    data = json.loads(answer.stdout)
    assert data["text"] == "Hello from the cloud." and data["model"] == "openai:gpt-4o"
    headers = {k.lower(): v for k, v in cloud.state.requests[-1]["headers"].items()}
    assert headers["authorization"] == f"Bearer {KEY}"

    # GPT-4o's shipped price: $2.50 in, $10 out per million tokens (11 in, 5 out here).
    assert data["usage"]["cost_usd"] == pytest.approx((11 * 2.5 + 5 * 10.0) / 1e6)
    store = ChatStore(home.database)
    [conversation] = store.list_conversations()
    answer_row = store.messages(conversation.id)[-1]
    assert answer_row.model == "openai:gpt-4o" and answer_row.status == MessageStatus.COMPLETE
    assert answer_row.usage is not None and answer_row.usage["cost_usd"] > 0
    store.close()

    # The privacy record lists the request, in all three forms; never the key.
    record = run(home, env, "privacy")
    assert record.returncode == 0
    assert "openai" in record.stdout and "127.0.0.1" in record.stdout
    assert f"chat {conversation.id}" in record.stdout
    [row] = [json.loads(line) for line in run(home, env, "privacy", "--json").stdout.splitlines()]
    assert (row["purpose"], row["model"], row["conversation_id"]) == (
        "chat",
        "gpt-4o",
        conversation.id,
    )
    assert row["bytes_sent"] > len("Hi")
    exported = Path(home.data.parent, "record.csv")
    assert run(home, env, "privacy", "--export", str(exported)).returncode == 0
    assert exported.read_text().splitlines()[0].startswith("at,destination,host,purpose")

    # Offline: refused with a sentence, and not one connection to the server.
    assert "Offline" in run(home, env, "offline", "on").stdout
    before = cloud.connections
    blocked = run(home, env, "chat", "-m", "openai:gpt-4o", "Hi")
    assert blocked.returncode == 1 and "offline, so nothing was sent" in blocked.stderr
    assert cloud.connections == before
    assert "Online" in run(home, env, "offline", "off").stdout
    # The key's bytes appear in no file the app wrote.
    for path in Path(home.data.parent).rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_custom_anthropic_endpoint_and_errors(home: AppPaths, cloud: CloudServer) -> None:
    env = {"ANTHROPIC_API_KEY": "env-key-123"}
    added = run(
        home, {}, "providers", "add", "mine", "--base-url", cloud.base_url, "--api", "anthropic"
    )
    assert added.returncode == 0 and "it is off until" in added.stdout
    assert run(home, {}, "providers", "enable", "mine").returncode == 0
    listed = run(home, {}, "providers", "list").stdout
    assert "mine         on   anthropic" in listed
    # A custom endpoint has no env fallback of its own: MINE_API_KEY.
    answer = run(
        home,
        {**env, "MINE_API_KEY": "env-key-123"},
        "chat",
        "-m",
        "mine:claude-x",
        "--no-save",
        "Hi",
    )
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() == "Hello from the cloud."
    cloud.state.statuses = [401]
    denied = run(home, {"MINE_API_KEY": "bad"}, "chat", "-m", "mine:claude-x", "Hi")
    assert denied.returncode == 1
    assert "rejected the API key (401)" in denied.stderr and "Traceback" not in denied.stderr
    store = ChatStore(home.database)
    failed = store.messages(store.list_conversations()[0].id)[-1]
    assert failed.status == MessageStatus.FAILED and "401" in (failed.error or "")
    store.close()


def test_offline_switch_and_record_cover_the_hub(home: AppPaths, smol_hub: HubServer) -> None:
    found = run(home, {}, "models", "search", "SmolLM2")
    assert found.returncode == 0, found.stderr
    [row] = [json.loads(line) for line in run(home, {}, "privacy", "--json").stdout.splitlines()]
    # The search words left the machine: the record says so.
    assert (row["destination"], row["purpose"], row["model"]) == (
        "huggingface",
        "search",
        "SmolLM2",
    )
    assert run(home, {}, "offline", "on").returncode == 0
    before = smol_hub.connections
    for command in (["models", "search", "llama"], ["models", "files", SMOL_REPO]):
        blocked = run(home, {}, *command)
        assert blocked.returncode == 1
        assert "offline, so nothing was sent to Hugging Face" in blocked.stderr
    assert smol_hub.connections == before
    assert len(run(home, {}, "privacy", "--json").stdout.splitlines()) == 1


def test_claude_thinking_from_the_command_line_is_saved_apart(
    home: AppPaths, cloud: CloudServer
) -> None:
    cloud.state.thinking = ["Greeting", " back."]
    env = {"ANTHROPIC_API_KEY": KEY}
    assert (
        run(home, env, "providers", "set", "anthropic", "--base-url", cloud.base_url).returncode
        == 0
    )
    assert run(home, env, "providers", "enable", "anthropic").returncode == 0
    result = run(
        home, env, "chat", "--json", "--thinking-budget", "2048", "-m", "anthropic:claude-x", "Hi"
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["text"] == "Hello from the cloud." and answer["reasoning"] == "Greeting back."
    body = cloud.state.requests[-1]["body"]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    store = ChatStore(home.database)
    [conversation] = store.list_conversations()
    assert store.messages(conversation.id)[-1].reasoning == "Greeting back."
    store.close()


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_an_own_server_without_a_key_works_as_it_is_started(
    home: AppPaths, cloud: CloudServer, api: str
) -> None:
    """llama-server, vLLM and Ollama run without a key by default: an endpoint added for one
    answers, in a chat and in a comparison, and its models are listed with the local ones."""
    base = cloud.base_url + ("/v1" if api == "openai" else "")
    added = run(home, {}, "providers", "add", "mine", "--base-url", base, "--api", api)
    assert added.returncode == 0, added.stderr
    assert run(home, {}, "providers", "enable", "mine").returncode == 0
    chat = run(home, {}, "chat", "-m", "mine:gpt-4o", "Hi")
    assert chat.returncode == 0, chat.stderr
    assert "Hello from the cloud." in chat.stdout
    compared = run(
        home, {}, "compare", "--json", "-m", "mine:gpt-4o", "-m", "mine:gpt-4o-mini", "Hi"
    )
    assert compared.returncode == 0, compared.stderr
    headers = {k.lower(): v for k, v in cloud.state.requests[-1]["headers"].items()}
    assert "no-key" in headers.get("authorization", "") + headers.get("x-api-key", "")

    listed = run(home, {}, "models", "list")
    assert listed.returncode == 0, listed.stderr
    assert "local:smollm2-135m-instruct" in listed.stdout
    assert "mine:gpt-4o " in listed.stdout and "mine:gpt-4o-mini" in listed.stdout
    remote = run(home, {}, "models", "list", "--remote").stdout
    assert "mine:gpt-4o" in remote and "local:" not in remote
    local = run(home, {}, "models", "list", "--local").stdout
    assert "local:smollm2-135m-instruct" in local and "mine:" not in local


def test_an_own_server_that_wants_a_key_says_so(home: AppPaths, cloud: CloudServer) -> None:
    cloud.state.statuses = [401]
    run(
        home,
        {},
        "providers",
        "add",
        "mine",
        "--base-url",
        cloud.base_url + "/v1",
        "--api",
        "openai",
    )
    run(home, {}, "providers", "enable", "mine")
    chat = run(home, {}, "chat", "-m", "mine:gpt-4o", "Hi")
    assert chat.returncode == 1
    assert "asks for an API key (401)" in chat.stderr and "llamaside keys set mine" in chat.stderr


def test_built_in_providers_still_need_a_key(
    home: AppPaths, cloud: CloudServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    run(home, {}, "providers", "set", "groq", "--base-url", cloud.base_url + "/v1")
    run(home, {}, "providers", "enable", "groq")
    chat = run(home, {}, "chat", "-m", "groq:llama-4-scout", "Hi")
    assert chat.returncode == 1 and "No API key for groq" in chat.stderr
    listed = run(home, {}, "models", "list")
    assert listed.returncode == 0 and "local:smollm2-135m-instruct" in listed.stdout
    assert "groq: No API key for groq" in listed.stderr  # named, the rest still listed
    assert cloud.state.requests == []
