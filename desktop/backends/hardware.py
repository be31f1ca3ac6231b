"""Describes this machine for the fit planner: GPUs and their memory, RAM, free disk.

NVIDIA GPUs through NVML (nvidia-ml-py); AMD and Intel GPUs on Linux through sysfs (for the
Vulkan advice and AMD's VRAM size); Apple silicon through sysctl. Every probe is best effort: a
missing driver means "no GPU of that kind", never an error.
"""

from __future__ import annotations

import contextlib
import platform
import shutil
import subprocess
from pathlib import Path

import psutil

from desktop.core.fit import Gpu, Machine

_PCI_VENDORS = {"0x10de": "nvidia", "0x1002": "amd", "0x8086": "intel"}


def nvidia_gpus() -> list[Gpu]:
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return []  # no driver, or no NVIDIA GPU
    gpus = []
    try:
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            gpus.append(
                Gpu(
                    name if isinstance(name, str) else name.decode(),
                    "nvidia",
                    int(memory.total),
                    int(memory.free),
                )
            )
    except pynvml.NVMLError:
        pass
    finally:
        with contextlib.suppress(pynvml.NVMLError):
            pynvml.nvmlShutdown()
    return gpus


def sysfs_gpus(drm: Path = Path("/sys/class/drm")) -> list[Gpu]:
    """AMD and Intel GPUs on Linux (NVIDIA ones come from NVML, with free memory)."""
    gpus = []
    for card in sorted(drm.glob("card[0-9]*")):
        if "-" in card.name:
            continue  # connectors such as card0-HDMI-A-1
        device = card / "device"
        try:
            vendor = _PCI_VENDORS.get((device / "vendor").read_text().strip(), "")
        except OSError:
            continue
        if vendor not in ("amd", "intel"):
            continue
        total = 0
        with contextlib.suppress(OSError, ValueError):
            total = int((device / "mem_info_vram_total").read_text())
        used = None
        with contextlib.suppress(OSError, ValueError):
            used = int((device / "mem_info_vram_used").read_text())
        free = total - used if total and used is not None else None
        gpus.append(Gpu(f"{vendor.upper()} GPU ({card.name})", vendor, total, free))
    return gpus


def _sysctl(name: str) -> int | None:
    try:
        out = subprocess.run(
            ["sysctl", "-n", name], capture_output=True, text=True, timeout=2, check=False
        ).stdout.strip()
        return int(out)
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def metal_working_set(ram_total: int) -> int:
    """Metal's working-set limit. macOS lets Metal wire about 2/3 of RAM on small Macs and about
    3/4 on large ones, unless the user raised it (sysctl iogpu.wired_limit_mb)."""
    wired_mb = _sysctl("iogpu.wired_limit_mb")
    if wired_mb:
        return wired_mb * 1024 * 1024
    share = 0.75 if ram_total > 36 * 1024**3 else 2 / 3
    return int(ram_total * share)


def detect(models_dir: Path, offload_supported: bool, backend: str = "CPU") -> Machine:
    """This machine, as the fit planner sees it."""
    system = platform.system()
    memory = psutil.virtual_memory()
    folder = models_dir if models_dir.exists() else Path.home()
    disk_free = shutil.disk_usage(folder).free
    apple_silicon = system == "Darwin" and platform.machine() == "arm64"
    if apple_silicon:
        gpus: list[Gpu] = [Gpu("Apple silicon GPU", "apple", memory.total)]
        working_set: int | None = metal_working_set(memory.total)
    else:
        gpus = nvidia_gpus() + (sysfs_gpus() if system == "Linux" else [])
        working_set = None
    return Machine(
        system=system,
        ram_total=memory.total,
        ram_available=memory.available,
        disk_free=disk_free,
        gpus=tuple(gpus),
        unified_memory=apple_silicon,
        gpu_working_set=working_set,
        offload_supported=offload_supported,
        backend=backend,
    )
