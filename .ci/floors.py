"""Print a pip constraints file that pins each pure-Python dependency of pyproject.toml to its
floor (the lowest version the project says it runs with), so CI can prove the floors hold.

llama-cpp-python is left out: it is compiled, and the engine checks its version at start.
A regex, not tomllib, so this runs on Python 3.10 too.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

COMPILED = {"llama-cpp-python"}


def floors(pyproject: str) -> list[str]:
    block = re.search(r"^dependencies = \[(.*?)^\]", pyproject, re.S | re.M)
    if block is None:
        raise SystemExit("pyproject.toml has no dependencies list")
    pins = []
    for spec in re.findall(r'^\s*"([^"]+)"', block.group(1), re.M):
        requirement, _, marker = spec.partition(";")
        found = re.match(r"([A-Za-z0-9_.-]+)\s*.*?>=\s*([0-9][0-9A-Za-z.]*)", requirement)
        if found is None or found.group(1).lower() in COMPILED:
            continue
        pin = f"{found.group(1)}=={found.group(2)}"
        pins.append(f"{pin}; {marker.strip()}" if marker.strip() else pin)
    return pins


if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    sys.stdout.write("\n".join(floors((root / "pyproject.toml").read_text())) + "\n")
