"""Native llama.cpp for the yardstick: llama-bench built from the very sources that the installed
llama-cpp-python vendors, once, into a cache folder.

`python bench/native.py` builds (or finds) it and prints its path. The sdist of the installed
llama-cpp-python version is fetched with pip (PyPI) unless LLAMASIDE_LLAMA_SDIST points at one;
LLAMASIDE_LLAMA_BENCH may name an existing llama-bench binary instead. Extra CMake flags (a CUDA
build, say) come from CMAKE_ARGS, as for pip's own build of llama-cpp-python.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tarfile
import tempfile
from importlib import metadata
from pathlib import Path

CACHE = Path(os.environ.get("LLAMASIDE_BENCH_CACHE", Path.home() / ".cache" / "llamaside-bench"))


def llama_cpp_version() -> str:
    return metadata.version("llama_cpp_python")


def sdist(version: str) -> Path:
    """The llama-cpp-python source archive of this version (from PyPI, cached)."""
    given = os.environ.get("LLAMASIDE_LLAMA_SDIST")
    if given:
        return Path(given)
    folder = CACHE / "sdist"
    found = sorted(folder.glob(f"llama_cpp_python-{version}.tar.gz"))
    if found:
        return found[0]
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "-d",
            str(folder),
            f"llama-cpp-python=={version}",
        ],
        check=True,
    )
    return sorted(folder.glob(f"llama_cpp_python-{version}.tar.gz"))[0]


def source_tree(version: str) -> Path:
    """vendor/llama.cpp of that sdist, unpacked once."""
    root = CACHE / f"llama-cpp-python-{version}"
    vendored = root / "vendor" / "llama.cpp"
    if (vendored / "CMakeLists.txt").exists():
        return vendored
    archive = sdist(version)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp, tarfile.open(archive) as tar:
        tar.extractall(tmp, filter="data")
        (top,) = Path(tmp).iterdir()
        root.parent.mkdir(parents=True, exist_ok=True)
        top.rename(root)
    return vendored


def build(version: str | None = None, jobs: int | None = None) -> Path:
    """llama-bench built from the vendored sources, Release, with CMAKE_ARGS if set."""
    given = os.environ.get("LLAMASIDE_LLAMA_BENCH")
    if given:
        return Path(given)
    version = version or llama_cpp_version()
    extra = shlex.split(os.environ.get("CMAKE_ARGS", ""))
    tag = "default" if not extra else str(abs(hash(tuple(extra))) % 10**8)
    out = CACHE / f"build-{version}-{tag}"
    binary = out / "bin" / "llama-bench"
    if binary.exists():
        return binary
    src = source_tree(version)
    flags = [
        "-DCMAKE_BUILD_TYPE=Release",
        "-DLLAMA_CURL=OFF",
        "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF",
        "-DLLAMA_BUILD_SERVER=OFF",
        "-DBUILD_SHARED_LIBS=OFF",
    ]
    subprocess.run(["cmake", "-S", str(src), "-B", str(out), *flags, *extra], check=True)
    subprocess.run(
        [
            "cmake",
            "--build",
            str(out),
            "--target",
            "llama-bench",
            "-j",
            str(jobs or os.cpu_count()),
        ],
        check=True,
    )
    return binary


def run_bench(
    binary: Path,
    model: str,
    threads: int,
    prompt: int,
    gen: int,
    reps: int,
    gpu_layers: int = 0,
    depths: tuple[int, ...] = (0,),
) -> dict[str, float]:
    """llama-bench's tokens/s (mean of reps): {"pp": prompt processing, "tg": generation from
    an empty context, "tg@N": generation after N tokens already in the context}."""
    result = subprocess.run(
        [
            str(binary),
            "-m",
            model,
            "-t",
            str(threads),
            "-p",
            str(prompt),
            "-n",
            str(gen),
            "-d",
            ",".join(str(d) for d in depths),
            "-r",
            str(reps),
            "-ngl",
            str(gpu_layers),
            "-o",
            "json",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    speeds: dict[str, float] = {}
    for row in json.loads(result.stdout):
        depth = int(row.get("n_depth", 0))
        if row.get("n_prompt", 0) and not row.get("n_gen", 0):
            if depth == 0:
                speeds["pp"] = float(row["avg_ts"])
            continue
        speeds["tg" if depth == 0 else f"tg@{depth}"] = float(row["avg_ts"])
    return speeds


if __name__ == "__main__":
    print(build())
