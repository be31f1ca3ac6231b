"""`llamaside chat -c` and `--chat ID`: a chat from the history continued from the command
line through the same turn as the window (its model, its context), against a real model and
a real cloud SDK talking to our server on 127.0.0.1."""

from __future__ import annotations

import json

from desktop.core.messages import MessageStatus, Role
from desktop.core.params import SamplingParams
from desktop.storage.paths import AppPaths
from desktop.storage.store import ChatStore
from tests.cli.test_cli_cloud import KEY, cloud, run
from tests.cloudserver import CloudServer

__all__ = ["cloud"]  # the fixture, used by name


def test_continue_the_last_cloud_chat_sends_its_history(home: AppPaths, cloud: CloudServer) -> None:
    env = {"OPENAI_API_KEY": KEY}
    base = cloud.base_url + "/v1"
    assert run(home, env, "providers", "set", "openai", "--base-url", base).returncode == 0
    assert run(home, env, "providers", "enable", "openai").returncode == 0
    first = run(home, env, "chat", "--json", "-m", "openai:gpt-4o", "--system", "Be kind.", "Hi")
    assert first.returncode == 0, first.stderr
    chat_id = json.loads(first.stdout)["conversation_id"]

    # No -m: the chat's own model answers, with the chat's system prompt and first turn.
    again = run(home, env, "chat", "--json", "-c", "And then?")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["conversation_id"] == chat_id
    sent = cloud.state.requests[-1]["body"]["messages"]
    assert sent == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello from the cloud."},
        {"role": "user", "content": "And then?"},
    ]
    store = ChatStore(home.database)
    [conversation] = store.list_conversations()
    messages = store.messages(conversation.id)
    assert [m.role for m in messages] == [Role.USER, Role.ASSISTANT] * 2
    assert messages[-1].status == MessageStatus.COMPLETE
    assert messages[-1].usage is not None and messages[-1].usage["cost_usd"] > 0
    store.close()


def test_continue_a_given_local_chat_and_refuse_what_cannot_be(home: AppPaths) -> None:
    one = run(home, {}, "chat", "--json", "--max-tokens", "4", "--seed", "1", "Name a color.")
    two = run(home, {}, "chat", "--json", "--max-tokens", "4", "--seed", "1", "Name a fruit.")
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    first_id = json.loads(one.stdout)["conversation_id"]
    prompt_alone = json.loads(one.stdout)["usage"]["prompt_tokens"]

    more = run(home, {}, "chat", "--json", "--max-tokens", "4", "--chat", str(first_id), "Why?")
    assert more.returncode == 0, more.stderr
    data = json.loads(more.stdout)
    assert data["conversation_id"] == first_id
    # The first turn went with it: the prompt is longer than the first one was.
    assert data["usage"]["prompt_tokens"] > prompt_alone + 3
    store = ChatStore(home.database)
    texts = [m.content for m in store.messages(first_id)]
    assert texts[0] == "Name a color." and texts[2] == "Why?" and len(texts) == 4
    assert len(store.list_conversations()) == 2
    store.close()

    missing = run(home, {}, "chat", "--chat", "999", "Hello?")
    assert missing.returncode != 0 and "There is no chat 999" in missing.stderr
    system = run(home, {}, "chat", "-c", "--system", "Other.", "Hello?")
    assert system.returncode != 0 and "its own system prompt" in system.stderr


def test_an_outgrown_chat_says_so_and_drops_its_oldest_turns_when_asked(home: AppPaths) -> None:
    long = "Llamas live in the Andes and carry loads for people. " * 40  # ~480 tokens
    first = run(home, {}, "chat", "--json", "--max-tokens", "4", "--ctx", "2048", long)
    assert first.returncode == 0, first.stderr
    chat_id = json.loads(first.stdout)["conversation_id"]
    small = ("--json", "--max-tokens", "4", "--ctx", "512", "--chat", str(chat_id))

    refused = run(home, {}, "chat", *small, "Short question?")
    assert refused.returncode != 0 and "--drop-oldest" in refused.stderr
    store = ChatStore(home.database)
    assert len(store.messages(chat_id)) == 2  # the refused question left no trace
    store.close()

    dropped = run(home, {}, "chat", *small, "--drop-oldest", "Short question?")
    assert dropped.returncode == 0, dropped.stderr
    assert "no longer sent" in dropped.stderr
    store = ChatStore(home.database)
    messages = store.messages(chat_id)
    assert [m.content for m in messages][2] == "Short question?" and len(messages) == 4
    assert store.get_conversation(chat_id).context_from == messages[2].id
    store.close()


def test_a_local_chat_goes_to_the_cloud_only_when_the_user_says_so(
    home: AppPaths, cloud: CloudServer
) -> None:
    env = {"OPENAI_API_KEY": KEY}
    base = cloud.base_url + "/v1"
    assert run(home, env, "providers", "set", "openai", "--base-url", base).returncode == 0
    assert run(home, env, "providers", "enable", "openai").returncode == 0
    local = run(home, env, "chat", "--json", "--max-tokens", "4", "My secret is 42.")
    assert local.returncode == 0, local.stderr
    chat_id = json.loads(local.stdout)["conversation_id"]

    asked = run(home, env, "chat", "-c", "-m", "openai:gpt-4o", "What is my secret?")
    assert asked.returncode != 0 and "--share-history" in asked.stderr
    assert "2 earlier messages" in asked.stderr and cloud.state.requests == []
    store = ChatStore(home.database)
    assert len(store.messages(chat_id)) == 2  # nothing saved either
    store.set_local_only(chat_id, True)
    store.close()
    locked = run(home, env, "chat", "-c", "-m", "openai:gpt-4o", "--share-history", "Secret?")
    assert locked.returncode != 0 and "local only" in locked.stderr
    assert cloud.state.requests == []

    store = ChatStore(home.database)
    store.set_local_only(chat_id, False)
    store.close()
    shared = run(home, env, "chat", "-c", "-m", "openai:gpt-4o", "--share-history", "Secret?")
    assert shared.returncode == 0, shared.stderr
    sent = cloud.state.requests[-1]["body"]["messages"]
    assert sent[0] == {"role": "user", "content": "My secret is 42."} and len(sent) == 3
    # Once the provider has the history, a follow-up asks nothing.
    again = run(home, env, "chat", "-c", "And then?")
    assert again.returncode == 0, again.stderr


def test_a_continued_chat_keeps_its_preset_unless_told(home: AppPaths, cloud: CloudServer) -> None:
    env = {"OPENAI_API_KEY": KEY}
    base = cloud.base_url + "/v1"
    assert run(home, env, "providers", "set", "openai", "--base-url", base).returncode == 0
    assert run(home, env, "providers", "enable", "openai").returncode == 0
    first = run(home, env, "chat", "--json", "-m", "openai:gpt-4o", "Hi")
    chat_id = json.loads(first.stdout)["conversation_id"]
    store = ChatStore(home.database)
    store.set_sampling(chat_id, SamplingParams(temperature=0.33, top_p=0.8), preset="Mine")
    store.close()

    assert run(home, env, "chat", "-c", "Again?").returncode == 0
    body = cloud.state.requests[-1]["body"]
    assert (body["temperature"], body["top_p"]) == (0.33, 0.8)
    told = run(home, env, "chat", "--chat", str(chat_id), "--temperature", "0.9", "Again?")
    assert told.returncode == 0, told.stderr
    assert cloud.state.requests[-1]["body"]["temperature"] == 0.9
