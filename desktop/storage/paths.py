"""The folders Llamaside writes to: the platform's own, or all under $LLAMASIDE_HOME."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from desktop import APP_NAME

HOME_ENV = "LLAMASIDE_HOME"


@dataclass(frozen=True)
class AppPaths:
    """Where each kind of file goes: data (history, models), config, cache and logs."""

    data: Path
    config: Path
    cache: Path
    logs: Path
    #: A models folder the user chose instead of the data folder's (storage.models_folder).
    chosen_models: Path | None = None

    @property
    def database(self) -> Path:
        return self.data / "history.db"

    @property
    def models(self) -> Path:
        return self.chosen_models or self.default_models

    @property
    def default_models(self) -> Path:
        return self.data / "models"

    @property
    def images(self) -> Path:
        """Pictures in messages, one file per content hash (storage.images)."""
        return self.data / "images"

    @property
    def engine_log(self) -> Path:
        return self.logs / "engine.log"

    @property
    def served_log(self) -> Path:
        """The local server's requests, one JSON line each, no text (`llamaside serve` and the
        window's server alike)."""
        return self.data / "served-requests.jsonl"

    @property
    def served_images(self) -> Path:
        """Pictures that came in requests to the local server, kept a day for the engine."""
        return self.cache / "served-images"

    @property
    def engine_modes(self) -> Path:
        """The engine's safe mode for this machine and llama.cpp build (core.engine_mode)."""
        return self.config / "engine_mode.json"

    @property
    def settings(self) -> Path:
        return self.config / "settings.json"

    @property
    def mcp_config(self) -> Path:
        """The MCP servers, in the mcpServers JSON other apps use too (storage.mcp_store)."""
        return self.config / "mcp.json"

    @property
    def pricing(self) -> Path:
        """The user's price overrides for cloud models (created on demand from the shipped file)."""
        return self.config / "pricing.json"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AppPaths:
        env = os.environ if environ is None else environ
        home = env.get(HOME_ENV)
        if home:
            root = Path(home).expanduser()
            return cls(root / "data", root / "config", root / "cache", root / "logs")
        return cls(
            Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
            Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
            Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
            Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
        )

    def create(self) -> AppPaths:
        # Not a chosen models folder: on a drive not mounted now, that would make a folder
        # where the drive's mount point is.
        for folder in (self.data, self.config, self.cache, self.logs, self.default_models):
            folder.mkdir(parents=True, exist_ok=True)
        return self
