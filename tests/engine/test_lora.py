"""LoRA adapters in the real engine on the bundled SmolLM2: an adapter written by the tests
(tests/lora_models.py) changes the greedy answer at scale 1, gives the base model's answer token
for token at scale 0, is refused with its name and llama.cpp's reason when it does not fit, and
switching adapters or their scale reloads nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.backends.engine_client import SyncEngine
from desktop.core import protocol as P
from desktop.core.adapters import Adapter
from desktop.core.answer import Failed, Finished, TextDelta
from desktop.core.errors import InvalidParameter
from desktop.core.params import LoadParams, SamplingParams
from tests.lora_models import write_lora

GREEDY = SamplingParams(temperature=0.0, max_tokens=24)
#: What llama.cpp logs once per model load (its context made), and once per adapter file read.
MODEL_LOADED = "llama_context: constructing llama_context"
ADAPTER_READ = "loading lora adapter from"
QUESTION = [{"role": "user", "content": "Name the capital of France in one sentence."}]


@pytest.fixture(scope="module")
def adapters(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("loras")
    return {
        "good": write_lora(folder / "support-tune.gguf"),
        "other": write_lora(folder / "other-tune.gguf", seed=11),
        "wrong": write_lora(folder / "for-another-model.gguf", n_ff=1024),
        "arch": write_lora(folder / "qwen-tune.gguf", architecture="qwen2"),
    }


def answer(engine: SyncEngine, *adapters: Adapter) -> tuple[str, list[object]]:
    """The answer's text and every event the engine sent on the way (loads included)."""
    seen: list[object] = []
    text = ""
    for event in engine.events(QUESTION, GREEDY, adapters=adapters):
        seen.append(event)
        if isinstance(event, TextDelta):
            text += event.text
        elif isinstance(event, Failed):
            raise AssertionError(event.message)
    assert isinstance(seen[-1], Finished)
    return text, seen


def failure(engine: SyncEngine, adapter: Adapter) -> Failed:
    events = list(engine.events(QUESTION, GREEDY, adapters=(adapter,)))
    last = events[-1]
    assert isinstance(last, Failed), events
    return last


def test_scale_zero_is_the_base_model_and_scale_one_changes_the_answer(
    engine: SyncEngine, adapters: dict[str, Path]
) -> None:
    base, _ = answer(engine)
    assert base.strip()
    good = str(adapters["good"])
    at_zero, _ = answer(engine, Adapter(good, 0.0))
    assert at_zero == base  # token for token
    tuned, _ = answer(engine, Adapter(good, 1.0))
    assert tuned != base
    # Back to the bare model: the cached prompt made with the adapter is not reused.
    again, _ = answer(engine)
    assert again == base
    # Another scale, another adapter, two at once: each its own answer, and each repeatable.
    half, _ = answer(engine, Adapter(good, 0.5))
    other, _ = answer(engine, Adapter(str(adapters["other"]), 1.0))
    both, _ = answer(engine, Adapter(good, 1.0), Adapter(str(adapters["other"]), 1.0))
    assert len({base, tuned, half, other, both}) == 5
    assert answer(engine, Adapter(good, 1.0))[0] == tuned


def test_switching_adapters_reloads_nothing(
    smollm_path: str,
    extra_bufts: bool,
    adapters: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """llama.cpp's own log, echoed by the engine child, says what happened: the model's
    weights were loaded once, and each adapter read once, while four switches of adapter and
    scale each changed the answer's weights in the same child."""
    log = logged_engine(monkeypatch, tmp_path)
    good, other = str(adapters["good"]), str(adapters["other"])
    with SyncEngine(log_path=log) as engine:
        engine.load(smollm_path, LoadParams(n_ctx=1024, extra_bufts=extra_bufts))
        pid = engine.client.pid
        answers = [
            answer(engine, *choice)[0]
            for choice in (
                (Adapter(good, 1.0),),
                (Adapter(good, 0.25),),
                (Adapter(other, 1.0),),
                (),
                (Adapter(good, 1.0), Adapter(other, 0.5)),
            )
        ]
        assert engine.client.pid == pid
    assert len(set(answers)) == 5
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    loads = [line for line in lines if MODEL_LOADED in line]
    assert len(loads) == 1, loads
    read = [line for line in lines if ADAPTER_READ in line]
    assert len(read) == 2, read  # each adapter file once, however often it is switched to


def logged_engine(monkeypatch: pytest.MonkeyPatch, folder: Path) -> Path:
    """Where an engine child started now writes llama.cpp's whole log."""
    monkeypatch.setenv("LLAMASIDE_ENGINE_LOG", "1")
    return folder / "engine.log"


def test_an_adapter_that_does_not_fit_is_refused_by_name(
    engine: SyncEngine, adapters: dict[str, Path], tmp_path: Path
) -> None:
    wrong = failure(engine, Adapter(str(adapters["wrong"]), 1.0))
    assert wrong.code == P.ERROR_LOAD_FAILED
    assert "for-another-model.gguf" in wrong.message and "shape" in wrong.message
    arch = failure(engine, Adapter(str(adapters["arch"]), 1.0))
    assert "qwen-tune.gguf" in arch.message and "arch" in arch.message.lower()
    missing = failure(engine, Adapter(str(tmp_path / "gone.gguf"), 1.0))
    assert "not found" in missing.message and "gone.gguf" in missing.message
    text_file = tmp_path / "notes.gguf"
    text_file.write_text("not an adapter")
    assert "not a GGUF file" in failure(engine, Adapter(str(text_file), 1.0)).message
    # The engine is still there, with the bare model, afterwards.
    base, _ = answer(engine)
    assert base.strip()


def test_scales_outside_the_range_are_refused_in_words() -> None:
    with pytest.raises(InvalidParameter, match=r"between -4 and 4, not 9"):
        Adapter("x.gguf", 9.0)
    with pytest.raises(InvalidParameter, match="needs a file"):
        Adapter("", 1.0)
