"""Checks a GGUF model file when it is added, so a bad file is refused with a reason right away
instead of after the first message is sent.

Reads only the header: the key/value metadata and the tensor descriptions, never the weights (a
few MB at most, whatever the model's size). It refuses what llama.cpp would refuse at load time
and can be told without loading: not GGUF, an unsupported version, a file cut short or damaged, a
file that is not a model (adapter, vision projector), an architecture this build of llama.cpp
does not know, a split model with a part missing.

The header itself is read by gguf_header.

llama_cpp is never imported (the window's process must not load it): whether an architecture is
known is read from the bytes of the libllama that llama-cpp-python would load (llama_build).
"""

from __future__ import annotations

from pathlib import Path

from desktop.backends.gguf_header import GGML_BLOCKS as GGML_BLOCKS  # noqa: PLC0414 (re-export)
from desktop.backends.gguf_header import _cannot_load, _Header, _incomplete, _read_header
from desktop.backends.llama_build import architecture_supported, llama_cpp_label
from desktop.core.errors import ModelLoadError
from desktop.core.gguf_summary import GgufSummary
from desktop.core.models import human_size

__all__ = ["GgufSummary", "ProjectorPicked", "check_model_file", "check_projector_file"]


class ProjectorPicked(ModelLoadError):
    """A vision projector (mmproj) was given where a model was asked for: the UI asks for the
    model it belongs to instead of only refusing it."""


#: general.file_type (llama_ftype in llama.h) -> the name quantizers use.
FILE_TYPES: dict[int, str] = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    36: "TQ1_0",
    37: "TQ2_0",
    38: "MXFP4_MOE",
    39: "NVFP4",
    40: "Q1_0",
}
_FTYPE_GUESSED = 1024  # a flag llama-quantize adds when it guessed the type


def _check_data(header: _Header) -> None:
    """Refuses a file shorter than its tensors: llama.cpp would say "data is not within the file
    bounds" (a download cut off in the weights)."""
    if header.data_end is not None and header.data_end > header.file_size:
        raise _incomplete(
            header.path,
            f"it holds {human_size(header.file_size)} of the "
            f"{human_size(header.data_end)} its header describes",
        )


def _check_model_kind(header: _Header) -> tuple[str, bool | None]:
    """Refuses files that are not a model llama.cpp can run; returns the architecture and
    whether llama.cpp is known to support it."""
    path = header.path
    kind = header.text("general.type")
    architecture = header.text("general.architecture")
    if kind == "adapter":
        raise _cannot_load(
            path,
            "it is an adapter (LoRA) for a model, not a model on its own. Pick the model's "
            "own GGUF file.",
        )
    if _is_projector(header):
        raise ProjectorPicked(
            f"Cannot load {path.name}: it is a vision projector (mmproj), which adds image "
            "input to a model; it is not a model on its own. Pick the model's own GGUF file "
            "(with the projector, to let it see images)."
        )
    if kind == "imatrix":
        raise _cannot_load(
            path,
            "it is an importance matrix (imatrix) used when quantizing, not a model. Pick the "
            "model's own GGUF file.",
        )
    if not architecture:
        raise _cannot_load(
            path,
            "its header does not say what kind of model it is (no general.architecture), so "
            "llama.cpp cannot run it.",
        )
    supported = architecture_supported(architecture)
    if supported is False:
        raise ModelLoadError(
            f'{path.name} is a "{architecture}" model, which this build of llama.cpp '
            f"({llama_cpp_label()}) cannot run. Update llama-cpp-python, or pick another file."
        )
    return architecture, supported


def _is_projector(header: _Header) -> bool:
    """What llama.cpp's mtmd loads as a projector: a "clip" file (general.type "mmproj")."""
    return header.text("general.type") == "mmproj" or header.text("general.architecture") == "clip"


def is_projector_file(path: Path) -> bool:
    """Whether the file's header says it is a vision projector; False for a file that cannot
    be read as GGUF. Reads the header only (a projector's is a few hundred KB at most)."""
    try:
        return _is_projector(_read_header(Path(path)))
    except ModelLoadError:
        return False


def check_projector_file(path: Path) -> Path:
    """Checks a vision projector before it is paired with a model; returns its path or raises
    ModelLoadError saying why it cannot be one (not GGUF, cut short, a model instead)."""
    header = _read_header(Path(path))
    if not _is_projector(header):
        what = header.text("general.architecture") or "no"
        raise _cannot_load(
            header.path,
            f'it is not a vision projector (its header says "{what}" architecture, where an '
            'mmproj file says "clip"). Pick the mmproj GGUF that belongs with the model.',
        )
    _check_data(header)
    return header.path


def _part_path(header: _Header, number: int) -> Path:
    """Part ``number`` (0-based) of the split set ``header`` belongs to, named as llama.cpp's
    llama_split_path does: ``<prefix>-00001-of-00003.gguf``; refuses a file not named so."""
    count = header.split_count
    suffix = f"-{header.split_no + 1:05d}-of-{count:05d}.gguf"
    name = header.path.name
    if not name.endswith(suffix) or len(name) == len(suffix):
        raise _cannot_load(
            header.path,
            f"it is part {header.split_no + 1} of {count} of a split model, but its name does "
            f"not end in {suffix}, so llama.cpp cannot find the other parts. Give the parts "
            "back their original names.",
        )
    return header.path.with_name(f"{name[: -len(suffix)]}-{number + 1:05d}-of-{count:05d}.gguf")


def check_model_file(path: Path) -> GgufSummary:
    """Checks a GGUF model file before it is added; raises ModelLoadError with a sentence for
    the user when llama.cpp could not run it.

    Given any part of a split model, checks the whole set and returns the first part as
    ``summary.path``: llama.cpp loads a set only from its first part (it refuses the others with
    "illegal split file idx"), and the file dialog lists every part, so a user picking part 2
    means the model; store ``summary.path``, not the path picked.
    """
    path = Path(path)
    header = _read_header(path)
    count = header.split_count
    if count > 1 and header.split_no != 0:
        first = _part_path(header, 0)
        if not first.is_file():
            raise _cannot_load(
                path,
                f"it is part {header.split_no + 1} of {count} of a split model, and its first "
                f"part, {first.name}, is not in {path.parent}. Put all {count} parts there and "
                "open the first.",
            )
        header = _read_header(first)
        if header.split_no != 0 or header.split_count != count:
            raise _cannot_load(
                first,
                f"it should be part 1 of {count} of the split model {path.name} belongs to, "
                f"but its header says part {header.split_no + 1} of {header.split_count}.",
            )
    if count > 1:
        _part_path(header, 0)  # a first part renamed away from the pattern is refused here
    architecture, supported = _check_model_kind(header)
    _check_data(header)

    parts = [header.path]
    size = header.file_size
    n_tensors = header.n_tensors
    missing: list[str] = []
    for number in range(1, count):
        part = _part_path(header, number)
        if not part.is_file():
            missing.append(part.name)
            continue
        other = _read_header(part)
        if other.split_no != number or other.split_count != count:
            raise _cannot_load(
                part,
                f"it should be part {number + 1} of {count} of {header.path.name}, but its "
                f"header says part {other.split_no + 1} of {other.split_count}.",
            )
        _check_data(other)
        parts.append(part)
        size += other.file_size
        n_tensors += other.n_tensors
    if missing:
        listed = ", ".join(missing)
        verb = "is" if len(missing) == 1 else "are"
        raise _cannot_load(
            header.path,
            f"it is the first of {count} parts of a split model, and {listed} {verb} missing "
            f"from {header.path.parent}. llama.cpp needs all {count} parts side by side.",
        )
    if n_tensors == 0:
        raise _cannot_load(
            header.path, "it holds no weights (a vocabulary-only file?), so it cannot answer."
        )

    file_type = header.integer("general.file_type", -1)
    return GgufSummary(
        path=header.path,
        architecture=architecture,
        name=header.text("general.name"),
        file_type=FILE_TYPES.get(file_type & ~_FTYPE_GUESSED if file_type >= 0 else file_type),
        split_count=count,
        parts=tuple(parts),
        size_bytes=size,
        architecture_supported=supported,
    )
