"""Will this quant run on this machine, and how? The fit planner.

Plain arithmetic over a described machine (backends.hardware builds the description), so every
rule here is testable on machines we do not have. Memory model, in decimal bytes:

* weights: the quant's file size (all parts); KV cache: ``kv_bytes_per_token x context`` (f16).
* A vision projector (mmproj) downloaded with the quant: its file size plus PROJECTOR_COMPUTE for
  encoding a picture. llama.cpp's mtmd puts it on the GPU when the model is offloaded, else in
  RAM; it is counted with the weights that must stay in one place (never split by layers).
* A GPU needs GPU_OVERHEAD on top (driver context, compute buffers); system RAM keeps
  RAM_HEADROOM for the operating system and other programs.
* Mixture of experts (Llama 4 Scout): most of the file is expert tensors, used one expert per
  token. Keeping the experts of N layers in system RAM (llama.cpp's ``--n-cpu-moe N``) leaves
  attention and shared weights on the GPU, which is how Scout runs on a 24 GB card.
* Apple silicon: one memory pool; Metal may use up to its working-set limit of it.

The order of preference is: all on the GPU > experts in RAM > some layers on the GPU > CPU only.
Within the best way, a GPU gets the biggest quant that runs that way. A CPU does not: generating
a token reads every weight once, so its speed goes as 1 / bytes of weights, and Q4_K_M answers
about twice as fast as Q8_0 for a small loss of quality. There a 4-5-bit K quant is recommended.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from desktop.core.catalog import GB, Architecture, CatalogModel, Quant

GPU_OVERHEAD = int(1.5 * GB)
RAM_HEADROOM = 4 * GB
#: Compute buffer of the vision encoder while it encodes a picture, beside its weights. An
#: allowance, not a measurement: llama.cpp's clip.cpp reserves its graph for the largest image
#: the projector takes (Llama 4: 336 px tiles), and the "CLIP compute buffer size" it logs for
#: such projectors is some hundreds of MB; 0.5 GB leaves room for that.
PROJECTOR_COMPUTE = GB // 2


@dataclass(frozen=True)
class Gpu:
    """One GPU as the fit planner sees it: its vendor and memory."""

    name: str
    vendor: str  # "nvidia", "apple", "amd", "intel"
    total_bytes: int
    free_bytes: int | None = None


@dataclass(frozen=True)
class Machine:
    """This machine as the fit planner sees it (built by backends.hardware)."""

    system: str  # "Linux", "Darwin", "Windows"
    ram_total: int
    ram_available: int
    disk_free: int
    gpus: tuple[Gpu, ...] = ()
    #: Apple silicon: GPU and CPU share the RAM.
    unified_memory: bool = False
    #: Metal's recommended working-set limit (Apple silicon), bytes.
    gpu_working_set: int | None = None
    #: Whether the installed llama-cpp-python was built with a GPU backend.
    offload_supported: bool = False
    backend: str = "CPU"

    @property
    def gpu_budget(self) -> int:
        """Bytes the model may use on the GPU(s), overhead already taken off."""
        if self.unified_memory:
            if self.gpu_working_set is None:
                return 0
            return max(0, self.gpu_working_set - GPU_OVERHEAD)
        usable = 0
        for gpu in self.gpus:
            free = gpu.total_bytes if gpu.free_bytes is None else gpu.free_bytes
            usable += max(0, free - GPU_OVERHEAD)
        return usable

    @property
    def ram_budget(self) -> int:
        return max(0, self.ram_total - RAM_HEADROOM)

    @property
    def has_gpu(self) -> bool:
        return bool(self.gpus) or (self.unified_memory and bool(self.gpu_working_set))


class Verdict(enum.IntEnum):
    """Ordered: a lower value is a better way to run."""

    FULL_GPU = 0
    EXPERTS_IN_RAM = 1
    PARTIAL_GPU = 2
    CPU_ONLY = 3
    NO_FIT = 4


@dataclass(frozen=True)
class Fit:
    """How one quant would run on this machine, and the memory it would take where."""

    model: CatalogModel
    quant: Quant
    verdict: Verdict
    n_ctx: int
    weights_bytes: int
    kv_bytes: int
    gpu_bytes: int
    ram_bytes: int
    #: Layers whose experts stay in system RAM (EXPERTS_IN_RAM).
    n_cpu_moe: int = 0
    #: Layers on the GPU: -1 all, 0 none, else how many (PARTIAL_GPU).
    n_gpu_layers: int = 0
    #: The machine has a GPU, but this llama-cpp-python build cannot use it.
    needs_gpu_build: bool = False
    #: The vision projector downloaded with the quant: its file and compute buffer (0: none).
    projector_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_bytes + self.projector_bytes

    def describe(self) -> str:
        layers = self.model.architecture.layers
        text = {
            Verdict.FULL_GPU: "fits fully on the GPU",
            Verdict.EXPERTS_IN_RAM: (
                f"fits with the experts of {self.n_cpu_moe} of {layers} layers in system RAM"
            ),
            Verdict.PARTIAL_GPU: f"fits with {self.n_gpu_layers} of {layers} layers on the GPU",
            Verdict.CPU_ONLY: "runs on the CPU only (slow)",
            Verdict.NO_FIT: "does not fit this machine",
        }[self.verdict]
        if self.needs_gpu_build and self.verdict < Verdict.CPU_ONLY:
            text += " (after reinstalling llama-cpp-python with GPU support)"
        return text


def kv_cache_bytes(model: CatalogModel, n_ctx: int, kv_type: str = "f16") -> int:
    return kv_bytes_of(model.architecture, n_ctx, kv_type)


#: Bytes per cached value by KV cache type (LoadParams.kv_cache_type): ggml's q8_0 stores 32
#: values in 34 bytes, q4_0 in 18.
KV_VALUE_BYTES = {"f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}


def kv_bytes_of(arch: Architecture, n_ctx: int, kv_type: str = "f16") -> int:
    """The KV cache of ``n_ctx`` tokens at ``kv_type``: K and V, every layer and KV head."""
    return int(arch.kv_bytes_per_token(1) * KV_VALUE_BYTES[kv_type] * n_ctx)


def projector_memory(model: CatalogModel, quant: Quant) -> int:
    """What the quant's vision projector takes when loaded: file + compute buffer (0: none)."""
    file_bytes = model.projector_bytes(quant)
    return file_bytes + PROJECTOR_COMPUTE if file_bytes else 0


def plan_quant(
    model: CatalogModel,
    quant: Quant,
    machine: Machine,
    n_ctx: int,
    *,
    vision: bool = False,
    kv_type: str = "f16",
) -> Fit:
    """How ``quant`` runs here; ``vision``: with the projector downloaded with it (loading a
    model that has one, or planning a download, which fetches it), counted if the quant has one;
    ``kv_type``: the KV cache's element type.
    """
    arch = model.architecture
    weights = quant.size_bytes
    # The projector is not split by layers: it joins the KV cache as memory that sits whole
    # with the model's non-layer part (on the GPU when any layer is there).
    projector = projector_memory(model, quant) if vision else 0
    kv = kv_cache_bytes(model, n_ctx, kv_type) + projector
    gpu_budget = machine.gpu_budget
    ram_budget = machine.ram_budget
    needs_build = machine.has_gpu and not machine.offload_supported

    def fits_ram(gpu_part: int, cpu_part: int) -> bool:
        # With unified memory the GPU's share comes out of the same RAM.
        return (gpu_part + cpu_part if machine.unified_memory else cpu_part) <= ram_budget

    def fit(verdict: Verdict, gpu: int, ram: int, **extra: int) -> Fit:
        return Fit(
            model,
            quant,
            verdict,
            n_ctx,
            weights,
            kv - projector,
            gpu,
            ram,
            needs_gpu_build=needs_build and verdict < Verdict.CPU_ONLY,
            projector_bytes=projector,
            **extra,
        )

    if gpu_budget > 0:
        if weights + kv <= gpu_budget and fits_ram(weights + kv, 0):
            return fit(Verdict.FULL_GPU, weights + kv, 0, n_gpu_layers=-1)
        if arch.is_moe:
            experts = int(weights * arch.expert_weight_fraction)
            per_layer = experts / arch.layers
            base = weights - experts + kv  # attention, shared expert, embeddings, KV cache
            if base <= gpu_budget:
                n = max(1, math.ceil((base + experts - gpu_budget) / per_layer))
                if n <= arch.layers:
                    cpu_part = int(n * per_layer)
                    gpu_part = weights + kv - cpu_part
                    if fits_ram(gpu_part, cpu_part):
                        return fit(
                            Verdict.EXPERTS_IN_RAM, gpu_part, cpu_part, n_cpu_moe=n, n_gpu_layers=-1
                        )
        per_layer = weights / arch.layers
        on_gpu = min(arch.layers - 1, math.floor((gpu_budget - kv) / per_layer))
        if on_gpu >= 1:
            gpu_part = int(on_gpu * per_layer) + kv
            cpu_part = weights - int(on_gpu * per_layer)
            if fits_ram(gpu_part, cpu_part):
                return fit(Verdict.PARTIAL_GPU, gpu_part, cpu_part, n_gpu_layers=on_gpu)
    if weights + kv <= ram_budget:
        return fit(Verdict.CPU_ONLY, 0, weights + kv, n_gpu_layers=0)
    return fit(Verdict.NO_FIT, 0, weights + kv)


def plan_file(
    name: str, arch: Architecture, size_bytes: int, machine: Machine, *, n_ctx: int, kv_type: str
) -> Fit:
    """How a model file outside the catalog runs here: its shape from its header, its weights
    the file's size (a dense model: without the catalog's share of expert tensors the planner
    cannot move experts to RAM)."""
    if arch.is_moe and not arch.expert_weight_fraction:
        arch = dataclasses.replace(arch, kind="dense")  # no share of experts to move
    quant = Quant(repo="", quant="", pattern="", size_bytes=size_bytes)
    model = CatalogModel(name, name, "", "", "", arch, arch.context_train or n_ctx, {}, (quant,))
    return plan_quant(model, quant, machine, n_ctx, kv_type=kv_type)


def plan(
    model: CatalogModel,
    machine: Machine,
    n_ctx: int | None = None,
    quants: Iterable[Quant] | None = None,
) -> list[Fit]:
    """A fit for every quant of the model (or the given ones), in catalog order, as downloaded:
    with the vision projector that comes with a quant."""
    ctx = n_ctx or model.default_context
    return [plan_quant(model, q, machine, ctx, vision=True) for q in (quants or model.quants)]


_BITS_RE = re.compile(r"(?:^|[-_.])I?Q(\d+)(?=_|$)")

#: On a CPU, the 4-5-bit quants in the order people pick them for speed and quality: Q4_K_M,
#: then its close kin. Unsloth's "UD-" (dynamic) prefix is ignored when matching.
CPU_PICKS = ("Q4_K_M", "Q4_K_L", "Q4_K_XL", "Q4_K_S", "Q5_K_M", "IQ4_XS", "Q5_K_S", "IQ4_NL")


def quant_bits(quant: str) -> int | None:
    """Bits per weight a llama.cpp quant name says (Q4_K_M 4, UD-IQ1_S 1, Q8_0 8, F16 16)."""
    name = quant.upper()
    match = _BITS_RE.search(name)
    if match:
        return int(match.group(1))
    float_bits = re.search(r"(?:^|[-_.])B?F(16|32)$", name)
    return int(float_bits.group(1)) if float_bits else None


def _cpu_pick(fits: list[Fit]) -> Fit:
    """The quant to run on a CPU: Q4_K_M or the nearest 4-5-bit quant; failing that, the
    smallest of the bigger ones (fastest, quality alike); failing that, the biggest below 4
    bits (quality falls off a cliff there, and speed gains little back)."""
    middle = [f for f in fits if quant_bits(f.quant.quant) in (4, 5)]
    if middle:

        def rank(fit: Fit) -> tuple[int, int]:
            name = fit.quant.quant.upper().removeprefix("UD-")
            picked = CPU_PICKS.index(name) if name in CPU_PICKS else len(CPU_PICKS)
            return picked, fit.weights_bytes

        # min() keeps the first of equals, so catalog order breaks ties between publishers.
        return min(middle, key=rank)
    bigger = [f for f in fits if (quant_bits(f.quant.quant) or 0) > 5]
    if bigger:
        return min(bigger, key=lambda f: f.weights_bytes)
    return max(fits, key=lambda f: f.weights_bytes)


def recommend(fits: Iterable[Fit]) -> Fit | None:
    """The best way to run first; then, on a GPU, the biggest (highest quality) quant that runs
    that way, and on the CPU only, the quant people pick for speed there (see _cpu_pick)."""
    runnable = [f for f in fits if f.verdict != Verdict.NO_FIT]
    if not runnable:
        return None
    best = min(f.verdict for f in runnable)
    same_way = [f for f in runnable if f.verdict == best]
    if best == Verdict.CPU_ONLY:
        return _cpu_pick(same_way)
    # max() keeps the first of equals, so catalog order breaks ties.
    return max(same_way, key=lambda f: f.weights_bytes)


def cpu_speedup(best: Fit, fits: Iterable[Fit]) -> str | None:
    """Why a CPU-only recommendation is not the biggest quant that runs, in words; None when
    it is (or when a GPU runs it)."""
    if best.verdict != Verdict.CPU_ONLY:
        return None
    bigger = [
        f for f in fits if f.verdict == Verdict.CPU_ONLY and f.weights_bytes > best.weights_bytes
    ]
    if not bigger:
        return None
    biggest = max(bigger, key=lambda f: f.weights_bytes)
    # Token generation on a CPU is memory-bandwidth bound: speed ~ 1 / bytes of weights read.
    ratio = f"{biggest.weights_bytes / best.weights_bytes:.1f}".removesuffix(".0")
    text = f"{best.quant.quant} answers about {ratio}× faster than {biggest.quant.quant} here"
    if (quant_bits(best.quant.quant) or 0) >= 4:
        text += ", at near the same quality"
    return text


def why_recommended(best: Fit, fits: Iterable[Fit]) -> str:
    """How the recommended quant runs and, on a CPU, why it beats the bigger ones there."""
    speedup = cpu_speedup(best, fits)
    return f"runs on the CPU only; {speedup}" if speedup else best.describe()


def reinstall_command(system: str, gpus: Iterable[Gpu]) -> str | None:
    """The pip command that rebuilds llama-cpp-python for this machine's GPU, if it has one."""
    vendors = {gpu.vendor for gpu in gpus}
    if system == "Darwin":
        flag = "-DGGML_METAL=on"
    elif "nvidia" in vendors:
        flag = "-DGGML_CUDA=on"
    elif vendors & {"amd", "intel"}:
        flag = "-DGGML_VULKAN=on"
    else:
        return None
    pip = "pip install --force-reinstall --no-cache-dir llama-cpp-python"
    if system == "Windows":
        return f'$env:CMAKE_ARGS="{flag}"; {pip}'
    return f'CMAKE_ARGS="{flag}" {pip}'
