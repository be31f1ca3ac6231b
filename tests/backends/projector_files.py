"""Small GGUF files for the pairing, download and fit tests: a vision projector (architecture
"clip", as llama.cpp's mtmd reads it) and a model stand-in, written with the `gguf` package.
Neither loads in llama.cpp (tests/vision_models.py writes a projector that does)."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np


def _write(path: Path, arch: str, values: int, mmproj: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name(path.stem)
    if mmproj:
        writer.add_type("mmproj")  # general.type, as convert_hf_to_gguf writes for projectors
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tensor("t0.weight", np.zeros(values, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_projector(path: Path, values: int = 16) -> Path:
    """A vision projector's header and one tensor of ``values`` floats."""
    return _write(path, "clip", values, mmproj=True)


def write_model(path: Path, values: int = 16) -> Path:
    """A llama model's header and one tensor (enough for listing and pairing, not loading)."""
    return _write(path, "llama", values, mmproj=False)
