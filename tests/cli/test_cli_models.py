"""`llamaside models ...` as a user runs it, against a hub server of ours on 127.0.0.1."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.storage.models_folder import MODELS_DIR
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings
from desktop.storage.store import ChatStore
from tests.hubserver import HubServer

REPO = "test-org/SmolLM2-135M-Instruct-GGUF"
FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SPLIT_REPO = "test-org/Split-GGUF"


@pytest.fixture
def hub(smollm_path: str) -> Iterator[HubServer]:
    with HubServer() as server:
        server.state.add(REPO, FILE, Path(smollm_path))
        data = Path(smollm_path).read_bytes()
        server.state.add(SPLIT_REPO, "Q4/Model-Q4-00001-of-00002.gguf", data[:1000])
        server.state.add(SPLIT_REPO, "Q4/Model-Q4-00002-of-00002.gguf", b"GGUF" + data[1000:2000])
        yield server


def _env(home: AppPaths, hub: HubServer | None) -> dict[str, str]:
    env = {**os.environ, "LLAMASIDE_HOME": str(home.data.parent)}
    env.pop("HF_TOKEN", None)
    if hub is not None:
        env["HF_ENDPOINT"] = hub.url
    return env


def run(home: AppPaths, hub: HubServer | None, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "desktop", *args],
        capture_output=True,
        text=True,
        env=_env(home, hub),
        timeout=300,
        check=False,
    )


def test_download_killed_midway_resumes_verifies_and_chats(
    home: AppPaths, hub: HubServer, smollm_path: str
) -> None:
    hosted = hub.state.file(REPO, FILE)
    hosted.faults.rate = 8_000_000  # slow enough to kill it half way, with seconds to spare
    target = home.models / "test-org" / "SmolLM2-135M-Instruct-GGUF" / FILE
    part = target.with_name(target.name + ".part")
    first = subprocess.Popen(
        [sys.executable, "-m", "desktop", "models", "download", REPO, FILE],
        env=_env(home, hub),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not part.exists() or part.stat().st_size < 30e6):
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    kept = part.stat().st_size
    assert 30e6 <= kept < hosted.data.__len__() and not target.exists()

    hosted.faults.rate = None
    sent_before = hosted.bytes_sent
    second = run(home, hub, "models", "download", REPO, FILE)
    assert second.returncode == 0, second.stderr
    refetched = hosted.bytes_sent - sent_before - (len(hosted.data) - kept)
    assert refetched < kept // 100, f"re-fetched {refetched} of {kept} bytes already on disk"
    assert hosted.requests[-1] == f"bytes={kept}-"
    assert hashlib.sha256(target.read_bytes()).hexdigest() == hosted.sha256
    assert "Verified (sha256) and ready: local:smollm2-135m-instruct.q4-1" in second.stdout

    listed = run(home, None, "models", "list").stdout
    assert "local:smollm2-135m-instruct.q4-1" in listed
    answer = run(
        home,
        None,
        "chat",
        "-m",
        "local:smollm2-135m-instruct.q4-1",
        "--max-tokens",
        "8",
        "--no-save",
        "Hi",
    )
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip()
    verify = run(home, None, "models", "verify", "local:smollm2-135m-instruct.q4-1")
    assert verify.returncode == 0 and "sha256 matches the hub" in verify.stdout


def test_split_model_downloads_all_parts(home: AppPaths, hub: HubServer) -> None:
    files = run(home, hub, "models", "files", SPLIT_REPO)
    assert files.returncode == 0, files.stderr
    assert "Model-Q4" in files.stdout and "2 parts" in files.stdout
    result = run(home, hub, "models", "download", SPLIT_REPO, "Q4")
    assert result.returncode == 0, result.stderr
    folder = home.models / "test-org" / "Split-GGUF" / "Q4"
    assert sorted(p.name for p in folder.iterdir()) == [
        "Model-Q4-00001-of-00002.gguf",
        "Model-Q4-00002-of-00002.gguf",
    ]
    assert "local:model-q4" in result.stdout
    store = ChatStore(home.database)
    assert {r.status for r in store.downloads()} == {"verified"}
    store.close()
    removed = run(home, None, "models", "remove", "local:model-q4")
    assert removed.returncode == 0, removed.stderr
    assert not any(folder.iterdir())


def test_corrupt_file_is_refused_with_a_clear_line(home: AppPaths, hub: HubServer) -> None:
    hub.state.file(REPO, FILE).faults.corrupt_at = 1_000_000
    result = run(home, hub, "models", "download", REPO, FILE)
    assert result.returncode == 1
    assert "damaged" in result.stderr and "Traceback" not in result.stderr
    assert not list(home.models.rglob("*.gguf"))
    store = ChatStore(home.database)
    assert [r.status for r in store.downloads()] == ["failed"]
    store.close()


def test_gated_repo_and_token(home: AppPaths, hub: HubServer) -> None:
    hub.state.repos[REPO].gated_token = "hf_test_token"
    refused = run(home, hub, "models", "download", REPO, FILE)
    assert refused.returncode == 1
    assert "gated" in refused.stderr and "HF_TOKEN" in refused.stderr
    env = {**_env(home, hub), "HF_TOKEN": "hf_test_token"}
    allowed = subprocess.run(
        [sys.executable, "-m", "desktop", "models", "download", REPO, FILE],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert allowed.returncode == 0, allowed.stderr
    assert "hf_test_token" not in allowed.stdout + allowed.stderr


def test_offline_says_so_fast(home: AppPaths) -> None:
    env = {**_env(home, None), "HF_ENDPOINT": "http://127.0.0.1:9"}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "desktop", "models", "search", "llama"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "Cannot reach Hugging Face" in result.stderr
    assert time.monotonic() - started < 10  # includes starting Python; the check itself is 1 s


def test_search_and_catalog_quant(home: AppPaths, hub: HubServer) -> None:
    found = run(home, hub, "models", "search", "smollm")
    assert found.returncode == 0 and REPO in found.stdout
    which = run(home, hub, "models", "download", "llama-4-scout-17b-16e-instruct")
    assert which.returncode == 1 and "Which quant" in which.stderr and "UD-Q4_K_XL" in which.stderr


def test_import_verify_and_forget(home: AppPaths, tmp_path: Path, smollm_path: str) -> None:
    mine = tmp_path / "My-Finetune-Q4.gguf"
    mine.write_bytes(Path(smollm_path).read_bytes())
    imported = run(home, None, "models", "import", str(mine))
    assert imported.returncode == 0, imported.stderr
    assert "local:my-finetune-q4" in imported.stdout
    verify = run(home, None, "models", "verify", "local:my-finetune-q4")
    assert "GGUF header OK" in verify.stdout
    forgot = run(home, None, "models", "remove", "local:my-finetune-q4")
    assert forgot.returncode == 0 and "was not touched" in forgot.stdout
    assert mine.exists()
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model")
    refused = run(home, None, "models", "import", str(junk))
    assert refused.returncode == 1 and "not a GGUF file" in refused.stderr


def test_remove_takes_only_that_models_parts(home: AppPaths, hub: HubServer) -> None:
    """M-Q2_K must not take M-Q2_K_L's parts with it (they share a name prefix)."""
    for quant in ("Q2_K", "Q2_K_L"):
        for n in (1, 2):
            hub.state.add(SPLIT_REPO, f"M-{quant}-0000{n}-of-00002.gguf", b"GGUF" + bytes(100))
    for quant in ("M-Q2_K", "M-Q2_K_L"):
        result = run(home, hub, "models", "download", SPLIT_REPO, quant)
        assert result.returncode == 0, result.stderr
    removed = run(home, None, "models", "remove", "local:m-q2-k")
    assert removed.returncode == 0 and "2 file(s)" in removed.stdout
    left = sorted(p.name for p in (home.models / "test-org" / "Split-GGUF").glob("*.gguf"))
    assert left == ["M-Q2_K_L-00001-of-00002.gguf", "M-Q2_K_L-00002-of-00002.gguf"]


def test_disk_full_midway_keeps_the_partial_and_says_so(
    home: AppPaths, hub: HubServer, tmp_path: Path
) -> None:
    """A real full disk: a 400 MB tmpfs in a private mount namespace (unshare -rm, so no root
    needed) fills up half way through the download because another file grows meanwhile."""
    hosted = hub.state.file(REPO, FILE)
    hosted.faults.rate = 20_000_000
    disk = tmp_path / "small-disk"
    disk.mkdir()
    script = f"""
        set -u
        mount -t tmpfs -o size=400m tmpfs '{disk}'
        LLAMASIDE_HOME='{disk}/home' HF_ENDPOINT='{hub.url}' \\
            '{sys.executable}' -m desktop models download {REPO} {FILE} \\
            > '{disk}/out' 2> '{disk}/err' &
        pid=$!
        while [ ! -f '{disk}/home/data/models/test-org/SmolLM2-135M-Instruct-GGUF/{FILE}.part' ]
        do sleep 0.05; done
        sleep 1
        dd if=/dev/zero of='{disk}/filler' bs=1M count=400 2>/dev/null
        wait $pid
        echo "exit=$?"
        cat '{disk}/err'
        ls -l '{disk}/home/data/models/test-org/SmolLM2-135M-Instruct-GGUF/'
    """
    result = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=_env(home, hub),
    )
    out = result.stdout
    assert "exit=1" in out, out + result.stderr
    assert "The disk filled up while downloading" in out
    assert "What was downloaded is kept" in out
    assert f"{FILE}.part" in out  # the partial file is still there to resume
    assert "Traceback" not in out


def test_hf_hub_offline_is_respected(home: AppPaths, hub: HubServer) -> None:
    env = {**_env(home, hub), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "desktop", "models", "files", REPO],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "HF_HUB_OFFLINE is set" in result.stderr
    assert hub.state.file(REPO, FILE).requests == []


def test_the_token_of_hf_auth_login_is_used_and_named(home: AppPaths, hub: HubServer) -> None:
    """With no token in the keyring or HF_TOKEN, huggingface_hub's own login token is sent, and
    `token status` says so; without any, none is sent (not even one huggingface_hub finds)."""
    hub.state.repos[REPO].gated_token = "hf_login_token"
    status = run(home, hub, "models", "token", "status")
    assert "Hugging Face token: none set." in status.stdout
    assert run(home, hub, "models", "download", REPO, FILE).returncode == 1

    login = Path(os.environ["HF_HOME"]) / "token"  # where `hf auth login` writes it
    login.parent.mkdir(parents=True, exist_ok=True)
    login.write_text("hf_login_token\n")
    status = run(home, hub, "models", "token", "status")
    assert "from `hf auth login`" in status.stdout
    allowed = run(home, hub, "models", "download", REPO, FILE)
    assert allowed.returncode == 0, allowed.stderr
    assert "hf_login_token" not in allowed.stdout + allowed.stderr


def test_the_models_folder_chosen_in_preferences_is_the_command_lines_too(
    home: AppPaths, hub: HubServer, tmp_path: Path
) -> None:
    disk = tmp_path / "big-disk"
    disk.mkdir()
    Settings(home.settings).set(MODELS_DIR, str(disk))
    result = run(home, hub, "models", "download", SPLIT_REPO, "Q4")
    assert result.returncode == 0, result.stderr
    assert (disk / "test-org" / "Split-GGUF" / "Q4" / "Model-Q4-00001-of-00002.gguf").is_file()
    assert not (home.models / "test-org").exists()
    listed = run(home, None, "models", "list")
    assert "local:model-q4" in listed.stdout, listed.stdout
    # The folder gone (a drive not connected): the default is used, and the note says so.
    shutil.rmtree(disk)
    gone = run(home, None, "models", "list")
    assert gone.returncode == 0, gone.stderr
    assert f"llamaside: note: The models folder {disk} is not there" in gone.stderr
    assert "local:model-q4" not in gone.stdout
