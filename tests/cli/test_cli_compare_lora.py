"""`llamaside compare` with LoRA adapters, run as a process on the real SmolLM2 engine child
with adapters written by the tests: `--lora FILE[:SCALE]` after an `-m` is that column's (base
vs fine-tune: the same model twice), in the text and JSON output and the stored records; an
adapter that does not fit its model is refused (exit 2, named) before anything runs or is
saved; `--lora` before any `-m` is a usage error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop.core.adapters import Adapter
from desktop.storage.paths import AppPaths
from desktop.storage.store import ChatStore
from tests.cli.test_cli_cloud import run

SMOL = "local:smollm2-135m-instruct"
ASK = ("--max-tokens", "12", "--temperature", "0")
PROMPT = "Name the capital of France."


@pytest.fixture(scope="module")
def loras(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.lora_models import write_lora

    folder = tmp_path_factory.mktemp("compare-loras")
    return {
        "tune": write_lora(folder / "support-tune.gguf"),
        "wrong": write_lora(folder / "for-another-model.gguf", n_ff=1024),
    }


def test_base_vs_fine_tune_in_the_output_and_the_history(
    home: AppPaths, loras: dict[str, Path]
) -> None:
    tune = str(loras["tune"])
    result = run(
        home, {}, "compare", "-m", SMOL, "-m", SMOL, "--lora", f"{tune}:0.8", *ASK, "--json", PROMPT
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    base, tuned = data["columns"]
    assert (base["model"], tuned["model"]) == (SMOL, SMOL)
    assert base["adapters"] == [] and tuned["adapters"] == [{"path": tune, "scale": 0.8}]
    assert (base["label"], tuned["label"]) == (SMOL, f"{SMOL} + support-tune × 0.8")
    assert base["status"] == tuned["status"] == "complete"
    assert base["text"] and tuned["text"] and base["text"] != tuned["text"]

    store = ChatStore(home.database)
    try:
        comparison = store.comparison(int(data["comparison_id"]))
        assert comparison.models == (SMOL, SMOL)
        assert comparison.adapters == ((), (Adapter(tune, 0.8),))
        answers = store.comparison_answers(comparison.id)
        assert [a.adapters for a in answers] == [(), (Adapter(tune, 0.8),)]
        assert [a.content for a in answers] == [base["text"], tuned["text"]]
    finally:
        store.close()

    # As text: each column headed by its model and adapters, in the metrics table too.
    text = run(home, {}, "compare", "-m", SMOL, "--lora", tune, "-m", SMOL, *ASK, PROMPT)
    assert text.returncode == 0, text.stderr
    headers = [line for line in text.stdout.splitlines() if line.startswith("=== ")]
    assert headers == [f"=== {SMOL} + support-tune ===", f"=== {SMOL} ==="]
    assert f"{SMOL} + support-tune" in text.stdout.split("Time to first token")[0]


def test_an_adapter_that_does_not_fit_is_refused_before_anything_runs(
    home: AppPaths, loras: dict[str, Path]
) -> None:
    wrong = run(home, {}, "compare", "-m", SMOL, "--lora", str(loras["wrong"]), "-m", SMOL, "Hi")
    assert wrong.returncode == 2
    assert "for-another-model.gguf" in wrong.stderr and "1024×576" in wrong.stderr
    assert "Traceback" not in wrong.stderr and wrong.stdout == ""
    early = run(home, {}, "compare", "--lora", str(loras["tune"]), "-m", SMOL, "-m", SMOL, "Hi")
    assert early.returncode == 2 and "give the model first" in early.stderr
    store = ChatStore(home.database)
    try:
        assert store.comparisons() == []  # nothing was saved
    finally:
        store.close()
