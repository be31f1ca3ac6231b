"""Setting llama.cpp up in the engine child: its log, its build's facts and how a model loads.

The log callback keeps the reason for a failed load; the backend facts say what this build can
do; the context managers hand llama.cpp load parameters that llama-cpp-python's Llama() has no
argument for. Runner (runner.py) uses all of it to load a model.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import llama_cpp

from desktop.core.errors import ModelLoadError

GGUF_MAGIC = b"GGUF"

# ggml_log_level values in the ggml.h this llama-cpp-python vendors (NONE 0, DEBUG 1, INFO 2,
# WARN 3, ERROR 4, CONT 5). Older ggml numbered them differently; the _logger module of
# llama-cpp-python still uses the old numbers, one more reason to own the callback.
_LOG_DEBUG, _LOG_WARN, _LOG_ERROR, _LOG_CONT = 1, 3, 4, 5


#: Every log callback handed to llama.cpp, never freed (see LogCapture).
_INSTALLED_CALLBACKS: list[object] = []


class LogCapture:
    """Keeps llama.cpp's recent warnings and errors so a failed load can say *why*.

    Llama(verbose=False) hides llama.cpp's log, which is where the reason for a failed load is
    ("tensor data is not within the file bounds", "unknown model architecture"). We install our
    own log callback instead and keep the last lines in memory.
    """

    def __init__(self, echo: bool = False) -> None:
        self._lines: collections.deque[str] = collections.deque(maxlen=200)
        self._echo = echo
        self._last_level = 0
        self._lock = threading.Lock()
        #: How many tensors llama.cpp has reported as moved by a buffer-type override.
        self.overridden = 0
        #: Set while a model loads: the override reports come at DEBUG level then.
        self.loading = False
        #: llama.cpp's report of the last KV cache it made ("llama_kv_cache: size = ...").
        self.kv_report = ""
        #: Lines kept since the start: marks count these (the deque drops its oldest).
        self._total = 0

        @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
        def _callback(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
            if level == _LOG_DEBUG and not self.loading and not self._echo:
                # llama.cpp logs at DEBUG per token with in-graph sampling and per graph
                # build: nothing we keep, and this runs inside every token, so it returns first.
                self._last_level = level
                return
            if level == _LOG_CONT:
                level = self._last_level
            self._last_level = level
            message = text.decode("utf-8", errors="replace")
            if "buffer type overridden" in message:
                self.overridden += 1
            elif "llama_kv_cache: size =" in message:
                self.kv_report = message.strip()
            if level in (_LOG_WARN, _LOG_ERROR):
                with self._lock:
                    self._lines.append(message.strip())
                    self._total += 1
            if self._echo:
                sys.stderr.write(message)

        # Keep a reference: ctypes callbacks are freed with their Python object. Kept for the
        # process, not with this object: llama.cpp calls the last one set until another is,
        # and a freed one crashed a later grammar's debug log (tests load in one process).
        self._callback = _callback
        _INSTALLED_CALLBACKS.append(_callback)
        llama_cpp.llama_log_set(self._callback, ctypes.c_void_p(0))

    def mark(self) -> int:
        with self._lock:
            return self._total

    def errors_since(self, mark: int) -> list[str]:
        """The warnings and errors kept since ``mark`` (at most the last 200)."""
        with self._lock:
            new = self._total - mark
            lines = list(self._lines)[-new:] if new > 0 else []
        return [line for line in lines if line]


def backend_name() -> str:
    """Which compute backend this build of llama.cpp has (the first GPU one wins)."""
    info = llama_cpp.llama_print_system_info().decode("utf-8", errors="replace")
    for marker, name in (
        ("CUDA", "CUDA"),
        ("Metal", "Metal"),
        ("MTL", "Metal"),
        ("Vulkan", "Vulkan"),
        ("HIP", "ROCm"),
        ("SYCL", "SYCL"),
    ):
        if marker in info:
            return name
    return "CPU"


def system_info() -> str:
    """llama.cpp's description of this build: its backends and the CPU features it uses."""
    return str(llama_cpp.llama_print_system_info().decode("utf-8", errors="replace"))


def gpu_offload_supported() -> bool:
    return bool(llama_cpp.llama_supports_gpu_offload())


def graph_sampling_default() -> bool:
    """Whether tokens are chosen inside llama.cpp's graph unless the user says otherwise.

    llama.cpp calls its backend sampling experimental (off by default in its own tools). On
    the CPU backend our tests check it token for token against the CPU chain on every CI run
    (tests/engine/test_sampling_on_device.py), so it is on there. A build that can offload to
    a GPU (CUDA, Metal, Vulkan) runs other kernels that no run of ours has checked yet: it
    samples on the CPU unless ``"sample_on_device": true`` asks for the graph (bench/gpu/
    runs those tests and both ways on a GPU: once they pass there, this can change).
    """
    return not gpu_offload_supported()


def check_gguf_file(path: Path) -> None:
    """Cheap checks that give a precise reason before llama.cpp sees the file."""
    if not path.exists():
        raise ModelLoadError(f"Model file not found: {path}")
    if path.is_dir():
        raise ModelLoadError(f"{path} is a folder, not a GGUF model file.")
    size = path.stat().st_size
    if size == 0:
        raise ModelLoadError(f"Cannot load {path.name}: the file is empty (0 bytes).")
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != GGUF_MAGIC:
        raise ModelLoadError(
            f"Cannot load {path.name}: it is not a GGUF model file (a GGUF file starts with "
            f"the letters GGUF; this one starts with the bytes {magic.hex(' ').upper()})."
        )


def clean_reason(lines: Sequence[str]) -> str:
    """The most telling line of llama.cpp's log, without its function-name prefixes."""
    useful = [line for line in lines if "error" in line.lower() or "failed" in line.lower()]
    chosen = useful or list(lines)
    if not chosen:
        return ""
    reason = chosen[0]
    for prefix in (
        "llama_model_load: error loading model: ",
        "llama_model_load: ",
        "llama_model_load_from_file_impl: ",
        "gguf_init_from_file_impl: ",
        "llama_load_model_from_file: ",
    ):
        if reason.startswith(prefix):
            reason = reason[len(prefix) :]
    return reason.strip()


class _BuftOverride(ctypes.Structure):
    """llama.cpp's ``struct llama_model_tensor_buft_override`` (llama.h)."""

    _fields_ = (("pattern", ctypes.c_char_p), ("buft", ctypes.c_void_p))


def _cpu_buffer_type() -> int:
    """ggml's CPU buffer type, from the ggml library that llama-cpp-python ships."""
    # Where llama-cpp-python itself loads its libraries from (LLAMA_CPP_LIB_PATH overrides).
    lib_dir = Path(
        os.environ.get("LLAMA_CPP_LIB_PATH") or Path(llama_cpp.__file__).resolve().parent / "lib"
    )
    for name in ("libggml-base.so", "libggml-base.dylib", "ggml-base.dll"):
        candidate = lib_dir / name
        if candidate.exists():
            # The dynamic loader hands back the copy llama.cpp already uses.
            lib = ctypes.CDLL(str(candidate))
            lib.ggml_backend_cpu_buffer_type.restype = ctypes.c_void_p
            lib.ggml_backend_cpu_buffer_type.argtypes = []
            return int(lib.ggml_backend_cpu_buffer_type())
    raise ModelLoadError(
        "This llama-cpp-python build does not ship the ggml library needed to keep MoE "
        "experts in system RAM; load the model without that option."
    )


def expert_override_patterns(n_layers: int) -> list[bytes]:
    """llama.cpp's --n-cpu-moe N: the expert tensors of layers 0..N-1 (common/common.h)."""
    return [rf"blk\.{i}\.ffn_(up|down|gate|gate_up)_(ch|)exps".encode() for i in range(n_layers)]


#: The oldest llama-cpp-python whose bindings have everything below (backend sampling came in
#: 0.3.17; pyproject.toml's floor says the same).
MIN_LLAMA_CPP_PYTHON = "0.3.17"
_NEEDED = (
    "llama_set_sampler",
    "llama_get_sampled_token_ith",
    "llama_set_abort_callback",
    "llama_model_get_vocab",
    "llama_vocab_is_eog",
    "LLAMA_FLASH_ATTN_TYPE_AUTO",
)


def build_problem() -> str:
    """Why the installed llama-cpp-python cannot run this engine, or "" if it can."""
    missing = [name for name in _NEEDED if not hasattr(llama_cpp, name)]
    if not missing:
        return ""
    version = getattr(llama_cpp, "__version__", "?")
    return (
        f"llama-cpp-python {version} is too old for Llamaside (it lacks {missing[0]}): it "
        f"needs {MIN_LLAMA_CPP_PYTHON} or newer. Update it with: pip install --upgrade "
        f"'llama-cpp-python>={MIN_LLAMA_CPP_PYTHON}'"
    )


#: Tests only: makes the engine child die of SIGSEGV while llama.cpp's extra buffer types are on,
#: as llama.cpp's AMX path did on a user's CPU, so the safe-mode fallback can be checked on any
#: machine. "load": while loading; "decode": at the first answer's prompt; "always-decode": at
#: every answer's prompt, in every mode (a model that crashes whatever is turned off).
TEST_CRASH_ENV = "LLAMASIDE_TEST_CRASH_WITH_EXTRA_BUFTS"


def crash_if_testing(stage: str, extra_bufts: bool) -> None:
    wanted = os.environ.get(TEST_CRASH_ENV, "")
    if (wanted == stage and extra_bufts) or wanted == f"always-{stage}":
        sys.stderr.flush()
        signal.raise_signal(signal.SIGSEGV)


@contextlib.contextmanager
def model_params(
    patterns: list[bytes],
    extra_bufts: bool = True,
    on_progress: Callable[[float], None] | None = None,
) -> Iterator[None]:
    """Make Llama() load with llama.cpp model parameters that its constructor has no argument
    for: tensor buffer-type overrides (--n-cpu-moe), ``use_extra_bufts`` and the load's
    progress callback (``on_progress`` gets 0..1 as the weights are read).

    llama-cpp-python's Llama class builds llama_model_params itself, starting from
    llama_model_default_params(), so for the duration of one load we hand it defaults that
    already carry ours (the override list NULL-terminated, as llama.h wants).
    """
    if not patterns and extra_bufts and on_progress is None:
        yield
        return
    progress = None
    if on_progress is not None:

        def _progress(fraction: float, _user_data: ctypes.c_void_p) -> bool:
            on_progress(float(fraction))
            return True  # False would abort the load

        # Kept referenced until the load ends: llama.cpp calls it from inside Llama().
        progress = llama_cpp.llama_progress_callback(_progress)
    table = None
    if patterns:
        cpu = _cpu_buffer_type()
        table = (_BuftOverride * (len(patterns) + 1))(
            *[_BuftOverride(p, cpu) for p in patterns], _BuftOverride(None, None)
        )
    module = llama_cpp.llama_cpp
    original = module.llama_model_default_params
    if not extra_bufts and not hasattr(original(), "use_extra_bufts"):
        raise ModelLoadError(
            f"llama-cpp-python {llama_cpp.__version__} cannot turn off llama.cpp's extra buffer "
            "types (the engine's safe mode); a newer llama-cpp-python can."
        )

    def with_ours() -> Any:
        params = original()
        if table is not None:
            params.tensor_buft_overrides = ctypes.cast(table, ctypes.c_void_p)
        if not extra_bufts:
            params.use_extra_bufts = False
        if progress is not None:
            params.progress_callback = progress
        return params

    module.llama_model_default_params = with_ours
    try:
        yield
    finally:
        module.llama_model_default_params = original


def flash_attention_wanted(n_gpu_layers: int) -> bool:
    """Flash attention where attention runs on a GPU; off on the CPU, whose flash-attention
    kernel generates slower, and ever more so as the chat grows (docs/benchmarks.md)."""
    return n_gpu_layers != 0 and gpu_offload_supported()


@contextlib.contextmanager
def flash_attn_auto(wanted: bool = True) -> Iterator[None]:
    """Make Llama() leave flash attention to llama.cpp (its own default, "auto": on where the
    backend supports it for this model), as llama-bench and llama-cli do.

    llama-cpp-python's Llama has only flash_attn=True/False and maps False to DISABLED; True
    forces it on even where it is unsupported. It reads the DISABLED constant from its module
    while building the context params, so for the duration of one load that constant is AUTO.
    """
    if not wanted:  # llama-cpp-python's own default: disabled
        yield
        return
    module = llama_cpp.llama_cpp
    disabled = module.LLAMA_FLASH_ATTN_TYPE_DISABLED
    module.LLAMA_FLASH_ATTN_TYPE_DISABLED = module.LLAMA_FLASH_ATTN_TYPE_AUTO
    try:
        yield
    finally:
        module.LLAMA_FLASH_ATTN_TYPE_DISABLED = disabled


#: KV cache element types by name (LoadParams.kv_cache_type) as ggml numbers them.
KV_GGML_TYPES = {
    "f16": llama_cpp.GGML_TYPE_F16,
    "q8_0": llama_cpp.GGML_TYPE_Q8_0,
    "q4_0": llama_cpp.GGML_TYPE_Q4_0,
}


def attention_choice(flash_attn: bool | None, kv_cache_type: str, n_gpu_layers: int) -> bool | None:
    """How Llama() gets flash attention: True/False force it (the user's choice), None leaves
    it to llama.cpp ("auto", through flash_attn_auto). Unset, it is auto where attention runs
    on a GPU and off on a CPU (flash_attention_wanted), except that a quantized V cache needs
    it, so it is auto there too (on wherever the backend has the kernel)."""
    if flash_attn is not None:
        return flash_attn
    if kv_cache_type != "f16" or flash_attention_wanted(n_gpu_layers):
        return None
    return False


_KV_REPORT_RE = re.compile(r"size =\s*([\d.]+) MiB.*K \((\w+)\).*V \((\w+)\)")


def kv_cache_facts(report: str) -> tuple[str, int]:
    """The K cache's type and the whole cache's bytes, from llama.cpp's "llama_kv_cache: size
    = 5.98 MiB (512 cells, ...), K (q8_0): 2.99 MiB, V (q8_0): 2.99 MiB" ("", 0 if absent)."""
    match = _KV_REPORT_RE.search(report)
    if match is None:
        return "", 0
    return match.group(2), int(float(match.group(1)) * 1024 * 1024)


#: The least time between two load progress reports (the last, 100 %, always goes).
PROGRESS_INTERVAL_S = 0.25


class ProgressThrottle:
    """Passes a load's progress on a few times a second, rising only, and always its end."""

    def __init__(self, send: Callable[[float], None]) -> None:
        self._send = send
        self._last_at = 0.0
        self._last = -1.0

    def __call__(self, fraction: float) -> None:
        fraction = min(1.0, max(0.0, fraction))
        now = time.monotonic()
        due = fraction >= 1.0 or now - self._last_at >= PROGRESS_INTERVAL_S
        if fraction > self._last and due:
            self._last, self._last_at = fraction, now
            self._send(fraction)
