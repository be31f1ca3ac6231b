"""What a chat is answered with: the models on offer and the health of their files, the model
each chat keeps, load settings from the fit planner, sampling presets, and the consent a cloud
provider needs before a first send. A part of ChatService (which adds the turn itself)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from desktop.backends.gguf_check import check_model_file
from desktop.backends.local_models import BUNDLED_ID
from desktop.core.catalog import Architecture
from desktop.core.chat_records import AT_LEAF, Conversation, StoredMessage
from desktop.core.context import plan_prompt, unshared
from desktop.core.errors import InvalidParameter, LlamasideError, ModelLoadError
from desktop.core.fit import Fit, Machine, plan, plan_file, recommend
from desktop.core.fit_report import SCOUT_ID
from desktop.core.messages import Role
from desktop.core.models import CloudModel, LocalModel, is_local_id
from desktop.core.params import LoadParams, SamplingParams
from desktop.core.parts import images_of
from desktop.core.presets import BALANCED, Preset, Presets, recommended_preset
from desktop.core.usage import Usage
from desktop.core.vision import cloud_model_sees
from desktop.services import model_catalog
from desktop.services.cloud import CloudService
from desktop.services.model_settings import ModelSettings, architecture_of
from desktop.services.turn import chat_context
from desktop.storage.settings import Settings
from desktop.storage.store import ChatStore

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance


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
    #: Pictures in those messages that go with them (0: none, or the model takes none).
    pictures: int = 0

    def describe(self) -> str:
        """One sentence: what will go where."""
        noun = "earlier message" if self.count == 1 else "earlier messages"
        how = "answered on this computer" if self.answered_here else "not sent there before"
        what = f"{self.count} {noun}"
        if self.pictures:
            what += f" and {self.pictures} picture{'' if self.pictures == 1 else 's'}"
        what += f", {how},"
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


class ChatSetup:
    """The models, presets and consent half of ChatService (a mixin: ChatService holds the
    state it reads, and its signals)."""

    store: ChatStore
    settings: Settings
    cloud: CloudService | None
    models_dir: Path
    models: list[LocalModel]
    cloud_models: list[CloudModel]
    load_params: LoadParams
    sampling: SamplingParams
    _chosen_now: set[str]
    _file_problems: dict[str, str]
    _checked: dict[str, tuple[int, int]]
    _machine: Machine | None
    _machine_source: Callable[[], Machine]
    _loaded_path: str | None
    if TYPE_CHECKING:
        from desktop.services.engine_host import EngineHost

        engine: EngineHost
        models_changed: SignalInstance
        conversations_changed: SignalInstance
        error: SignalInstance

        def refresh_models(self) -> None: ...

        @property
        def busy(self) -> bool: ...

        def _start_load(self, model: LocalModel) -> None: ...

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
        one: a new chat sends nothing anywhere until the user picks a cloud model for it), or
        the one Preferences → Chat names ("new_chat_model") while it is listed."""
        errors = self.model_errors()
        pinned = self._listed(self.settings.get("new_chat_model"))
        if isinstance(pinned, LocalModel) and pinned.path not in errors:
            return pinned
        chosen = self._listed(self.settings.get("model", BUNDLED_ID))
        if isinstance(chosen, LocalModel):
            return chosen
        working = [m for m in self.models if m.path not in errors]
        return next(iter(working or self.models), None)

    def model_of(self, conversation_id: int | None) -> LocalModel | CloudModel | None:
        """The chat's own model: the one it was last answered by or set to, while it is listed
        (and, for a file that failed to load, only if the user chose it again since this
        start); else (a new chat, a provider turned off, a file removed) the default model."""
        if conversation_id is None:
            return self.default_model
        return self.model_for(self.store.get_conversation(conversation_id))

    def model_for(self, conversation: Conversation) -> LocalModel | CloudModel | None:
        """model_of, for a conversation already read."""
        chosen = self._listed(conversation.model)
        failed = chosen is not None and self.model_error(chosen) is not None
        if chosen is not None and (not failed or chosen.id in self._chosen_now):
            return chosen
        return self.default_model

    def context_messages(self, conversation_id: int, upto: int) -> list[dict[str, str]]:
        """What the model is given: the system prompt and the turns before message ``upto``."""
        conversation = self.store.get_conversation(conversation_id)
        path = self.store.messages(conversation_id)
        context = chat_context(conversation)
        return plan_prompt(path, upto, context, self.sampling, conversation_id).wire()

    def _cost_of_id(self, model_id: str, usage: Usage) -> dict[str, Any]:
        model = self._listed(model_id)
        return self.cost_of(model, usage) if isinstance(model, CloudModel) else {}

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

    def use_models_dir(self, folder: Path) -> None:
        """List the models in ``folder`` from now on (Preferences → Folders; the setting is
        the caller's). A model loaded from the old folder stays loaded for the chat on it."""
        self.models_dir = folder
        self.refresh_models()

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
        self.store.set_sampling(conversation_id, preset.sampling, preset=name)
        return preset

    def sampling_for(self, conversation_id: int) -> SamplingParams:
        """The conversation's preset's sampling, or the app's default when it has none."""
        conversation = self.store.get_conversation(conversation_id)
        return (conversation.sampling or self.sampling) if conversation.preset else self.sampling

    def consent_text(self, model: CloudModel) -> str:
        """What the first send to a provider will do, in words the user agrees to."""
        config = self._cloud().provider(model.provider)
        return (
            f"This chat's messages (the system prompt, everything you and the model wrote in "
            f"it, any pictures you attach, and your new message) will be sent to "
            f"{config.label or config.name} at "
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

    def load_params_for(self, model: LocalModel) -> tuple[LoadParams, str]:
        """Load settings for a model: the recommended ones (recommended_load_params) with what
        the user set for this model over them (their choice wins)."""
        chosen = self.model_settings().of(model.path)
        params, advice = self.recommended_load_params(model, chosen)
        merged = self.model_settings().over(params, model.path)
        if merged != params:
            advice = f"{advice}; your load settings" if advice else "your load settings"
        return merged, advice

    def recommended_load_params(
        self, model: LocalModel, chosen: dict[str, Any] | None = None
    ) -> tuple[LoadParams, str]:
        """The app's defaults, and over them the fit planner's when the model is a catalog
        quant we downloaded (e.g. Scout on a 24 GB card keeps the experts of N layers in RAM),
        planned at the context and KV cache type in ``chosen`` where the user set them."""
        chosen = chosen or {}
        fit = self._catalog_fit(model, chosen.get("n_ctx"), str(chosen.get("kv_cache_type", "f16")))
        if fit is None:
            return self.load_params, ""
        return model_catalog.planned_params(fit, self.load_params), fit.describe()

    def model_settings(self) -> ModelSettings:
        """The load settings users chose per model file (in the settings file)."""
        return ModelSettings(self.settings)

    def _catalog_fit(self, model: LocalModel, n_ctx: int | None, kv_type: str) -> Fit | None:
        """The fit planner's plan for a catalog quant we downloaded (None: not one)."""
        return model_catalog.catalog_fit(
            self.store, self.settings, model, self.machine, n_ctx=n_ctx, kv_type=kv_type
        )

    def load_advice(
        self,
        model: LocalModel,
        n_ctx: int,
        kv_type: str = "f16",
        arch: Architecture | None = None,
    ) -> Fit | None:
        """What the fit planner says of this model here at this context and KV cache type:
        from the catalog for a quant of it, else from the file's header (or ``arch``, read
        from it already); None when the header does not give the model's shape."""
        fit = self._catalog_fit(model, n_ctx, kv_type)
        if fit is not None:
            return fit
        arch = arch or architecture_of(model.path)
        if arch is None:
            return None
        return plan_file(
            model.name, arch, model.size_bytes, self.machine(), n_ctx=n_ctx, kv_type=kv_type
        )

    def model_architecture(self, model: LocalModel) -> Architecture | None:
        """The model's shape (layers, KV heads...): the catalog's, else its file header's."""
        row = self.store.download(model.path)
        if row is not None:
            for entry, quant in model_catalog.catalog().by_repo(row.repo):
                if quant.matches(row.path):
                    return entry.architecture
        return architecture_of(model.path)

    def loaded_model_path(self) -> str | None:
        """The model file the engine holds now (None: none)."""
        loaded = self._loaded_path
        return loaded if loaded is not None and self.engine.running else None

    def reload_model(self, model: LocalModel) -> None:
        """Load the model again now, with its current load settings."""
        if self.busy:
            raise LlamasideError("Wait for the answer to end, then reload the model.")
        self._start_load(model)

    def machine(self) -> Machine:
        """This machine, as the fit planner sees it (detected once, without an engine)."""
        if self._machine is None:
            self._machine = self._machine_source()
        return self._machine

    def scout_advice(self) -> Fit | None:
        """The Llama 4 Scout quant recommended for this machine (None if none fits)."""
        entry = model_catalog.catalog().get(SCOUT_ID)
        return recommend(plan(entry, self.machine(), entry.default_context))

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
        found = unshared(earlier, model.provider, chat_context(conversation))
        if found is None:
            return None
        answers = [m for m in found.messages if m.role == Role.ASSISTANT]
        # A model that takes no pictures is sent the words only (chat_images.without_images).
        sees = cloud_model_sees(model.model)
        pictures = sum(len(images_of(m.parts)) for m in found.messages) if sees else 0
        config = self._cloud().provider(model.provider)
        return HistoryShare(
            model,
            len(found.messages),
            all(m.model is not None and is_local_id(m.model) for m in answers),
            found.system_prompt,
            config.label or config.name,
            urlsplit(config.base_url).netloc or config.base_url,
            pictures,
        )

    def _sampling_of(
        self, conversation: Conversation, model: LocalModel | CloudModel
    ) -> SamplingParams:
        """The chat's sampling for this answer, remembered with the chat's model. A chat
        without a preset starts on its model's recommended one (e.g. Llama 4: its maker's
        temperature, top_p and min_p), the user's other defaults kept."""
        preset = conversation.preset
        sampling = (conversation.sampling or self.sampling) if preset else self.sampling
        recommended = recommended_preset(model.name)
        found = self.presets().get(recommended)
        if not preset and recommended != BALANCED and found is not None:
            keys = ("temperature", "top_p", "min_p")
            ours = {k: v for k, v in found.sampling.to_dict().items() if k in keys}
            sampling = SamplingParams.from_dict({**self.sampling.to_dict(), **ours})
            preset = recommended
        self.store.set_conversation_model(conversation.id, model.id)
        self.store.set_sampling(conversation.id, sampling, preset=preset or None)
        return sampling
