"""A loaded model as the engine child reports it to the host (the protocol's ``loaded`` event)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelInfo:
    """A loaded model as the engine reports it to the host (the ``loaded`` event)."""

    path: str
    description: str
    n_ctx: int
    n_ctx_train: int
    n_params: int
    size_bytes: int
    n_threads: int
    n_gpu_layers: int
    backend: str
    gpu_offload: bool
    chat_template: str  # "gguf" or "fallback-chatml"
    architecture: str = ""
    #: Layers whose MoE experts were asked to stay in system RAM.
    n_cpu_moe: int = 0
    #: Tensors llama.cpp actually placed in system RAM by that request (from its log).
    tensors_in_ram: int = 0
    #: Whether llama.cpp's extra buffer types (AMX, repacked weights) were allowed.
    extra_bufts: bool = True
    #: The vision projector loaded with it ("" for none): then it takes images.
    mmproj: str = ""
    #: The KV cache as llama.cpp made it: K's element type and the whole cache's bytes.
    kv_cache_type: str = ""
    kv_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)
