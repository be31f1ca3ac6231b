"""Load and sampling parameters, validated once here so engines can trust them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from desktop.core.errors import InvalidParameter

#: What a reasoning-effort choice may be ("" leaves it to the model).
REASONING_EFFORTS = ("", "minimal", "low", "medium", "high")

#: A context we allocate when the user has not chosen one. GGUFs may declare millions of tokens
#: (Llama 4 Scout: 10M); sizing the KV cache from the file would exhaust memory.
DEFAULT_N_CTX = 4096
#: The smallest context Preferences offers (a saved smaller one is raised to it).
MIN_USER_CTX = 256

#: The KV cache's element types a user may pick (llama.cpp's --cache-type-k/-v): f16 is
#: llama.cpp's default; q8_0 takes about half its memory, q4_0 about a quarter.
KV_CACHE_TYPES = ("f16", "q8_0", "q4_0")

#: Speculative decoding (engine.lookup_decoding): "auto" leaves it to the engine's rule, "off"
#: never drafts, "lookup" drafts from the prompt and the answer so far (prompt lookup), "draft"
#: from a small model of the same family (LoadParams.draft_model).
SPECULATIVE_MODES = ("auto", "off", "lookup", "draft")


@dataclass(frozen=True)
class LoadParams:
    """How to load a model. n_gpu_layers=-1 offloads every layer the backend can take."""

    n_ctx: int = DEFAULT_N_CTX
    n_gpu_layers: int = -1
    #: None means "physical cores", decided by the host that knows the machine.
    n_threads: int | None = None
    n_batch: int = 512
    #: Mixture-of-experts models: keep the experts of the first N layers in system RAM
    #: (llama.cpp's --n-cpu-moe), so the rest fits the GPU. 0 = none.
    n_cpu_moe: int = 0
    #: Run the sampler chain inside llama.cpp's compute graph (its backend sampling), on the
    #: device that computes the logits, so the host never copies and scans the whole
    #: vocabulary per token. Samplers the device cannot run stay on the CPU, after it.
    #: False samples every token on the CPU, as llama-cpp-python does. None: the engine
    #: decides (engine.llama_setup.graph_sampling_default: on where it has been verified).
    sample_on_device: bool | None = None
    #: llama.cpp's extra buffer types (AMX, repacked weights for the CPU's SIMD). Off is the
    #: engine's safe mode on a CPU whose fast path crashes (core.engine_mode).
    extra_bufts: bool = True
    #: The model's vision projector (an mmproj GGUF) for image input; "" for none.
    mmproj: str = ""
    #: Flash attention: True on, False off, None the engine's choice (llama.cpp's auto where
    #: attention runs on a GPU, off on a CPU; see engine.llama_setup.flash_attention_wanted).
    flash_attn: bool | None = None
    #: The KV cache's element type, for K and V alike (KV_CACHE_TYPES).
    kv_cache_type: str = "f16"
    #: Speculative decoding for this model's answers (SPECULATIVE_MODES).
    speculative: str = "auto"
    #: The draft model's GGUF for speculative="draft" ("" for none).
    draft_model: str = ""

    def __post_init__(self) -> None:
        if not 16 <= self.n_ctx <= 10_485_760:
            raise InvalidParameter(f"context size must be 16..10485760 tokens, got {self.n_ctx}")
        if self.n_gpu_layers < -1:
            raise InvalidParameter(f"GPU layers must be -1 (all) or more, got {self.n_gpu_layers}")
        if self.n_threads is not None and self.n_threads < 1:
            raise InvalidParameter(f"threads must be at least 1, got {self.n_threads}")
        if self.n_cpu_moe < 0:
            raise InvalidParameter(f"expert layers in RAM must be 0 or more, got {self.n_cpu_moe}")
        if self.n_batch < 1:
            raise InvalidParameter(f"batch size must be at least 1, got {self.n_batch}")
        if self.kv_cache_type not in KV_CACHE_TYPES:
            raise InvalidParameter(
                f"KV cache type must be one of {', '.join(KV_CACHE_TYPES)}, "
                f"got {self.kv_cache_type!r}"
            )
        if self.speculative not in SPECULATIVE_MODES:
            raise InvalidParameter(
                f"speculative decoding must be one of {', '.join(SPECULATIVE_MODES)}, "
                f"got {self.speculative!r}"
            )
        if (self.speculative == "draft") != bool(self.draft_model):
            raise InvalidParameter(
                "a draft model file goes with speculative decoding by a draft model, and only "
                f"with it (speculative={self.speculative!r}, draft_model={self.draft_model!r})"
            )
        if self.kv_cache_type != "f16" and self.flash_attn is False:
            # llama.cpp refuses a quantized V cache without flash attention.
            raise InvalidParameter(
                f"a {self.kv_cache_type} KV cache needs flash attention: set flash attention "
                "to on or auto, or keep the KV cache at f16"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadParams:
        names = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in names})
        except TypeError as exc:
            raise InvalidParameter(f"invalid load settings: {exc}") from None


@dataclass(frozen=True)
class SamplingParams:
    """Sampling settings. temperature 0 means greedy (the same output every time)."""

    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    seed: int | None = None
    max_tokens: int = 1024
    #: Reasoning models (OpenAI's o-series and GPT-5, gpt-oss): how hard they think; "" leaves
    #: it to the model.
    reasoning_effort: str = ""
    #: Claude's extended thinking: tokens it may think for before answering (0: off).
    thinking_budget: int = 0
    #: A JSON Schema, as JSON text, that a local answer must match (the OpenAI API's
    #: response_format, for the local server's clients); "" leaves the answer free.
    json_schema: str = ""

    def __post_init__(self) -> None:
        checks = [
            (0.0 <= self.temperature <= 5.0, f"temperature must be 0..5, got {self.temperature}"),
            (0.0 < self.top_p <= 1.0, f"top_p must be in (0, 1], got {self.top_p}"),
            (self.top_k >= 0, f"top_k must be 0 (off) or more, got {self.top_k}"),
            (0.0 <= self.min_p <= 1.0, f"min_p must be 0..1, got {self.min_p}"),
            (
                0.0 < self.repeat_penalty <= 5.0,
                f"repeat penalty must be in (0, 5], got {self.repeat_penalty}",
            ),
            # 2**32 - 1 is llama.cpp's "pick a random seed", so it is not a seed.
            (
                self.seed is None or 0 <= self.seed < 2**32 - 1,
                f"seed must be 0..4294967294, got {self.seed}",
            ),
            (self.max_tokens >= 1, f"max tokens must be at least 1, got {self.max_tokens}"),
            (
                self.reasoning_effort in REASONING_EFFORTS,
                f"reasoning effort must be one of {', '.join(REASONING_EFFORTS[1:])}, "
                f"got {self.reasoning_effort!r}",
            ),
            (
                0 <= self.thinking_budget <= 1_000_000,
                f"thinking budget must be 0 (off) to 1000000 tokens, got {self.thinking_budget}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise InvalidParameter(message)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if not self.json_schema:  # a chat's stored settings never carry one
            del data["json_schema"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SamplingParams:
        names = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in names})
        except TypeError as exc:  # e.g. a string where a number belongs, from a settings file
            raise InvalidParameter(f"invalid sampling settings: {exc}") from None
