"""Cloud providers the user can turn on: built-ins, presets for Llama hosts, custom endpoints.

Configuration (name, API kind, base URL, on/off) lives in the settings file; keys never do:
they are in the OS keyring (backends.secrets), one entry per provider, with an environment
variable read (never written) when the keyring holds none. Nothing is sent to a provider that
is not turned on.
"""

from __future__ import annotations

import os
from dataclasses import asdict, replace
from typing import Any

from desktop.backends import secrets
from desktop.backends.cloud import DEFAULT_TIMEOUT_S, AnthropicProvider, OpenAIProvider
from desktop.backends.network import Network
from desktop.core.errors import InvalidParameter, LlamasideError
from desktop.core.providers import BUILTIN as BUILTIN  # noqa: PLC0414 (re-export)
from desktop.core.providers import ProviderConfig as ProviderConfig  # noqa: PLC0414 (re-export)


class ProviderError(LlamasideError):
    """A provider that cannot be used as asked (unknown, off, no usable key); nothing was sent."""

    pass


#: Environment variables that move a built-in provider (as the official SDKs read them). A base
#: URL set in Llamaside wins over them; they are read, never written to the settings.
BASE_URL_ENV = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL"}


def _defaults() -> dict[str, ProviderConfig]:
    """The built-ins, at the addresses the environment gives them."""
    defaults = dict(BUILTIN)
    for name, variable in BASE_URL_ENV.items():
        url = os.environ.get(variable, "").strip().rstrip("/")
        if url.startswith(("http://", "https://")):
            defaults[name] = replace(defaults[name], base_url=url)
    return defaults


class Providers:
    """The provider table: built-ins overlaid with the user's changes from settings."""

    def __init__(self, stored: dict[str, Any] | None) -> None:
        self._defaults = _defaults()
        self._configs = dict(self._defaults)
        for name, raw in (stored or {}).items():
            if not isinstance(raw, dict):
                continue
            base = self._configs.get(name)
            merged = {
                **(
                    asdict(base)
                    if base
                    else {"name": name, "api": "openai", "base_url": "", "label": name}
                ),
                **raw,
            }
            self._configs[name] = ProviderConfig(
                **{k: v for k, v in merged.items() if k in ProviderConfig.__dataclass_fields__}
            )

    def to_settings(self) -> dict[str, Any]:
        """What differs from the built-ins, for the settings file (never a key, nor an address
        that came from the environment)."""
        changed = {}
        for name, config in self._configs.items():
            base = self._defaults.get(name)
            if base == config:
                continue
            changed[name] = {
                k: v
                for k, v in asdict(config).items()
                if k != "name" and (base is None or getattr(base, k) != v)
            }
        return changed

    def base_url_source(self, name: str) -> str:
        """The environment variable the provider's address comes from, or ""."""
        variable = BASE_URL_ENV.get(name, "")
        default = self._defaults.get(name)
        if not variable or default is None or default.base_url == BUILTIN[name].base_url:
            return ""
        return variable if self.get(name).base_url == default.base_url else ""

    def all(self) -> list[ProviderConfig]:
        return list(self._configs.values())

    def get(self, name: str) -> ProviderConfig:
        if name not in self._configs:
            known = ", ".join(self._configs)
            raise ProviderError(f"No provider {name!r}. Known: {known}.")
        return self._configs[name]

    def add(self, name: str, base_url: str, api: str) -> ProviderConfig:
        if name in self._configs:
            raise InvalidParameter(f"A provider named {name!r} exists already.")
        if name == "local" or not name or ":" in name:
            raise InvalidParameter(
                f'{name!r} cannot name a provider ("local" means this computer; no colons).'
            )
        if api not in ("openai", "anthropic"):
            raise InvalidParameter("--api must be openai or anthropic.")
        if not base_url.startswith(("http://", "https://")):
            raise InvalidParameter(f"Not a URL: {base_url!r}.")
        config = ProviderConfig(name, api, base_url.rstrip("/"), label=name)
        self._configs[name] = config
        return config

    def update(self, name: str, **changes: Any) -> ProviderConfig:
        current = self.get(name)
        config = ProviderConfig(**{**asdict(current), **changes})
        self._configs[name] = config
        return config

    def remove(self, name: str) -> None:
        self.get(name)
        if name in BUILTIN:
            self._configs[name] = self._defaults[name]  # a built-in goes back to its defaults
        else:
            del self._configs[name]


def key_for(config: ProviderConfig) -> tuple[str | None, str]:
    """The provider's key and its source: "keyring", the environment variable, or "none".
    Raises SecretStoreUnavailable when the keyring failed and no environment variable is set.

    Surrounding whitespace is dropped: a key pasted from a Windows .env file or stored with
    `echo key | secret-tool store` ends in a line break, which no HTTP header may carry."""
    unreadable: secrets.SecretStoreUnavailable | None = None
    try:
        stored = (secrets.get_secret(config.name) or "").strip()
    except secrets.SecretStoreUnavailable as exc:
        # The environment variable still works; without one, the keyring's failure is the
        # answer (never "no key": the user stored one).
        stored, unreadable = "", exc
    if stored:
        return stored, "keyring"
    env_name = config.key_env or f"{config.name.upper().replace('-', '_')}_API_KEY"
    value = os.environ.get(env_name, "").strip()
    if value:
        return value, env_name
    if unreadable is not None:
        raise unreadable
    return None, "none"


#: Sent as the key to an endpoint of the user's own that has none (llama-server, vLLM and Ollama
#: run without one by default, and take any key then): the SDKs need one to send a request.
KEYLESS = "no-key"


def keyless_allowed(config: ProviderConfig) -> bool:
    """A user's own endpoint may have no key; the built-in hosted providers always need one
    (asking them without would only fetch a 401)."""
    return config.name not in BUILTIN


def _printable(key: str) -> bool:
    return all(" " < ch < "\x7f" for ch in key)


def open_provider(
    config: ProviderConfig, network: Network | None = None, timeout: float = DEFAULT_TIMEOUT_S
) -> OpenAIProvider | AnthropicProvider:
    """A client for an enabled provider with a key; refuses before anything is sent."""
    if network is not None:
        network.check(config.label or config.name)
    if not config.enabled:
        raise ProviderError(
            f"Cloud provider {config.name!r} is off, so nothing was sent. Turn it on with "
            f"`llamaside providers enable {config.name}` (or in Settings → Providers)."
        )
    key, _source = key_for(config)
    keyless = not key and keyless_allowed(config)
    if keyless:
        key = KEYLESS
    if not key:
        alternative = f" or set {config.key_env}" if config.key_env else ""
        problem = secrets.keyring_problem()
        raise ProviderError(
            f"No API key for {config.name}. Add one with `llamaside keys set {config.name}` "
            f"(it is kept in the system keyring){alternative}." + (f" {problem}" if problem else "")
        )
    if not _printable(key):
        where = "the keyring" if _source == "keyring" else _source
        raise ProviderError(
            f"The {config.name} key in {where} contains spaces or characters that cannot be "
            f"sent (nothing was sent). Store it again with `llamaside keys set {config.name}`."
        )
    cls = AnthropicProvider if config.api == "anthropic" else OpenAIProvider
    return cls(
        config.name,
        config.base_url,
        key,
        label=config.label or config.name,
        network=network,
        timeout=timeout,
        keyless=keyless,
    )
