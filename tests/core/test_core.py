"""Plain-Python domain types: parameters, usage, protocol, model ids."""

from __future__ import annotations

import pytest

from desktop.core import protocol as P
from desktop.core.errors import ContextOverflow, InvalidParameter
from desktop.core.models import LocalModel, human_size, slugify
from desktop.core.params import LoadParams, SamplingParams
from desktop.core.usage import StopReason, Usage


@pytest.mark.parametrize(
    "bad",
    [
        {"temperature": -1},
        {"top_p": 0},
        {"top_k": -1},
        {"min_p": 2},
        {"repeat_penalty": 0},
        {"seed": -5},
        {"max_tokens": 0},
    ],
)
def test_sampling_params_reject_bad_values(bad: dict[str, float]) -> None:
    with pytest.raises(InvalidParameter) as info:
        SamplingParams(**bad)  # type: ignore[arg-type]
    assert next(iter(bad)).split("_")[0] in str(info.value).replace(" ", "_")


def test_params_round_trip_and_ignore_unknown_keys() -> None:
    params = SamplingParams(temperature=0.6, top_p=0.9, min_p=0.01, seed=3)
    assert SamplingParams.from_dict({**params.to_dict(), "future": 1}) == params
    load = LoadParams(n_ctx=8192, n_gpu_layers=-1, n_threads=4)
    assert LoadParams.from_dict(load.to_dict()) == load
    with pytest.raises(InvalidParameter):
        LoadParams(n_gpu_layers=-2)


def test_usage_tokens_per_second_and_round_trip() -> None:
    usage = Usage(
        prompt_tokens=10,
        output_tokens=101,
        time_to_first_token_s=0.5,
        total_s=2.5,
        stop_reason=StopReason.LENGTH,
    )
    assert usage.tokens_per_second == pytest.approx(50.0)
    assert Usage.from_dict(usage.to_dict()) == usage
    assert Usage(output_tokens=1, total_s=1).tokens_per_second == 0.0


def test_protocol_lines_are_single_ascii_lines() -> None:
    line = P.encode({"ev": "delta", "text": "é\n🦙\u2028"})
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert P.decode(line)["text"] == "é\n🦙\u2028"
    with pytest.raises(ValueError):
        P.decode(b"[1, 2]")


def test_context_overflow_message() -> None:
    error = ContextOverflow(5000, 4096)
    assert "too long for this model's context (5000 tokens, limit 4096)" in str(error)


def test_model_ids() -> None:
    assert slugify("Llama-3.2-3B-Instruct-Q4_K_M.gguf") == "llama-3.2-3b-instruct-q4-k-m"
    model = LocalModel.for_file("/m/My Model.gguf")
    assert model.id == "local:my-model"
    assert model.name == "My Model"


def test_human_size() -> None:
    assert human_size(512) == "512 B"
    assert human_size(5000) == "5.0 KB"
    assert human_size(98_362_432) == "98 MB"
    assert human_size(65_400_000_000) == "65 GB"
    assert human_size(3_500_000_000_000) == "3500 GB"
