"""ChatService: one conversation turn at a time, from the input box to the history database.

It owns the rules that make chat trustworthy: the user's message is saved before anything is
generated; the answer row exists from the first moment and grows on disk while it streams; Stop,
an engine error or an engine crash all end with the text that was shown saved, and a status
that says how it ended. The turn itself (rows, context, saving) is services/turn.py's, shared
with the CLI; local and cloud answers arrive here as the same AnswerEvents.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from desktop.backends.cloud import CloudSource
from desktop.backends.engine_client import physical_cores
from desktop.backends.local_adapters import AdapterShelf
from desktop.backends.local_models import available_models
from desktop.core import protocol as P
from desktop.core.answer import AnswerEvent, Failed, Finished, ReasoningDelta, TextDelta
from desktop.core.chat_records import AT_LEAF, Conversation, StoredMessage
from desktop.core.context import NEW_CHAT_TITLE
from desktop.core.errors import LlamasideError, StoreError
from desktop.core.fit import Machine
from desktop.core.messages import MessageStatus
from desktop.core.models import CloudModel, LocalModel
from desktop.core.params import LoadParams
from desktop.core.parts import Image, images_of
from desktop.services.chat_adapters import ChatAdapters
from desktop.services.chat_images import check_images, vision_note, without_images
from desktop.services.chat_outgrown import ChatOutgrown, SummaryJob
from desktop.services.chat_safe_mode import ChatSafeMode
from desktop.services.chat_served import Serving
from desktop.services.chat_setup import (
    ChatSetup,
    CloudRefused,
    ConsentRequired,
    HistoryConsentRequired,
    HistoryShare,
    LocalOnlyRefused,
)
from desktop.services.chat_tools import ChatTools, ToolProvider, ToolStep, WindowTurn
from desktop.services.cloud import AnswerStreams, CloudService
from desktop.services.engine_host import EngineHost
from desktop.services.model_catalog import detect_for_loading
from desktop.services.turn import TurnPipeline
from desktop.storage.settings import Settings
from desktop.storage.store import ChatStore

__all__ = [
    "NEW_CHAT_TITLE",
    "ChatService",
    "CloudRefused",
    "ConsentRequired",
    "HistoryConsentRequired",
    "HistoryShare",
    "LocalOnlyRefused",
]


class ChatService(QObject, ChatSetup, ChatOutgrown, ChatTools, ChatSafeMode, ChatAdapters, Serving):
    """Owns the answer in progress: it runs a chat's turn (services/turn.py) on the engine
    child or a cloud model, whose events arrive here alike, and says how it goes. The models,
    presets and consent are ChatSetup's; an outgrown chat's choices ChatOutgrown's; tool
    steps ChatTools'.

    Signals:
        models_changed(): the list of models or the chosen one changed.
        engine_status(str): a one-line description of the engine (for the status bar).
        answer_started(int, int, object): conversation id, answer message id, and the
            TurnStarted record (the question and its versions, the answer's model).
        answer_delta(int, int, str): conversation id, answer id, new text.
        answer_thinking(int, int): conversation id, answer id: the model has begun to think
            (its thinking is saved with the answer and shown when it ends).
        answer_finished(int, int, str): conversation id, answer id, MessageStatus value.
        speed(float): live tokens per second of the answer being generated.
        usage_ready(object): the Usage of the answer that just ended.
        error(str): something the user must read (a failed load, a crash).
        rejected(int, str, str): conversation id, the unsent text, why (e.g. too long).
        busy_changed(bool): an answer is being prepared or generated.
        conversations_changed(): titles, order or membership of the conversation list changed.
        outgrown(int, str, int, int, int, object): conversation id, the unsent text, prompt
            tokens, limit, what the text was to follow (AT_LEAF, 0 for "first", or a message
            id) and its pictures (a tuple of Image): the earlier turns fill the context.
        context_used(int, int, int): conversation id, tokens in the context, its size.
        summarised(int, str, int, object): conversation id, the text that waited, what it
            follows, its pictures: the oldest turns are summarised; the text can go now.
        safe_mode_changed(str, str, str): the engine's safe mode: a few words, a note and its
            longer story (all empty: the fast path).
        tool_approval(int, int, object, object): conversation, answer, the ToolCall and its
            ToolSpec: ask the user, then call ``decide``.
        tool_progress(int, int, object): conversation, answer, the answer's parts so far
            (words, calls, the results in so far): a step called tools, or a call ended.
    """

    models_changed = Signal()
    engine_status = Signal(str)
    answer_started = Signal(int, int, object)
    answer_delta = Signal(int, int, str)
    answer_thinking = Signal(int, int)
    answer_finished = Signal(int, int, str)
    speed = Signal(float)
    usage_ready = Signal(object)
    error = Signal(str)
    rejected = Signal(int, str, str)
    busy_changed = Signal(bool)
    conversations_changed = Signal()
    outgrown = Signal(int, str, int, int, int, object)
    context_used = Signal(int, int, int)
    summarised = Signal(int, str, int, object)
    safe_mode_changed = Signal(str, str, str)
    tool_approval = Signal(int, int, object, object)
    tool_progress = Signal(int, int, object)

    def __init__(
        self,
        store: ChatStore,
        settings: Settings,
        models_dir: Path,
        engine: EngineHost,
        *,
        parent: QObject | None = None,
        machine: Callable[[], Machine] | None = None,
        cloud: CloudService | None = None,
        tools: ToolProvider | None = None,
        image_root: Path | None = None,
        adapter_shelf: AdapterShelf | None = None,
    ) -> None:
        super().__init__(parent)
        self.cloud = cloud
        self.tools = tools
        self._tool_step: ToolStep | None = None
        #: Cloud answers stream on worker threads; their events arrive here like the engine's.
        self.cloud_streams = AnswerStreams(self)
        self.pipeline = TurnPipeline(store, self._cost_of_id, str(image_root or ""))
        self._machine_source = machine or (lambda: detect_for_loading(self.models_dir))
        self._machine: Machine | None = None
        self.store = store
        self.settings = settings
        self.models_dir = models_dir
        self.adapter_shelf = adapter_shelf or AdapterShelf()
        self.engine = engine
        self.load_params = LoadParams(
            n_ctx=int(settings.get("n_ctx", 4096)),
            n_threads=physical_cores(),
            # settings.json may force sampling in llama.cpp's graph (true) or on the CPU
            # (false); absent, the engine decides (graph_sampling_default).
            sample_on_device=settings.sample_on_device(),
        )
        self.sampling = settings.sampling()
        self.models: list[LocalModel] = []
        self.cloud_models: list[CloudModel] = []
        #: Models the user picked since this start (a failed one is used only if picked again).
        self._chosen_now: set[str] = set()
        #: Models-folder files that failed the file check (path → reason), and those that
        #: passed it (path → size and mtime then).
        self._file_problems: dict[str, str] = {}
        self._checked: dict[str, tuple[int, int]] = {}
        self._loaded_path: str | None = None
        #: The vision projector loaded with it ("" for none).
        self._loaded_mmproj = ""
        self._load_request: int | None = None
        self._turn: WindowTurn | None = None
        self._summary: SummaryJob | None = None
        #: What the engine said it runs on (CPU, CUDA...), "" until it has started.
        self._backend = ""
        #: The loaded model's context size (0 until a model is loaded).
        self.n_ctx = 0
        engine.hello.connect(self._on_hello)
        engine.loaded.connect(self._on_loaded)
        engine.started.connect(self._on_started)
        engine.answered.connect(self._on_engine_event)
        engine.exited.connect(self._on_exited)
        engine.safe_mode.connect(self._show_safe_mode)
        #: The safe-mode note last announced (safe_mode_changed is sent on a change only).
        self._safe_note = self.safe_mode()[1]
        self.cloud_streams.answered.connect(self._on_stream_event)
        if cloud is not None:
            cloud.changed.connect(self.refresh_models)
            cloud.offline_changed.connect(self._on_offline_changed)
        self.refresh_models()
        self._avoid_failed_model()

    # -- sending ------------------------------------------------------------------------------

    def send(
        self,
        conversation_id: int,
        text: str,
        *,
        after: int | None = AT_LEAF,
        share_history: bool = False,
        images: Sequence[Image] = (),
    ) -> bool:
        """Start an answer. Returns False (and sends nothing) for an empty message or while
        another answer is being generated. ``after``: the message this one follows; giving
        an earlier one makes an edited version of the question that followed it (the old
        version and its answers are kept). ``share_history``: the user agreed that a cloud
        model may receive the chat's earlier messages that so far stayed on this computer
        (without it, HistoryConsentRequired says which)."""
        if not (text.strip() or images) or self.busy:
            return False
        path = self.store.messages(conversation_id)
        if after is not None and after != AT_LEAF:
            earlier = path[: next((i + 1 for i, m in enumerate(path) if m.id == after), 0)]
        else:
            earlier = path if after == AT_LEAF else []
        prepared = self._prepare(conversation_id, earlier, share_history, images)
        if prepared is None:
            return False
        model, conversation, provider = prepared
        sampling = self._sampling_of(conversation, model)
        lora = self.adapters_for_answer(conversation, model)
        chat = self.pipeline.begin(
            conversation,
            path,
            model.id,
            sampling,
            text=text,
            after=after,
            images=images,
            adapters=lora,
        )
        self._start(WindowTurn(chat, model), provider, conversation)
        return True

    def regenerate(
        self, conversation_id: int, answer_id: int, *, share_history: bool = False
    ) -> bool:
        """A new version of an answer, from the chat's model; the old one stays browsable."""
        if self.busy:
            return False
        old = self.store.get_message(answer_id)
        if old.role.value != "assistant" or old.parent_id is None:
            return False
        question = self.store.get_message(old.parent_id)
        path = self.store.messages(conversation_id)
        earlier = [m for m in path if m.id < answer_id]
        prepared = self._prepare(conversation_id, earlier, share_history)
        if prepared is None:
            return False
        model, conversation, provider = prepared
        sampling = self._sampling_of(conversation, model)
        lora = self.adapters_for_answer(conversation, model)
        chat = self.pipeline.begin(
            conversation, path, model.id, sampling, question=question, adapters=lora
        )
        self._start(WindowTurn(chat, model), provider, conversation)
        return True

    def _prepare(
        self,
        conversation_id: int,
        earlier: list[StoredMessage],
        share_history: bool,
        images: Sequence[Image] = (),
    ) -> tuple[LocalModel | CloudModel, Conversation, Any] | None:
        """The model, the conversation and (for a cloud model) an open provider. Every refusal
        happens here, before a message is saved or anything is sent. ``earlier``: the messages
        the new one follows (what goes with it)."""
        conversation = self.store.get_conversation(conversation_id)
        model = self.model_for(conversation)
        if model is None:
            self.error.emit("No model is available. Add a GGUF file with Model → Open GGUF file…")
            return None
        check_images(model, images)
        provider = None
        if isinstance(model, CloudModel):
            provider = self._open_cloud(model, conversation.local_only)
            share = self._unshared(model, conversation, earlier)
            if share is not None and not share_history:
                raise HistoryConsentRequired(share)
        return model, conversation, provider

    def _start(self, turn: WindowTurn, provider: Any, conversation: Conversation) -> None:
        """The answer's row is on screen; ask its model (told of the chat's tools)."""
        self._turn = turn
        chat = turn.chat
        if vision_note(turn.model):
            chat.prompt = without_images(chat.prompt)
        turn.box, turn.gate = self._tools_box(conversation)
        if turn.box is not None:
            chat.prompt = replace(
                chat.prompt, tools=tuple(turn.box.specs), tool_choice=turn.box.choice
            )
        self.busy_changed.emit(True)
        self.conversations_changed.emit()
        self.answer_started.emit(chat.conversation_id, chat.answer_id, self.pipeline.started(chat))
        model = turn.model
        if isinstance(model, CloudModel):
            turn.source = CloudSource(provider, model.id, model.model)
            turn.request_id = self.cloud_streams.start(turn.source, chat.prompt)
        elif (self._loaded_path, self._loaded_mmproj) != (model.path, model.mmproj) or (
            not self.engine.running
        ):
            self._when_engine_free(lambda: self._start_load(model))
        else:
            self._when_engine_free(self._start_generation)

    def refresh_models(self) -> None:
        self.models = available_models(self.models_dir, self.store.user_models())
        self._check_files()
        self.cloud_models = self.cloud.models() if self.cloud is not None else []
        turn = self._turn
        if turn is not None and turn.cloud and turn.model not in self.cloud_models:
            self.stop()  # the provider of the answer being streamed was just turned off
        self.models_changed.emit()

    @property
    def busy(self) -> bool:
        return self._turn is not None or self._summary is not None

    # -- the engine ---------------------------------------------------------------------------

    @property
    def backend(self) -> str:
        """What the engine runs on (CPU, CUDA, Metal...); "" until it has started."""
        return self._backend

    def _start_load(self, model: LocalModel) -> None:
        self._loaded_path = None
        if self.engine.running:
            self.engine.unload()
        params, advice = self.load_params_for(model)
        params = replace(params, mmproj=model.mmproj)
        self.engine_status.emit(f"Loading {model.name}…" + (f" ({advice})" if advice else ""))
        self._load_request = self.engine.load(model.path, params)

    def _start_generation(self) -> None:
        turn = self._turn
        assert turn is not None
        prompt = turn.chat.prompt
        turn.request_id = self.engine.generate(
            prompt.wire(),
            prompt.sampling,
            tools=prompt.tools,
            tool_choice=prompt.tool_choice,
            adapters=turn.chat.adapters,
        )

    def _next_model_step(self) -> None:
        """Ask the model again, now with the tool results (the model stays loaded)."""
        turn = self._turn
        assert turn is not None
        model = turn.model
        if not isinstance(model, CloudModel):
            turn.request_id = None  # a served request may hold the engine after the tools
            self._when_engine_free(self._start_generation)
            return
        try:  # a stream closes its provider when it ends: each step opens one, checked again
            local_only = self.store.get_conversation(turn.chat.conversation_id).local_only
            provider = self._open_cloud(model, local_only)
        except LlamasideError as exc:  # locked, offline or refused meanwhile
            self._finish(MessageStatus.FAILED, error=str(exc))
            return
        turn.source = CloudSource(provider, model.id, model.model)
        turn.request_id = self.cloud_streams.start(turn.source, turn.chat.prompt)

    def stop(self) -> None:
        if self._stop_summary():
            return
        turn = self._turn
        if turn is None or self._stop_tools():
            return
        turn.stop_requested = True
        if turn.cloud:
            # The worker closes the stream at its next piece; the answer ends now, as shown.
            assert turn.request_id is not None
            self.cloud_streams.cancel(turn.request_id)
            self._finish(MessageStatus.STOPPED)
        elif turn.request_id is not None:
            self.engine.cancel(turn.request_id)
        else:
            # Still loading the model (or waiting for a served request): nothing was generated.
            if not self._forget_wait():
                self.engine.unload()
            self._finish(MessageStatus.STOPPED)

    @Slot(dict)
    def _on_hello(self, event: dict[str, Any]) -> None:
        self._backend = str(event.get("backend", "CPU"))

    @Slot(int, dict, float)
    def _on_loaded(self, request_id: int, info: dict[str, Any], load_s: float) -> None:
        if request_id != self._load_request:
            return
        self._load_request = None
        self._loaded_path = str(info["path"])
        self._loaded_mmproj = str(info.get("mmproj") or "")
        self.n_ctx = int(info.get("n_ctx") or 0)
        self._mark_model(self._loaded_path, None)
        gpu = "GPU offload available" if info.get("gpu_offload") else "no GPU offload in this build"
        name = self._turn.model.name if self._turn else Path(self._loaded_path).stem
        safe = " · safe mode" if info.get("engine_mode", "fast") != "fast" else ""
        backend = info.get("backend", self._backend or "CPU")
        self.engine_status.emit(
            f"{name} · {backend} · {info.get('n_threads')} threads · "
            f"ctx {info.get('n_ctx')} · loaded in {load_s:.1f} s · {gpu}{safe}"
        )
        if self._turn is not None and self._turn.request_id is None:
            self._start_generation()

    @Slot(int, int)
    def _on_started(self, request_id: int, _prompt_tokens: int) -> None:
        if self._turn is not None and request_id == self._turn.request_id:
            self._turn.first_token_at = 0.0

    # -- answer events ------------------------------------------------------------------------

    @Slot(int, object)
    def _on_engine_event(self, request_id: int, event: AnswerEvent) -> None:
        summary = self._summary
        if summary is not None and request_id == summary.request_id:
            self._on_summary_event(event)
        elif request_id == self._load_request and isinstance(event, Failed):
            self._load_failed(event)
        elif self._turn is not None and not self._turn.cloud:
            self._on_answer_event(request_id, event)

    @Slot(int, object)
    def _on_stream_event(self, request_id: int, event: AnswerEvent) -> None:
        if self._turn is not None and self._turn.cloud:
            self._on_answer_event(request_id, event)

    def _on_answer_event(self, request_id: int, event: AnswerEvent) -> None:
        """One event of the answer on screen, local or cloud alike."""
        turn = self._turn
        if turn is None or request_id != turn.request_id:
            return  # a late event of an answer that has ended
        chat = turn.chat
        if isinstance(event, Failed):
            self._on_failed(turn, event)
            return
        if (
            isinstance(event, ReasoningDelta)
            and not chat.answer.thoughts
            and not chat.answer.pieces
        ):
            self.answer_thinking.emit(chat.conversation_id, chat.answer_id)
        self.pipeline.add(chat, event)
        if isinstance(event, TextDelta):
            now = time.monotonic()
            tokens = chat.answer.tokens
            if not turn.first_token_at:
                turn.first_token_at = now
            elif tokens > 1:
                self.speed.emit((tokens - 1) / max(now - turn.first_token_at, 1e-6))
            self.answer_delta.emit(chat.conversation_id, chat.answer_id, event.text)
        elif isinstance(event, Finished) and not self._run_tools():
            self._finish()

    def _on_failed(self, turn: WindowTurn, event: Failed) -> None:
        chat = turn.chat
        overflow = event.overflow
        if overflow is not None and not chat.answer.pieces:
            # Nothing was generated: the message was never really sent. Take it back out of
            # the history and give the text back to the user, with the reason; when the
            # earlier turns fill the context the user chooses what to do instead.
            self._take_back(turn)
            if overflow.conversation and chat.new_user:
                self.outgrown.emit(
                    chat.conversation_id,
                    chat.question_text,
                    overflow.n_tokens,
                    overflow.limit,
                    chat.after,
                    tuple(images_of(chat.question.parts)),
                )
            else:  # a regeneration has no text to give back
                text = chat.question_text if chat.new_user else ""
                self.rejected.emit(chat.conversation_id, text, event.message)
            return
        chat.answer.add(event)
        self._finish()
        if not turn.cloud:
            self.error.emit(event.message)  # a cloud failure is said in the answer itself

    def _load_failed(self, event: Failed) -> None:
        # Any error about the load request means there is no usable model.
        self._load_request = None
        turn = self._turn
        # A too-old llama-cpp-python is the engine's fault, not the model file's.
        local = turn is not None and isinstance(turn.model, LocalModel)
        if (
            turn is not None
            and isinstance(turn.model, LocalModel)
            and event.code != P.ERROR_ENGINE_BUILD
        ):
            self._mark_model(turn.model.path, event.message)
        self.engine.unload()
        self.engine_status.emit("No model loaded")
        if local:
            assert turn is not None
            turn.chat.answer.add(event)
            self._finish()
        self.error.emit(event.message)

    @Slot(bool)
    def _on_offline_changed(self, offline: bool) -> None:
        if offline and self._turn is not None and self._turn.cloud:
            self.stop()

    def _take_back(self, turn: WindowTurn) -> None:
        """An unsent turn leaves no trace: its rows go, the branch and title are as before."""
        self.pipeline.take_back(turn.chat)
        self._turn = None
        self.busy_changed.emit(False)
        self.answer_finished.emit(turn.chat.conversation_id, turn.chat.answer_id, "rejected")

        # A summary's thinking is not the summary.

    @Slot(str, bool)
    def _on_exited(self, message: str, expected: bool) -> None:
        self._loaded_path = None
        # A model that crashed in safe mode too puts the engine back in the mode that has
        # worked on this machine: the note follows.
        self._show_safe_mode()
        loading = self._load_request is not None
        self._load_request = None
        if self._summary is not None:
            self._summary_failed(f"The summary could not be written: {message}")
            return
        turn = self._turn
        if turn is not None and (turn.cloud or self._tool_step is not None):
            # Not on the engine now (a served request may have ended it while the tools run):
            # the turn's next step loads its model again (chat_served._when_engine_free).
            turn = None
        if turn is None:
            if not expected:
                self.engine_status.emit("Engine stopped · it restarts with the next message")
                self.error.emit(message)
            return
        if turn.stop_requested:
            self._finish(MessageStatus.STOPPED)
            self.engine_status.emit("Stopped · the engine restarts with the next message")
            return
        if (
            (loading or not turn.chat.answer.pieces)
            and not expected
            and isinstance(turn.model, LocalModel)
        ):
            # The child died loading the file or reading the prompt: a GGML_ASSERT in a
            # malformed GGUF. Name the file, and mark it so it is never loaded on its own again.
            when = "loading it" if loading else "reading the prompt with it"
            message = (
                f"Cannot use {Path(turn.model.path).name}: {when} crashed the engine. "
                f"{message} It will not be loaded automatically again; choose another model."
            )
            self._mark_model(turn.model.path, message)
            self.engine_status.emit("No model loaded · the engine restarts with the next message")
            self._finish(MessageStatus.FAILED, error=message)
            self.error.emit(message)
            return
        self._finish(MessageStatus.FAILED, error=message)
        self.engine_status.emit("Engine stopped · it restarts with the next message")
        self.error.emit(message)

    def _finish(self, status: MessageStatus | None = None, error: str | None = None) -> None:
        """Save the answer as it ended and say so; ``status`` when the window knows better
        than the source (Stop pressed, the engine gone)."""
        turn = self._turn
        assert turn is not None
        chat = turn.chat
        if error is not None:
            chat.answer.add(Failed(error))
        try:
            status = self.pipeline.finish(chat, status)
        except StoreError as exc:
            # The turn must still end (or the window would wait for it forever); the answer
            # stays on screen, and the user learns it is not saved.
            status = status or chat.answer.status
            self.error.emit(f"{exc} The answer on screen could not be saved.")
        self._turn = None
        usage = chat.answer.usage
        if chat.answer.finished:
            self.usage_ready.emit(usage)
            if not turn.cloud and self.n_ctx:
                used = usage.prompt_tokens + usage.output_tokens
                self.context_used.emit(chat.conversation_id, used, self.n_ctx)
        self.busy_changed.emit(False)
        self.answer_finished.emit(chat.conversation_id, chat.answer_id, status.value)

    def shutdown(self) -> None:
        """Called when the window closes: save what is on screen, end the engine."""
        if self._turn is not None:
            self._stop_tools()
            self._turn.stop_requested = True
            if self._turn.cloud and self._turn.request_id is not None:
                self.cloud_streams.cancel(self._turn.request_id)
            self._finish(MessageStatus.STOPPED)
        self.engine.unload()
        self.cloud_streams.shutdown()
