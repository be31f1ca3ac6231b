"""Speculative decoding from the command line on the real SmolLM2 engine child: prompt lookup
(--speculative lookup) and a draft model (--draft-model, here SmolLM2 drafting for itself)
answer; a draft file that is not a model, or is missing, is refused before anything is saved."""

from __future__ import annotations

import json
from pathlib import Path

from desktop.storage.paths import AppPaths
from desktop.storage.store import ChatStore
from tests.cli.test_cli_cloud import run

SMOL = "local:smollm2-135m-instruct"
ASK = ("--max-tokens", "24", "--temperature", "0", "--json")
EDIT = "Repeat this line exactly: total = price * quantity + shipping_cost"


def test_lookup_and_a_draft_model_answer(home: AppPaths, smollm_path: str) -> None:
    for extra in (("--speculative", "lookup"), ("--draft-model", smollm_path)):
        result = run(home, {}, "chat", "-m", SMOL, *ASK, *extra, EDIT)
        assert result.returncode == 0, result.stderr
        answer = json.loads(result.stdout)
        assert answer["text"].strip(), extra
        assert answer["usage"]["output_tokens"] > 0


def test_a_draft_that_is_no_model_is_refused_before_anything_is_saved(
    home: AppPaths, tmp_path: Path
) -> None:
    junk = tmp_path / "draft.gguf"
    junk.write_bytes(b"not a model at all" * 100)
    bad = run(home, {}, "chat", "-m", SMOL, "--draft-model", str(junk), "Hi")
    assert bad.returncode != 0 and "draft.gguf" in bad.stderr and "GGUF" in bad.stderr
    gone = run(home, {}, "chat", "-m", SMOL, "--draft-model", str(tmp_path / "gone.gguf"), "Hi")
    assert gone.returncode != 0 and "gone.gguf" in gone.stderr
    assert "Traceback" not in bad.stderr + gone.stderr
    both = run(home, {}, "chat", "--speculative", "off", "--draft-model", str(junk), "Hi")
    assert both.returncode == 2  # one or the other
    store = ChatStore(home.database)
    try:
        assert store.list_conversations() == []
    finally:
        store.close()
