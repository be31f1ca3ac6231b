"""Presets: built-ins (Llama 4's recommended settings among them) stay fixed, the user's own
are saved and deleted, and a model is matched to its recommended preset."""

from __future__ import annotations

import pytest

from desktop.core.errors import InvalidParameter
from desktop.core.params import SamplingParams
from desktop.core.presets import BALANCED, LLAMA4, Preset, Presets, recommended_preset


def test_llama4_models_get_metas_settings() -> None:
    preset = Presets({}).get(LLAMA4)
    assert preset is not None
    assert (preset.sampling.temperature, preset.sampling.top_p, preset.sampling.min_p) == (
        0.6,
        0.9,
        0.01,
    )
    for name in ("Llama-4-Scout-17B-16E-Instruct UD-Q4_K_XL", "llama4-maverick", "scout"):
        assert recommended_preset(name) == LLAMA4
    assert recommended_preset("SmolLM2 135M Instruct (bundled)") == BALANCED


def test_user_presets_are_saved_and_built_ins_protected() -> None:
    presets = Presets({})
    mine = Preset("Terse", "One sentence answers.", SamplingParams(temperature=0.3))
    presets.save(mine)
    again = Presets(presets.to_settings())
    saved = again.get("Terse")
    assert saved is not None and saved.system_prompt == "One sentence answers."
    assert saved.sampling.temperature == 0.3 and not saved.builtin
    with pytest.raises(InvalidParameter, match="built in"):
        again.save(Preset(LLAMA4, "changed"))
    with pytest.raises(InvalidParameter, match="built in"):
        again.delete(BALANCED)
    again.delete("Terse")
    assert again.get("Terse") is None
    # A hand-edited preset with impossible numbers is skipped, not fatal.
    broken = Presets({"Bad": {"sampling": {"temperature": 99}}, "Ok": {"system_prompt": "x"}})
    assert broken.get("Bad") is None and broken.get("Ok") is not None
