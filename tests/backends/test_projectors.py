"""Vision projectors (mmproj GGUFs) paired with their models: by folder and name, confirmed by
the header, remembered when the user chooses; never listed as models. Real files, a real
history database."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.backends.gguf_check import (
    ProjectorPicked,
    check_model_file,
    check_projector_file,
    is_projector_file,
)
from desktop.backends.local_models import available_models, scan_folder
from desktop.core.catalog import is_projector_name, pick_projector
from desktop.core.errors import ModelLoadError
from desktop.storage.store import ChatStore
from tests.backends.projector_files import write_model, write_projector


def by_name(models_dir: Path) -> dict[str, str]:
    """Each listed model's file name -> its projector's file name ("" for none)."""
    return {
        Path(m.path).name: Path(m.mmproj).name if m.mmproj else "" for m in scan_folder(models_dir)
    }


def test_one_projector_in_a_folder_serves_every_model_there(tmp_path: Path) -> None:
    scout = tmp_path / "unsloth" / "Scout"
    write_model(scout / "Scout-Q4_K_M.gguf")
    write_model(scout / "Scout-IQ1_S.gguf")
    write_projector(scout / "mmproj-F16.gguf")
    write_model(tmp_path / "other" / "Blind-Q8_0.gguf")
    assert by_name(tmp_path) == {
        "Scout-IQ1_S.gguf": "mmproj-F16.gguf",
        "Scout-Q4_K_M.gguf": "mmproj-F16.gguf",
        "Blind-Q8_0.gguf": "",  # nothing beside it; a projector elsewhere is not its own
    }
    paired = next(m for m in scan_folder(tmp_path) if m.name == "Scout-Q4_K_M")
    assert paired.mmproj == str(scout / "mmproj-F16.gguf")


def test_with_several_the_longest_shared_name_start_wins_then_f16(tmp_path: Path) -> None:
    write_model(tmp_path / "gemma-3-4b-it-Q4_K_M.gguf")
    write_model(tmp_path / "Llama-4-Scout-17B-16E-Instruct-Q4_K_M.gguf")
    write_model(tmp_path / "unrelated.gguf")
    write_projector(tmp_path / "gemma-3-4b-it-mmproj-f16.gguf")  # <model>-mmproj-<precision>
    write_projector(tmp_path / "mmproj-Llama-4-Scout-17B-16E-Instruct-bf16.gguf")
    write_projector(tmp_path / "mmproj-Llama-4-Scout-17B-16E-Instruct-f16.gguf")
    assert by_name(tmp_path) == {
        "gemma-3-4b-it-Q4_K_M.gguf": "gemma-3-4b-it-mmproj-f16.gguf",
        # Both Scout projectors share "llama-4-scout-17b-16e-instruct-": F16 before BF16.
        "Llama-4-Scout-17B-16E-Instruct-Q4_K_M.gguf": (
            "mmproj-Llama-4-Scout-17B-16E-Instruct-f16.gguf"
        ),
        # Sharing nothing with any, it still gets one: the tie goes to F16, then by name.
        "unrelated.gguf": "gemma-3-4b-it-mmproj-f16.gguf",
    }


def test_a_split_model_pairs_through_its_first_part(tmp_path: Path) -> None:
    folder = tmp_path / "UD-Q4_K_XL"
    write_model(folder / "Scout-UD-Q4_K_XL-00001-of-00002.gguf")
    write_model(folder / "Scout-UD-Q4_K_XL-00002-of-00002.gguf")
    write_projector(folder / "mmproj-F16.gguf")
    [model] = scan_folder(tmp_path)
    assert Path(model.path).name == "Scout-UD-Q4_K_XL-00001-of-00002.gguf"
    assert Path(model.mmproj).name == "mmproj-F16.gguf"


def test_a_file_named_mmproj_pairs_only_if_its_header_says_clip(tmp_path: Path) -> None:
    write_model(tmp_path / "model.gguf")
    write_model(tmp_path / "mmproj-but-a-llama.gguf")  # named so, a model inside
    (tmp_path / "mmproj-cut.gguf").write_bytes(b"GGUF\x03\x00")  # cut short in its header
    assert by_name(tmp_path) == {"model.gguf": ""}  # neither is listed, neither pairs
    write_projector(tmp_path / "MMPROJ-F32.gguf")  # any case
    assert by_name(tmp_path) == {"model.gguf": "MMPROJ-F32.gguf"}


def test_projector_names_and_the_download_preference() -> None:
    assert is_projector_name("UD-Q4/mmproj-F16.gguf")
    assert is_projector_name("Gemma-MMPROJ-bf16.gguf")
    assert not is_projector_name("mmproj-F16.gguf.part")
    assert not is_projector_name("Scout-Q4_K_M.gguf")
    files = ["mmproj-F32.gguf", "Scout-Q4.gguf", "mmproj-BF16.gguf", "mmproj-Q8_0.gguf"]
    assert pick_projector(files) == "mmproj-BF16.gguf"
    assert pick_projector([*files, "mmproj-F16.gguf"]) == "mmproj-F16.gguf"
    assert pick_projector(["mmproj-Q8_0.gguf", "Scout-Q4.gguf"]) == "mmproj-Q8_0.gguf"
    assert pick_projector(["Scout-Q4.gguf"]) is None


def test_a_projector_picked_as_a_model_is_told_apart(tmp_path: Path) -> None:
    projector = write_projector(tmp_path / "mmproj-F16.gguf")
    model = write_model(tmp_path / "model.gguf")
    with pytest.raises(ProjectorPicked, match=r"it is a vision projector \(mmproj\)"):
        check_model_file(projector)
    assert check_projector_file(projector) == projector
    with pytest.raises(ModelLoadError, match=r'"llama" architecture.*"clip"'):
        check_projector_file(model)
    assert is_projector_file(projector) and not is_projector_file(model)
    assert not is_projector_file(tmp_path / "missing.gguf")


def test_the_users_choice_is_remembered_and_wins(tmp_path: Path) -> None:
    """A user-added model pairs with the projector beside it; a projector chosen for it (from
    elsewhere) is kept in the history database and wins; "" keeps it blind even with one
    beside it; forgetting the choice pairs by folder again. Folder models take choices too."""
    models_dir = tmp_path / "models"
    write_model(models_dir / "Scout-Q4.gguf")
    write_projector(models_dir / "mmproj-F16.gguf")
    mine = write_model(tmp_path / "mine" / "Gemma-Q4.gguf")
    beside = write_projector(tmp_path / "mine" / "Gemma-mmproj-f16.gguf")
    elsewhere = write_projector(tmp_path / "elsewhere" / "mmproj-Gemma-bf16.gguf")
    store = ChatStore(tmp_path / "history.db")
    try:
        store.add_user_model(str(mine))

        def projector_of(name: str) -> str:
            models = available_models(models_dir, store.user_models())
            return next(m.mmproj for m in models if Path(m.path).name == name)

        assert projector_of("Gemma-Q4.gguf") == str(beside)
        store.set_model_projector(str(mine), str(elsewhere))
        assert projector_of("Gemma-Q4.gguf") == str(elsewhere)
        store.set_model_projector(str(models_dir / "Scout-Q4.gguf"), "")
        assert projector_of("Scout-Q4.gguf") == ""
        store.set_model_projector(str(models_dir / "Scout-Q4.gguf"), None)
        assert projector_of("Scout-Q4.gguf") == str(models_dir / "mmproj-F16.gguf")
        assert store.user_models() == [str(mine)]  # still the list of added files
        # Given explicitly, the choices need not travel with the list.
        explicit = available_models(models_dir, [str(mine)], {str(mine): ""})
        assert next(m for m in explicit if m.source == "user").mmproj == ""
        store.forget_user_model(str(mine))
        assert store.model_projectors() == {}
    finally:
        store.close()

    reopened = ChatStore(tmp_path / "history.db")  # the table survives a restart
    try:
        reopened.set_model_projector("/m.gguf", "/p.gguf")
    finally:
        reopened.close()
    again = ChatStore(tmp_path / "history.db")
    try:
        assert again.model_projectors() == {"/m.gguf": "/p.gguf"}
    finally:
        again.close()
