"""How a command loads a local model: as the window loads it (Preferences → Engine's defaults,
then what the user set for that file in "Load settings for this model…"), with the command's
own flags over both (--ctx, --gpu-layers, --threads, --n-cpu-moe, --speculative,
--draft-model). Before, every command started from the built-in defaults, so a model the user
had set to 20 GPU layers loaded with all of them from the terminal."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from desktop.backends.compare_run import column_load_params
from desktop.backends.gguf_check import check_model_file
from desktop.core.models import CloudModel, LocalModel
from desktop.core.params import LoadParams
from desktop.services.model_settings import ModelSettings
from desktop.storage.settings import Settings

#: Each flag's attribute and the LoadParams field it sets (None: not given).
_FLAGS = (
    ("ctx", "n_ctx"),
    ("gpu_layers", "n_gpu_layers"),
    ("threads", "n_threads"),
    ("n_cpu_moe", "n_cpu_moe"),
)


def load_params_for(
    settings: Settings, path: str, args: argparse.Namespace | None = None
) -> LoadParams:
    """The load settings for the model file at ``path``; ``args``: the command's flags, where
    it has them. Threads left unset stay None: the engine's host picks the physical cores."""
    params = ModelSettings(settings).over(settings.load_defaults(None), path)
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


def column_params(settings: Settings, model: LocalModel | CloudModel, threads: int) -> LoadParams:
    """A comparison column's: as the app loads its model, with at most ``threads`` (its share
    of the cores while the other columns' engines run)."""
    own = load_params_for(settings, model.path) if isinstance(model, LocalModel) else LoadParams()
    return column_load_params(own, threads)
