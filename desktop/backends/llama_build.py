"""What the installed llama.cpp build knows, read without importing llama_cpp (the window's
process must not load it): which architecture names its libllama holds, and its version.

The library is the one llama-cpp-python would load: LLAMA_CPP_LIB_PATH, else the lib folder of
its package (_ctypes_extensions.py; desktop/engine/llama_setup.py finds libggml-base the same way).
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import mmap
import os
from pathlib import Path

#: Where llama-cpp-python looks for libllama in its lib folder (_ctypes_extensions.py).
LIBRARY_NAMES = ("libllama.so", "libllama.dylib", "llama.dll", "libllama.dll")
#: Architectures llama.cpp has known for years: a library that lacks one of them is not the one
#: holding the names (or names them differently), so it tells nothing.
ANCHOR_ARCHITECTURES = ("baichuan", "starcoder", "gptneox", "internlm2", "minicpm", "command-r")


def llama_cpp_label() -> str:
    """The installed version as "llama-cpp-python 0.3.36", from its metadata (no import)."""
    try:
        return f"llama-cpp-python {importlib.metadata.version('llama-cpp-python')}"
    except importlib.metadata.PackageNotFoundError:
        return "llama-cpp-python"


def llama_library() -> Path | None:
    """The libllama that llama-cpp-python loads (LLAMA_CPP_LIB_PATH, else its package's lib
    folder), found without importing llama_cpp; None if there is none."""
    folder_name = os.environ.get("LLAMA_CPP_LIB_PATH")
    if folder_name:
        folder = Path(folder_name)
    else:
        try:
            spec = importlib.util.find_spec("llama_cpp")
        except (ImportError, ValueError):
            return None
        if spec is None or not spec.origin:
            return None
        folder = Path(spec.origin).parent / "lib"
    for name in LIBRARY_NAMES:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def architecture_supported(architecture: str) -> bool | None:
    """Whether the installed llama.cpp knows this ``general.architecture``; None if that cannot
    be told (no library, or one that does not hold the names the way this reads them).

    llama.cpp keeps its architecture names as C strings (LLM_ARCH_NAMES in llama-arch.cpp). The
    linker merges a string into the tail of a longer one ("qwen2" lives only as the end of
    "rwkv6qwen2" in some builds), so a name counts as known when it ends any string in the
    library. That can only err towards "known", which llama.cpp then answers at load time.
    """
    library = llama_library()
    if library is None:
        return None
    try:
        stat = library.stat()
    except OSError:
        return None
    return _library_has(str(library), stat.st_mtime_ns, stat.st_size, architecture)


@functools.lru_cache(maxsize=64)
def _library_has(library: str, mtime_ns: int, size: int, architecture: str) -> bool | None:
    """Cached per library file and version (path, mtime, size): a reinstall changes the key."""
    del mtime_ns, size  # only part of the cache key
    try:
        with (
            open(library, "rb") as handle,
            mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data,
        ):
            if any(data.find(name.encode() + b"\0") == -1 for name in ANCHOR_ARCHITECTURES):
                return None
            return data.find(architecture.encode("utf-8") + b"\0") != -1
    except (OSError, ValueError):
        return None
