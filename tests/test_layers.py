"""DESIGN.md §2: only engine/ imports SpiffWorkflow, only signing/ imports pyHanko, and the
dependencies point one way (api -> signing -> engine -> forms)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RULES = {
    "SpiffWorkflow": {"engine"},
    "pyhanko": {"signing"},
    "api": {"api"},
    "signing": {"api", "signing"},
}


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_layering() -> None:
    violations = []
    for package in ("engine", "forms", "api", "signing"):
        for path in (ROOT / package).rglob("*.py"):
            for module in imports(path):
                allowed = RULES.get(module)
                if allowed is not None and package not in allowed:
                    violations.append(f"{path.relative_to(ROOT)} imports {module}")
            if package == "forms" and "engine" in imports(path):
                violations.append(f"{path.relative_to(ROOT)} imports engine")
    assert violations == []


def test_spiffworkflow_stays_in_the_runtime() -> None:
    users = sorted(
        str(p.relative_to(ROOT))
        for p in (ROOT / "engine").rglob("*.py")
        if "SpiffWorkflow" in imports(p)
    )
    assert all(u.startswith("engine/runtime/") for u in users), users
