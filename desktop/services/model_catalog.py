"""What the model manager asks of the outside world, in one place for the UI: the catalog,
this machine's description, Hugging Face listings. Blocking calls: run them via Background."""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from desktop.backends import hardware, secrets
from desktop.backends.catalog_file import load_catalog
from desktop.backends.engine_client import probe_engine
from desktop.backends.gguf_check import check_projector_file, is_projector_file
from desktop.backends.hub import GgufGroup, Hub, RepoSummary, group_files, with_projector
from desktop.backends.network import Network
from desktop.core import gpu_builds
from desktop.core.catalog import Catalog, is_projector_name
from desktop.core.fit import Fit, Machine, plan_quant
from desktop.core.models import LocalModel
from desktop.core.params import LoadParams
from desktop.storage.settings import Settings
from desktop.storage.store import ChatStore


def catalog() -> Catalog:
    return load_catalog()


def catalog_fit(
    store: ChatStore,
    settings: Settings,
    model: LocalModel,
    machine: Callable[[], Machine],
    *,
    n_ctx: int | None = None,
    kv_type: str = "f16",
) -> Fit | None:
    """The fit planner's plan for a catalog quant we downloaded (None: not one; ``machine``
    is asked only then), at ``n_ctx`` (else the "n_ctx" setting, else the catalog's)."""
    row = store.download(model.path)
    if row is None:
        return None
    for entry, quant in catalog().by_repo(row.repo):
        if quant.matches(row.path):
            ctx = n_ctx or int(settings.get("n_ctx", entry.default_context))
            vision = bool(model.mmproj)
            return plan_quant(entry, quant, machine(), ctx, vision=vision, kv_type=kv_type)
    return None


def planned_params(fit: Fit, defaults: LoadParams) -> LoadParams:
    """Load settings from a plan (e.g. Scout on a 24 GB card keeps the experts of N layers in
    RAM), with the threads, sampling place and speculative decoding of ``defaults``."""
    return LoadParams(
        n_ctx=fit.n_ctx,
        n_gpu_layers=fit.n_gpu_layers or -1,
        n_threads=defaults.n_threads,
        n_cpu_moe=fit.n_cpu_moe,
        sample_on_device=defaults.sample_on_device,
        speculative=defaults.speculative,
    )


def detect_machine(models_dir: Path) -> Machine:
    """This machine and what the installed llama-cpp-python can do (asks an engine child)."""
    hello = probe_engine()
    return hardware.detect(
        models_dir, bool(hello.get("gpu_offload")), str(hello.get("backend", "CPU"))
    )


@dataclass(frozen=True)
class BackendReport:
    """What the installed llama-cpp-python can run on, and what this machine has."""

    llama_cpp_version: str
    system_info: str
    built: tuple[str, ...]
    machine: Machine
    advice: gpu_builds.Advice | None
    commands: tuple[tuple[str, str, str], ...]


def backend_report(models_dir: Path) -> BackendReport:
    """Asks an engine child what its build supports (blocking: about a second)."""
    hello = probe_engine()
    info = str(hello.get("system_info", ""))
    version = str(hello.get("llama_cpp_version", ""))
    machine = hardware.detect(
        models_dir, bool(hello.get("gpu_offload")), str(hello.get("backend", "CPU"))
    )
    built = gpu_builds.built_with(info)
    vendors = [gpu.vendor for gpu in machine.gpus]
    python = sys.executable
    return BackendReport(
        llama_cpp_version=version,
        system_info=info,
        built=tuple(built),
        machine=machine,
        advice=gpu_builds.advise(
            platform.system(), platform.machine(), vendors, built, python=python, version=version
        ),
        commands=tuple(gpu_builds.all_commands(python, platform.system(), version)),
    )


def search(query: str, network: Network | None = None) -> list[RepoSummary]:
    return Hub(network=network).search(query)


def repo_models(
    repo: str, network: Network | None = None, preferred_projector: str = ""
) -> list[GgufGroup]:
    """The loadable GGUF models in a repo (split parts grouped), each carrying the repo's
    vision projector to download with it (see hub.with_projector); projectors not listed."""
    return with_projector(group_files(Hub(network=network).gguf_files(repo)), preferred_projector)


def detect_for_loading(models_dir: Path) -> Machine:
    """The machine, without starting an engine child: when a GPU is present we plan as if the
    build can use it (if it cannot, llama.cpp ignores the GPU settings and the plan is moot)."""
    probe = hardware.detect(models_dir, offload_supported=False)
    if not probe.gpus:
        return probe
    return hardware.detect(models_dir, offload_supported=True)


def hf_token_source() -> str:
    """Where the Hugging Face token comes from, in words for the UI (never the token)."""
    try:
        _token, source = secrets.hf_token()
    except secrets.SecretStoreUnavailable as exc:
        return str(exc)
    return secrets.HF_TOKEN_SOURCES[source]


def save_hf_token(value: str) -> None:
    secrets.set_secret(secrets.HF_TOKEN, value.strip())


def delete_hf_token() -> bool:
    return secrets.delete_secret(secrets.HF_TOKEN)


def split_picks(paths: list[str]) -> tuple[list[str], list[str]]:
    """Files the user picked to open, as (models, vision projectors): a projector is told by
    its name ("mmproj") or its header (clip), so a renamed one is not taken for a model."""
    models: list[str] = []
    projectors: list[str] = []
    for path in paths:
        if is_projector_name(path) or is_projector_file(Path(path)):
            projectors.append(path)
        else:
            models.append(path)
    return models, projectors


def pair_projector(store: ChatStore, model_path: str, mmproj: str | None) -> None:
    """Keep the user's choice of projector for a model file: a projector's path (checked
    first: ModelLoadError says why it cannot be one), "" for none, None to pair by folder."""
    if mmproj:
        mmproj = str(check_projector_file(Path(mmproj)))
    store.set_model_projector(model_path, mmproj)
