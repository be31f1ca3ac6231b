"""What a llama-cpp-python build runs on, read from llama.cpp's own description, and the
rebuild command offered for each kind of machine."""

from __future__ import annotations

from desktop.core import gpu_builds

#: Printed by llama_print_system_info() on the lent H200 with our CUDA build (bench/gpu).
CUDA_INFO = (
    "CUDA : ARCHS = 900 | USE_GRAPHS = 1 | FA_QUANTS = q4_0-q4_0,q8_0-q8_0,f16-f16,bf16-bf16 | "
    "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | AVX512 = 1 | "
    "LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | "
)
CPU_INFO = "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | OPENMP = 1 | "


def test_backends_are_read_from_the_build_description() -> None:
    assert gpu_builds.built_with(CUDA_INFO) == ["CUDA"]
    assert gpu_builds.built_with(CPU_INFO) == []
    assert gpu_builds.built_with("MTL : EMBED_LIBRARY = 1 | CPU : NEON = 1 |") == ["Metal"]
    assert gpu_builds.built_with("Vulkan : ... | CPU : AVX2 = 1 |") == ["Vulkan"]
    assert "AVX2" in gpu_builds.cpu_features(CPU_INFO)
    assert "OPENMP" in gpu_builds.cpu_features(CPU_INFO)


def test_advice_matches_the_gpu_and_is_silent_when_the_build_already_fits() -> None:
    nvidia = gpu_builds.advise(
        "Linux", "x86_64", ["nvidia"], [], python="/opt/app/.venv/bin/python", version="0.3.36"
    )
    assert nvidia is not None and nvidia.backend == "CUDA"
    assert nvidia.command == (
        'CMAKE_ARGS="-DGGML_CUDA=on" /opt/app/.venv/bin/python -m pip install '
        "--force-reinstall --no-deps --no-cache-dir llama-cpp-python==0.3.36"
    )
    assert gpu_builds.advise("Linux", "x86_64", ["nvidia"], ["CUDA"], python="p") is None
    mac = gpu_builds.advise("Darwin", "arm64", [], [], python="/usr/bin/python3")
    assert mac is not None and "-DGGML_METAL=on" in mac.command
    amd = gpu_builds.advise("Linux", "x86_64", ["amd"], [], python="python3")
    assert amd is not None and amd.backend == "Vulkan"
    assert gpu_builds.advise("Linux", "x86_64", [], [], python="python3") is None
    windows = gpu_builds.advise(
        "Windows", "AMD64", ["nvidia"], [], python=r"C:\Program Files\Py\python.exe"
    )
    assert windows is not None
    assert windows.command.splitlines() == [
        "set CMAKE_ARGS=-DGGML_CUDA=on",
        r'"C:\Program Files\Py\python.exe" -m pip install --force-reinstall --no-deps '
        "--no-cache-dir llama-cpp-python",
    ]
    names = [name for name, _needs, _command in gpu_builds.all_commands("python3", "Linux")]
    assert names == ["CUDA", "Metal", "Vulkan", "ROCm", "SYCL"]
