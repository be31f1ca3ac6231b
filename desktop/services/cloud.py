"""CloudService: cloud providers as the GUI sees them.

Their settings (on/off, base URL, custom endpoints), keys (through backends.secrets: the OS
keyring only), model lists (fetched from each provider's API, cached in settings, refreshable),
the one-time consent per provider, the app-wide offline switch, prices, and the privacy record
(every request that left the machine, written to the history database on the GUI thread).
"""

from __future__ import annotations

import functools
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from desktop.backends import secrets
from desktop.backends.catalog_file import ensure_user_pricing, load_pricing
from desktop.backends.cloud import (
    DEFAULT_TIMEOUT_S,
    AnthropicProvider,
    OpenAIProvider,
)
from desktop.backends.network import Network, Outbound
from desktop.backends.providers import (
    BUILTIN,
    ProviderConfig,
    Providers,
    key_for,
    keyless_allowed,
    open_provider,
)
from desktop.core.answer import AnswerEvent, AnswerSource, Failed, Prompt
from desktop.core.errors import LlamasideError
from desktop.core.models import CloudModel
from desktop.core.pricing import Pricing, PricingError
from desktop.core.privacy_record import OutboundRecord
from desktop.services.background import Background
from desktop.services.relay import Relay
from desktop.storage.settings import Settings
from desktop.storage.store import ChatStore

#: The model picked for a provider when the user has not chosen one, if the provider lists it.
PREFERRED_DEFAULTS = ("gpt-4o",)


class CloudService(QObject):
    """Owns the cloud side for the window: providers, keys, model lists, consent, offline, prices.

    Signals:
    changed(): providers, their models, keys or consent changed.
    offline_changed(bool): the app-wide offline switch moved.
    recorded(): a request was added to the privacy record.
    checked(str, str, bool, str): provider, what ("test" or "models"), ok, message for the user.
    """

    changed = Signal()
    offline_changed = Signal(bool)
    recorded = Signal()
    checked = Signal(str, str, bool, str)

    def __init__(
        self,
        store: ChatStore,
        settings: Settings,
        pricing_file: Path,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.settings = settings
        self.pricing_file = pricing_file
        # Requests are recorded as they are made, on worker threads: the relay brings each
        # record to the GUI thread.
        relay = Relay(self)
        self.network = Network(
            bool(settings.get("offline", False)),
            functools.partial(relay.post, CloudService._on_outbound),
        )
        self.background = Background(self)
        self.background.done.connect(self._on_background_done)
        self.background.failed.connect(self._on_background_failed)
        self.pricing_problem = ""
        self.pricing = self._load_pricing()
        #: Seconds to wait for a connection or for the next piece of an answer.
        self.timeout_s = DEFAULT_TIMEOUT_S

    # -- providers ----------------------------------------------------------------------------

    def providers(self) -> Providers:
        return Providers(self.settings.get("providers", {}))

    def provider(self, name: str) -> ProviderConfig:
        return self.providers().get(name)

    def _save(self, providers: Providers) -> None:
        self.settings.set("providers", providers.to_settings())
        self.changed.emit()

    def set_enabled(self, name: str, enabled: bool) -> None:
        providers = self.providers()
        providers.update(name, enabled=enabled)
        self._save(providers)
        if enabled and not self.cached_models(name) and self._can_ask(name):
            self.refresh_models(name)

    def _can_ask(self, name: str) -> bool:
        """A key to ask with, or an endpoint of the user's that may need none."""
        return self.key_source(name) != "none" or keyless_allowed(self.provider(name))

    def refresh_missing_models(self) -> None:
        """At start: the model lists of enabled providers that have none yet (one enabled from
        the command line, say), fetched in the background; nothing when offline."""
        if self.network.offline:
            return
        for config in self.providers().all():
            if (
                config.enabled
                and not self.cached_models(config.name)
                and self._can_ask(config.name)
            ):
                self.refresh_models(config.name)

    def set_base_url(self, name: str, base_url: str) -> None:
        base_url = base_url.strip().rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise LlamasideError(f"Not a URL: {base_url!r} (it starts with http:// or https://).")
        providers = self.providers()
        providers.update(name, base_url=base_url)
        self._forget_models(name)  # another server, other models
        self._save(providers)

    def add_endpoint(self, name: str, base_url: str, api: str) -> ProviderConfig:
        providers = self.providers()
        config = providers.add(name, base_url, api)
        self._save(providers)
        return config

    def remove(self, name: str) -> bool:
        """Remove a custom endpoint (and its key: no other endpoint can use it) or reset a
        built-in. True if a key was deleted."""
        providers = self.providers()
        providers.remove(name)
        deleted = False
        if name not in BUILTIN:
            deleted = secrets.delete_secret(name)
        self._forget_models(name)
        self._save(providers)
        return deleted

    # -- keys (keyring only) ------------------------------------------------------------------

    def key_source(self, name: str) -> str:
        """ "keyring", the environment variable's name, "none", or "unreadable" (the keyring is
        there but failed). Never the key."""
        try:
            return key_for(self.provider(name))[1]
        except secrets.SecretStoreUnavailable:
            return "unreadable"

    def key_source_text(self, name: str) -> str:
        source = self.key_source(name)
        if source == "unreadable":
            return "Key: the system keyring could not be read (unlock it, then look again)"
        if source == "keyring":
            return "Key: stored in the system keyring"
        if source == "none":
            if keyless_allowed(self.provider(name)):
                return "Key: none (sent without one; add one if its server asks)"
            return "Key: none"
        return f"Key: from the environment variable {source} (read only)"

    def base_url_text(self, name: str) -> str:
        """Where the provider's address comes from, when not from Llamaside's own settings."""
        variable = self.providers().base_url_source(name)
        if not variable:
            return ""
        return f"Address: from the environment variable {variable} (set one here to override it)"

    def keyring_problem(self) -> str | None:
        return secrets.keyring_problem()

    def save_key(self, name: str, key: str) -> None:
        key = key.strip()
        if not key:
            raise LlamasideError("The key is empty; nothing was saved.")
        secrets.set_secret(self.provider(name).name, key)
        self.changed.emit()

    def delete_key(self, name: str) -> bool:
        deleted = secrets.delete_secret(self.provider(name).name)
        self.changed.emit()
        return deleted

    # -- models -------------------------------------------------------------------------------

    def cached_models(self, name: str) -> list[str]:
        entry = self.settings.get("cloud_models", {}).get(name, {})
        models = entry.get("models", []) if isinstance(entry, dict) else []
        return [str(m) for m in models]

    def models(self) -> list[CloudModel]:
        """The models of every enabled provider, as last fetched from their APIs."""
        result: list[CloudModel] = []
        for config in self.providers().all():
            if config.enabled:
                label = config.label or config.name
                result.extend(
                    CloudModel(config.name, m, label) for m in self.cached_models(name=config.name)
                )
        return result

    def default_model(self, name: str) -> str | None:
        models = self.cached_models(name)
        for preferred in PREFERRED_DEFAULTS:
            if preferred in models:
                return preferred
        return models[0] if models else None

    def _forget_models(self, name: str) -> None:
        cached = dict(self.settings.get("cloud_models", {}))
        cached.pop(name, None)
        self.settings.set("cloud_models", cached)

    def refresh_models(self, name: str) -> None:
        """Fetch the provider's model list in the background (one request)."""
        config = self.provider(name)
        self.background.call(f"models:{name}", lambda: self._list(config, "models"))

    def test_connection(self, name: str) -> None:
        """Check the key with one cheap call (the model list), in the background."""
        config = self.provider(name)
        self.background.call(f"test:{name}", lambda: self._list(config, "test"))

    def _list(self, config: ProviderConfig, purpose: str) -> list[str]:
        # A connection test works before the provider is turned on: the user asked for it.
        provider = self.open(ProviderConfig(**{**config.__dict__, "enabled": True}))
        try:
            return provider.list_models(purpose)
        finally:
            provider.close()

    @Slot(str, object)
    def _on_background_done(self, tag: str, result: Any) -> None:
        what, _, name = tag.partition(":")
        models = list(result)
        cached = dict(self.settings.get("cloud_models", {}))
        cached[name] = {"models": models, "fetched": datetime.now(timezone.utc).isoformat()}
        self.settings.set("cloud_models", cached)
        self.changed.emit()
        message = f"Connected: {len(models)} models available."
        self.checked.emit(name, what, True, message)

    @Slot(str, str)
    def _on_background_failed(self, tag: str, message: str) -> None:
        what, _, name = tag.partition(":")
        self.checked.emit(name, what, False, message)

    def open(self, config: ProviderConfig) -> OpenAIProvider | AnthropicProvider:
        """A client for the provider; refuses (nothing sent) if offline, off or keyless."""
        return open_provider(config, self.network, timeout=self.timeout_s)

    # -- consent and the offline switch -------------------------------------------------------

    def _consent_key(self, name: str) -> str:
        # Consent is for a provider at an address: moving it elsewhere asks again.
        return f"{name} {self.provider(name).base_url}"

    def has_consent(self, name: str) -> bool:
        return self._consent_key(name) in self.settings.get("cloud_consent", [])

    def grant_consent(self, name: str) -> None:
        if not self.has_consent(name):
            granted = [*self.settings.get("cloud_consent", []), self._consent_key(name)]
            self.settings.set("cloud_consent", granted)

    @property
    def offline(self) -> bool:
        return self.network.offline

    def set_offline(self, offline: bool) -> None:
        """Takes effect at once; then it is saved (a settings file that cannot be written only
        means the switch is not remembered, which the caller is told by the exception)."""
        if offline == self.network.offline:
            return
        self.network.set_offline(offline)
        self.offline_changed.emit(offline)
        self.settings.set("offline", offline)

    # -- prices -------------------------------------------------------------------------------

    def _load_pricing(self) -> Pricing:
        try:
            self.pricing_problem = ""
            return load_pricing(self.pricing_file)
        except PricingError as exc:
            # The shipped prices still work; the user is told what is wrong with theirs.
            self.pricing_problem = f"{exc} Using the prices shipped with Llamaside."
            return load_pricing(None)

    def user_pricing_file(self) -> Path:
        """The user's own price overrides, created from a template the first time (OSError
        when it cannot be written)."""
        return ensure_user_pricing(self.pricing_file)

    def reload_pricing(self) -> None:
        self.pricing = self._load_pricing()

    # -- privacy record -----------------------------------------------------------------------

    def _on_outbound(self, outbound: Outbound) -> None:
        try:
            self.store.record_outbound(outbound.to_dict())
        except LlamasideError:
            # The record cannot be written (a full disk): the chat's own save reports that
            # to the user; the request has happened either way.
            return
        self.recorded.emit()

    def record(self) -> list[OutboundRecord]:
        """The privacy record: every request that left this computer, oldest first."""
        return self.store.outbound()


class AnswerStreams(QObject):
    """Answers from AnswerSources (cloud providers, a comparison's local engine) running on
    worker threads, their events delivered as one signal on the GUI thread.

    Signals:
        answered(int, object): request id, an AnswerEvent; a request's last is Finished or
            Failed.
    """

    answered = Signal(int, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._next_id = 0
        self._sources: dict[int, AnswerSource] = {}
        self._threads: dict[int, threading.Thread] = {}
        self._relay = Relay(self)

    def start(self, source: AnswerSource, prompt: Prompt) -> int:
        self._next_id += 1
        request_id = self._next_id
        sources = self._sources
        sources[request_id] = source
        post = functools.partial(self._relay.post, AnswerStreams._answer, request_id)

        def work() -> None:
            try:
                for event in source.answer(prompt):
                    post(event)
            except Exception as exc:  # a worker must always report back
                post(Failed(f"{type(exc).__name__}: {exc}"))
            finally:
                sources.pop(request_id, None)
                source.close()

        thread = threading.Thread(target=work, name=f"answer-{request_id}", daemon=True)
        self._threads = {k: t for k, t in self._threads.items() if t.is_alive()}
        self._threads[request_id] = thread
        thread.start()
        return request_id

    def _answer(self, request_id: int, event: AnswerEvent) -> None:
        self.answered.emit(request_id, event)

    def cancel(self, request_id: int) -> None:
        """Stop: a cloud source closes its HTTP response now (the provider stops generating
        and billing); the caller does not wait for the worker to notice."""
        source = self._sources.get(request_id)
        if source is not None:
            source.cancel()

    def shutdown(self, wait_s: float = 2.0) -> None:
        for request_id in list(self._sources):
            self.cancel(request_id)
        for thread in self._threads.values():
            thread.join(wait_s)
