"""The add-time model check: real files, real damage (random bytes, cut copies of SmolLM2, edited
headers, split sets with a part gone), the real libllama for architecture names."""

from __future__ import annotations

import importlib.metadata
import os
import random
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import gguf
import numpy as np
import pytest

from desktop.backends import llama_build
from desktop.backends.gguf_check import FILE_TYPES, GGML_BLOCKS, check_model_file
from desktop.backends.llama_build import ANCHOR_ARCHITECTURES, architecture_supported
from desktop.core.errors import ModelLoadError
from desktop.core.models import human_size
from tests.gguf_edit import with_string


@pytest.fixture(scope="module")
def smol(smollm_path: str) -> Path:
    return Path(smollm_path)


@pytest.fixture(scope="module")
def smol_data_offset(smol: Path) -> int:
    """Where SmolLM2's tensor data starts: everything before it is header."""
    offset = int(gguf.GGUFReader(str(smol)).data_offset)
    assert offset < HEAD
    return offset


def _refused(path: Path) -> str:
    with pytest.raises(ModelLoadError) as caught:
        check_model_file(path)
    return str(caught.value)


def _write(
    dest: Path,
    arch: str = "llama",
    n_tensors: int = 3,
    split_max_tensors: int = 0,
    extra: Callable[[gguf.GGUFWriter], None] | None = None,
) -> Path:
    """A small GGUF with float tensors of 16 values; returns the first file written."""
    writer = gguf.GGUFWriter(str(dest), arch, split_max_tensors=split_max_tensors)
    writer.add_name("tiny-test")
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    if extra:
        extra(writer)
    for i in range(n_tensors):
        writer.add_tensor(f"t{i}.weight", np.full(16, i, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    if split_max_tensors:
        return sorted(dest.parent.glob(dest.stem + "-*-of-*.gguf"))[0]
    return dest


#: More than SmolLM2's header (1.8 MB): copies keep this much and are sparse beyond it.
HEAD = 4 * 2**20


def _patched(source: Path, dest: Path, at: int, data: bytes) -> Path:
    """A copy of ``source`` with ``data`` written at ``at``; the weights are left as a hole of
    the same length, which costs no disk and no time."""
    with source.open("rb") as handle:
        raw = bytearray(handle.read(HEAD))
    raw[at : at + len(data)] = data
    dest.write_bytes(bytes(raw))
    os.truncate(dest, source.stat().st_size)
    return dest


def _value_length_at(raw: bytes, key: str) -> int:
    """The offset of the u64 length of a string value (after key, u32 type)."""
    encoded = key.encode()
    at = raw.find(struct.pack("<Q", len(encoded)) + encoded)
    assert at != -1, key
    at += 8 + len(encoded)
    assert struct.unpack_from("<I", raw, at)[0] == 8, f"{key} is not a string"
    return at + 4


# --- the real model ---------------------------------------------------------------------------


def test_real_smollm2_is_accepted_with_its_header_facts(smol: Path) -> None:
    summary = check_model_file(smol)
    assert summary.path == smol
    assert summary.architecture == "llama"
    assert summary.name == "Smollm2 135M 8k Lc100K Mix1 Ep2"
    assert summary.file_type == "Q4_1"
    assert summary.split_count == 1
    assert summary.parts == (smol,)
    assert summary.size_bytes == smol.stat().st_size
    # The venv's llama-cpp-python ships libllama: the name was looked up, not guessed.
    assert llama_build.llama_library() is not None
    assert summary.architecture_supported is True
    assert summary.detail == "llama · Q4_1"


def test_check_imports_no_llama_cpp(smol: Path) -> None:
    code = (
        "import sys; from pathlib import Path\n"
        "from desktop.backends.gguf_check import check_model_file\n"
        f"s = check_model_file(Path({str(smol)!r}))\n"
        "assert s.architecture_supported is True, s\n"
        "assert 'llama_cpp' not in sys.modules, 'llama_cpp was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


# --- not a model file at all ------------------------------------------------------------------


def test_missing_folder_and_empty_files(tmp_path: Path) -> None:
    assert _refused(tmp_path / "nope.gguf") == f"Model file not found: {tmp_path / 'nope.gguf'}"
    assert _refused(tmp_path) == f"{tmp_path} is a folder, not a GGUF model file."
    empty = tmp_path / "empty.gguf"
    empty.touch()
    assert _refused(empty) == "Cannot load empty.gguf: the file is empty (0 bytes)."


def test_random_bytes_are_refused_in_the_engines_words(tmp_path: Path) -> None:
    from desktop.engine.llama_setup import check_gguf_file

    junk = tmp_path / "x.gguf"
    data = random.Random(18).randbytes(200_000)
    junk.write_bytes(data)
    message = _refused(junk)
    assert message == (
        "Cannot load x.gguf: it is not a GGUF model file (a GGUF file starts with the letters "
        f"GGUF; this one starts with the bytes {data[:4].hex(' ').upper()})."
    )
    with pytest.raises(ModelLoadError) as engine_said:
        check_gguf_file(junk)
    assert str(engine_said.value) == message


def test_a_file_shorter_than_the_magic(tmp_path: Path) -> None:
    short = tmp_path / "short.gguf"
    short.write_bytes(b"GG")
    assert "starts with the bytes 47 47)" in _refused(short)


# --- cut short, damaged -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "cut",
    [
        4,  # the magic only
        6,  # inside the version
        16,  # inside the counts
        30,  # inside the first key
        2_000,  # among the general.* values
        300_000,  # inside the vocabulary
        1_200_000,  # inside the merges
        -300,  # inside the tensor infos
        -1,  # one byte short of the header's end
    ],
)
def test_copies_cut_inside_the_header_are_incomplete(
    tmp_path: Path, smol: Path, smol_data_offset: int, cut: int
) -> None:
    end = cut if cut > 0 else smol_data_offset + cut
    assert end < smol_data_offset
    copy = tmp_path / "cut.gguf"
    with smol.open("rb") as source:
        copy.write_bytes(source.read(end))
    assert _refused(copy) == (
        "Cannot load cut.gguf: the file is incomplete (it ends inside its header, after "
        f"{human_size(end)}). It was probably cut off while downloading or copying; "
        "get it again."
    )


@pytest.mark.parametrize("short_by", [1, 50_000_000])
def test_copies_cut_inside_the_weights_are_incomplete(
    tmp_path: Path, smol: Path, smol_data_offset: int, short_by: int
) -> None:
    copy = tmp_path / "cut.gguf"
    with smol.open("rb") as source:
        copy.write_bytes(source.read(smol_data_offset + 10))
    # Sparse: the length of a cut download without writing 98 MB.
    os.truncate(copy, smol.stat().st_size - short_by)
    message = _refused(copy)
    assert "the file is incomplete (it holds" in message
    assert f"of the {human_size(smol.stat().st_size)} its header describes" in message


def test_a_copy_with_extra_bytes_at_the_end_is_fine(tmp_path: Path, smol: Path) -> None:
    copy = _patched(smol, tmp_path / "long.gguf", 0, b"GGUF")
    os.truncate(copy, smol.stat().st_size + 100)
    assert check_model_file(copy).architecture == "llama"


def test_a_text_longer_than_the_file_is_damage(tmp_path: Path, smol: Path) -> None:
    with smol.open("rb") as handle:
        raw = handle.read(HEAD)
    bad = _patched(
        smol,
        tmp_path / "bad.gguf",
        _value_length_at(raw, "tokenizer.chat_template"),
        struct.pack("<Q", 2**40),
    )
    assert _refused(bad) == (
        "Cannot load bad.gguf: the file is damaged (a text in its header claims to be 1100 GB "
        "long). Get it again, or pick another file."
    )
    kept = _patched(
        smol,
        tmp_path / "name.gguf",
        _value_length_at(raw, "general.name"),
        struct.pack("<Q", 5_000_000),
    )
    assert "damaged (its general.name entry is 5.0 MB long)" in _refused(kept)


def test_absurd_counts_and_types_are_damage(tmp_path: Path, smol: Path) -> None:
    counts = _patched(smol, tmp_path / "kv.gguf", 16, struct.pack("<q", 2**40))
    assert "damaged (its header says it has 1099511627776 metadata entries)" in _refused(counts)
    with smol.open("rb") as handle:
        raw = handle.read(HEAD)
    encoded = b"general.architecture"
    type_at = raw.find(struct.pack("<Q", len(encoded)) + encoded) + 8 + len(encoded)
    kind = _patched(smol, tmp_path / "type.gguf", type_at, struct.pack("<I", 57))
    assert "its general.architecture entry has the unknown value type 57" in _refused(kind)


@pytest.mark.parametrize(
    ("version", "says"),
    [
        (1, "it is a GGUF version 1 file, which llama.cpp no longer reads"),
        (4, "it is a GGUF version 4 file, newer than this build of llama.cpp (llama-cpp-python"),
        (0x03000000, "it is a GGUF file for big-endian computers"),
        (0, "the file is damaged (its GGUF version is 0)"),
    ],
)
def test_unsupported_versions(tmp_path: Path, smol: Path, version: int, says: str) -> None:
    with smol.open("rb") as source:
        head = bytearray(source.read(4096))
    head[4:8] = struct.pack("<I", version)
    path = tmp_path / "v.gguf"
    path.write_bytes(bytes(head))
    assert _refused(path).startswith(f"Cannot load v.gguf: {says}")


def test_damaged_headers_never_escape_as_other_errors(tmp_path: Path) -> None:
    """Random bytes after a GGUF magic, and bytes flipped in a small real header: the check
    either accepts the file or says why in a ModelLoadError; never struct.error, MemoryError,
    a hang or a read of gigabytes."""
    good = _write(tmp_path / "good.gguf", n_tensors=2).read_bytes()
    rng = random.Random(1818)
    path = tmp_path / "fuzz.gguf"
    accepted = refused = 0
    started = time.perf_counter()
    for i in range(400):
        if i % 4 == 0:
            data = b"GGUF" + struct.pack("<I", 3) + rng.randbytes(rng.randrange(1, 2000))
        else:
            mutated = bytearray(good)
            for _ in range(rng.randrange(1, 4)):
                mutated[rng.randrange(4, min(len(mutated), 600))] = rng.randrange(256)
            data = bytes(mutated)
        path.write_bytes(data)
        try:
            check_model_file(path)
            accepted += 1
        except ModelLoadError as error:
            assert str(error).startswith("Cannot load fuzz.gguf: ") or "model" in str(error)
            refused += 1
    assert refused > 100
    assert accepted > 0  # flips in values (a name, a float) leave a good file
    assert time.perf_counter() - started < 20


# --- not a model llama.cpp can run ------------------------------------------------------------


def test_an_architecture_llama_cpp_does_not_know(tmp_path: Path, smol: Path) -> None:
    made_up = with_string(smol, "general.architecture", "zqxjw", tmp_path / "x.gguf")
    version = importlib.metadata.version("llama-cpp-python")
    assert _refused(made_up) == (
        f'x.gguf is a "zqxjw" model, which this build of llama.cpp (llama-cpp-python {version}) '
        "cannot run. Update llama-cpp-python, or pick another file."
    )


def test_no_library_found_means_no_opinion(
    tmp_path: Path, smol: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made_up = with_string(smol, "general.architecture", "zqxjw", tmp_path / "x.gguf")
    monkeypatch.setenv("LLAMA_CPP_LIB_PATH", str(tmp_path / "no-lib-here"))
    summary = check_model_file(made_up)
    assert summary.architecture == "zqxjw"
    assert summary.architecture_supported is None


def test_names_are_read_from_the_library_llama_cpp_python_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    anchors = b"\0".join(name.encode() for name in ANCHOR_ARCHITECTURES)
    # "qwen2" only as the tail of "rwkv6qwen2", as the linker leaves it in real builds.
    (lib / llama_build.LIBRARY_NAMES[0]).write_bytes(b"\x7fELF\0" + anchors + b"\0rwkv6qwen2\0")
    monkeypatch.setenv("LLAMA_CPP_LIB_PATH", str(lib))
    assert architecture_supported("qwen2") is True
    assert architecture_supported("rwkv6qwen2") is True
    assert architecture_supported("zqxjw") is False
    # A library without the long-standing names is not the one that holds them: no opinion.
    other = tmp_path / "other"
    other.mkdir()
    (other / llama_build.LIBRARY_NAMES[0]).write_bytes(b"\x7fELF\0llama\0")
    monkeypatch.setenv("LLAMA_CPP_LIB_PATH", str(other))
    assert architecture_supported("zqxjw") is None


def test_the_real_library_knows_the_common_architectures() -> None:
    for name in ("llama", "qwen2", "qwen3", "gemma3", "phi3"):
        assert architecture_supported(name) is True, name
    assert architecture_supported("zqxjw") is False


def test_files_that_are_not_models(tmp_path: Path) -> None:
    mmproj = _write(tmp_path / "mmproj.gguf", arch="clip")
    assert "it is a vision projector (mmproj)" in _refused(mmproj)
    lora = _write(tmp_path / "lora.gguf", extra=lambda w: w.add_string("general.type", "adapter"))
    assert "it is an adapter (LoRA) for a model" in _refused(lora)
    no_arch = _write(tmp_path / "noarch.gguf", arch="")
    assert "does not say what kind of model it is" in _refused(no_arch)
    vocab = _write(tmp_path / "vocab.gguf", n_tensors=0)
    assert "it holds no weights" in _refused(vocab)


# --- split models -----------------------------------------------------------------------------


@pytest.fixture
def split_set(tmp_path: Path) -> list[Path]:
    first = _write(tmp_path / "m.gguf", split_max_tensors=1)
    parts = sorted(tmp_path.glob("m-*-of-*.gguf"))
    assert [p.name for p in parts] == [f"m-0000{i}-of-00003.gguf" for i in (1, 2, 3)]
    assert parts[0] == first
    return parts


def test_a_whole_split_set_is_accepted(split_set: list[Path]) -> None:
    summary = check_model_file(split_set[0])
    assert summary.path == split_set[0]
    assert summary.split_count == 3
    assert summary.parts == tuple(split_set)
    assert summary.size_bytes == sum(p.stat().st_size for p in split_set)
    assert summary.name == "tiny-test"
    assert summary.file_type == "F32"
    assert summary.detail == "llama · F32 · 3 parts"


def test_another_part_resolves_to_the_first(split_set: list[Path]) -> None:
    summary = check_model_file(split_set[2])
    assert summary.path == split_set[0]
    assert summary.parts == tuple(split_set)


def test_a_missing_part_is_named(split_set: list[Path]) -> None:
    split_set[2].unlink()
    assert _refused(split_set[0]) == (
        "Cannot load m-00001-of-00003.gguf: it is the first of 3 parts of a split model, and "
        f"m-00003-of-00003.gguf is missing from {split_set[0].parent}. llama.cpp needs all 3 "
        "parts side by side."
    )
    split_set[0].unlink()
    message = _refused(split_set[1])
    assert message.startswith("Cannot load m-00002-of-00003.gguf: it is part 2 of 3")
    assert "its first part, m-00001-of-00003.gguf, is not in" in message


def test_a_cut_part_is_named(split_set: list[Path]) -> None:
    os.truncate(split_set[1], split_set[1].stat().st_size - 8)
    assert _refused(split_set[0]).startswith(
        "Cannot load m-00002-of-00003.gguf: the file is incomplete (it holds"
    )


def test_a_renamed_part_is_refused(split_set: list[Path]) -> None:
    renamed = split_set[0].rename(split_set[0].with_name("m.gguf"))
    assert "its name does not end in -00001-of-00003.gguf" in _refused(renamed)


# --- cost -------------------------------------------------------------------------------------


def _bytes_read() -> int | None:
    try:
        text = Path("/proc/self/io").read_text()
    except OSError:
        return None
    return int(text.split("rchar:")[1].split()[0])


def test_a_5_gb_file_costs_only_its_header(
    tmp_path: Path, smol: Path, smol_data_offset: int
) -> None:
    big = tmp_path / "big.gguf"
    with smol.open("rb") as source:
        big.write_bytes(source.read(smol_data_offset))
    os.truncate(big, 5 * 10**9)  # sparse: the size of a 7B Q4 model, on no disk space
    before = _bytes_read()
    started = time.perf_counter()
    summary = check_model_file(big)
    elapsed = time.perf_counter() - started
    after = _bytes_read()
    assert summary.size_bytes == 5 * 10**9
    assert elapsed < 1.0
    if before is not None and after is not None:
        # The header is 1.8 MB; read in 1 MiB windows. Reading the weights would be 5 GB.
        assert after - before < 4 * 2**20


# --- the tables against gguf-py's -------------------------------------------------------------


def test_block_sizes_agree_with_gguf_py() -> None:
    for ggml_type, sizes in GGML_BLOCKS.items():
        assert gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(ggml_type)] == sizes


def test_file_type_names_agree_with_gguf_py() -> None:
    for number, name in FILE_TYPES.items():
        member = gguf.LlamaFileType(number).name
        assert member.removeprefix("MOSTLY_").removeprefix("ALL_") == name
