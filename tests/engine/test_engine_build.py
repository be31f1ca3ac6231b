"""A llama-cpp-python too old for the engine is named with the version it needs, at start and
on every load, instead of failing somewhere inside a token loop."""

from __future__ import annotations

import sys

import pytest

from desktop.backends.engine_client import SyncEngine
from desktop.core.errors import ModelLoadError
from desktop.core.params import LoadParams

#: The real engine child, on a llama_cpp that lacks what backend sampling needs (as 0.3.16 did).
OLD_BUILD = [
    sys.executable,
    "-c",
    "import llama_cpp; del llama_cpp.llama_set_sampler; "
    "from desktop.engine.worker import main; main()",
]


def test_this_build_has_what_the_engine_needs() -> None:
    from desktop.engine.llama_setup import build_problem

    assert build_problem() == ""


def test_a_too_old_build_is_named_with_the_version_it_needs(smollm_path: str) -> None:
    with SyncEngine(command=OLD_BUILD) as engine:
        with pytest.raises(ModelLoadError) as info:
            engine.load(smollm_path, LoadParams(n_ctx=256, n_threads=1))
        assert "too old for Llamaside" in str(info.value)
        assert "needs 0.3.17 or newer" in str(info.value)
        assert "too old" in str(engine.hello.get("problem"))


def test_the_floor_in_pyproject_is_the_version_the_engine_names() -> None:
    import re
    from pathlib import Path

    from desktop.engine.llama_setup import MIN_LLAMA_CPP_PYTHON

    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert f'"llama-cpp-python>={MIN_LLAMA_CPP_PYTHON},' in text
    assert re.search(r"llama-cpp-python>=0\.3\.16\b", text) is None
