"""The command line loads a catalog quant as the window does: the fit planner's plan for this
machine (Scout on a 24 GB card keeps the experts of 22 layers in RAM), the user's settings for
the file over it, the command's flags over both."""

from __future__ import annotations

import argparse

from pytestqt.qtbot import QtBot

from desktop.cli.load_settings import load_params_for
from desktop.core.models import LocalModel
from desktop.services.chat import ChatService
from desktop.services.engine_host import EngineHost
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings
from desktop.storage.store import ChatStore
from tests.services.test_model_settings import RTX_24, scout_download


def test_a_downloaded_scout_quant_loads_from_the_terminal_as_in_the_window(
    home: AppPaths, smollm_path: str, qtbot: QtBot
) -> None:
    store = ChatStore(home.database)
    target = scout_download(home, smollm_path, store)
    settings = Settings(home.settings)
    chat = ChatService(store, settings, home.models, EngineHost(), machine=lambda: RTX_24)
    try:
        model = next(m for m in chat.models if m.path == str(target))
        window = chat.load_params_for(model)[0]
        cli = load_params_for(settings, model, store=store, machine=lambda: RTX_24)
        assert window.n_cpu_moe == 22  # the plan (experts of 22 layers in RAM)
        assert (cli.n_ctx, cli.n_gpu_layers, cli.n_cpu_moe) == (
            window.n_ctx,
            window.n_gpu_layers,
            window.n_cpu_moe,
        )
        # Without the plan (before), every expert was put on the GPU.
        assert load_params_for(settings, model).n_cpu_moe == 0
        # The user's settings for the file, then a flag, win in that order.
        chat.model_settings().save(model.path, {"n_cpu_moe": 30})
        assert load_params_for(settings, model, store=store, machine=lambda: RTX_24).n_cpu_moe == 30
        flags = argparse.Namespace(ctx=2048, gpu_layers=None, threads=None, n_cpu_moe=None)
        smaller = load_params_for(settings, model, flags, store=store, machine=lambda: RTX_24)
        assert (smaller.n_ctx, smaller.n_cpu_moe) == (2048, 30)
        chat.model_settings().reset(model.path)
        # Planned at the context asked for: a smaller context keeps fewer experts in RAM.
        planned = load_params_for(settings, model, flags, store=store, machine=lambda: RTX_24)
        assert planned.n_ctx == 2048 and planned.n_cpu_moe < 22
        # A file that is not a catalog download has no plan, and the machine is not probed.
        bundled = LocalModel.for_file(smollm_path, "bundled")

        def no_probe() -> None:
            raise AssertionError("probed the machine for a file with no plan")

        assert load_params_for(settings, bundled, store=store, machine=no_probe).n_cpu_moe == 0  # type: ignore[arg-type]
    finally:
        chat.shutdown()
        store.close()
