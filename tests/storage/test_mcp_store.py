"""mcp.json on disk: secrets in a real keyring (GNOME Keyring on a private D-Bus), never in the
file; atomic writes; a file that cannot be read is never lost."""

from __future__ import annotations

import json
from pathlib import Path

import keyring
import pytest
from pytestqt.qtbot import QtBot

from desktop.backends import secrets
from desktop.backends.mcp_hub import McpHub
from desktop.core.mcp_config import (
    KEYRING_PLACEHOLDER,
    McpConfigError,
    McpConfigFile,
    McpServerConfig,
    looks_secret,
)
from desktop.services.tools import ToolsService
from desktop.storage.mcp_store import McpStore, SecretStore, secret_name
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings

KEYRING = SecretStore(secrets.get_secret, secrets.set_secret, secrets.delete_secret)
FILES = McpServerConfig(
    "files",
    command="npx",
    args=("-y", "server-files"),
    env={"ROOT": "/home/me", "API_KEY": "sk-very-secret"},
    secret_env=("API_KEY",),
)
WEB = McpServerConfig(
    "web",
    transport="http",
    url="https://example.com/mcp",
    headers={"Authorization": "Bearer tok-123", "X-Team": "a"},
    secret_headers=("Authorization",),
)


def test_the_path_is_beside_the_settings(home: AppPaths) -> None:
    assert home.mcp_config == home.config / "mcp.json"
    assert home.mcp_config.parent == home.settings.parent


def test_secrets_go_to_the_keyring_and_come_back(
    home: AppPaths, secret_service: dict[str, str]
) -> None:
    store = McpStore(home.mcp_config, KEYRING)
    store.save(McpConfigFile((FILES, WEB), {"theme": "dark"}))
    text = home.mcp_config.read_text()
    assert "sk-very-secret" not in text and "tok-123" not in text
    data = json.loads(text)
    assert data["mcpServers"]["files"]["env"] == {
        "ROOT": "/home/me",
        "API_KEY": KEYRING_PLACEHOLDER,
    }
    assert data["mcpServers"]["web"]["headers"]["Authorization"] == KEYRING_PLACEHOLDER
    assert data["theme"] == "dark"
    assert keyring.get_password(secrets.SERVICE, "mcp:files:env:API_KEY") == "sk-very-secret"
    assert keyring.get_password(secrets.SERVICE, secret_name("web", "header", "Authorization")) == (
        "Bearer tok-123"
    )
    loaded = McpStore(home.mcp_config, KEYRING).load()
    assert loaded.servers == (FILES, WEB)
    assert loaded.problems == ()
    # A secret no longer kept (the server removed) leaves the keyring too.
    store.save(loaded.without_server("web"))
    assert keyring.get_password(secrets.SERVICE, "mcp:web:header:Authorization") is None
    assert keyring.get_password(secrets.SERVICE, "mcp:files:env:API_KEY") == "sk-very-secret"


def test_a_secret_missing_from_the_keyring_is_said(
    home: AppPaths, secret_service: dict[str, str]
) -> None:
    store = McpStore(home.mcp_config, KEYRING)
    store.save(McpConfigFile((FILES,)))
    secrets.delete_secret("mcp:files:env:API_KEY")
    loaded = store.load()
    server = loaded.server("files")
    assert server is not None and server.env["API_KEY"] == ""
    assert len(loaded.problems) == 1 and "API_KEY" in loaded.problems[0]
    # Saved again without entering it: still secret, still said, never stored empty.
    store.save(loaded)
    assert secrets.get_secret("mcp:files:env:API_KEY") is None
    assert json.loads(home.mcp_config.read_text())["mcpServers"]["files"]["env"]["API_KEY"] == (
        KEYRING_PLACEHOLDER
    )
    assert len(store.load().problems) == 1


def test_no_keyring_means_nothing_secret_is_written(tmp_path: Path) -> None:
    store = McpStore(tmp_path / "mcp.json", None)
    with pytest.raises(McpConfigError, match="no system keyring"):
        store.save(McpConfigFile((FILES,)))
    assert not (tmp_path / "mcp.json").exists()
    plain = McpServerConfig("plain", command="x", env={"A": "1"})
    store.save(McpConfigFile((plain,)))
    assert store.load().servers == (plain,)


def test_a_missing_file_is_no_servers(tmp_path: Path) -> None:
    assert McpStore(tmp_path / "nothing" / "mcp.json").load() == McpConfigFile()


def test_a_broken_file_raises_and_is_never_lost(tmp_path: Path) -> None:
    path = tmp_path / "mcp.json"
    broken = '{"mcpServers": {"files": {"command": "npx", "args": "oops"}}}'
    path.write_text(broken)
    store = McpStore(path)
    with pytest.raises(McpConfigError, match='"files"'):
        store.load()
    assert path.read_text() == broken  # reading never writes
    store.save(McpConfigFile((McpServerConfig("new", command="x"),)))
    assert (tmp_path / "mcp.json.broken").read_text() == broken
    assert [s.name for s in store.load().servers] == ["new"]
    path.write_text("{still broken")
    store.save(McpConfigFile())
    assert (tmp_path / "mcp.json.broken-2").read_text() == "{still broken"


def test_a_save_leaves_no_temporary_file(tmp_path: Path) -> None:
    store = McpStore(tmp_path / "mcp.json")
    store.save(McpConfigFile((McpServerConfig("a", command="x"),)))
    store.save(McpConfigFile((McpServerConfig("b", command="y"),)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mcp.json"]


def test_credentials_are_told_apart_by_their_names() -> None:
    for name in ("GITHUB_PERSONAL_ACCESS_TOKEN", "BRAVE_API_KEY", "Authorization", "X-Api-Key"):
        assert looks_secret(name), name
    for name in ("HOME", "PATH", "KEYBOARD_LAYOUT", "MONKEY", "AUTHOR", "TOKENIZER_PATH"):
        assert not looks_secret(name), name


def test_a_pasted_key_moves_from_mcp_json_to_the_keyring(
    home: AppPaths, secret_service: dict[str, str], qtbot: QtBot
) -> None:
    """A user pastes Claude Desktop's entry, key and all; the app keeps the key in the keyring
    and the file holds a placeholder (nothing else in it changes; nothing is lost)."""
    home.mcp_config.parent.mkdir(parents=True, exist_ok=True)
    pasted = {
        "mcpServers": {
            "github": {
                "command": "npx",
                "args": ["-y", "@modelcontextprotocol/server-github"],
                "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_pasted", "LOG_LEVEL": "info"},
            }
        }
    }
    home.mcp_config.write_text(json.dumps(pasted))
    tools = ToolsService(McpStore(home.mcp_config, KEYRING), Settings(home.settings), McpHub())
    said: list[str] = []
    tools.problem.connect(said.append)
    config = tools.load()
    text = home.mcp_config.read_text()
    assert "ghp_pasted" not in text
    env = json.loads(text)["mcpServers"]["github"]["env"]
    assert env == {"GITHUB_PERSONAL_ACCESS_TOKEN": KEYRING_PLACEHOLDER, "LOG_LEVEL": "info"}
    assert keyring.get_password(
        secrets.SERVICE, secret_name("github", "env", "GITHUB_PERSONAL_ACCESS_TOKEN")
    ) == ("ghp_pasted")
    # The server still gets its key.
    server = config.server("github")
    assert server is not None and server.env["GITHUB_PERSONAL_ACCESS_TOKEN"] == "ghp_pasted"
    assert any("Moved 1 secret value" in line for line in said)
    tools.close()
