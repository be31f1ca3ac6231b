"""Make variants of a real GGUF for tests, without extra packages.

The chat template is a string value in the GGUF header; replacing it with one of the same byte
length (padded with a Jinja comment) keeps every offset in the file valid.
"""

from __future__ import annotations

import struct
from pathlib import Path

TEMPLATE_KEY = b"tokenizer.chat_template"


def with_chat_template(source: str | Path, template: str, dest: Path) -> Path:
    data = bytearray(Path(source).read_bytes())
    at = data.find(TEMPLATE_KEY)
    assert at != -1, "the source GGUF has no chat template"
    value_type_at = at + len(TEMPLATE_KEY)
    # key, then u32 value type (8 = string), then u64 length, then the bytes.
    assert struct.unpack("<I", data[value_type_at : value_type_at + 4])[0] == 8
    length = struct.unpack("<Q", data[value_type_at + 4 : value_type_at + 12])[0]
    start = value_type_at + 12
    encoded = template.encode("utf-8")
    padding = length - len(encoded) - 4
    assert padding >= 0, f"template too long: {len(encoded)} > {length - 4} bytes"
    data[start : start + length] = encoded + b"{#" + b" " * padding + b"#}"
    dest.write_bytes(bytes(data))
    return dest


def with_string(source: str | Path, key: str, value: str, dest: Path) -> Path:
    """Replace a string value in the header with another of the same byte length."""
    data = bytearray(Path(source).read_bytes())
    encoded_key = key.encode("utf-8")
    # A key is stored as u64 length + bytes; search for both so a value never matches.
    at = data.find(struct.pack("<Q", len(encoded_key)) + encoded_key)
    assert at != -1, f"the source GGUF has no {key}"
    value_type_at = at + 8 + len(encoded_key)
    assert struct.unpack("<I", data[value_type_at : value_type_at + 4])[0] == 8
    length = struct.unpack("<Q", data[value_type_at + 4 : value_type_at + 12])[0]
    encoded = value.encode("utf-8")
    assert len(encoded) == length, f"{key} holds {length} bytes, not {len(encoded)}"
    start = value_type_at + 12
    data[start : start + length] = encoded
    dest.write_bytes(bytes(data))
    return dest
