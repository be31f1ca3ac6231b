"""Reading one GGUF file's header: the key/value metadata and the tensor descriptions, through a
window that never reads the weights, into a _Header, or ModelLoadError with a sentence saying
what is wrong with the file. gguf_check decides from headers whether llama.cpp could run a model.

The layout (ggml's docs/gguf.md; what ggml/src/gguf.cpp accepts), little-endian:
    "GGUF", u32 version, i64 tensor count, i64 key/value count,
    key/value pairs: string key, u32 value type, value (string = u64 length + UTF-8 bytes;
        array = u32 element type + u64 count + elements),
    tensor infos: string name, u32 n_dims, i64 ne[n_dims], u32 ggml type, u64 offset,
    padding to general.alignment (default 32), then the tensor data.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from desktop.backends.llama_build import llama_cpp_label
from desktop.core.errors import ModelLoadError
from desktop.core.models import human_size

GGUF_MAGIC = b"GGUF"
#: The newest GGUF version llama.cpp reads (GGUF_VERSION in gguf.h); version 1 it no longer reads.
GGUF_VERSION = 3
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_TENSOR_NAME = 64  # GGML_MAX_NAME, with its NUL
#: Longest value of a key we keep (architecture, name): real ones are a few dozen bytes.
MAX_KEPT_STRING = 64 * 1024
#: No real count or text length comes near this; a file cut short has sane ones up to the cut, so
#: only a value this large is called damage (a smaller one running past the end is a cut).
IMPLAUSIBLE = 2**32
#: Real headers (a 256k-token vocabulary included) are under 20 MB; reading stops here, so a
#: damaged header can never make the check read a model's weights.
MAX_HEADER = 256 * 2**20
_CHUNK = 1 << 20

_STRING = 8
_ARRAY = 9
#: GGUF value type -> struct format (8 = string and 9 = array have their own layouts).
_SCALARS: dict[int, str] = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")

#: ggml type -> (elements per block, bytes per block), as ggml's type traits (and gguf-py's
#: GGML_QUANT_SIZES) say. A type not listed skips the size check: never a refusal.
GGML_BLOCKS: dict[int, tuple[int, int]] = {
    0: (1, 4),  # F32
    1: (1, 2),  # F16
    2: (32, 18),  # Q4_0
    3: (32, 20),  # Q4_1
    6: (32, 22),  # Q5_0
    7: (32, 24),  # Q5_1
    8: (32, 34),  # Q8_0
    9: (32, 40),  # Q8_1
    10: (256, 84),  # Q2_K
    11: (256, 110),  # Q3_K
    12: (256, 144),  # Q4_K
    13: (256, 176),  # Q5_K
    14: (256, 210),  # Q6_K
    15: (256, 292),  # Q8_K
    16: (256, 66),  # IQ2_XXS
    17: (256, 74),  # IQ2_XS
    18: (256, 98),  # IQ3_XXS
    19: (256, 50),  # IQ1_S
    20: (32, 18),  # IQ4_NL
    21: (256, 110),  # IQ3_S
    22: (256, 82),  # IQ2_S
    23: (256, 136),  # IQ4_XS
    24: (1, 1),  # I8
    25: (1, 2),  # I16
    26: (1, 4),  # I32
    27: (1, 8),  # I64
    28: (1, 8),  # F64
    29: (256, 56),  # IQ1_M
    30: (1, 2),  # BF16
    34: (256, 54),  # TQ1_0
    35: (256, 66),  # TQ2_0
    39: (32, 17),  # MXFP4
    40: (64, 36),  # NVFP4
}


#: The keys whose values are kept; every other value is skipped unread.
_KEPT = frozenset(
    {
        "general.architecture",
        "general.name",
        "general.type",
        "general.file_type",
        "general.size_label",  # "135M": the welcome's parameter count
        "general.alignment",
        "split.no",
        "split.count",
        "adapter.type",  # a LoRA adapter's (backends.lora_check)
        "adapter.lora.alpha",
    }
)
#: Kept too, under the architecture's prefix ("llama.block_count"): the model's shape, which
#: the fit planner's KV cache arithmetic needs (services.model_settings.architecture_of).
_KEPT_SHAPE = (
    ".block_count",
    ".context_length",
    ".embedding_length",
    ".attention.head_count",
    ".attention.head_count_kv",
    ".attention.key_length",
    ".expert_count",
)


class _Truncated(Exception):
    """The file ended where the header goes on."""


class _Damaged(Exception):
    """The header holds something no GGUF writer makes; the message says what."""


class _Reader:
    """Reads a file front to back through a 1 MiB window; skipping past the window costs no
    read, so large metadata arrays cost only what is needed to step over them."""

    def __init__(self, handle: BinaryIO, size: int) -> None:
        self._handle = handle
        self.size = size
        self.pos = 0
        self._buf = b""
        self._start = 0  # the file offset of _buf[0]

    def _take(self, n: int) -> int:
        """Moves past the next n bytes; returns where they start in self._buf."""
        at = self.pos - self._start
        if at < 0 or at + n > len(self._buf):
            if self.pos + n > self.size:
                raise _Truncated
            if self.pos + n > MAX_HEADER:
                raise _Damaged(f"its header goes on past {human_size(MAX_HEADER)}")
            self._handle.seek(self.pos)
            self._buf = self._handle.read(max(n, _CHUNK))
            self._start = self.pos
            at = 0
            if len(self._buf) < n:
                raise _Truncated  # the file shrank since its size was read
        self.pos += n
        return at

    def u32(self) -> int:
        at = self._take(4)
        return int(_U32.unpack_from(self._buf, at)[0])

    def u64(self) -> int:
        at = self._take(8)
        return int(_U64.unpack_from(self._buf, at)[0])

    def i64(self) -> int:
        at = self._take(8)
        return int(_I64.unpack_from(self._buf, at)[0])

    def scalar(self, fmt: str) -> int | float | bool:
        at = self._take(struct.calcsize(fmt))
        value: int | float | bool = struct.unpack_from(fmt, self._buf, at)[0]
        return value

    def skip(self, n: int) -> None:
        if self.pos + n > self.size:
            raise _Truncated
        self.pos += n

    def string_length(self) -> int:
        n = self.u64()
        if n >= IMPLAUSIBLE:
            raise _Damaged(f"a text in its header claims to be {human_size(n)} long")
        return n

    def read(self, n: int) -> bytes:
        at = self._take(n)
        return self._buf[at : at + n]

    def string(self) -> bytes:
        return self.read(self.string_length())

    def skip_string(self) -> None:
        self.skip(self.string_length())

    def skip_strings(self, count: int) -> None:
        """skip_string() ``count`` times; a tight loop, as vocabularies hold 50k-250k texts."""
        buf, start, pos, size = self._buf, self._start, self.pos, self.size
        unpack = _U64.unpack_from
        for _ in range(count):
            if start <= pos and pos + 8 <= start + len(buf):
                n = unpack(buf, pos - start)[0]
                if n >= IMPLAUSIBLE:
                    raise _Damaged(f"a text in its header claims to be {human_size(n)} long")
                pos += 8 + n
            else:
                self.pos = pos
                self.skip_string()  # refills the window, or finds the end of the file
                buf, start, pos = self._buf, self._start, self.pos
        if pos > size:
            raise _Truncated
        self.pos = pos


@dataclass(frozen=True)
class _Header:
    """What one file's header says, and how many bytes the file needs to hold its tensors."""

    path: Path
    file_size: int
    values: dict[str, str | int | float | bool]
    value_types: dict[str, int]
    n_tensors: int
    #: The offset where the last tensor's data ends; None if its type is not in GGML_BLOCKS.
    data_end: int | None
    #: Each tensor's shape in ggml's order (ne, fastest first), by name.
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def integer(self, key: str, default: int) -> int:
        value = self.values.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else default

    def text(self, key: str) -> str | None:
        value = self.values.get(key)
        return value if isinstance(value, str) else None

    @property
    def split_no(self) -> int:
        return self.integer("split.no", 0)

    @property
    def split_count(self) -> int:
        return self.integer("split.count", 1)


def _cannot_load(path: Path, why: str) -> ModelLoadError:
    return ModelLoadError(f"Cannot load {path.name}: {why}")


def _incomplete(path: Path, detail: str) -> ModelLoadError:
    return _cannot_load(
        path,
        f"the file is incomplete ({detail}). It was probably cut off while downloading or "
        "copying; get it again.",
    )


def _damaged(path: Path, detail: str) -> ModelLoadError:
    return _cannot_load(
        path, f"the file is damaged ({detail}). Get it again, or pick another file."
    )


def _read_header(path: Path) -> _Header:
    """One file's header, or ModelLoadError saying in plain words what is wrong with it."""
    if not path.exists():
        raise ModelLoadError(f"Model file not found: {path}")
    if path.is_dir():
        raise ModelLoadError(f"{path} is a folder, not a GGUF model file.")
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size == 0:
                raise _cannot_load(path, "the file is empty (0 bytes).")
            magic = handle.read(4)
            if magic != GGUF_MAGIC:
                # The same words as the engine's check (desktop/engine/llama_setup.py).
                raise _cannot_load(
                    path,
                    "it is not a GGUF model file (a GGUF file starts with the letters GGUF; "
                    f"this one starts with the bytes {magic.hex(' ').upper()}).",
                )
            reader = _Reader(handle, size)
            reader.pos = 4
            try:
                return _parse(path, reader)
            except _Truncated:
                raise _incomplete(
                    path, f"it ends inside its header, after {human_size(size)}"
                ) from None
            except _Damaged as error:
                raise _damaged(path, str(error)) from None
    except OSError as error:
        raise _cannot_load(path, f"the file cannot be read ({error.strerror or error}).") from None


def _parse(path: Path, reader: _Reader) -> _Header:
    """The header after the magic; raises _Truncated, _Damaged or ModelLoadError."""
    version = reader.u32()
    if version == 0:
        raise _Damaged("its GGUF version is 0")
    # A big-endian v3 file reads as 0x03000000 here (gguf.cpp tells them apart the same way).
    if version & 0xFFFF == 0:
        raise _cannot_load(
            path,
            "it is a GGUF file for big-endian computers (such as IBM mainframes); this computer "
            "needs the ordinary little-endian conversion of the model.",
        )
    if version == 1:
        raise _cannot_load(
            path,
            "it is a GGUF version 1 file, which llama.cpp no longer reads. Get a newer "
            "conversion of the model.",
        )
    if version > GGUF_VERSION:
        raise _cannot_load(
            path,
            f"it is a GGUF version {version} file, newer than this build of llama.cpp "
            f"({llama_cpp_label()}) reads (up to version {GGUF_VERSION}). Update "
            "llama-cpp-python, or pick another file.",
        )
    n_tensors = reader.i64()
    n_kv = reader.i64()
    if not 0 <= n_kv < IMPLAUSIBLE:
        raise _Damaged(f"its header says it has {n_kv} metadata entries")
    if not 0 <= n_tensors < IMPLAUSIBLE:
        raise _Damaged(f"its header says it has {n_tensors} tensors")

    values: dict[str, str | int | float | bool] = {}
    value_types: dict[str, int] = {}
    seen: set[bytes] = set()
    for _ in range(n_kv):
        raw_key = reader.string()
        if not raw_key:
            raise _Damaged("a metadata entry has an empty name")
        if raw_key in seen:
            raise _Damaged(f"the metadata entry {raw_key.decode(errors='replace')} appears twice")
        seen.add(raw_key)
        key = raw_key.decode("utf-8", errors="replace")
        kind = reader.u32()
        if (key in _KEPT or key.endswith(_KEPT_SHAPE)) and kind != _ARRAY:
            value_types[key] = kind
            values[key] = _read_value(reader, key, kind)
        else:
            _skip_value(reader, key, kind)

    alignment = DEFAULT_ALIGNMENT
    if "general.alignment" in values:
        # gguf.cpp insists on a u32 power of two.
        aligned = values["general.alignment"]
        if value_types["general.alignment"] != 4 or not isinstance(aligned, int):
            raise _Damaged("its general.alignment entry is not a 32-bit number")
        if aligned <= 0 or aligned & (aligned - 1):
            raise _Damaged(f"its general.alignment is {aligned}, not a power of two")
        alignment = aligned

    last_offset = -1
    last_size: int | None = 0
    shapes: dict[str, tuple[int, ...]] = {}
    for _ in range(n_tensors):
        name = reader.string()
        shown = name.decode("utf-8", errors="replace")
        if len(name) >= MAX_TENSOR_NAME:
            raise _Damaged(f"the tensor name {shown[:80]!r} is longer than llama.cpp allows")
        n_dims = reader.u32()
        if n_dims > MAX_DIMS:
            raise _Damaged(f"the tensor {shown} has {n_dims} dimensions; at most {MAX_DIMS}")
        dims = [reader.i64() for _ in range(n_dims)]
        if any(d < 0 for d in dims) or math.prod(dims) >= 2**63:
            raise _Damaged(f"the tensor {shown} has the impossible shape {dims}")
        shapes[shown] = tuple(dims)
        ggml_type = reader.u32()
        offset = reader.u64()
        if offset >= last_offset:
            last_offset = offset
            last_size = _tensor_bytes(shown, ggml_type, dims)

    data_start = -(-reader.pos // alignment) * alignment
    if n_tensors == 0:
        data_end: int | None = reader.pos
    elif last_size is None:
        # An unknown ggml type: at least the last tensor must start inside the file.
        data_end = data_start + last_offset
    else:
        data_end = data_start + last_offset + last_size
    return _Header(path, reader.size, values, value_types, n_tensors, data_end, shapes)


def _read_value(reader: _Reader, key: str, kind: int) -> str | int | float | bool:
    if kind == _STRING:
        n = reader.string_length()
        if n > MAX_KEPT_STRING:
            raise _Damaged(f"its {key} entry is {human_size(n)} long")
        return reader.read(n).decode("utf-8", errors="replace")
    fmt = _SCALARS.get(kind)
    if fmt is None:
        raise _Damaged(f"its {key} entry has the unknown value type {kind}")
    return reader.scalar(fmt)


def _skip_value(reader: _Reader, key: str, kind: int) -> None:
    if kind == _STRING:
        reader.skip_string()
    elif kind == _ARRAY:
        item = reader.u32()
        count = reader.u64()
        if item == _STRING:
            if count >= IMPLAUSIBLE:
                raise _Damaged(f"its {key} list claims {count} texts")
            reader.skip_strings(count)
        elif item == _ARRAY:
            raise _Damaged(f"its {key} entry is a list of lists, which GGUF does not allow")
        elif item in _SCALARS:
            if count >= IMPLAUSIBLE:
                raise _Damaged(f"its {key} list claims {count} values")
            reader.skip(count * struct.calcsize(_SCALARS[item]))
        else:
            raise _Damaged(f"its {key} list has the unknown value type {item}")
    elif kind in _SCALARS:
        reader.skip(struct.calcsize(_SCALARS[kind]))
    else:
        raise _Damaged(f"its {key} entry has the unknown value type {kind}")


def _tensor_bytes(name: str, ggml_type: int, dims: list[int]) -> int | None:
    """The bytes of a tensor's data (ggml_nbytes of a contiguous tensor); None for a type not in
    GGML_BLOCKS."""
    block = GGML_BLOCKS.get(ggml_type)
    if block is None:
        return None
    per_block, block_bytes = block
    row = dims[0] if dims else 1
    if row % per_block:
        raise _Damaged(f"the tensor {name} has rows of {row} values, not whole blocks")
    return row // per_block * block_bytes * math.prod(dims[1:])


def gguf_type(path: Path) -> str | None:
    """The file's general.type ("model", "adapter", "mmproj"...), read from its metadata only
    as far as that entry (writers put it among the first); None if it has none or is not a
    GGUF file. Cheap enough to ask of every file in the models folder at each listing."""
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if handle.read(4) != GGUF_MAGIC:
                return None
            reader = _Reader(handle, size)
            reader.pos = 4
            if reader.u32() != GGUF_VERSION:
                return None
            reader.i64()  # the tensor count
            n_kv = reader.i64()
            for _ in range(min(n_kv, IMPLAUSIBLE)):
                key = reader.string()
                kind = reader.u32()
                if key == b"general.type" and kind == _STRING:
                    value = _read_value(reader, "general.type", kind)
                    return value if isinstance(value, str) else None
                _skip_value(reader, key.decode("utf-8", errors="replace"), kind)
    except (OSError, _Truncated, _Damaged):
        return None
    return None
