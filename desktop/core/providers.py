"""The cloud providers Llamaside knows out of the box, and what configures one: plain data, no
I/O. backends.providers merges these with the user's settings and opens clients for them; the
UI reads them to tell a built-in provider from the user's own endpoint."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProviderConfig:
    """One cloud provider's configuration: its API, address and whether it is on (never its key)."""

    name: str
    api: str  # "openai" or "anthropic"
    base_url: str
    enabled: bool = False
    label: str = ""
    #: Read when the keyring holds no key for this provider (never written).
    key_env: str = ""


BUILTIN: dict[str, ProviderConfig] = {
    c.name: c
    for c in (
        ProviderConfig(
            "openai",
            "openai",
            "https://api.openai.com/v1",
            label="OpenAI",
            key_env="OPENAI_API_KEY",
        ),
        ProviderConfig(
            "anthropic",
            "anthropic",
            "https://api.anthropic.com",
            label="Anthropic",
            key_env="ANTHROPIC_API_KEY",
        ),
        # Llama 4 Scout and Maverick hosts (OpenAI-compatible).
        ProviderConfig(
            "together",
            "openai",
            "https://api.together.xyz/v1",
            label="Together",
            key_env="TOGETHER_API_KEY",
        ),
        ProviderConfig(
            "groq", "openai", "https://api.groq.com/openai/v1", label="Groq", key_env="GROQ_API_KEY"
        ),
        ProviderConfig(
            "fireworks",
            "openai",
            "https://api.fireworks.ai/inference/v1",
            label="Fireworks",
            key_env="FIREWORKS_API_KEY",
        ),
    )
}
