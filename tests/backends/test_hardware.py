"""Machine detection: real sysfs-style trees for AMD/Intel, this machine's RAM and disk."""

from __future__ import annotations

from pathlib import Path

import psutil

from desktop.backends.hardware import detect, metal_working_set, sysfs_gpus


def _card(
    root: Path, name: str, vendor: str, total: int | None = None, used: int | None = None
) -> None:
    device = root / name / "device"
    device.mkdir(parents=True)
    (device / "vendor").write_text(vendor + "\n")
    if total is not None:
        (device / "mem_info_vram_total").write_text(f"{total}\n")
    if used is not None:
        (device / "mem_info_vram_used").write_text(f"{used}\n")


def test_sysfs_finds_amd_and_intel_but_leaves_nvidia_to_nvml(tmp_path: Path) -> None:
    _card(tmp_path, "card0", "0x1002", total=16 * 2**30, used=2 * 2**30)
    _card(tmp_path, "card1", "0x8086")
    _card(tmp_path, "card2", "0x10de", total=24 * 2**30)
    (tmp_path / "card0-HDMI-A-1").mkdir()
    gpus = sysfs_gpus(tmp_path)
    assert [(g.vendor, g.total_bytes, g.free_bytes) for g in gpus] == [
        ("amd", 16 * 2**30, 14 * 2**30),
        ("intel", 0, None),
    ]


def test_metal_working_set_heuristic() -> None:
    assert metal_working_set(64 * 2**30) == 48 * 2**30
    assert metal_working_set(16 * 2**30) == int(16 * 2**30 * 2 / 3)


def test_detect_this_machine(tmp_path: Path) -> None:
    machine = detect(tmp_path, offload_supported=False)
    assert machine.ram_total == psutil.virtual_memory().total
    assert machine.disk_free > 0
    assert not machine.offload_supported
