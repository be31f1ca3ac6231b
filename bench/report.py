"""Writes one benchmark's table into docs/benchmarks.md, between markers named after it."""

from __future__ import annotations

import platform
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import psutil

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = (
    "# Benchmarks\n\n"
    "Written by the scripts in bench/ (`python bench/run.py`); each section names the machine it "
    "ran on. Ratios are measured within one run, on one machine.\n"
)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = psutil.cpu_count(logical=False)
    ram = psutil.virtual_memory().total / 2**30
    return (
        f"{cpu}, {cores} physical cores, {ram:.0f} GiB RAM{gpu()}, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )


def gpu() -> str:
    """', GPU: <name> (driver <version>)' where nvidia-smi answers; else nothing."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    if not out:
        return ""
    name, _, driver = out.splitlines()[0].partition(",")
    return f", GPU: {name.strip()} (driver {driver.strip()})"


def write_section(name: str, title: str, body: str) -> None:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        f"<!-- {name}:start -->\n## {title}\n\n_Machine: {machine()}. Run: {stamp}._\n\n"
        f"{body.strip()}\n<!-- {name}:end -->"
    )
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else HEADER
    pattern = re.compile(rf"<!-- {name}:start -->.*?<!-- {name}:end -->", re.S)
    text = (
        pattern.sub(lambda _m: section, text)
        if pattern.search(text)
        else (text.rstrip() + "\n\n" + section + "\n")
    )
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
