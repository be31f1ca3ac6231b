"""Conventions users rely on from the environment: a proxy for the hub's online check, and
OPENAI_BASE_URL / ANTHROPIC_BASE_URL for the built-in providers."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from desktop.backends.hub import HubOffline, check_online
from desktop.backends.providers import Providers
from tests.cloudserver import CloudServer, refuse_dns


@pytest.fixture
def listening() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections (all the check needs of a proxy)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def test_behind_a_proxy_the_hub_check_asks_the_proxy(
    listening: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    refuse_dns(monkeypatch)  # hub.invalid never resolves, and no lookup leaves the machine
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{listening}")
    check_online("https://hub.invalid")  # through the proxy: reachable
    monkeypatch.setenv("NO_PROXY", "localhost,.invalid")
    with pytest.raises(HubOffline, match=r"hub\.invalid"):
        check_online("https://hub.invalid")  # exempt: straight to the (unresolvable) hub
    monkeypatch.delenv("NO_PROXY")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # a proxy that is down
    with pytest.raises(HubOffline, match=r"the proxy 127\.0\.0\.1:9"):
        check_online("https://hub.invalid")


def test_base_url_variables_move_the_built_ins_and_are_never_saved(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1/")
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    providers = Providers({})
    assert providers.get("openai").base_url == "http://127.0.0.1:8080/v1"
    assert providers.base_url_source("openai") == "OPENAI_BASE_URL"
    assert providers.get("anthropic").base_url == "https://api.anthropic.com"
    assert providers.base_url_source("anthropic") == ""
    providers.update("openai", enabled=True)
    assert providers.to_settings() == {"openai": {"enabled": True}}  # not the address
    # A base URL set in Llamaside wins over the variable.
    mine = Providers({"openai": {"base_url": "http://127.0.0.1:9999/v1"}})
    assert mine.get("openai").base_url == "http://127.0.0.1:9999/v1"
    assert mine.base_url_source("openai") == ""


def test_a_built_in_at_the_environments_address_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from desktop.backends.providers import open_provider

    with CloudServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url + "/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key")
        config = Providers({"openai": {"enabled": True}}).get("openai")
        provider = open_provider(config)
        try:
            assert provider.list_models() == ["gpt-4o", "gpt-4o-mini"]
        finally:
            provider.close()
