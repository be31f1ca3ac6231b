"""Where files go: platform folders, or all under LLAMASIDE_HOME."""

from __future__ import annotations

from pathlib import Path

from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings


def test_llamaside_home_moves_everything(tmp_path: Path) -> None:
    paths = AppPaths.from_env({"LLAMASIDE_HOME": str(tmp_path)}).create()
    for folder in (paths.data, paths.config, paths.cache, paths.logs, paths.models):
        assert folder.is_dir()
        assert tmp_path in folder.parents
    assert paths.database.parent == paths.data


def test_platform_folders_without_the_variable(tmp_path: Path) -> None:
    paths = AppPaths.from_env({})
    assert "llamaside" in str(paths.data).lower()
    assert paths.data != paths.config or paths.config != paths.cache


def test_settings_survive_and_tolerate_damage(tmp_path: Path) -> None:
    settings = Settings(tmp_path / "s.json")
    settings.set("model", "local:x")
    assert Settings(tmp_path / "s.json").get("model") == "local:x"
    (tmp_path / "s.json").write_text("{not json")
    assert Settings(tmp_path / "s.json").get("model", "default") == "default"


def test_where_tokens_are_sampled_is_read_from_settings(tmp_path: Path) -> None:
    """true and false are the user's choice; absent, or not a boolean (hand-edited), leaves it
    to the engine (None) instead of guessing what was meant."""
    path = tmp_path / "settings.json"
    for text, expected in (
        ('{"sample_on_device": true}', True),
        ('{"sample_on_device": false}', False),
        ("{}", None),
        ('{"sample_on_device": "no"}', None),
        ('{"sample_on_device": 0}', None),
    ):
        path.write_text(text, encoding="utf-8")
        assert Settings(path).sample_on_device() is expected, text
