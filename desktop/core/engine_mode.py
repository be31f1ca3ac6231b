"""Safe modes of the local engine: what to turn off when llama.cpp crashes on this machine.

A llama.cpp built by pip for the machine it is installed on uses every CPU feature the CPU
advertises. On some machines one of those paths crashes (llama.cpp's AMX path on a Xeon:
docs/reliability.md). When the engine child dies of a native signal while loading a model or
during the first answer after a load, the host retries once per step, each step safer than the
last, and remembers the step that worked for this machine and this build. Pure rules here; the
retry is backends.engine_client's, the memory backends.engine_modes'.
"""

from __future__ import annotations

import enum
import signal
from dataclasses import dataclass, replace
from pathlib import PurePath

from desktop.core.gpu_builds import cpu_features
from desktop.core.params import LoadParams


class EngineMode(str, enum.Enum):
    """How models are loaded, fastest first. Each step keeps what the one before turned off."""

    FAST = "fast"
    #: llama.cpp's extra buffer types off (use_extra_bufts): no AMX, no repacked weights.
    NO_EXTRA_BUFTS = "no-extra-bufts"
    #: That, and no GPU offload (GPU builds only).
    NO_GPU = "no-gpu"


ORDER = (EngineMode.FAST, EngineMode.NO_EXTRA_BUFTS, EngineMode.NO_GPU)

#: Deaths that say "native code crashed", which a safer path may avoid.
NATIVE_SIGNALS = frozenset(
    {signal.SIGSEGV, signal.SIGILL, signal.SIGBUS, signal.SIGFPE, signal.SIGABRT}
)

#: Source folders of ggml's compute backends. A GGML_ASSERT from one of them is the compute path
#: failing (AMX, repacked weights, a GPU kernel): a safer mode may avoid it. An assertion from
#: elsewhere (ggml.c building a graph from the model's shapes, gguf.cpp, llama-*.cpp) is
#: llama.cpp naming a bad model file: every mode would hit it.
_BACKEND_SOURCES = (
    "ggml-cpu",
    "ggml-cuda",
    "ggml-metal",
    "ggml-vulkan",
    "ggml-sycl",
    "ggml-hip",
    "ggml-opencl",
    "amx",
)


def apply(params: LoadParams, mode: EngineMode) -> LoadParams:
    """The load settings a mode allows."""
    if mode is EngineMode.NO_EXTRA_BUFTS:
        return replace(params, extra_bufts=False)
    if mode is EngineMode.NO_GPU:
        return replace(params, extra_bufts=False, n_gpu_layers=0)
    return params


def next_mode(mode: EngineMode, *, gpu_build: bool, params: LoadParams) -> EngineMode | None:
    """The next safer step after ``mode`` crashed, or None: nothing safer is left to try."""
    at = ORDER.index(mode)
    for candidate in ORDER[at + 1 :]:
        if candidate is EngineMode.NO_GPU and (not gpu_build or params.n_gpu_layers == 0):
            continue  # nothing on a GPU to take off it
        return candidate
    return None


def signal_of(returncode: int) -> signal.Signals | None:
    if returncode >= 0:
        return None
    try:
        return signal.Signals(-returncode)
    except ValueError:
        return None


def worth_a_safer_mode(returncode: int, fatal_line: str) -> bool:
    """Whether a child that ended so may live in a safer mode.

    ``fatal_line`` is the child's first GGML_ASSERT/GGML_ABORT line, if any. SIGKILL (memory,
    or us) and plain exits are not crashes of a code path; an abort in which llama.cpp names a
    bad model file happens in every mode.
    """
    sig = signal_of(returncode)
    if sig not in NATIVE_SIGNALS:
        return False
    if sig is signal.SIGABRT and fatal_line:
        source = fatal_line.split(": GGML_", 1)[0]
        return any(part in _BACKEND_SOURCES for part in PurePath(source).parts)
    return True


@dataclass(frozen=True)
class SafeMode:
    """A safe mode in force, and why: what the status bar, the GPU backend page and the CLI say.

    Attributes:
        mode: the mode models are loaded in.
        signal: how the engine died in the faster mode (SIGSEGV, ...).
        when: "loading a model" or "answering".
        system_info: llama.cpp's description of the build that crashed (its CPU features).
        llama_cpp_version: the llama-cpp-python that crashed.
        since: ISO date and time it was seen.
    """

    mode: EngineMode
    signal: str = ""
    when: str = ""
    system_info: str = ""
    llama_cpp_version: str = ""
    since: str = ""

    @property
    def culprit(self) -> str:
        """What crashed, in the words a user can match: AMX, repacked weights, the GPU."""
        if self.mode is EngineMode.NO_GPU:
            return "llama.cpp's GPU path"
        if any(f.startswith("AMX") for f in cpu_features(self.system_info)):
            return "llama.cpp's AMX path"
        return "llama.cpp's repacked-weights path"

    @property
    def short(self) -> str:
        """A few words for a crowded status bar (the note goes in its tooltip)."""
        off = {EngineMode.NO_GPU: "GPU"}.get(self.mode) or (
            "AMX" if "AMX" in self.culprit else "repacking"
        )
        return f"Safe mode: {off} off"

    @property
    def note(self) -> str:
        """One short line: the status bar's, the CLI's."""
        if self.mode is EngineMode.NO_GPU:
            return f"safe mode: {self.culprit} crashed; models run on the CPU"
        return f"safe mode: {self.culprit} crashed on this CPU"

    @property
    def detail(self) -> str:
        """The longer story, for a tooltip and the GPU backend page."""
        off = (
            "without GPU offload and without llama.cpp's extra buffer types"
            if self.mode is EngineMode.NO_GPU
            else "without llama.cpp's extra buffer types (AMX and repacked weights)"
        )
        version = f" llama-cpp-python {self.llama_cpp_version}" if self.llama_cpp_version else ""
        when = f" while {self.when}" if self.when else ""
        died = f" ({self.signal})" if self.signal else ""
        return (
            f"The local engine{version} crashed{died}{when}, in {self.culprit}. Models now "
            f"load {off}: slower, but it answers. This is remembered for this "
            f"machine and this llama.cpp build. Model → GPU backend… can try the fast path again "
            f"(after updating llama-cpp-python, say)."
        )

    def to_dict(self) -> dict[str, str]:
        return {
            "mode": self.mode.value,
            "signal": self.signal,
            "when": self.when,
            "system_info": self.system_info,
            "llama_cpp_version": self.llama_cpp_version,
            "since": self.since,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> SafeMode | None:
        """None for anything unreadable or FAST (a hand-edited file must not crash the app)."""
        try:
            mode = EngineMode(str(data.get("mode", "")))
        except ValueError:
            return None
        if mode is EngineMode.FAST:
            return None
        return cls(
            mode,
            **{
                key: str(data.get(key, ""))
                for key in ("signal", "when", "system_info", "llama_cpp_version", "since")
            },
        )
