"""ChatService: one conversation turn at a time, from the input box to the history database.

It owns the rules that make chat trustworthy: the user's message is saved before anything is
generated; the answer row exists from the first moment and grows on disk while it streams; Stop,
an engine error or an engine crash all end with the text that was shown saved, and a status
that says how it ended.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from PySide6.QtCore import QObject, Signal, Slot

from desktop.backends.engine_client import physical_cores
from desktop.backends.gguf_check import check_model_file
from desktop.backends.local_models import BUNDLED_ID, available_models
from desktop.core import protocol as P
from desktop.core import summary as summaries
from desktop.core.errors import InvalidParameter, LlamasideError, ModelLoadError, StoreError
from desktop.core.fit import Fit, Machine, plan, plan_quant, recommend
from desktop.core.fit_report import SCOUT_ID
from desktop.core.messages import MessageStatus, Role, status_after
from desktop.core.models import CloudModel, LocalModel, is_local_id
from desktop.core.params import LoadParams, SamplingParams
from desktop.core.presets import BALANCED, Preset, Presets, recommended_preset
from desktop.core.usage import StopReason, Usage
from desktop.services import model_catalog
from desktop.services.cloud import CloudService, CloudStreams
from desktop.services.engine_host import EngineHost
from desktop.services.model_catalog import detect_for_loading
from desktop.storage.settings import Settings
from desktop.storage.store import AT_LEAF, ChatStore, Conversation, StoredMessage

#: While an answer streams, its text is written to the database at most this often, so a crash
#: of the whole app loses at most this much of what was on screen.
CHECKPOINT_INTERVAL_S = 1.0
TITLE_LENGTH = 48
NEW_CHAT_TITLE = "New chat"


class CloudRefused(LlamasideError):
    """A cloud send that the user's settings forbid (local-only chat, offline, provider off or
    without a key). Nothing was sent and nothing was saved."""


class LocalOnlyRefused(CloudRefused):
    """A cloud send from a chat locked to this computer."""


class ConsentRequired(LlamasideError):
    """The first send to a provider needs the user's yes (see ChatService.consent_text)."""

    def __init__(self, model: CloudModel, message: str) -> None:
        super().__init__(message)
        self.model = model


@dataclass(frozen=True)
class HistoryShare:
    """Earlier messages of a chat that a cloud send would take to a provider for the first
    time: until now they stayed on this computer (or went to another provider only)."""

    model: CloudModel
    #: Messages (questions and answers) the provider has not received from this chat (1 or more).
    count: int
    #: Whether every one of them was answered on this computer (else some went elsewhere).
    answered_here: bool
    #: Whether the chat's system prompt goes too, for the first time.
    system_prompt: bool
    #: Where they go: the provider's label and its address.
    provider_label: str
    where: str

    def describe(self) -> str:
        """One sentence: what will go where."""
        noun = "earlier message" if self.count == 1 else "earlier messages"
        how = "answered on this computer" if self.answered_here else "not sent there before"
        what = f"{self.count} {noun}, {how},"
        if self.system_prompt:
            what += " and this chat's system prompt"
        return (
            f"{what} will be sent to {self.model.model} at {self.where} "
            f"({self.provider_label}) with your message."
        )


class HistoryConsentRequired(LlamasideError):
    """A cloud send would take a chat's earlier, so far local, messages off this computer: the
    user says yes (send with ``share_history=True``), starts a new chat, or cancels."""

    def __init__(self, share: HistoryShare) -> None:
        super().__init__(share.describe())
        self.share = share


@dataclass
class _Turn:
    """The answer being generated."""

    conversation_id: int
    user_message_id: int
    answer_id: int
    user_text: str
    model: LocalModel | CloudModel
    #: The title before this turn, restored if the message is given back unsent.
    previous_title: str
    request_id: int | None = None
    #: The end of the branch before this turn (shown again if the turn is taken back).
    previous_leaf: int | None = None
    #: False when regenerating: the question existed before and stays.
    new_user: bool = True
    #: What the question follows (AT_LEAF: the end of the branch; else an edit's parent).
    after: int = AT_LEAF
    pieces: list[str] = field(default_factory=list)
    #: A reasoning model's thinking, apart from the answer (never sent back as its text).
    thoughts: list[str] = field(default_factory=list)
    last_checkpoint: float = 0.0
    stop_requested: bool = False

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def cloud(self) -> bool:
        return isinstance(self.model, CloudModel)


@dataclass
class _Summary:
    """The oldest turns of an outgrown chat being summarised, before the user's message goes."""

    conversation_id: int
    #: The message that waits for the summary, and what it follows (as in ChatService.send).
    text: str
    after: int
    #: The first message still sent once the summary is in place.
    first_kept: int
    request_id: int
    pieces: list[str] = field(default_factory=list)
    stop_requested: bool = False


class ChatService(QObject):
    """Sends messages to the local engine and keeps the history.

    Signals:
        models_changed(): the list of models or the chosen one changed.
        engine_status(str): a one-line description of the engine (for the status bar).
        answer_started(int, int): conversation id, answer message id.
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
        outgrown(int, str, int, int, int): conversation id, the unsent text, prompt tokens,
            limit, and what the text was to follow (AT_LEAF, 0 for "first", or a message id):
            the earlier turns fill the context (the user picks what to do).
        context_used(int, int, int): conversation id, tokens in the context, its size.
        summarised(int, str, int): conversation id, the text that waited, what it follows:
            the oldest turns are summarised and the text can be sent now.
        safe_mode_changed(str, str, str): the engine's safe mode: a few words, a note and its
            longer story (all empty: the fast path).
    """

    models_changed = Signal()
    engine_status = Signal(str)
    answer_started = Signal(int, int)
    answer_delta = Signal(int, int, str)
    answer_thinking = Signal(int, int)
    answer_finished = Signal(int, int, str)
    speed = Signal(float)
    usage_ready = Signal(object)
    error = Signal(str)
    rejected = Signal(int, str, str)
    busy_changed = Signal(bool)
    conversations_changed = Signal()
    outgrown = Signal(int, str, int, int, int)
    context_used = Signal(int, int, int)
    summarised = Signal(int, str, int)
    safe_mode_changed = Signal(str, str, str)

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
    ) -> None:
        super().__init__(parent)
        self.cloud = cloud
        self.cloud_streams = CloudStreams(self)
        self._machine_source = machine or (lambda: detect_for_loading(models_dir))
        self._machine: Machine | None = None
        self.store = store
        self.settings = settings
        self.models_dir = models_dir
        self.engine = engine
        self.load_params = LoadParams(
            n_ctx=int(settings.get("n_ctx", 4096)),
            n_threads=physical_cores(),
            # settings.json may force sampling in llama.cpp's graph (true) or on the CPU
            # (false); absent, the engine decides (graph_sampling_default).
            sample_on_device=settings.sample_on_device(),
        )
        self.sampling = settings.sampling()
        #: The sampling of the answer being prepared (the conversation's preset, or the default).
        self._turn_sampling = self.sampling
        self.models: list[LocalModel] = []
        self.cloud_models: list[CloudModel] = []
        #: Models the user picked since this start (a failed one is used only if picked again).
        self._chosen_now: set[str] = set()
        #: Models-folder files that failed the file check (path → reason), and those that
        #: passed it (path → size and mtime then).
        self._file_problems: dict[str, str] = {}
        self._checked: dict[str, tuple[int, int]] = {}
        self._loaded_path: str | None = None
        self._load_request: int | None = None
        self._turn: _Turn | None = None
        self._summary: _Summary | None = None
        #: What the engine said it runs on (CPU, CUDA...), "" until it has started.
        self._backend = ""
        #: The loaded model's context size (0 until a model is loaded).
        self.n_ctx = 0
        self._overflow: tuple[int, int, int, bool] | None = None
        self._first_token_at = 0.0
        engine.hello.connect(self._on_hello)
        engine.loaded.connect(self._on_loaded)
        engine.started.connect(self._on_started)
        engine.delta.connect(self._on_delta)
        engine.thought.connect(self._on_thought)
        engine.done.connect(self._on_done)
        engine.failed.connect(self._on_failed)
        engine.overflow.connect(self._on_overflow)
        engine.exited.connect(self._on_exited)
        engine.safe_mode.connect(self._show_safe_mode)
        #: The safe-mode note last announced (safe_mode_changed is sent on a change only).
        self._safe_note = self.safe_mode()[1]
        self.cloud_streams.delta.connect(self._on_cloud_delta)
        self.cloud_streams.thinking.connect(self._on_cloud_thinking)
        self.cloud_streams.done.connect(self._on_cloud_done)
        self.cloud_streams.failed.connect(self._on_cloud_failed)
        if cloud is not None:
            cloud.changed.connect(self.refresh_models)
            cloud.offline_changed.connect(self._on_offline_changed)
        self.refresh_models()
        self._avoid_failed_model()

    # -- models -------------------------------------------------------------------------------

    def refresh_models(self) -> None:
        self.models = available_models(self.models_dir, self.store.user_models())
        self._check_files()
        self.cloud_models = self.cloud.models() if self.cloud is not None else []
        turn = self._turn
        if turn is not None and turn.cloud and turn.model not in self.cloud_models:
            self.stop()  # the provider of the answer being streamed was just turned off
        self.models_changed.emit()

    def _check_files(self) -> None:
        """Files found in the models folder (dropped in, downloaded) get the check a file gets
        when the user opens it: one that cannot load is marked, with its reason, before anyone
        sends to it. Kept in memory only: a split model's last part may still be arriving, and
        a file that is fixed (or finished) is checked again when it changes."""
        for model in self.models:
            if model.source != "folder":
                continue
            path = Path(model.path)
            try:
                stat = path.stat()
            except OSError:
                continue
            key = (stat.st_size, stat.st_mtime_ns)
            if self._checked.get(model.path) == key:
                continue  # unchanged since it passed
            try:
                check_model_file(path)
            except ModelLoadError as exc:
                self._file_problems[model.path] = str(exc)
            else:
                self._file_problems.pop(model.path, None)
                self._checked[model.path] = key

    def model_errors(self) -> dict[str, str]:
        """Why each model file that cannot be used failed (path → reason): failures to load
        remembered from earlier runs, and what the check found in the models folder now."""
        return {**self._file_problems, **self.store.model_errors()}

    def _avoid_failed_model(self) -> None:
        """At start, never pick up a model that failed to load or crashed the engine last time:
        the first message would fail (or crash) again. It stays listed, marked, for the user
        to choose again on purpose."""
        model = self.default_model
        errors = self.model_errors()
        if not isinstance(model, LocalModel) or model.path not in errors:
            return
        fallback = next((m for m in self.models if m.path not in errors), None)
        if fallback is not None:
            self.settings.set("model", fallback.id)
            self.models_changed.emit()

    def _mark_model(self, path: str, error: str | None) -> None:
        """Remember (or forget) why a model file failed; the picker shows it."""
        if self.store.model_errors().get(path) != error:
            self.store.set_model_error(path, error)
            self.models_changed.emit()

    def model_error(self, model: LocalModel | CloudModel) -> str | None:
        """Why this model failed to load last time (None: it did not, or it is not a file)."""
        if not isinstance(model, LocalModel):
            return None
        return self.model_errors().get(model.path)

    @property
    def all_models(self) -> list[LocalModel | CloudModel]:
        return [*self.models, *self.cloud_models]

    def _listed(self, model_id: object) -> LocalModel | CloudModel | None:
        return next((m for m in self.all_models if m.id == model_id), None)

    @property
    def default_model(self) -> LocalModel | None:
        """The model a new chat starts on: the local model the user chose last (never a cloud
        one: a new chat sends nothing anywhere until the user picks a cloud model for it)."""
        chosen = self._listed(self.settings.get("model", BUNDLED_ID))
        if isinstance(chosen, LocalModel):
            return chosen
        errors = self.model_errors()
        working = [m for m in self.models if m.path not in errors]
        return next(iter(working or self.models), None)

    def model_of(self, conversation_id: int | None) -> LocalModel | CloudModel | None:
        """The chat's own model: the one it was last answered by or set to, while it is listed
        (and, for a file that failed to load, only if the user chose it again since this
        start); else (a new chat, a provider turned off, a file removed) the default model."""
        if conversation_id is not None:
            chosen = self._listed(self.store.get_conversation(conversation_id).model)
            failed = chosen is not None and self.model_error(chosen) is not None
            if chosen is not None and (not failed or chosen.id in self._chosen_now):
                return chosen
        return self.default_model

    def model_name(self, model_id: str | None) -> str:
        """How an answer's model is named in the chat, including models no longer listed."""
        for model in self.all_models:
            if model.id == model_id:
                return model.name
        if model_id and not is_local_id(model_id):
            provider, _, name = model_id.partition(":")
            return f"{name} · {provider}"
        return (model_id or "Assistant").removeprefix("local:")

    def select_model(self, model_id: str, conversation_id: int | None = None) -> None:
        """The chat's model from now on. A local model also becomes the default for new chats;
        a cloud one applies to this chat only."""
        self._chosen_now.add(model_id)
        if conversation_id is not None:
            self.store.set_conversation_model(conversation_id, model_id)
        if is_local_id(model_id):
            self.settings.set("model", model_id)
        self.models_changed.emit()

    def add_model_file(self, path: str, conversation_id: int | None = None) -> LocalModel:
        """Check a GGUF file the user picked, remember it, and make it the chat's model.
        Raises ModelLoadError (nothing remembered) when the file cannot be a model."""
        # A split model is opened by any of its parts; llama.cpp loads the set from the first.
        path = str(check_model_file(Path(path)).path)
        self.store.add_user_model(path)
        self.refresh_models()
        for model in self.models:
            if model.path == path:
                self.select_model(model.id, conversation_id)
                return model
        raise AssertionError("a model file just added is missing from the list")

    @property
    def busy(self) -> bool:
        return self._turn is not None or self._summary is not None

    # -- sending ------------------------------------------------------------------------------

    def send(
        self,
        conversation_id: int,
        text: str,
        *,
        after: int | None = AT_LEAF,
        share_history: bool = False,
    ) -> bool:
        """Start an answer. Returns False (and sends nothing) for an empty message or while
        another answer is being generated. ``after``: the message this one follows; giving
        an earlier one makes an edited version of the question that followed it (the old
        version and its answers are kept). ``share_history``: the user agreed that a cloud
        model may receive the chat's earlier messages that so far stayed on this computer
        (without it, HistoryConsentRequired says which)."""
        if not text.strip() or self.busy:
            return False
        path = self.store.messages(conversation_id)
        if after is not None and after != AT_LEAF:
            earlier = path[: next((i + 1 for i, m in enumerate(path) if m.id == after), 0)]
        else:
            earlier = path if after == AT_LEAF else []
        prepared = self._prepare(conversation_id, earlier, share_history)
        if prepared is None:
            return False
        model, conversation, provider = prepared
        previous_leaf = self._leaf(conversation_id)
        user = self.store.add_message(conversation_id, Role.USER, text, parent_id=after)
        if conversation.title == NEW_CHAT_TITLE:
            title = " ".join(text.split())[:TITLE_LENGTH]
            self.store.rename_conversation(conversation_id, title)
        self._answer(
            conversation,
            model,
            provider,
            question_id=user.id,
            question=text,
            previous_leaf=previous_leaf,
            new_user=True,
        )
        if self._turn is not None:
            # For the signal's int: AT_LEAF (-1), 0 for "no parent" (ids start at 1), or an id.
            self._turn.after = after if after is not None else 0
        return True

    def regenerate(
        self, conversation_id: int, answer_id: int, *, share_history: bool = False
    ) -> bool:
        """A new version of an answer, from the chat's model; the old one stays browsable."""
        if self.busy:
            return False
        old = self.store.get_message(answer_id)
        if old.role != Role.ASSISTANT or old.parent_id is None:
            return False
        question = self.store.get_message(old.parent_id)
        earlier = [m for m in self.store.messages(conversation_id) if m.id < answer_id]
        prepared = self._prepare(conversation_id, earlier, share_history)
        if prepared is None:
            return False
        model, conversation, provider = prepared
        previous_leaf = self._leaf(conversation_id)
        self._answer(
            conversation,
            model,
            provider,
            question_id=question.id,
            question=question.content,
            previous_leaf=previous_leaf,
            new_user=False,
        )
        return True

    def _prepare(
        self, conversation_id: int, earlier: list[StoredMessage], share_history: bool
    ) -> tuple[LocalModel | CloudModel, Conversation, Any] | None:
        """The model, the conversation and (for a cloud model) an open provider. Every refusal
        happens here, before a message is saved or anything is sent. ``earlier``: the messages
        the new one follows (what goes with it)."""
        model = self.model_of(conversation_id)
        if model is None:
            self.error.emit("No model is available. Add a GGUF file with Model → Open GGUF file…")
            return None
        conversation = self.store.get_conversation(conversation_id)
        provider = None
        if isinstance(model, CloudModel):
            provider = self._open_cloud(model, conversation.local_only)
            share = self._unshared(model, conversation, earlier)
            if share is not None and not share_history:
                raise HistoryConsentRequired(share)
        return model, conversation, provider

    def unshared_history(
        self, conversation_id: int, *, after: int | None = AT_LEAF, answer_id: int | None = None
    ) -> HistoryShare | None:
        """What sending now (after ``after``, or regenerating ``answer_id``) would take to the
        chat's cloud model for the first time; None when nothing new leaves (or the model is
        local)."""
        model = self.model_of(conversation_id)
        if not isinstance(model, CloudModel):
            return None
        path = self.store.messages(conversation_id)
        if answer_id is not None:
            earlier = [m for m in path if m.id < answer_id]
        elif after is None:
            earlier = []
        elif after == AT_LEAF:
            earlier = path
        else:
            earlier = path[: next((i + 1 for i, m in enumerate(path) if m.id == after), 0)]
        return self._unshared(model, self.store.get_conversation(conversation_id), earlier)

    def _unshared(
        self, model: CloudModel, conversation: Conversation, earlier: list[StoredMessage]
    ) -> HistoryShare | None:
        def sent_there(message: StoredMessage) -> bool:
            # An answer from this provider means everything before it went there with its
            # question (a failed one that shows nothing may never have left).
            return (
                message.role == Role.ASSISTANT
                and bool(message.model)
                and not is_local_id(message.model or "")
                and (message.model or "").partition(":")[0] == model.provider
                and (message.status != MessageStatus.FAILED or bool(message.content))
            )

        last = max((i for i, m in enumerate(earlier) if sent_there(m)), default=-1)
        context_from = int(conversation.params.get("context_from", 0) or 0)
        new: list[StoredMessage] = []
        for message in earlier[last + 1 :]:
            if message.id < context_from:
                continue
            if message.role == Role.ASSISTANT and (
                message.status == MessageStatus.FAILED or not message.content
            ):
                # Not sent, and neither is its question (as in context_messages).
                if new and new[-1].role == Role.USER:
                    new.pop()
                continue
            new.append(message)
        if not new:
            return None  # a first message (its preset's system prompt goes with it, as always)
        system = last < 0 and bool(conversation.system_prompt.strip())
        answers = [m for m in new if m.role == Role.ASSISTANT]
        config = self._cloud().provider(model.provider)
        return HistoryShare(
            model,
            len(new),
            all(m.model is not None and is_local_id(m.model) for m in answers),
            system,
            config.label or config.name,
            urlsplit(config.base_url).netloc or config.base_url,
        )

    def _leaf(self, conversation_id: int) -> int | None:
        path = self.store.messages(conversation_id)
        return path[-1].id if path else None

    def _answer(
        self,
        conversation: Conversation,
        model: LocalModel | CloudModel,
        provider: Any,
        *,
        question_id: int,
        question: str,
        previous_leaf: int | None,
        new_user: bool,
    ) -> None:
        """The answer row (streaming) after the question, and the request that fills it."""
        conversation_id = conversation.id
        if not conversation.params.get("preset"):
            recommended = recommended_preset(model.name)
            preset = self.presets().get(recommended)
            if recommended != BALANCED and preset is not None:
                # E.g. Llama 4: its maker's temperature, top_p and min_p from the start; the
                # user's other defaults (answer length, seed) stay.
                keys = ("temperature", "top_p", "min_p")
                merged = {
                    **self.sampling.to_dict(),
                    **{k: v for k, v in preset.sampling.to_dict().items() if k in keys},
                    "preset": recommended,
                }
                self.store.set_conversation_model(conversation_id, conversation.model, merged)
        sampling = self.sampling_for(conversation_id)
        self._turn_sampling = sampling
        # Keep what else the chat remembers (its preset, where its context now starts).
        params = {**self.store.get_conversation(conversation_id).params, **sampling.to_dict()}
        self.store.set_conversation_model(conversation_id, model.id, params)
        answer = self.store.add_message(
            conversation_id,
            Role.ASSISTANT,
            "",
            model=model.id,
            status=MessageStatus.STREAMING,
            parent_id=question_id,
        )
        self._turn = _Turn(
            conversation_id, question_id, answer.id, question, model, conversation.title
        )
        self._turn.previous_leaf = previous_leaf
        self._turn.new_user = new_user
        self.busy_changed.emit(True)
        self.conversations_changed.emit()
        self.answer_started.emit(conversation_id, answer.id)
        if provider is not None:
            assert isinstance(model, CloudModel)
            messages = self.context_messages(conversation_id, answer.id)
            self._turn.request_id = self.cloud_streams.start(
                provider, messages, model.model, sampling, conversation_id
            )
        elif not isinstance(model, LocalModel):
            raise AssertionError("a model is local or cloud")
        elif self._loaded_path != model.path or not self.engine.running:
            self._start_load(model)
        else:
            self._start_generation()

    # -- presets ------------------------------------------------------------------------------

    def presets(self) -> Presets:
        return Presets(self.settings.get("presets", {}))

    def save_preset(self, preset: Preset) -> None:
        presets = self.presets()
        presets.save(preset)
        self.settings.set("presets", presets.to_settings())

    def delete_preset(self, name: str) -> None:
        presets = self.presets()
        presets.delete(name)
        self.settings.set("presets", presets.to_settings())

    def apply_preset(self, conversation_id: int, name: str) -> Preset:
        """The conversation's system prompt and sampling become the preset's."""
        preset = self.presets().get(name)
        if preset is None:
            raise InvalidParameter(f"No preset named “{name}”.")
        self.store.set_system_prompt(conversation_id, preset.system_prompt)
        conversation = self.store.get_conversation(conversation_id)
        self.store.set_conversation_model(
            conversation_id,
            conversation.model,
            {**conversation.params, **preset.sampling.to_dict(), "preset": name},
        )
        return preset

    def sampling_for(self, conversation_id: int) -> SamplingParams:
        """The conversation's preset's sampling, or the app's default when it has none."""
        params = self.store.get_conversation(conversation_id).params
        if not params.get("preset"):
            return self.sampling
        try:
            return SamplingParams.from_dict(params)
        except InvalidParameter:
            return self.sampling

    def consent_text(self, model: CloudModel) -> str:
        """What the first send to a provider will do, in words the user agrees to."""
        config = self._cloud().provider(model.provider)
        return (
            f"This chat's messages (the system prompt, everything you and the model wrote in "
            f"it, and your new message) will be sent to {config.label or config.name} at "
            f"{config.base_url}, to be answered by {model.model}. Local chats stay on this "
            f"computer. Llamaside asks once per provider; each message sent is listed in "
            f"the privacy record."
        )

    def needs_consent(self, model: LocalModel | CloudModel | None) -> bool:
        return isinstance(model, CloudModel) and not self._cloud().has_consent(model.provider)

    def _cloud(self) -> CloudService:
        if self.cloud is None:
            raise CloudRefused("Cloud models are not available in this window.")
        return self.cloud

    def _open_cloud(self, model: CloudModel, local_only: bool) -> Any:
        cloud = self._cloud()
        if local_only:
            raise LocalOnlyRefused(
                f"This chat is local only, so nothing was sent to {model.name}. Pick a local "
                f"model, or turn off the lock for this chat."
            )
        cloud.network.check(model.name)
        if not cloud.has_consent(model.provider):
            raise ConsentRequired(model, self.consent_text(model))
        return cloud.open(cloud.provider(model.provider))

    def set_local_only(self, conversation_id: int, local_only: bool) -> None:
        self.store.set_local_only(conversation_id, local_only)
        self.conversations_changed.emit()

    @property
    def backend(self) -> str:
        """What the engine runs on (CPU, CUDA, Metal...); "" until it has started."""
        return self._backend

    def safe_mode(self) -> tuple[str, str, str]:
        """The engine's safe mode on this machine: a few words, a note and the longer story
        (all empty: the fast path)."""
        mode = self.engine.safe_mode_in_force
        return (mode.short, mode.note, mode.detail) if mode is not None else ("", "", "")

    def try_fast_path(self) -> None:
        """Forget the safe mode; the next message loads its model the fast way (and the engine
        falls back again, answering all the same, if that still crashes)."""
        if self.busy:
            raise LlamasideError("Wait for the answer to end, then try the fast path.")
        self._loaded_path = None
        self.engine.try_fast_path()
        self.engine_status.emit("No model loaded · the next message loads it the fast way")
        self._show_safe_mode()

    @Slot()
    def _show_safe_mode(self) -> None:
        """Say the engine's safe mode if it changed (it is read from the engine, which keeps
        the one in force)."""
        short, note, detail = self.safe_mode()
        if note != self._safe_note:
            self._safe_note = note
            self.safe_mode_changed.emit(short, note, detail)

    def _start_load(self, model: LocalModel) -> None:
        self._loaded_path = None
        if self.engine.running:
            self.engine.unload()
        params, advice = self.load_params_for(model)
        self.engine_status.emit(f"Loading {model.name}…" + (f" ({advice})" if advice else ""))
        self._load_request = self.engine.load(model.path, params)

    def load_params_for(self, model: LocalModel) -> tuple[LoadParams, str]:
        """Load settings for a model, following the fit planner when the model is a catalog
        quant we downloaded: e.g. Scout on a 24 GB card keeps the experts of N layers in RAM."""
        row = self.store.download(model.path)
        if row is None:
            return self.load_params, ""
        for entry, quant in model_catalog.catalog().by_repo(str(row["repo"])):
            if not quant.matches(str(row["path"])):
                continue
            if self._machine is None:
                self._machine = self._machine_source()
            n_ctx = int(self.settings.get("n_ctx", entry.default_context))
            fit = plan_quant(entry, quant, self._machine, n_ctx)
            params = LoadParams(
                n_ctx=n_ctx,
                n_gpu_layers=fit.n_gpu_layers or -1,
                n_threads=self.load_params.n_threads,
                n_cpu_moe=fit.n_cpu_moe,
                sample_on_device=self.load_params.sample_on_device,
            )
            return params, fit.describe()
        return self.load_params, ""

    def machine(self) -> Machine:
        """This machine, as the fit planner sees it (detected once, without an engine)."""
        if self._machine is None:
            self._machine = self._machine_source()
        return self._machine

    def scout_advice(self) -> Fit | None:
        """The Llama 4 Scout quant recommended for this machine (None if none fits)."""
        entry = model_catalog.catalog().get(SCOUT_ID)
        return recommend(plan(entry, self.machine(), entry.default_context))

    def context_messages(self, conversation_id: int, upto: int) -> list[dict[str, str]]:
        """What the model is given: the system prompt and the turns before message ``upto``."""
        conversation = self.store.get_conversation(conversation_id)
        wire: list[dict[str, str]] = []
        # Turns the user chose to drop when the chat outgrew the context are not sent; if they
        # were summarised, their summary goes with the system prompt instead.
        context_from = int(conversation.params.get("context_from", 0) or 0)
        summary = str(conversation.params.get("context_summary", "") or "")
        system = summaries.with_summary(conversation.system_prompt, summary)
        if system:
            wire.append({"role": "system", "content": system})
        before = [m for m in self.store.messages(conversation_id) if m.id < upto]
        # The question being answered is always sent, even if it is older than context_from
        # (regenerating an early answer).
        question = before[-1].id if before else None
        for message in before:
            if message.id < context_from and message.id != question:
                continue
            if message.role == Role.ASSISTANT and (
                message.status == MessageStatus.FAILED or not message.content
            ):
                # A failed or empty answer stays in the history for the user but is not fed
                # back to the model, and neither is its question: many chat templates
                # (Mistral, Gemma) refuse two user messages in a row.
                if wire and wire[-1]["role"] == Role.USER.value:
                    wire.pop()
                continue
            wire.append(message_to_wire(message))
        return wire

    def _start_generation(self) -> None:
        turn = self._turn
        assert turn is not None
        messages = self.context_messages(turn.conversation_id, turn.answer_id)
        self._first_token_at = 0.0
        turn.request_id = self.engine.generate(messages, self._turn_sampling)

    def stop(self) -> None:
        if self._summary is not None:
            # The summary's end (cancelled) gives the waiting text back; nothing changes.
            self._summary.stop_requested = True
            self.engine.cancel(self._summary.request_id)
            return
        turn = self._turn
        if turn is None:
            return
        turn.stop_requested = True
        if turn.cloud:
            # The worker closes the stream at its next piece; the answer ends now, as shown.
            assert turn.request_id is not None
            self.cloud_streams.cancel(turn.request_id)
            self._finish(MessageStatus.STOPPED, None)
        elif turn.request_id is not None:
            self.engine.cancel(turn.request_id)
        else:
            # Still loading the model: nothing was generated; end the child and the turn.
            self.engine.unload()
            self._finish(MessageStatus.STOPPED, None)

    # -- engine events ------------------------------------------------------------------------

    @Slot(dict)
    def _on_hello(self, event: dict[str, Any]) -> None:
        self._backend = str(event.get("backend", "CPU"))

    @Slot(int, dict, float)
    def _on_loaded(self, request_id: int, info: dict[str, Any], load_s: float) -> None:
        if request_id != self._load_request:
            return
        self._load_request = None
        self._loaded_path = str(info["path"])
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
        if self._turn is None or request_id != self._turn.request_id:
            return
        self._first_token_at = 0.0

    def _local_turn(self, request_id: int) -> _Turn | None:
        """The current turn, if this engine event belongs to it."""
        turn = self._turn
        if turn is None or turn.cloud or request_id != turn.request_id:
            return None
        return turn

    def _cloud_turn(self, request_id: int) -> _Turn | None:
        turn = self._turn
        if turn is None or not turn.cloud or request_id != turn.request_id:
            return None
        return turn

    @Slot(int, str, int)
    def _on_delta(self, request_id: int, text: str, n_tokens: int) -> None:
        if self._summary is not None and request_id == self._summary.request_id:
            self._summary.pieces.append(text)
            return
        turn = self._local_turn(request_id)
        if turn is not None:
            self._append(turn, text, n_tokens)

    @Slot(int, str, int)
    def _on_thought(self, request_id: int, text: str, _n_tokens: int) -> None:
        if self._summary is not None and request_id == self._summary.request_id:
            return  # a summary's thinking is not the summary
        turn = self._local_turn(request_id)
        if turn is None:
            return
        if not turn.thoughts:
            self.answer_thinking.emit(turn.conversation_id, turn.answer_id)
        turn.thoughts.append(text)

    def _append(self, turn: _Turn, text: str, n_tokens: int) -> None:
        turn.pieces.append(text)
        now = time.monotonic()
        if not self._first_token_at:
            self._first_token_at = now
        elif n_tokens > 1:
            self.speed.emit((n_tokens - 1) / max(now - self._first_token_at, 1e-6))
        self.answer_delta.emit(turn.conversation_id, turn.answer_id, text)
        if now - turn.last_checkpoint >= CHECKPOINT_INTERVAL_S:
            turn.last_checkpoint = now
            # A checkpoint that cannot be written (disk full) is not worth stopping the answer
            # for: the text is on screen and _finish tries again, and says so if it fails.
            with contextlib.suppress(StoreError):
                self.store.update_message(turn.answer_id, content=turn.text)

    @Slot(int, object)
    def _on_done(self, request_id: int, usage: Usage) -> None:
        if self._summary is not None and request_id == self._summary.request_id:
            self._summary_done(usage)
            return
        if self._local_turn(request_id) is None:
            return
        self._finish(status_after(usage.stop_reason), usage)

    @Slot(int, str, str)
    def _on_failed(self, request_id: int, code: str, message: str) -> None:
        if self._summary is not None and request_id == self._summary.request_id:
            self._summary_failed(f"The summary could not be written: {message}")
            return
        turn = self._turn
        if turn is not None and turn.cloud:
            turn = None  # a late engine error; the answer on screen is a cloud one
        if request_id == self._load_request:
            # Any error about the load request means there is no usable model.
            self._load_request = None
            # A too-old llama-cpp-python is the engine's fault, not the model file's.
            if turn is not None and code != P.ERROR_ENGINE_BUILD:
                assert isinstance(turn.model, LocalModel)
                self._mark_model(turn.model.path, message)
            self.engine.unload()
            self.engine_status.emit("No model loaded")
            if turn is not None:
                self._finish(MessageStatus.FAILED, None, error=message)
            self.error.emit(message)
            return
        if turn is None or self._local_turn(request_id) is None:
            return
        overflow = self._overflow
        self._overflow = None
        if (
            code == P.ERROR_CONTEXT_OVERFLOW
            and not turn.pieces
            and overflow is not None
            and overflow[0] == request_id
            and overflow[3]
        ):
            # The earlier turns fill the context: the user chooses what to do (drop the oldest
            # turns, or a new chat); nothing was sent and the text goes back to them.
            self._take_back(turn)
            if not turn.new_user:  # a regeneration: there is no text to give back
                self.rejected.emit(turn.conversation_id, "", message)
                return
            self.outgrown.emit(
                turn.conversation_id, turn.user_text, overflow[1], overflow[2], turn.after
            )
            return
        if code == P.ERROR_CONTEXT_OVERFLOW and not turn.pieces:
            # Nothing was generated: the message was never really sent. Take it back out of
            # the history and give the text back to the user, with the reason.
            self._take_back(turn)
            text = turn.user_text if turn.new_user else ""  # a regeneration has none to return
            self.rejected.emit(turn.conversation_id, text, message)
            return
        self._finish(MessageStatus.FAILED, None, error=message)
        self.error.emit(message)

    # -- cloud events -------------------------------------------------------------------------

    @Slot(int, str, int)
    def _on_cloud_delta(self, request_id: int, text: str, pieces: int) -> None:
        turn = self._cloud_turn(request_id)
        if turn is not None:
            self._append(turn, text, pieces)

    @Slot(int)
    def _on_cloud_thinking(self, request_id: int) -> None:
        turn = self._cloud_turn(request_id)
        if turn is not None and not turn.pieces:
            self.answer_thinking.emit(turn.conversation_id, turn.answer_id)

    @Slot(int, object)
    def _on_cloud_done(self, request_id: int, result: Any) -> None:
        turn = self._cloud_turn(request_id)
        if turn is None:
            return
        usage: Usage = result.usage
        if result.reasoning:
            turn.thoughts.append(result.reasoning)
        self._finish(status_after(usage.stop_reason), usage)

    @Slot(int, str, str)
    def _on_cloud_failed(self, request_id: int, message: str, partial: str) -> None:
        turn = self._cloud_turn(request_id)
        if turn is None:
            return
        if len(partial) > len(turn.text):
            turn.pieces = [partial]
        # The message goes in the answer itself, under whatever text had arrived.
        self._finish(MessageStatus.FAILED, None, error=message)

    @Slot(bool)
    def _on_offline_changed(self, offline: bool) -> None:
        if offline and self._turn is not None and self._turn.cloud:
            self.stop()

    def cost_of(self, model: CloudModel, usage: Usage) -> dict[str, Any]:
        """The answer's cost for the history (empty when the model's price is unknown)."""
        if self.cloud is None:
            return {}
        # Read again each time: prices the user just edited apply to this answer.
        self.cloud.reload_pricing()
        if self.cloud.pricing_problem:
            self.error.emit(self.cloud.pricing_problem)
        try:
            base_url = self.cloud.provider(model.provider).base_url
        except LlamasideError:
            base_url = ""  # the provider was removed since
        return self.cloud.pricing.answer_cost(model.provider, model.model, usage, base_url)

    @Slot(int, int, int, bool)
    def _on_overflow(self, request_id: int, n_tokens: int, limit: int, conversation: bool) -> None:
        self._overflow = (request_id, n_tokens, limit, conversation)

    def _take_back(self, turn: _Turn) -> None:
        """An unsent turn leaves no trace: its rows go, the branch and title are as before."""
        self.store.delete_message(turn.answer_id)
        if turn.new_user:
            self.store.delete_message(turn.user_message_id)
        if turn.previous_leaf is not None:
            self.store.show_version(turn.previous_leaf)
        self.store.rename_conversation(turn.conversation_id, turn.previous_title)
        self._turn = None
        self.busy_changed.emit(False)
        self.answer_finished.emit(turn.conversation_id, turn.answer_id, "rejected")

    def _drop_plan(
        self, conversation_id: int, n_tokens: int, limit: int, new_text: str
    ) -> tuple[list[StoredMessage], int, int]:
        """Which of the messages still sent to drop so the chat fits again: (those sent, how
        many of them to drop, the id of the first one kept)."""
        conversation = self.store.get_conversation(conversation_id)
        context_from = int(conversation.params.get("context_from", 0) or 0)
        sent = [m for m in self.store.messages(conversation_id) if m.id >= context_from]
        # Everything the engine counted: the system prompt, what is still sent, the new text.
        chars = len(conversation.system_prompt) + len(new_text) + sum(len(m.content) for m in sent)
        tokens_per_char = n_tokens / max(chars, 1)
        # Keep the chat to half the context: room for the new message, its answer, and the
        # next few turns before this question comes up again.
        to_remove = n_tokens - limit // 2
        removed = 0.0
        start = 0
        for index, message in enumerate(sent):
            if removed >= to_remove:
                break
            removed += len(message.content) * tokens_per_char
            start = index + 1
        # Begin at a question, never halfway through a turn.
        while start < len(sent) and sent[start].role != Role.USER:
            start += 1
        if start >= len(sent):
            first_kept = (sent[-1].id + 1) if sent else context_from  # only the new message
        else:
            first_kept = sent[start].id
        first_kept = max(first_kept, context_from)  # never send dropped turns again
        return sent, start, first_kept

    def drop_oldest(
        self, conversation_id: int, n_tokens: int, limit: int, new_text: str = ""
    ) -> int:
        """Stop sending the oldest turns so that the conversation fits again (they stay on
        screen and in the history). Returns how many more messages are no longer sent."""
        _sent, dropped, first_kept = self._drop_plan(conversation_id, n_tokens, limit, new_text)
        self._set_context(conversation_id, first_kept)
        return dropped

    def _set_context(
        self, conversation_id: int, first_kept: int, summary: str | None = None
    ) -> None:
        conversation = self.store.get_conversation(conversation_id)
        params = {**conversation.params, "context_from": first_kept}
        if summary is not None:
            params["context_summary"] = summary
        self.store.set_conversation_model(conversation_id, conversation.model, params)

    def summarise_oldest(
        self, conversation_id: int, n_tokens: int, limit: int, text: str, after: int
    ) -> bool:
        """Like drop_oldest, but the loaded model first writes a summary of the dropped turns
        (and of any earlier summary), which is then sent in their place. Asynchronous:
        ``summarised`` says when ``text`` can be sent; on failure or Stop, ``rejected`` gives
        the text back and nothing has changed. False if it could not start (busy, no model)."""
        if self.busy:
            self.rejected.emit(conversation_id, text, "Wait for the answer being written to end.")
            return False
        if self._loaded_path is None or not self.engine.running:
            self.rejected.emit(
                conversation_id, text, "Summarising needs the local model loaded; send again."
            )
            return False
        sent, dropped, first_kept = self._drop_plan(conversation_id, n_tokens, limit, text)
        conversation = self.store.get_conversation(conversation_id)
        previous = str(conversation.params.get("context_summary", "") or "")
        chars = len(conversation.system_prompt) + len(text) + sum(len(m.content) for m in sent)
        chars_per_token = max(chars, 1) / max(n_tokens, 1)
        # The summary request must itself fit: room for the instruction and the summary.
        answer_tokens = max(min(300, limit // 4), 16)
        budget = int((limit - answer_tokens - 80) * chars_per_token * 0.9)
        turns = [(m.role, m.content) for m in sent[:dropped] if m.content]
        messages = summaries.request(turns, previous, max(budget, 200))
        sampling = SamplingParams(
            temperature=0.2, top_p=0.9, repeat_penalty=1.1, max_tokens=answer_tokens, seed=1
        )
        request_id = self.engine.generate(messages, sampling)
        self._summary = _Summary(conversation_id, text, after, first_kept, request_id)
        self.engine_status.emit("Summarising the oldest messages…")
        self.busy_changed.emit(True)
        return True

    def _summary_done(self, usage: Usage) -> None:
        job = self._summary
        assert job is not None
        text = "".join(job.pieces).strip()
        if job.stop_requested or usage.stop_reason == StopReason.CANCELLED:
            self._summary_failed("Summarising was stopped; nothing was changed.")
            return
        if not text:
            self._summary_failed("The model wrote an empty summary; nothing was changed.")
            return
        self._summary = None
        self._set_context(job.conversation_id, job.first_kept, text)
        self.engine_status.emit("The oldest messages are summarised")
        self.busy_changed.emit(False)
        self.summarised.emit(job.conversation_id, job.text, job.after)

    def _summary_failed(self, reason: str) -> None:
        job = self._summary
        assert job is not None
        self._summary = None
        self.busy_changed.emit(False)
        self.rejected.emit(job.conversation_id, job.text, reason)

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
        if turn is not None and turn.cloud:
            turn = None  # the engine is not involved in this answer
        if turn is None:
            if not expected:
                self.engine_status.emit("Engine stopped · it restarts with the next message")
                self.error.emit(message)
            return
        if turn.stop_requested:
            self._finish(MessageStatus.STOPPED, None)
            self.engine_status.emit("Stopped · the engine restarts with the next message")
            return
        if (loading or not turn.pieces) and not expected and isinstance(turn.model, LocalModel):
            # The child died loading the file or reading the prompt: a GGML_ASSERT in a
            # malformed GGUF. Name the file, and mark it so it is never loaded on its own again.
            when = "loading it" if loading else "reading the prompt with it"
            message = (
                f"Cannot use {Path(turn.model.path).name}: {when} crashed the engine. "
                f"{message} It will not be loaded automatically again; choose another model."
            )
            self._mark_model(turn.model.path, message)
            self.engine_status.emit("No model loaded · the engine restarts with the next message")
            self._finish(MessageStatus.FAILED, None, error=message)
            self.error.emit(message)
            return
        self._finish(MessageStatus.FAILED, None, error=message)
        self.engine_status.emit("Engine stopped · it restarts with the next message")
        self.error.emit(message)

    def _finish(self, status: MessageStatus, usage: Usage | None, error: str | None = None) -> None:
        turn = self._turn
        assert turn is not None
        stored_usage = None
        if usage is not None:
            stored_usage = usage.to_dict()
            if isinstance(turn.model, CloudModel):
                stored_usage.update(self.cost_of(turn.model, usage))
        try:
            self.store.update_message(
                turn.answer_id,
                content=turn.text,
                status=status,
                usage=stored_usage,
                error=error,
                reasoning="".join(turn.thoughts) or None,
            )
            self.store.touch(turn.conversation_id)
        except StoreError as exc:
            # The turn must still end (or the window would wait for it forever); the answer
            # stays on screen, and the user learns it is not saved.
            self.error.emit(f"{exc} The answer on screen could not be saved.")
        self._turn = None
        if usage is not None:
            self.usage_ready.emit(usage)
            if not turn.cloud and self.n_ctx:
                used = usage.prompt_tokens + usage.output_tokens
                self.context_used.emit(turn.conversation_id, used, self.n_ctx)
        self.busy_changed.emit(False)
        self.answer_finished.emit(turn.conversation_id, turn.answer_id, status.value)

    def shutdown(self) -> None:
        """Called when the window closes: save what is on screen, end the engine."""
        if self._turn is not None:
            self._turn.stop_requested = True
            if self._turn.cloud and self._turn.request_id is not None:
                self.cloud_streams.cancel(self._turn.request_id)
            self._finish(MessageStatus.STOPPED, None)
        self.engine.unload()
        self.cloud_streams.shutdown()


def message_to_wire(message: StoredMessage) -> dict[str, str]:
    return {"role": message.role.value, "content": message.content}
