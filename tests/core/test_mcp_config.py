"""The mcpServers JSON (Claude Desktop, Cursor, LM Studio): reading, writing back what we do not
know, clear errors, other apps' files, merging an import, and the network rule."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import PurePosixPath, PureWindowsPath

import pytest

from desktop.core.mcp_config import (
    KEYRING_PLACEHOLDER,
    McpConfigError,
    McpConfigFile,
    McpServerConfig,
    dump_config,
    known_config_files,
    merge_imported,
    network_refusal,
    parse_config,
    stdio_note,
)

CLAUDE = """{
  "globalShortcut": "Ctrl+Space",
  "mcpServers": {
    "files": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-filesystem", "/home/me"],
      "env": {"DEBUG": "1", "API_KEY": "<stored in the system keyring>"},
      "alwaysAllow": ["read_file"]
    },
    "search": {"url": "https://example.com/mcp", "headers": {"Authorization": "Bearer t"},
               "type": "streamable-http"},
    "old": {"command": "old-server", "disabled": true},
    "cursor-style": {"url": "http://127.0.0.1:3000/mcp"}
  }
}"""


def test_a_claude_desktop_file_reads_into_servers() -> None:
    config = parse_config(CLAUDE)
    files, search, old, cursor = config.servers
    assert files == McpServerConfig(
        name="files",
        command="npx",
        args=("-y", "@modelcontextprotocol/server-filesystem", "/home/me"),
        env={"DEBUG": "1", "API_KEY": KEYRING_PLACEHOLDER},
        secret_env=("API_KEY",),
        extra={"alwaysAllow": ["read_file"]},
    )
    assert search.transport == "http" and search.url == "https://example.com/mcp"
    assert search.headers == {"Authorization": "Bearer t"} and search.secret_headers == ()
    assert not old.enabled and old.enabled is False
    assert cursor.transport == "http" and cursor.type_name == ""
    assert config.extra == {"globalShortcut": "Ctrl+Space"}


def test_writing_back_keeps_unknown_keys_and_masks_secrets() -> None:
    config = parse_config(CLAUDE)
    files = config.server("files")
    assert files is not None
    # The store fills the secret in; what is written is the placeholder again.
    filled = config.with_server(replace(files, env={"DEBUG": "1", "API_KEY": "sk-real"}))
    data = json.loads(dump_config(filled))
    assert data["globalShortcut"] == "Ctrl+Space"
    assert data["mcpServers"]["files"]["env"]["API_KEY"] == KEYRING_PLACEHOLDER
    assert "sk-real" not in dump_config(filled)
    assert data["mcpServers"]["files"]["alwaysAllow"] == ["read_file"]
    assert data["mcpServers"]["search"]["type"] == "streamable-http"
    assert data["mcpServers"]["old"]["disabled"] is True
    assert "disabled" not in data["mcpServers"]["files"]
    assert "type" not in data["mcpServers"]["cursor-style"]  # written as it was read
    # And it reads back the same.
    assert parse_config(dump_config(config)).servers == config.servers


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
        ('{"mcpServers": []}', '"mcpServers" in mcp.json must be an object'),
        ('{"mcpServers": {"a": 3}}', 'The MCP server "a" in mcp.json must be an object'),
        ('{"mcpServers": {"a": {"args": []}}}', 'The MCP server "a" in mcp.json has no "command"'),
        ('{"mcpServers": {"a": {"command": "x", "args": "y"}}}', '"a" in mcp.json has "args"'),
        ('{"mcpServers": {"a": {"command": "x", "env": {"K": 1}}}}', '"a" in mcp.json has "env"'),
        ('{"mcpServers": {"a": {"url": "ftp://x"}}}', '"a" in mcp.json needs a "url"'),
        ('{"mcpServers": {"a": {"url": "http://x", "type": "sse"}}}', 'transport "sse"'),
        (
            '{"mcpServers": {"a": {"command": "x", "disabled": "yes"}}}',
            '"a" in mcp.json has a "disabled"',
        ),
        (
            '{"mcpServers": {"a": {"command": "x"}, "a": {"command": "y"}}}',
            'names the key "a" twice',
        ),
    ],
)
def test_a_bad_file_is_a_sentence_naming_the_server_and_field(text: str, words: str) -> None:
    with pytest.raises(McpConfigError) as error:
        parse_config(text, "mcp.json")
    assert words in str(error.value)
    assert str(error.value).endswith(".")


def test_a_lenient_import_leaves_bad_entries_out_and_says_so() -> None:
    text = '{"mcpServers": {"good": {"command": "x"}, "bad": {"url": "http://h", "type": "sse"}}}'
    config = parse_config(text, "Cursor's mcp.json", strict=False)
    assert [s.name for s in config.servers] == ["good"]
    assert len(config.problems) == 1 and '"bad" in Cursor\'s mcp.json' in config.problems[0]


def test_an_empty_or_serverless_file_is_no_servers() -> None:
    assert parse_config("") == McpConfigFile()
    assert parse_config('{"theme": "dark"}').servers == ()


def test_other_apps_files_per_platform() -> None:
    mac = dict(known_config_files("darwin", "/Users/me", {}))
    assert mac["Claude Desktop"] == PurePosixPath(
        "/Users/me/Library/Application Support/Claude/claude_desktop_config.json"
    )
    assert mac["Cursor"] == PurePosixPath("/Users/me/.cursor/mcp.json")
    assert mac["LM Studio"] == PurePosixPath("/Users/me/.lmstudio/mcp.json")
    win = dict(known_config_files("win32", "C:\\Users\\me", {"APPDATA": "D:\\Roaming"}))
    assert win["Claude Desktop"] == PureWindowsPath(
        "D:\\Roaming\\Claude\\claude_desktop_config.json"
    )
    assert win["Cursor"] == PureWindowsPath("C:\\Users\\me\\.cursor\\mcp.json")
    linux = dict(known_config_files("linux", "/home/me", {}))
    assert linux["Claude Desktop"] == PurePosixPath(
        "/home/me/.config/Claude/claude_desktop_config.json"
    )
    assert [app for app, _ in known_config_files("linux", "/h", {})] == [
        "Claude Desktop",
        "Cursor",
        "LM Studio",
    ]


def test_an_import_renames_on_a_clash_and_skips_what_we_have() -> None:
    ours = [
        McpServerConfig("files", command="npx", args=("a",)),
        McpServerConfig("files-2", command="z"),
    ]
    imported = [
        McpServerConfig("files", command="npx", args=("a",)),  # the very same: skipped
        McpServerConfig("files", command="npx", args=("b",)),  # another: renamed, not over ours
        McpServerConfig("web", transport="http", url="http://h/mcp"),
    ]
    merged = merge_imported(ours, imported)
    assert [s.name for s in merged.servers] == ["files", "files-2", "files-3", "web"]
    assert merged.servers[0].args == ("a",)  # ours untouched
    assert merged.servers[2].args == ("b",)
    assert merged.renamed == {"files": "files-3"}
    assert merged.added == ("files-3", "web")
    assert merged.skipped == ("files",)


def test_http_servers_are_refused_offline_and_in_a_local_chat_stdio_never() -> None:
    web = McpServerConfig("web", transport="http", url="https://example.com/mcp")
    local = McpServerConfig("files", command="npx")
    assert network_refusal(web, local_only=False, offline=False) is None
    offline = network_refusal(web, local_only=False, offline=True)
    assert offline is not None and "offline" in offline and '"web"' in offline
    locked = network_refusal(web, local_only=True, offline=False)
    assert locked is not None and "locked to this computer" in locked
    assert network_refusal(local, local_only=True, offline=True) is None
    assert "network" in stdio_note("files") and '"files"' in stdio_note("files")
