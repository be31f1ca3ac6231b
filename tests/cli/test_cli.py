"""The `llamaside` command as a user runs it: a real subprocess, the real engine, a temp home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from desktop.core.messages import MessageStatus, Role
from desktop.storage.paths import AppPaths
from desktop.storage.store import ChatStore


def run(home: AppPaths, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LLAMASIDE_HOME": str(home.data.parent)}
    return subprocess.run(
        [sys.executable, "-m", "desktop", *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=300,
        check=False,
    )


def test_chat_streams_an_answer_and_saves_it(home: AppPaths) -> None:
    result = run(
        home, "chat", "--temperature", "0", "--max-tokens", "20", "What is the capital of France?"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    # Nothing on stderr, except the one line a machine whose fast path crashed gets.
    assert [line for line in result.stderr.splitlines() if "safe mode" not in line] == []
    store = ChatStore(home.database)
    [conversation] = store.list_conversations()
    user, answer = store.messages(conversation.id)
    assert (user.role, user.content) == (Role.USER, "What is the capital of France?")
    assert answer.status == MessageStatus.COMPLETE
    assert answer.content.strip() == result.stdout.strip()
    assert answer.usage is not None and answer.usage["output_tokens"] > 0
    store.close()


def test_chat_json_is_one_object_with_usage(home: AppPaths) -> None:
    result = run(
        home,
        "chat",
        "--json",
        "--seed",
        "3",
        "--max-tokens",
        "8",
        "--no-save",
        "--system",
        "Answer briefly.",
        "Name a colour.",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["model"] == "local:smollm2-135m-instruct"
    assert data["text"]
    assert data["usage"]["output_tokens"] <= 8
    assert data["usage"]["prompt_tokens"] > 0
    assert data["conversation_id"] is None
    store = ChatStore(home.database)
    assert store.list_conversations() == []  # --no-save
    store.close()


def test_same_seed_same_answer(home: AppPaths) -> None:
    args = (
        "chat",
        "--json",
        "--no-save",
        "--seed",
        "42",
        "--temperature",
        "0.9",
        "--max-tokens",
        "15",
        "Invent a word.",
    )
    first, second = run(home, *args), run(home, *args)
    assert json.loads(first.stdout)["text"] == json.loads(second.stdout)["text"]


def test_cpu_and_graph_sampling_give_the_same_greedy_answer(home: AppPaths) -> None:
    """--cpu-sampling and --graph-sampling (where each token is chosen: on the CPU, or inside
    llama.cpp's graph) choose the same tokens: greedy, with the default repeat penalty, which
    also runs in the graph. Both at once is refused."""
    args = ("chat", "--json", "--no-save", "--temperature", "0", "--max-tokens", "30")
    in_graph = json.loads(run(home, *args, "--graph-sampling", "Name three rivers.").stdout)
    on_cpu = json.loads(run(home, *args, "--cpu-sampling", "Name three rivers.").stdout)
    assert on_cpu["text"] == in_graph["text"]
    assert in_graph["usage"]["output_tokens"] > 5
    both = run(home, *args, "--cpu-sampling", "--graph-sampling", "Hi")
    assert both.returncode == 2 and "not allowed with" in both.stderr


def test_prompt_from_stdin(home: AppPaths) -> None:
    result = run(home, "chat", "--max-tokens", "5", "--no-save", "-", stdin="Say hi")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_models_list(home: AppPaths) -> None:
    result = run(home, "models", "list")
    assert result.returncode == 0
    assert "local:smollm2-135m-instruct" in result.stdout
    listed = json.loads(run(home, "models", "list", "--json").stdout)
    assert listed[0]["id"] == "local:smollm2-135m-instruct"


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "not found"), (b"", "empty"), (os.urandom(3000), "not a GGUF model file")],
)
def test_bad_model_file_one_clear_line(
    home: AppPaths, tmp_path: Path, content: bytes | None, expected: str
) -> None:
    path = tmp_path / "broken.gguf"
    if content is not None:
        path.write_bytes(content)
    result = run(home, "chat", "-m", str(path), "hi")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("llamaside: error: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr
    store = ChatStore(home.database)
    assert store.list_conversations() == []  # nothing half-made in the history
    store.close()


def test_debug_shows_the_traceback(home: AppPaths, tmp_path: Path) -> None:
    result = run(home, "--debug", "chat", "-m", str(tmp_path / "nope.gguf"), "hi")
    assert result.returncode == 1
    assert "Traceback" in result.stderr


def test_errors_for_empty_prompt_unknown_model_and_bad_params(home: AppPaths) -> None:
    empty = run(home, "chat", "   ")
    assert empty.returncode == 1 and "prompt is empty" in empty.stderr
    unknown = run(home, "chat", "-m", "gpt-17", "hi")
    assert unknown.returncode == 1 and "Unknown model 'gpt-17'" in unknown.stderr
    bad = run(home, "chat", "--temperature", "-3", "hi")
    assert bad.returncode == 1 and "temperature" in bad.stderr
    for result in (empty, unknown, bad):
        assert "Traceback" not in result.stderr


def test_too_long_prompt_is_refused_with_numbers(home: AppPaths) -> None:
    result = run(home, "chat", "--ctx", "256", "-", stdin="hello " * 1000)
    assert result.returncode == 1
    assert "too long for this model's context" in result.stderr
    assert "limit 256" in result.stderr
    store = ChatStore(home.database)
    assert store.list_conversations() == []  # refused before sending: nothing kept
    store.close()


def test_chat_needs_no_network(home: AppPaths, tmp_path: Path) -> None:
    """A local chat opens no network connection, in the CLI process or the engine child.

    sitecustomize runs in every Python process started with this PYTHONPATH (the engine child
    included) and makes any socket connection other than a Unix socket fail loudly.
    """
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(
        "import socket\n"
        "_real = socket.socket.connect\n"
        "def _connect(self, address):\n"
        "    if self.family != socket.AF_UNIX:\n"
        "        raise SystemExit(f'network connection attempted: {address!r}')\n"
        "    return _real(self, address)\n"
        "socket.socket.connect = _connect\n"
        "socket.create_connection = lambda *a, **k: _connect(socket.socket(), a[0])\n"
    )
    env = {
        **os.environ,
        "LLAMASIDE_HOME": str(home.data.parent),
        "PYTHONPATH": os.pathsep.join([str(guard), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, "-m", "desktop", "chat", "--max-tokens", "8", "Hello"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert "network connection attempted" not in result.stderr


def test_closed_pipe_stops_quietly_and_saves_what_was_produced(home: AppPaths) -> None:
    env = {**os.environ, "LLAMASIDE_HOME": str(home.data.parent)}
    result = subprocess.run(
        f"'{sys.executable}' -m desktop chat --max-tokens 400 --seed 1 "
        "'Write a long story about a llama.' | head -c 20",
        shell=True,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert len(result.stdout) == 20
    assert "Traceback" not in result.stderr and "error" not in result.stderr
    store = ChatStore(home.database)
    [conversation] = store.list_conversations()
    answer = store.messages(conversation.id)[-1]
    assert answer.status == MessageStatus.STOPPED
    assert answer.content.startswith(result.stdout)
    store.close()


def test_damaged_settings_do_not_stop_the_cli(home: AppPaths) -> None:
    home.settings.write_text('{"sampling": {"temperature": "hot", "top_k": [1]}, "n_ctx": 2048}')
    result = run(home, "chat", "--max-tokens", "4", "--no-save", "Hi")
    assert result.returncode == 0, result.stderr


def test_unusable_home_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    env = {**os.environ, "LLAMASIDE_HOME": str(blocker / "home")}
    result = subprocess.run(
        [sys.executable, "-m", "desktop", "models", "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("llamaside: error: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_models_fit_table_and_json(home: AppPaths) -> None:
    result = run(home, "models", "fit")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Llama 4 Scout 17B-16E Instruct on this machine, context 8,192 tokens" in out
    assert "UD-Q4_K_XL" in out and "lmstudio-community" in out and "bartowski" in out
    assert "KV cache (f16) by context: 8K: 1.6 GB" in out
    assert "never sizes the context from the file" in out
    data = json.loads(
        run(home, "models", "fit", "llama-3.1-8b-instruct", "--json", "--ctx", "16384").stdout
    )
    assert data["model"] == "llama-3.1-8b-instruct"
    assert all(q["n_ctx"] == 16384 for q in data["quants"])
    assert data["machine"]["offload_supported"] in (True, False)
    assert sum(q["recommended"] for q in data["quants"]) <= 1
    unknown = run(home, "models", "fit", "gpt-17")
    assert unknown.returncode == 1 and "No model 'gpt-17' in the catalog" in unknown.stderr


def test_chat_with_a_llama4_moe_model_and_experts_in_ram(
    home: AppPaths, tmp_path: Path, smollm_path: str
) -> None:
    from tests.gguf_make import tiny_llama4

    model = tiny_llama4(tmp_path / "tiny-llama4.gguf", smollm_path)
    result = run(
        home,
        "chat",
        "-m",
        str(model),
        "--n-cpu-moe",
        "2",
        "--json",
        "--no-save",
        "--temperature",
        "0",
        "--max-tokens",
        "6",
        "Hi",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["usage"]["output_tokens"] > 0
