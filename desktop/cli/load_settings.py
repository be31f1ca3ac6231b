"""How a command loads a local model: as the window loads it (Preferences → Engine's defaults,
the fit planner's plan for a catalog quant we downloaded, then what the user set for that file
in "Load settings for this model…"), with the command's own flags over all of them (--ctx,
--gpu-layers, --threads, --n-cpu-moe, --speculative, --draft-model). Before, every command
started from the built-in defaults, so Scout downloaded for a 24 GB card loaded with all of its
experts on the GPU from the terminal."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from desktop.backends.compare_run import column_load_params
from desktop.backends.gguf_check import check_model_file
from desktop.core.fit import Machine
from desktop.core.models import CloudModel, LocalModel
from desktop.core.params import LoadParams
from desktop.services.model_catalog import catalog_fit, detect_for_loading, planned_params
from desktop.services.model_settings import ModelSettings
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings
from desktop.storage.store import ChatStore

#: Each flag's attribute and the LoadParams field it sets (None: not given).
_FLAGS = (
    ("ctx", "n_ctx"),
    ("gpu_layers", "n_gpu_layers"),
    ("threads", "n_threads"),
    ("n_cpu_moe", "n_cpu_moe"),
)


@functools.cache
def _machine(models_dir: Path) -> Machine:
    return detect_for_loading(models_dir)


def machine_of(paths: AppPaths) -> Callable[[], Machine]:
    """This machine, probed once per run and only when a plan needs it."""
    return functools.partial(_machine, paths.models)


def load_params_for(
    settings: Settings,
    model: LocalModel | str,
    args: argparse.Namespace | None = None,
    *,
    store: ChatStore | None = None,
    machine: Callable[[], Machine] | None = None,
) -> LoadParams:
    """The load settings for ``model`` (a path: no plan); ``args``: the command's flags, where
    it has them; ``store`` and ``machine``: where the fit plan for a download comes from.
    Threads left unset stay None: the engine's host picks the physical cores."""
    path = model if isinstance(model, str) else model.path
    base = settings.load_defaults(None)
    if store is not None and machine is not None and isinstance(model, LocalModel):
        chosen = ModelSettings(settings).of(path)
        ctx = getattr(args, "ctx", None) or chosen.get("n_ctx")
        kv_type = str(chosen.get("kv_cache_type", "f16"))
        fit = catalog_fit(store, settings, model, machine, n_ctx=ctx, kv_type=kv_type)
        if fit is not None:
            base = planned_params(fit, base)
    params = ModelSettings(settings).over(base, path)
    if args is None:
        return params
    given = {field: getattr(args, name, None) for name, field in _FLAGS}  # serve has fewer
    params = replace(params, **{k: v for k, v in given.items() if v is not None})
    draft = getattr(args, "draft_model", None)
    if draft:
        return replace(
            params, speculative="draft", draft_model=str(check_model_file(Path(draft)).path)
        )
    speculative = getattr(args, "speculative", None)
    if speculative:  # a flag's choice replaces the saved one, draft model and all
        return replace(params, speculative=speculative, draft_model="")
    return params


def column_params(
    settings: Settings,
    model: LocalModel | CloudModel,
    threads: int,
    *,
    store: ChatStore | None = None,
    machine: Callable[[], Machine] | None = None,
) -> LoadParams:
    """A comparison column's: as the app loads its model, with at most ``threads`` (its share
    of the cores while the other columns' engines run)."""
    if not isinstance(model, LocalModel):
        return LoadParams()
    own = load_params_for(settings, model, store=store, machine=machine)
    return column_load_params(own, threads)
