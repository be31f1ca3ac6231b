"""A LoRA adapter from Hugging Face, downloaded like a model (`llamaside models download`, from a
hub server of ours on 127.0.0.1): verified, said to be an adapter, listed as one (never as a
model), and used with --lora on the real SmolLM2 engine child."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.storage.paths import AppPaths
from tests.cli.test_cli_models import run
from tests.hubserver import HubServer
from tests.lora_models import write_lora

REPO = "test-org/SmolLM2-support-LoRA-GGUF"
FILE = "support-lora-F32.gguf"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubServer]:
    with HubServer() as server:
        server.state.add(REPO, FILE, write_lora(tmp_path / FILE))
        yield server


def test_an_adapter_downloaded_like_a_model_is_listed_as_one_and_used_with_lora(
    home: AppPaths, hub: HubServer
) -> None:
    got = run(home, hub, "models", "download", REPO, FILE)
    assert got.returncode == 0, got.stderr
    assert "Verified (sha256) and ready: the LoRA adapter support-lora-F32" in got.stdout
    assert "for llama models" in got.stdout
    target = home.models / "test-org" / "SmolLM2-support-LoRA-GGUF" / FILE
    assert target.is_file()

    listed = run(home, None, "models", "list", "--local", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    adapters = [r for r in rows if r["where"] == "adapter"]
    assert [(a["path"], a["architecture"]) for a in adapters] == [(str(target), "llama")]
    assert str(target) not in {r.get("path") for r in rows if r["where"] == "local"}
    text = run(home, None, "models", "list", "--local")
    assert "LoRA adapters" in text.stdout and "support-lora-F32" in text.stdout

    ask = ("--max-tokens", "8", "--temperature", "0", "--json", "--no-save")
    smol = ("chat", "-m", "local:smollm2-135m-instruct")
    base = run(home, None, *smol, *ask, "Name a fruit.")
    tuned = run(home, None, *smol, "--lora", str(target), *ask, "Name a fruit.")
    assert base.returncode == 0 and tuned.returncode == 0, (base.stderr, tuned.stderr)
    assert json.loads(tuned.stdout)["adapters"] == [{"path": str(target), "scale": 1.0}]
    assert json.loads(tuned.stdout)["text"] != json.loads(base.stdout)["text"]
