"""The model catalog (models/catalog.json) as typed objects, validated when parsed.

The catalog names models, their architecture facts for the fit planner, and where each quant
lives on Hugging Face (repo + file pattern). Exact files, sizes and hashes are not in it: they
come from the hub at download time, so the catalog never goes stale on them.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any

from desktop.core.errors import LlamasideError

GB = 1_000_000_000
SPLIT_RE = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)


class CatalogError(LlamasideError):
    """The catalog is damaged, or does not have the model or quant asked for."""

    pass


@dataclass(frozen=True)
class Architecture:
    """The facts of a model's architecture that the fit planner needs."""

    kind: str  # "dense" or "moe"
    params_b: float
    layers: int
    kv_heads: int
    head_dim: int
    context_train: int
    active_params_b: float | None = None
    experts: int | None = None
    #: Share of the file that is expert tensors (MoE only): what can move to system RAM.
    expert_weight_fraction: float = 0.0

    @property
    def is_moe(self) -> bool:
        return self.kind == "moe"

    def kv_bytes_per_token(self, bytes_per_value: int = 2) -> int:
        """K and V, every layer, every KV head, at f16 by default."""
        return 2 * self.layers * self.kv_heads * self.head_dim * bytes_per_value


@dataclass(frozen=True)
class Quant:
    """One quantization of a catalog model: where its files are on the hub and how big."""

    repo: str
    quant: str
    pattern: str
    size_bytes: int
    approx: bool = False
    #: The vision projector fetched with this quant (a file in its repo), "" for none.
    mmproj: str = ""
    #: Its published size; 0 when the catalog does not know it (see CatalogModel.projector_bytes).
    mmproj_size_bytes: int = 0

    @property
    def publisher(self) -> str:
        return self.repo.split("/", 1)[0]

    def matches(self, repo_path: str) -> bool:
        name = repo_path.rsplit("/", 1)[-1]
        if not name.lower().endswith(".gguf") or is_projector_name(name):
            return False
        return fnmatch.fnmatchcase(repo_path, self.pattern)


@dataclass(frozen=True)
class CatalogModel:
    """One model of the catalog, with its architecture and its quants."""

    id: str
    name: str
    publisher: str
    description: str
    license: str
    architecture: Architecture
    default_context: int
    sampling: dict[str, float]
    quants: tuple[Quant, ...]
    vision_projector: Quant | None = None
    bundled: dict[str, str] = field(default_factory=dict)

    def quant(self, name: str, repo: str | None = None) -> Quant:
        for quant in self.quants:
            if quant.quant.lower() == name.lower() and (repo is None or quant.repo == repo):
                return quant
        known = ", ".join(sorted({q.quant for q in self.quants}))
        raise CatalogError(f"{self.name} has no quant {name!r}. Known: {known}.")

    def projector_bytes(self, quant: Quant) -> int:
        """The size of the projector downloaded with ``quant`` (0: none): its own published
        size, else the model's reference projector's (the same tensors at the same precision)."""
        if not quant.mmproj:
            return 0
        if quant.mmproj_size_bytes:
            return quant.mmproj_size_bytes
        return self.vision_projector.size_bytes if self.vision_projector else 0


@dataclass(frozen=True)
class Catalog:
    """Every model the catalog names, looked up by id."""

    models: tuple[CatalogModel, ...]

    def get(self, model_id: str) -> CatalogModel:
        for model in self.models:
            if model.id == model_id:
                return model
        raise CatalogError(f"No model {model_id!r} in the catalog.")

    def by_repo(self, repo: str) -> list[tuple[CatalogModel, Quant]]:
        return [(m, q) for m in self.models for q in m.quants if q.repo == repo]


#: A repo's projectors in the order we pick one: full precision as published (F16), then BF16,
#: then F32 (twice the size for nothing more), then any other (a quantized projector).
PROJECTOR_PRECISIONS = ("f16", "bf16", "f32")


def is_projector_name(path: str) -> bool:
    """A vision projector (mmproj GGUF) by its file name: "mmproj" in it, any case."""
    name = path.replace("\\", "/").rsplit("/", 1)[-1].lower()
    return name.endswith(".gguf") and "mmproj" in name


def projector_rank(path: str) -> int:
    """Where a projector stands in PROJECTOR_PRECISIONS (lower is preferred)."""
    stem = path.replace("\\", "/").rsplit("/", 1)[-1].lower().removesuffix(".gguf")
    words = set(re.split(r"[-_.]", stem))
    for rank, precision in enumerate(PROJECTOR_PRECISIONS):
        if precision in words:
            return rank
    return len(PROJECTOR_PRECISIONS)


def pick_projector(paths: list[str]) -> str | None:
    """The projector to fetch with a model from a repo's files: F16, else BF16, else F32, else
    any (by name, so the choice is stable); None when the repo has none."""
    found = sorted((projector_rank(p), p) for p in paths if is_projector_name(p))
    return found[0][1] if found else None


def split_part(path: str) -> tuple[int, int] | None:
    """(part, total) for ``name-00001-of-00002.gguf``, else None."""
    match = SPLIT_RE.search(path)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _require(data: dict[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise CatalogError(f"catalog: {where} lacks {key!r}")
    return data[key]


def _quant(data: dict[str, Any], where: str) -> Quant:
    mmproj = str(data.get("mmproj", ""))
    if mmproj and not is_projector_name(mmproj):
        raise CatalogError(f"catalog: {where}'s mmproj {mmproj!r} is not named as a projector")
    return Quant(
        repo=str(_require(data, "repo", where)),
        quant=str(data.get("quant", "")),
        pattern=str(_require(data, "pattern", where)),
        size_bytes=int(float(_require(data, "size_gb", where)) * GB),
        approx=bool(data.get("approx", False)),
        mmproj=mmproj,
        mmproj_size_bytes=int(float(data.get("mmproj_size_gb", 0)) * GB),
    )


def parse_catalog(data: dict[str, Any]) -> Catalog:
    if data.get("schema") != 1:
        raise CatalogError(f"catalog: unsupported schema {data.get('schema')!r}")
    models = []
    seen: set[str] = set()
    for raw in _require(data, "models", "catalog"):
        model_id = str(_require(raw, "id", "a model"))
        if model_id in seen:
            raise CatalogError(f"catalog: duplicate model id {model_id!r}")
        seen.add(model_id)
        arch = _require(raw, "architecture", model_id)
        architecture = Architecture(
            kind=str(arch["kind"]),
            params_b=float(arch["params_b"]),
            layers=int(arch["layers"]),
            kv_heads=int(arch["kv_heads"]),
            head_dim=int(arch["head_dim"]),
            context_train=int(arch["context_train"]),
            active_params_b=arch.get("active_params_b"),
            experts=arch.get("experts"),
            expert_weight_fraction=float(arch.get("expert_weight_fraction", 0.0)),
        )
        if architecture.is_moe and not 0 < architecture.expert_weight_fraction < 1:
            raise CatalogError(f"catalog: {model_id} is MoE but has no expert_weight_fraction")
        quants = tuple(_quant(q, model_id) for q in _require(raw, "quants", model_id))
        projector = raw.get("vision_projector")
        models.append(
            CatalogModel(
                id=model_id,
                name=str(_require(raw, "name", model_id)),
                publisher=str(raw.get("publisher", "")),
                description=str(raw.get("description", "")),
                license=str(raw.get("license", "")),
                architecture=architecture,
                default_context=int(raw.get("default_context", 4096)),
                sampling={k: float(v) for k, v in raw.get("sampling", {}).items()},
                quants=quants,
                vision_projector=_quant(projector, model_id) if projector else None,
                bundled=dict(raw.get("bundled", {})),
            )
        )
    return Catalog(tuple(models))
