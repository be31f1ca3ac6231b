"""Rules the code keeps so that a newcomer finds their way (issue 19): no product module over
600 lines, a docstring on every module, and every class saying what it owns or is for."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "desktop"
MAX_LINES = 600


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "_catalog" not in p.parts)


def test_no_module_is_over_600_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in _modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}, f"split these by what they own: {long}"


def test_every_module_and_class_says_what_it_is() -> None:
    missing: list[str] = []
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        name = str(path.relative_to(PACKAGE))
        if path.stat().st_size and ast.get_docstring(tree) is None:
            missing.append(name)
        missing += [
            f"{name}:{node.name}"
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef) and ast.get_docstring(node) is None
        ]
    assert missing == []
