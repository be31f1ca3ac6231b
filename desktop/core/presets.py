"""Presets: a named system prompt with sampling settings, chosen per conversation.

Built-in presets cannot be changed (the user saves a copy under another name); the model's
recommended settings are one of them: Llama 4's model card recommends temperature 0.6,
top_p 0.9 and min_p 0.01.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from desktop.core.errors import InvalidParameter
from desktop.core.params import SamplingParams

LLAMA4 = "Llama 4 (recommended)"
BALANCED = "Balanced"


@dataclass(frozen=True)
class Preset:
    """A named system prompt with sampling settings; built-ins are read-only."""

    name: str
    system_prompt: str = ""
    sampling: SamplingParams = field(default_factory=SamplingParams)
    builtin: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"system_prompt": self.system_prompt, "sampling": self.sampling.to_dict()}

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> Preset:
        sampling = data.get("sampling")
        return cls(
            name,
            str(data.get("system_prompt", "")),
            SamplingParams.from_dict(sampling if isinstance(sampling, dict) else {}),
        )


BUILTIN_PRESETS = (
    Preset(BALANCED, "", SamplingParams(), builtin=True),
    Preset(LLAMA4, "", SamplingParams(temperature=0.6, top_p=0.9, min_p=0.01), builtin=True),
    Preset(
        "Precise",
        "Answer accurately and concisely. Say so when you are not sure.",
        SamplingParams(temperature=0.2, top_p=0.9, min_p=0.05),
        builtin=True,
    ),
    Preset("Creative", "", SamplingParams(temperature=1.0, top_p=0.95, min_p=0.05), builtin=True),
)

_LLAMA4_NAMES = re.compile(r"llama[-_ ]?4|scout|maverick", re.IGNORECASE)


def recommended_preset(model_name: str) -> str:
    """The preset a model should start with: its maker's recommended settings when known."""
    return LLAMA4 if _LLAMA4_NAMES.search(model_name) else BALANCED


class Presets:
    """The built-ins and the user's own (kept in settings as ``{name: {...}}``)."""

    def __init__(self, stored: Any) -> None:
        self._user: dict[str, Preset] = {}
        if isinstance(stored, dict):
            for name, data in stored.items():
                if isinstance(data, dict) and name not in self.builtin_names():
                    try:
                        self._user[str(name)] = Preset.from_dict(str(name), data)
                    except InvalidParameter:
                        continue  # a hand-edited preset with bad numbers is skipped

    @staticmethod
    def builtin_names() -> set[str]:
        return {p.name for p in BUILTIN_PRESETS}

    def all(self) -> list[Preset]:
        return [*BUILTIN_PRESETS, *sorted(self._user.values(), key=lambda p: p.name.lower())]

    def get(self, name: str) -> Preset | None:
        for preset in self.all():
            if preset.name == name:
                return preset
        return None

    def save(self, preset: Preset) -> None:
        name = preset.name.strip()
        if not name:
            raise InvalidParameter("A preset needs a name.")
        if name in self.builtin_names():
            raise InvalidParameter(f"“{name}” is built in; save your version under another name.")
        self._user[name] = Preset(name, preset.system_prompt, preset.sampling)

    def delete(self, name: str) -> None:
        if name in self.builtin_names():
            raise InvalidParameter(f"“{name}” is built in and cannot be deleted.")
        self._user.pop(name, None)

    def to_settings(self) -> dict[str, Any]:
        return {name: preset.to_dict() for name, preset in self._user.items()}
