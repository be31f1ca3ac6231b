"""The tool settings in settings.json that the window and `llamaside chat` share: the tools the
user chose "always allow" for, the seconds a call may run, and the model steps of one turn.

No Qt here, so the CLI reads and writes the same keys as the window's Tools page.
"""

from __future__ import annotations

from typing import Any

from desktop.services.tool_turn import DEFAULT_MAX_STEPS, DEFAULT_TOOL_TIMEOUT_S
from desktop.storage.settings import Settings

#: tool_turn.tool_key()s ("server/tool") that run without asking.
ALWAYS_ALLOW_KEY = "tools_always_allow"
#: Seconds one call may run before it is abandoned.
TIMEOUT_KEY = "tool_timeout_s"
#: Model steps one tool turn may take.
MAX_STEPS_KEY = "tool_max_steps"


def always_allowed(settings: Settings) -> set[str]:
    value = settings.get(ALWAYS_ALLOW_KEY, [])
    return {str(v) for v in value} if isinstance(value, list) else set()


def remember_always(settings: Settings, key: str) -> None:
    """Add one tool to the "always allow" list (read again first: the window may have changed
    it meanwhile)."""
    settings.set(ALWAYS_ALLOW_KEY, sorted(always_allowed(Settings(settings.path)) | {key}))


def revoke_always(settings: Settings, key: str) -> None:
    """Ask again before this tool runs."""
    settings.set(ALWAYS_ALLOW_KEY, sorted(always_allowed(Settings(settings.path)) - {key}))


def tool_timeout_s(settings: Settings) -> float:
    return _number(settings.get(TIMEOUT_KEY), DEFAULT_TOOL_TIMEOUT_S, 1.0, 3600.0)


def tool_max_steps(settings: Settings) -> int:
    return int(_number(settings.get(MAX_STEPS_KEY), DEFAULT_MAX_STEPS, 1, 100))


def _number(value: Any, default: float, low: float, high: float) -> float:
    """A setting that may have been edited by hand: a number in range, else the default."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(min(max(value, low), high))
