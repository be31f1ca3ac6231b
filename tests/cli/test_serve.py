"""`llamaside serve` as a user runs it: a real subprocess with the real engine child and a real
keyring, asked through the official openai SDK, stopped with Ctrl+C (SIGINT)."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from typing import IO

import openai
import psutil
import pytest

from desktop.backends.local_models import BUNDLED_ID
from desktop.backends.serve_policy import KEY_NAME
from desktop.storage.paths import AppPaths


def _serve(home: AppPaths, keyring_env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, **keyring_env, "LLAMASIDE_HOME": str(home.data.parent)}
    return subprocess.Popen(
        [sys.executable, "-m", "desktop", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _lines(stream: IO[str]) -> tuple[queue.Queue[str], threading.Thread]:
    """The stream's lines as they come, read on a thread (no read may block the test)."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)
        lines.put("")

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return lines, reader


def _until(lines: queue.Queue[str], pattern: str, seen: list[str]) -> re.Match[str]:
    while True:
        line = lines.get(timeout=120)
        seen.append(line)
        assert line, f"the server ended before {pattern!r}: {''.join(seen)}"
        found = re.search(pattern, line)
        if found:
            return found


def test_serve_with_a_new_key_answers_and_stops_on_ctrl_c(
    home: AppPaths, secret_service: dict[str, str]
) -> None:
    process = _serve(home, secret_service, "--port", "0", "--new-key", "--threads", "2")
    seen: list[str] = []
    assert process.stdout is not None
    lines, reader = _lines(process.stdout)
    try:
        key = _until(lines, r"^\s+(sk-llamaside-\S+)$", seen).group(1)
        url = _until(lines, r"Serving the OpenAI API at (http://127\.0\.0\.1:\d+/v1)", seen)
        assert BUNDLED_ID in _until(lines, r"^Models: ", seen).string
        engines = psutil.Process(process.pid).children()
        assert engines, "no engine child was started"
        with openai.OpenAI(base_url=url.group(1), api_key=key, max_retries=0) as client:
            answer = client.chat.completions.create(
                model=BUNDLED_ID,
                messages=[{"role": "user", "content": "Say hi."}],
                temperature=0,
                max_tokens=4,
            )
            assert answer.choices[0].message.content
        with (
            openai.OpenAI(base_url=url.group(1), api_key="sk-wrong", max_retries=0) as wrong,
            pytest.raises(openai.AuthenticationError),
        ):
            wrong.models.list()
        # Each request is printed as it is logged.
        printed = _until(lines, r"\s200\s", seen).string
        assert re.search(
            rf"127\.0\.0\.1\s+/v1/chat/completions\s+{re.escape(BUNDLED_ID)}\s+200", printed
        )
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        reader.join(10)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
    seen.extend(lines.queue)
    assert "Stopped." in "".join(seen)
    psutil.wait_procs(engines, timeout=10)
    assert not any(e.is_running() for e in engines), "the engine child outlived the server"
    entries = [
        json.loads(line) for line in (home.data / "served-requests.jsonl").read_text().splitlines()
    ]
    assert [e["status"] for e in entries] == [200, 401]
    # The key is in the keyring, for the next start.
    from desktop.backends import secrets

    assert secrets.get_secret(KEY_NAME) == key


def test_serve_refuses_another_address_without_a_key(
    home: AppPaths, secret_service: dict[str, str]
) -> None:
    with _serve(home, secret_service, "--host", "0.0.0.0", "--port", "0") as process:
        out, err = process.communicate(timeout=120)
    assert process.returncode == 1
    assert "needs an API key" in err and "llamaside serve --new-key" in err
    assert "Serving" not in out
