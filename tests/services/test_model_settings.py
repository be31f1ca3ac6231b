"""Per-model load settings: kept in the settings file by model path, checked before they are
kept, laid over the fit planner's advice when the model loads, and reset to it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.catalog import GB
from desktop.core.errors import InvalidParameter
from desktop.core.fit import Gpu, Machine, Verdict
from desktop.services.chat import ChatService
from desktop.services.engine_host import EngineHost
from desktop.services.model_settings import KEY, ModelSettings
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings
from desktop.storage.store import ChatStore

RTX_24 = Machine(
    system="Linux",
    ram_total=64 * GB,
    ram_available=60 * GB,
    disk_free=500 * GB,
    gpus=(Gpu("RTX", "nvidia", 24 * GB, int(23.5 * GB)),),
    offload_supported=True,
    backend="CUDA",
)
CPU_16 = Machine(system="Linux", ram_total=16 * GB, ram_available=12 * GB, disk_free=100 * GB)


def test_settings_are_kept_by_path_checked_and_reset(home: AppPaths) -> None:
    saved = ModelSettings(Settings(home.settings))
    saved.save("/m/a.gguf", {"n_ctx": 2048, "kv_cache_type": "q8_0", "n_threads": None})
    # Another Settings object reads the file: it was written, and only what was set.
    on_disk = json.loads(home.settings.read_text())[KEY]
    assert on_disk == {"/m/a.gguf": {"n_ctx": 2048, "kv_cache_type": "q8_0"}}
    assert ModelSettings(Settings(home.settings)).of("/m/b.gguf") == {}
    with pytest.raises(InvalidParameter, match="context size must be 16"):
        saved.save("/m/a.gguf", {"n_ctx": 4})
    with pytest.raises(InvalidParameter, match="needs flash attention"):
        saved.save("/m/a.gguf", {"kv_cache_type": "q4_0", "flash_attn": False})
    # A refused save keeps what was there.
    assert saved.of("/m/a.gguf") == {"n_ctx": 2048, "kv_cache_type": "q8_0"}
    saved.reset("/m/a.gguf")
    assert saved.of("/m/a.gguf") == {}


def test_a_hand_damaged_entry_reads_as_nothing(home: AppPaths) -> None:
    home.settings.write_text(json.dumps({KEY: {"/m/a.gguf": {"n_ctx": "big"}}}))
    assert ModelSettings(Settings(home.settings)).of("/m/a.gguf") == {}


def scout_download(home: AppPaths, smollm_path: str, store: ChatStore) -> Path:
    """A tiny Llama-4 GGUF where the catalog's Scout IQ1_S goes, recorded as its download (so
    the fit planner plans it as Scout)."""
    from tests.gguf_make import tiny_llama4

    repo = "unsloth/Llama-4-Scout-17B-16E-Instruct-GGUF"
    repo_path = "Llama-4-Scout-17B-16E-Instruct-UD-IQ1_S.gguf"
    target = home.models / "unsloth" / "Llama-4-Scout-17B-16E-Instruct-GGUF" / repo_path
    target.parent.mkdir(parents=True)
    tiny_llama4(target, smollm_path)
    store.record_download(
        str(target), repo=repo, path=repo_path, url="http://x", size=1, sha256=None,
        status="verified",
    )  # fmt: skip
    return target


def test_the_users_choice_wins_over_the_fit_planner_and_reset_brings_it_back(
    home: AppPaths, smollm_path: str, qtbot: QtBot
) -> None:
    store = ChatStore(home.database)
    target = scout_download(home, smollm_path, store)
    chat = ChatService(
        store, Settings(home.settings), home.models, EngineHost(), machine=lambda: RTX_24
    )
    try:
        model = next(m for m in chat.models if m.path == str(target))
        assert chat.load_params_for(model)[0].n_cpu_moe == 22
        chat.model_settings().save(model.path, {"n_cpu_moe": 30, "kv_cache_type": "q8_0"})
        params, advice = chat.load_params_for(model)
        assert (params.n_cpu_moe, params.kv_cache_type, params.n_ctx) == (30, "q8_0", 8192)
        assert advice.endswith("your load settings")
        # A smaller context frees GPU memory: the planner keeps fewer experts in RAM for it.
        chat.model_settings().save(model.path, {"n_ctx": 2048})
        params, _ = chat.load_params_for(model)
        assert params.n_ctx == 2048 and params.n_cpu_moe < 22
        chat.model_settings().reset(model.path)
        params, advice = chat.load_params_for(model)
        assert (params.n_cpu_moe, params.n_ctx, params.kv_cache_type) == (22, 8192, "f16")
        assert "your load settings" not in advice
    finally:
        chat.shutdown()
        store.close()


def test_advice_for_a_file_outside_the_catalog_comes_from_its_header(
    home: AppPaths, qtbot: QtBot
) -> None:
    store = ChatStore(home.database)
    chat = ChatService(
        store, Settings(home.settings), home.models, EngineHost(), machine=lambda: CPU_16
    )
    try:
        bundled = chat.models[0]
        f16 = chat.load_advice(bundled, 2048)
        q8 = chat.load_advice(bundled, 2048, "q8_0")
        assert f16 is not None and q8 is not None
        # SmolLM2's header: 30 layers, 3 KV heads of 64 values, K and V, 2 bytes each.
        assert f16.kv_bytes == 30 * 3 * 64 * 2 * 2 * 2048
        assert q8.kv_bytes == f16.kv_bytes * 34 // 64
        assert f16.verdict == Verdict.CPU_ONLY
        assert f16.weights_bytes == bundled.size_bytes
    finally:
        chat.shutdown()
        store.close()
