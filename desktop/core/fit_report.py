"""The fit planner's answer as text (CLI) and as data (--json, the model manager view)."""

from __future__ import annotations

from typing import Any

from desktop.core.catalog import CatalogModel
from desktop.core.fit import (
    PROJECTOR_COMPUTE,
    Fit,
    Machine,
    Verdict,
    kv_cache_bytes,
    why_recommended,
)
from desktop.core.models import human_size

SCOUT_ID = "llama-4-scout-17b-16e-instruct"
_SHORT = {
    Verdict.FULL_GPU: "all on GPU",
    Verdict.EXPERTS_IN_RAM: "experts in RAM",
    Verdict.PARTIAL_GPU: "part on GPU",
    Verdict.CPU_ONLY: "CPU only (slow)",
    Verdict.NO_FIT: "does not fit",
}


def machine_summary(machine: Machine) -> str:
    parts = [f"{machine.system}", f"RAM {human_size(machine.ram_total)}"]
    for gpu in machine.gpus:
        free = f", {human_size(gpu.free_bytes)} free" if gpu.free_bytes is not None else ""
        parts.append(f"{gpu.name} ({human_size(gpu.total_bytes)}{free})")
    if machine.unified_memory and machine.gpu_working_set:
        parts.append(f"Metal working set {human_size(machine.gpu_working_set)}")
    if not machine.gpus:
        parts.append("no GPU found")
    parts.append(
        f"llama.cpp backend {machine.backend}"
        + ("" if machine.offload_supported else " (no GPU offload in this build)")
    )
    parts.append(f"free disk {human_size(machine.disk_free)}")
    return " · ".join(parts)


def _detail(fit: Fit) -> str:
    if fit.verdict == Verdict.EXPERTS_IN_RAM:
        return f"--n-cpu-moe {fit.n_cpu_moe}"
    if fit.verdict == Verdict.PARTIAL_GPU:
        return f"{fit.n_gpu_layers} layers on GPU"
    return ""


def projector_line(fit: Fit) -> str | None:
    """The vision projector's memory as its own line ("Vision projector 1.7 GB + 500 MB
    compute"), None when the quant comes without one."""
    if not fit.projector_bytes:
        return None
    file_bytes = fit.projector_bytes - PROJECTOR_COMPUTE
    return (
        f"Vision projector {human_size(file_bytes)} + {human_size(PROJECTOR_COMPUTE)} compute "
        f"(downloaded with {fit.quant.quant}, lets the model see images)"
    )


def render_fit_table(
    model: CatalogModel, machine: Machine, fits: list[Fit], best: Fit | None, reinstall: str | None
) -> str:
    n_ctx = fits[0].n_ctx if fits else model.default_context
    lines = [
        f"{model.name} on this machine, context {n_ctx:,} tokens",
        f"Machine: {machine_summary(machine)}",
        "",
        f"{'publisher':<20} {'quant':<11} {'size':>8}  {'GPU':>8} {'RAM':>8}  verdict",
    ]
    for fit in fits:
        size = human_size(fit.quant.size_bytes) + ("~" if fit.quant.approx else " ")
        gpu = human_size(fit.gpu_bytes) if fit.gpu_bytes else "-"
        ram = human_size(fit.ram_bytes) if fit.ram_bytes else "-"
        verdict = _SHORT[fit.verdict] + (f" ({_detail(fit)})" if _detail(fit) else "")
        mark = "  <- recommended" if best is not None and fit is best else ""
        lines.append(
            f"{fit.quant.publisher:<20} {fit.quant.quant:<11} {size:>8}  {gpu:>8} "
            f"{ram:>8}  {verdict}{mark}"
        )
    lines.append("")
    if best is not None:
        lines.append(
            f"Recommended: {best.quant.publisher} {best.quant.quant}, which "
            f"{why_recommended(best, fits)}."
        )
    else:
        lines.append(
            f"No quant of {model.name} fits this machine. Try a smaller model: "
            f"llamaside models fit llama-3.1-8b-instruct"
        )
    kv_costs = ", ".join(
        f"{ctx // 1024}K: {human_size(kv_cache_bytes(model, ctx))}" for ctx in (8192, 32768, 131072)
    )
    lines.append(
        f"KV cache (f16) by context: {kv_costs}. The GGUF declares "
        f"{model.architecture.context_train:,} tokens; Llamaside never sizes the "
        f"context from the file."
    )
    seen: set[str] = set()
    for fit in fits:
        line = projector_line(fit)
        if line is not None and fit.quant.repo not in seen:
            seen.add(fit.quant.repo)
            lines.append(f"{fit.quant.publisher}: {line}; counted in GPU/RAM above.")
    lines.append("~ = approximate size; exact sizes come from the hub at download time.")
    if reinstall and machine.gpus:
        lines.append("")
        lines.append("This llama-cpp-python cannot use your GPU. Reinstall it with GPU support:")
        lines.append(f"  {reinstall}")
    return "\n".join(lines) + "\n"


def fit_report(
    model: CatalogModel, machine: Machine, fits: list[Fit], best: Fit | None, reinstall: str | None
) -> dict[str, Any]:
    return {
        "model": model.id,
        "machine": {
            "system": machine.system,
            "ram_total": machine.ram_total,
            "disk_free": machine.disk_free,
            "gpus": [g.__dict__ for g in machine.gpus],
            "unified_memory": machine.unified_memory,
            "gpu_working_set": machine.gpu_working_set,
            "offload_supported": machine.offload_supported,
            "backend": machine.backend,
        },
        "quants": [
            {
                "repo": f.quant.repo,
                "quant": f.quant.quant,
                "size_bytes": f.quant.size_bytes,
                "size_approx": f.quant.approx,
                "n_ctx": f.n_ctx,
                "verdict": f.verdict.name.lower(),
                "description": f.describe(),
                "gpu_bytes": f.gpu_bytes,
                "ram_bytes": f.ram_bytes,
                "kv_bytes": f.kv_bytes,
                "projector_bytes": f.projector_bytes,
                "mmproj": f.quant.mmproj or None,
                "n_cpu_moe": f.n_cpu_moe,
                "n_gpu_layers": f.n_gpu_layers,
                "recommended": f is best,
            }
            for f in fits
        ],
        "recommended_because": why_recommended(best, fits) if best is not None else None,
        "reinstall_command": reinstall,
    }
