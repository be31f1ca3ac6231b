"""Which compute backends the installed llama-cpp-python was built with, and the exact command
that reinstalls it with the one that suits this machine's GPU.

llama-cpp-python from PyPI is a source build: without CMAKE_ARGS it builds for the CPU only, even
on a machine with a good GPU. The app cannot fix that by itself (a rebuild takes minutes and a
toolkit the user must install), so it says what it found and what to run. Pure functions; the
build's self-description is llama.cpp's llama_print_system_info().
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

#: (name shown, marker in llama_print_system_info, CMake flag, what the user needs installed).
BACKENDS: tuple[tuple[str, str, str, str], ...] = (
    ("CUDA", "CUDA", "-DGGML_CUDA=on", "an NVIDIA GPU, its driver and the CUDA Toolkit (nvcc)"),
    ("Metal", "MTL", "-DGGML_METAL=on", "a Mac with Apple silicon (built in: nothing to install)"),
    ("Vulkan", "Vulkan", "-DGGML_VULKAN=on", "any recent GPU, its driver and the Vulkan SDK"),
    ("ROCm", "HIP", "-DGGML_HIP=on", "an AMD GPU supported by ROCm, and ROCm installed"),
    ("SYCL", "SYCL", "-DGGML_SYCL=on", "an Intel GPU and the oneAPI Base Toolkit"),
)


@dataclass(frozen=True)
class Advice:
    """The backend to rebuild llama-cpp-python with, why, what it needs, and the command."""

    backend: str
    why: str
    needs: str
    command: str


def built_with(system_info: str) -> list[str]:
    """The GPU backends in this build (empty: CPU only)."""
    found = []
    for name, marker, _flag, _needs in BACKENDS:
        if name == "Metal":
            if "MTL" in system_info or "Metal" in system_info:
                found.append(name)
        elif marker in system_info:
            found.append(name)
    return found


def cpu_features(system_info: str) -> list[str]:
    """The CPU instruction sets llama.cpp reports as used (AVX2 = 1, ...)."""
    features = []
    for part in system_info.replace("|", " | ").split("|"):
        key, _, value = part.partition("=")
        if value.strip() == "1":
            features.append(key.strip())
    return features


def reinstall_command(flag: str, python: str, system: str, version: str = "") -> str:
    """The pip command that rebuilds llama-cpp-python with one backend, for this interpreter
    (llama-cpp-python's documented way), pinned to the installed version so the app's tested
    bindings stay. Windows' cmd sets the variable on a line of its own; POSIX shells inline."""
    package = f"llama-cpp-python=={version}" if version else "llama-cpp-python"
    pip = (
        f"{_quote(python, system)} -m pip install --force-reinstall --no-deps --no-cache-dir "
        f"{package}"
    )
    if system == "Windows":
        return f"set CMAKE_ARGS={flag}\n{pip}"
    return f'CMAKE_ARGS="{flag}" {pip}'


def _quote(path: str, system: str) -> str:
    if system == "Windows":
        return f'"{path}"' if " " in path else path
    return shlex.quote(path)


def advise(
    system: str,
    machine: str,
    gpu_vendors: Sequence[str],
    built: Sequence[str],
    *,
    python: str,
    version: str = "",
) -> Advice | None:
    """The backend to rebuild with, or None when the build already suits the GPU (or there is
    no GPU worth using)."""
    wanted: tuple[str, str] | None = None
    if system == "Darwin" and machine in ("arm64", "aarch64"):
        wanted = ("Metal", "this Mac has Apple silicon")
    elif "nvidia" in gpu_vendors:
        wanted = ("CUDA", "this machine has an NVIDIA GPU")
    elif "amd" in gpu_vendors:
        wanted = (
            "Vulkan",
            "this machine has an AMD GPU (Vulkan works with most; ROCm may be faster)",
        )
    elif "intel" in gpu_vendors:
        wanted = ("Vulkan", "this machine has an Intel GPU")
    if wanted is None or wanted[0] in built:
        return None
    name, why = wanted
    _n, _marker, flag, needs = next(b for b in BACKENDS if b[0] == name)
    return Advice(name, why, needs, reinstall_command(flag, python, system, version))


def all_commands(python: str, system: str, version: str = "") -> list[tuple[str, str, str]]:
    """Every backend: (name, what it needs, the command), for users who know better."""
    return [
        (name, needs, reinstall_command(flag, python, system, version))
        for name, _marker, flag, needs in BACKENDS
    ]
