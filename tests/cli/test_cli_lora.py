"""LoRA adapters from the command line: `llamaside chat --lora FILE[:SCALE]` on the real SmolLM2
engine child with adapters written by the tests (tests/lora_models.py): the answer changes,
the adapter is recorded with it and in the export, a continued chat keeps it, and an adapter
that does not fit is refused (exit 2) with its name before anything is saved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop.core.adapters import Adapter
from desktop.storage.paths import AppPaths
from desktop.storage.store import ChatStore
from tests.cli.test_cli_cloud import run
from tests.lora_models import write_lora

SMOL = "local:smollm2-135m-instruct"
ASK = ("--max-tokens", "12", "--temperature", "0", "--json")


@pytest.fixture(scope="module")
def loras(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cli-loras")
    return {
        "tune": write_lora(folder / "support-tune.gguf"),
        "wrong": write_lora(folder / "for-another-model.gguf", n_ff=1024),
    }


def chat(home: AppPaths, *args: str) -> dict[str, object]:
    result = run(home, {}, "chat", "-m", SMOL, *ASK, *args)
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_an_adapter_changes_the_answer_and_is_recorded_with_it(
    home: AppPaths, loras: dict[str, Path]
) -> None:
    question = "Name the capital of France."
    base = chat(home, question)
    tuned = chat(home, "--lora", f"{loras['tune']}:0.8", question)
    assert base["adapters"] == []
    assert tuned["adapters"] == [{"path": str(loras["tune"]), "scale": 0.8}]
    assert tuned["text"] != base["text"]
    store = ChatStore(home.database)
    try:
        answer = store.messages(int(str(tuned["conversation_id"])))[-1]
        assert answer.adapters == (Adapter(str(loras["tune"]), 0.8),)
        assert store.messages(int(str(base["conversation_id"])))[-1].adapters == ()
        exported = store.export_conversations([int(str(tuned["conversation_id"]))])
        [message] = [
            m for m in exported["conversations"][0]["messages"] if m["role"] == "assistant"
        ]
        assert message["adapters"] == [{"path": str(loras["tune"]), "scale": 0.8}]
        # An export imports back with the adapter kept.
        [again] = store.import_conversations(exported)
        assert store.messages(again)[-1].adapters == answer.adapters
    finally:
        store.close()
    # Continued, the chat keeps its adapter (its model choice), and says so.
    more = chat(home, "--chat", str(tuned["conversation_id"]), "And of Italy?")
    assert more["adapters"] == tuned["adapters"]


def test_an_adapter_that_does_not_fit_is_refused_before_anything_is_saved(
    home: AppPaths, loras: dict[str, Path], tmp_path: Path
) -> None:
    wrong = run(home, {}, "chat", "-m", SMOL, "--lora", str(loras["wrong"]), "Hi")
    assert wrong.returncode == 2
    assert "for-another-model.gguf" in wrong.stderr and "1024×576" in wrong.stderr
    assert "Traceback" not in wrong.stderr
    missing = run(home, {}, "chat", "-m", SMOL, "--lora", str(tmp_path / "gone.gguf:0.5"), "Hi")
    assert missing.returncode == 2 and "gone.gguf" in missing.stderr
    too_strong = run(home, {}, "chat", "-m", SMOL, "--lora", f"{loras['tune']}:9", "Hi")
    assert too_strong.returncode != 0 and "between -4 and 4" in too_strong.stderr
    store = ChatStore(home.database)
    try:
        assert store.list_conversations() == []
    finally:
        store.close()


def test_the_chats_chosen_adapters_are_shared_by_the_window_and_the_command_line(
    home: AppPaths, loras: dict[str, Path]
) -> None:
    tuned = chat(home, "--lora", f"{loras['tune']}:0.5", "Name a colour.")
    cid = int(str(tuned["conversation_id"]))
    store = ChatStore(home.database)
    try:
        # --lora is the chat's choice from now on, as the window's LoRA button shows it.
        assert store.get_conversation(cid).adapters == (Adapter(str(loras["tune"]), 0.5),)
        store.set_adapters(cid, [])  # the window's "None (the model as it is)"
    finally:
        store.close()
    more = chat(home, "--chat", str(cid), "And another?")
    assert more["adapters"] == []  # the chat's choice, not its last answer's
