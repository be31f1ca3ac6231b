"""The safe-mode rules: which deaths a safer mode may survive, the order of the steps, and what
the user is told."""

from __future__ import annotations

import signal

import pytest

from desktop.core.engine_mode import (
    EngineMode,
    SafeMode,
    apply,
    next_mode,
    worth_a_safer_mode,
)
from desktop.core.params import LoadParams

AMX_INFO = "CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 1 | AMX_INT8 = 1 | REPACK = 1 | "
PLAIN_INFO = "CPU : SSE3 = 1 | AVX2 = 1 | REPACK = 1 | "


def test_steps_go_from_fast_to_no_extra_buffer_types_to_no_gpu_on_gpu_builds_only() -> None:
    params = LoadParams()
    assert next_mode(EngineMode.FAST, gpu_build=True, params=params) is EngineMode.NO_EXTRA_BUFTS
    assert next_mode(EngineMode.NO_EXTRA_BUFTS, gpu_build=True, params=params) is EngineMode.NO_GPU
    assert next_mode(EngineMode.NO_GPU, gpu_build=True, params=params) is None
    # A CPU build, or a load that puts nothing on the GPU: one step, then nothing.
    assert next_mode(EngineMode.NO_EXTRA_BUFTS, gpu_build=False, params=params) is None
    cpu_only = LoadParams(n_gpu_layers=0)
    assert next_mode(EngineMode.NO_EXTRA_BUFTS, gpu_build=True, params=cpu_only) is None


def test_each_mode_turns_off_what_it_says() -> None:
    params = LoadParams(n_gpu_layers=-1, n_ctx=2048)
    assert apply(params, EngineMode.FAST) == params
    assert apply(params, EngineMode.NO_EXTRA_BUFTS) == LoadParams(
        n_gpu_layers=-1, n_ctx=2048, extra_bufts=False
    )
    assert apply(params, EngineMode.NO_GPU) == LoadParams(
        n_gpu_layers=0, n_ctx=2048, extra_bufts=False
    )


@pytest.mark.parametrize(
    ("sig", "fatal", "worth"),
    [
        (signal.SIGSEGV, "", True),
        (signal.SIGILL, "", True),
        (signal.SIGBUS, "", True),
        (signal.SIGFPE, "", True),
        (signal.SIGABRT, "", True),  # no assertion named: not llama.cpp naming the file
        # An assertion in a compute backend: the path, not the file.
        (
            signal.SIGABRT,
            "/tmp/pip-x/vendor/llama.cpp/ggml/src/ggml-cpu/amx/mmq.cpp:2411: GGML_ASSERT(x) failed",
            True,
        ),
        (signal.SIGABRT, "/b/ggml/src/ggml-cuda/ggml-cuda.cu:88: GGML_ABORT(...)", True),
        # ggml building the graph from the model's shapes, or the GGUF reader: the file.
        (
            signal.SIGABRT,
            "/tmp/pip-x/vendor/llama.cpp/ggml/src/ggml.c:3354: GGML_ASSERT(ggml_can_mul_mat(a, b))",
            False,
        ),
        (signal.SIGABRT, "/b/ggml/src/gguf.cpp:12: GGML_ASSERT(n > 0) failed", False),
        (signal.SIGKILL, "", False),  # out of memory, or us
        (signal.SIGTERM, "", False),
    ],
)
def test_which_deaths_are_worth_a_safer_mode(sig: signal.Signals, fatal: str, worth: bool) -> None:
    assert worth_a_safer_mode(-int(sig), fatal) is worth


def test_plain_exits_are_not_crashes() -> None:
    assert not worth_a_safer_mode(0, "")
    assert not worth_a_safer_mode(1, "")


def test_the_note_names_what_crashed() -> None:
    amx = SafeMode(EngineMode.NO_EXTRA_BUFTS, "SIGSEGV", "answering", AMX_INFO, "0.3.36")
    assert amx.note == "safe mode: llama.cpp's AMX path crashed on this CPU"
    assert amx.short == "Safe mode: AMX off"
    assert "SIGSEGV" in amx.detail and "0.3.36" in amx.detail and "answering" in amx.detail
    assert "GPU backend" in amx.detail  # where to try the fast path again
    plain = SafeMode(EngineMode.NO_EXTRA_BUFTS, "SIGILL", "loading a model", PLAIN_INFO)
    assert plain.note == "safe mode: llama.cpp's repacked-weights path crashed on this CPU"
    gpu = SafeMode(EngineMode.NO_GPU, "SIGSEGV", "answering", AMX_INFO)
    assert gpu.note == "safe mode: llama.cpp's GPU path crashed; models run on the CPU"
    assert gpu.short == "Safe mode: GPU off"
    assert "without GPU offload" in gpu.detail


def test_stored_form_round_trips_and_junk_reads_as_the_fast_path() -> None:
    mode = SafeMode(EngineMode.NO_GPU, "SIGBUS", "answering", AMX_INFO, "0.3.36", "2026-12-05")
    assert SafeMode.from_dict(dict(mode.to_dict())) == mode
    assert SafeMode.from_dict({"mode": "fast"}) is None
    assert SafeMode.from_dict({"mode": "warp-speed"}) is None
    assert SafeMode.from_dict({}) is None
