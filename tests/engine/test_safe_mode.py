"""The engine falls back to a safe mode instead of dying, with a real engine child.

The switch LLAMASIDE_TEST_CRASH_WITH_EXTRA_BUFTS (read by the child only) makes it die of
SIGSEGV while llama.cpp's extra buffer types are on, as llama.cpp's AMX path did on a user's
CPU at the first decode, so the whole path is checked on any machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from desktop.backends.engine_client import SyncEngine
from desktop.backends.engine_modes import ModeMemory
from desktop.core.engine_mode import EngineMode, SafeMode
from desktop.core.errors import ContextOverflow, EngineCrashed
from desktop.core.params import LoadParams, SamplingParams
from desktop.engine.llama_setup import TEST_CRASH_ENV
from desktop.storage.paths import AppPaths

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
GREEDY = SamplingParams(temperature=0.0, max_tokens=16)


def _answer(modes: ModeMemory | None, smollm_path: str) -> tuple[str, SyncEngine]:
    engine = SyncEngine(modes=modes)
    with engine:
        engine.load(smollm_path, LoadParams(n_ctx=512, n_threads=1))
        text = "".join(engine.stream(QUESTION, GREEDY))
        assert engine.last.finished and engine.last.usage.output_tokens > 0
    return text, engine


@pytest.fixture(scope="module")
def reference(smollm_path: str, extra_bufts: bool) -> str:
    """The greedy answer with nothing crashing, in the mode this machine needs anyway."""
    with SyncEngine() as engine:
        params = LoadParams(n_ctx=512, n_threads=1, extra_bufts=extra_bufts)
        engine.load(smollm_path, params)
        return "".join(engine.stream(QUESTION, GREEDY))


@pytest.mark.parametrize("stage", ["decode", "load"])
def test_a_crash_in_the_fast_path_is_retried_safely_and_the_question_answered(
    tmp_path: Path,
    smollm_path: str,
    reference: str,
    monkeypatch: pytest.MonkeyPatch,
    stage: str,
) -> None:
    monkeypatch.setenv(TEST_CRASH_ENV, stage)
    modes = ModeMemory(tmp_path / "engine_mode.json", key="this-machine")
    text, engine = _answer(modes, smollm_path)
    assert text == reference  # the same answer, as if nothing had happened
    [notice] = engine.fallbacks
    assert notice["mode"] == EngineMode.NO_EXTRA_BUFTS.value
    assert "safe mode" in notice["note"] and "SIGSEGV" in notice["detail"]
    assert ("loading a model" if stage == "load" else "answering") in notice["detail"]
    remembered = modes.get()
    assert remembered is not None and remembered.mode is EngineMode.NO_EXTRA_BUFTS
    assert remembered.signal == "SIGSEGV" and remembered.llama_cpp_version
    assert "SIGSEGV" in (tmp_path / "engine_mode.json").read_text()

    # Next start: safe mode at once, no second crash.
    again, second = _answer(ModeMemory(modes.path, key="this-machine"), smollm_path)
    assert again == reference
    assert second.fallbacks == []
    assert second.model["engine_mode"] == EngineMode.NO_EXTRA_BUFTS.value
    assert second.model["extra_bufts"] is False


def test_the_mode_is_remembered_per_machine_and_build(tmp_path: Path) -> None:
    path = tmp_path / "engine_mode.json"
    here = ModeMemory(path, key="this-build")
    here.remember(SafeMode(EngineMode.NO_EXTRA_BUFTS, "SIGSEGV"))
    assert ModeMemory(path, key="another-build").get() is None
    assert ModeMemory(path, key="this-build").get() == SafeMode(
        EngineMode.NO_EXTRA_BUFTS, "SIGSEGV"
    )
    # Without a key, it is this machine's: the same fingerprint twice, and hex.
    assert ModeMemory(path).key == ModeMemory(path).key
    int(ModeMemory(path).key, 16)
    here.remember(None)
    assert json.loads(path.read_text()) == {}
    path.write_text("{ not json")
    assert ModeMemory(path, key="this-build").get() is None  # unreadable: the fast path


def test_trying_the_fast_path_again_takes_it_and_falls_back_again(
    tmp_path: Path, smollm_path: str, reference: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TEST_CRASH_ENV, "decode")
    modes = ModeMemory(tmp_path / "engine_mode.json", key="k")
    modes.remember(SafeMode(EngineMode.NO_EXTRA_BUFTS, "SIGSEGV"))
    with SyncEngine(modes=modes) as engine:
        assert engine.client.safe_mode is not None
        engine.client.try_fast_path()
        assert engine.client.safe_mode is None and modes.get() is None
        engine.load(smollm_path, LoadParams(n_ctx=512, n_threads=1))
        assert engine.model["engine_mode"] == EngineMode.FAST.value  # it really tried
        assert "".join(engine.stream(QUESTION, GREEDY)) == reference
        assert len(engine.fallbacks) == 1
    assert modes.get() is not None


def test_a_model_that_crashes_in_every_mode_is_reported_and_nothing_remembered(
    tmp_path: Path, smollm_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TEST_CRASH_ENV, "always-decode")
    modes = ModeMemory(tmp_path / "engine_mode.json", key="k")
    with SyncEngine(modes=modes) as engine:
        engine.load(smollm_path, LoadParams(n_ctx=512, n_threads=1))
        with pytest.raises(EngineCrashed, match="SIGSEGV") as info:
            list(engine.stream(QUESTION, GREEDY))
        assert "crashed in safe mode too" in str(info.value)
        # One step on a CPU build, two on a GPU build (then off the GPU), never a loop.
        assert len(engine.fallbacks) == (2 if engine.hello.get("gpu_offload") else 1)
        assert engine.client.safe_mode is None  # back to the mode that has worked
    assert modes.get() is None


def test_a_crash_after_the_first_answer_is_not_retried(smollm_path: str, extra_bufts: bool) -> None:
    """Only loading and the first answer after a load are retried: a later death is reported
    (and a retry would replay a question whose answer was already shown)."""
    with SyncEngine() as engine:
        engine.load(smollm_path, LoadParams(n_ctx=512, n_threads=1, extra_bufts=extra_bufts))
        list(engine.stream(QUESTION, GREEDY))
        pid = engine.client.pid
        assert pid is not None
        psutil.Process(pid).send_signal(11)  # SIGSEGV
        with pytest.raises(EngineCrashed, match="SIGSEGV"):
            list(engine.stream(QUESTION, GREEDY))
        assert engine.fallbacks == []


def test_llamaside_chat_says_so_in_one_line_on_stderr(home: AppPaths) -> None:
    env = {**os.environ, "LLAMASIDE_HOME": str(home.data.parent), TEST_CRASH_ENV: "decode"}
    for attempt in range(2):  # the crash, then the next start in safe mode
        result = subprocess.run(
            [sys.executable, "-m", "desktop", "chat", "--max-tokens", "8", "--no-save", "Hi"],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip(), attempt
        [line] = result.stderr.splitlines()
        assert line.startswith("llamaside: safe mode: llama.cpp's ")
        assert "GPU backend" in line
    assert ModeMemory(home.engine_modes).get() is not None


def test_a_question_refused_before_decoding_leaves_the_next_one_first(
    smollm_path: str, reference: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Too long for the context: nothing was decoded, so the next question is still the first
    answer after the load, and a crash there is retried like any other."""
    monkeypatch.setenv(TEST_CRASH_ENV, "decode")
    with SyncEngine() as engine:
        engine.load(smollm_path, LoadParams(n_ctx=512, n_threads=1))
        with pytest.raises(ContextOverflow):
            list(engine.stream([{"role": "user", "content": "hello " * 600}], GREEDY))
        assert "".join(engine.stream(QUESTION, GREEDY)) == reference
        assert len(engine.fallbacks) == 1
