"""The models folder setting (storage.models_folder): the chosen folder replaces the data
folder's models/ in AppPaths, a chosen folder that is gone leaves the default with the reason
(and no folder made at a drive's mount point), and a folder that cannot hold models says why."""

from __future__ import annotations

from pathlib import Path

from desktop.storage.models_folder import MODELS_DIR, models_folder_problem, with_chosen_models
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings


def test_the_chosen_folder_is_the_models_folder_and_create_leaves_it_alone(
    home: AppPaths, tmp_path: Path
) -> None:
    settings = Settings(home.settings)
    assert with_chosen_models(home, settings) == (home, "")
    chosen = tmp_path / "disk" / "models"
    chosen.mkdir(parents=True)
    settings.set(MODELS_DIR, str(chosen))
    paths, note = with_chosen_models(home, settings)
    assert note == "" and paths.models == chosen and paths.default_models == home.models
    assert paths.database == home.database  # only the models move
    gone = tmp_path / "unplugged" / "models"
    settings.set(MODELS_DIR, str(gone))
    paths, note = with_chosen_models(home, settings)
    assert paths.models == home.models and str(gone) in note and "not there" in note
    paths.create()
    assert not gone.exists()


def test_what_cannot_hold_models_is_named(tmp_path: Path) -> None:
    assert models_folder_problem(tmp_path) == ""
    assert "not a full path" in models_folder_problem(Path("models"))
    assert "not a folder" in models_folder_problem(tmp_path / "missing")
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    assert "not a folder" in models_folder_problem(a_file)
    assert not list(tmp_path.glob(".llamaside-write-check-*"))  # the check leaves nothing


def test_a_folder_no_file_can_be_made_in_is_named() -> None:
    """/proc refuses new files even to root (CI runs as root, where a chmod stops nothing)."""
    problem = models_folder_problem(Path("/proc"))
    assert problem.startswith("Llamaside cannot write in /proc"), problem
