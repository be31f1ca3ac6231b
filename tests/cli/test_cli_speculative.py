"""Speculative decoding from the command line on the real SmolLM2 engine child: prompt lookup
(--speculative lookup) and a draft model (--draft-model, here SmolLM2 drafting for itself)
answer; a draft file that is not a model, or is missing, is refused before anything is saved;
the model's own load settings (a draft model chosen in the window) apply unless a flag says
otherwise."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from desktop.cli.load_settings import load_params_for
from desktop.core.params import LoadParams
from desktop.services.model_settings import ModelSettings
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings
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


def test_the_models_own_load_settings_apply_unless_a_flag_says_otherwise(
    home: AppPaths, smollm_path: str, tmp_path: Path
) -> None:
    # A draft model chosen for SmolLM2 in the window (Load settings for this model…): the
    # command line loads it too, so a draft file that went bad fails the load, naming its role.
    junk = tmp_path / "gone-bad.gguf"
    junk.write_bytes(b"not a model at all" * 100)
    ModelSettings(Settings(home.settings)).save(
        smollm_path, {"speculative": "draft", "draft_model": str(junk)}
    )
    saved = run(home, {}, "chat", "-m", SMOL, *ASK, "Hi")
    assert saved.returncode != 0
    assert "gone-bad.gguf" in saved.stderr and "draft model chosen for" in saved.stderr
    # --speculative replaces the saved choice, draft model and all.
    flagged = run(home, {}, "chat", "-m", SMOL, *ASK, "--speculative", "off", "Hi")
    assert flagged.returncode == 0, flagged.stderr
    assert json.loads(flagged.stdout)["text"].strip()


def test_load_settings_layer_preferences_the_models_own_and_flags(
    home: AppPaths, smollm_path: str
) -> None:
    settings = Settings(home.settings)
    for key, value in (("n_ctx", 2048), ("n_threads", 3), ("n_gpu_layers", 12)):
        settings.set(key, value)  # Preferences → Engine
    ModelSettings(settings).save(smollm_path, {"n_ctx": 640, "speculative": "lookup"})
    other = str(home.models / "other.gguf")
    assert load_params_for(settings, other) == LoadParams(n_ctx=2048, n_threads=3, n_gpu_layers=12)
    own = load_params_for(settings, smollm_path)
    assert (own.n_ctx, own.n_threads, own.n_gpu_layers, own.speculative) == (640, 3, 12, "lookup")
    flags = argparse.Namespace(
        ctx=1024, gpu_layers=0, threads=None, n_cpu_moe=None, speculative=None, draft_model=None
    )
    given = load_params_for(settings, smollm_path, flags)
    assert (given.n_ctx, given.n_threads, given.n_gpu_layers, given.speculative) == (
        1024,
        3,
        0,
        "lookup",
    )
    # `serve` has no --n-cpu-moe, --speculative or --draft-model.
    served = load_params_for(settings, smollm_path, argparse.Namespace(ctx=None, threads=1))
    assert (served.n_ctx, served.n_threads, served.speculative) == (640, 1, "lookup")
    drafted = load_params_for(
        settings, smollm_path, argparse.Namespace(**{**vars(flags), "draft_model": smollm_path})
    )
    assert (drafted.speculative, drafted.draft_model) == ("draft", smollm_path)
