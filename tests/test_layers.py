"""DESIGN.md §2: only engine/ imports SpiffWorkflow, only signing/ imports pyHanko, and the
dependencies point one way (api -> signing -> engine -> forms). Also (issue 17):

* nothing outside ``engine/`` imports ``engine.runtime`` (the SpiffWorkflow wrapper);
* the engine's core imports no plug-in: ``engine/`` never imports ``signing`` or ``api``, and
  the kernel, the commands and the outbox never import ``engine.payments`` or
  ``engine.notifications.delivery`` (:data:`PLUGINS`): plug-ins are wired in by a composition
  root (``engine.bootstrap``, ``api.bootstrap``), never imported by what they plug into;
* no import cycle between modules (function-level imports count; ``if TYPE_CHECKING:`` imports
  do not, they never run);
* a module of ``engine/`` or ``api/`` longer than :data:`MAX_LINES` says why at its top, with a
  comment line starting ``# size:``.

Each rule is a function over a tree of sources, tested on this repository and on a small tree
with a planted violation, which it must report.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("engine", "forms", "api", "signing")
RULES = {
    "SpiffWorkflow": {"engine"},
    "pyhanko": {"signing"},
    "api": {"api"},
    "signing": {"api", "signing"},
}
#: The plug-ins of the engine: registered by a composition root, imported by nothing in
#: :data:`CORE`.
PLUGINS = ("engine.payments", "engine.notifications.delivery", "signing", "api")
#: The engine's core: the command kernel, the commands, the outbox and the plug-in registry.
CORE = ("engine.kernel", "engine.commands", "engine.outbox", "engine.plugins")
#: A module longer than this carries a ``# size: <why>`` comment at its top.
MAX_LINES = 600
SIZE_MARKER = "# size:"


# -- the checkers ---------------------------------------------------------------------------------


def modules(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    """Dotted module name -> file, for every module of ``packages`` under ``root``."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _type_checking_only(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node, except the bodies of ``if TYPE_CHECKING:`` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if _type_checking_only(child):
                stack.extend(getattr(child, "orelse", []))
            else:
                stack.append(child)


def imported(
    module: str, path: Path, known: Iterable[str] = (), *, runtime_only: bool = True
) -> set[str]:
    """The modules ``module`` (at ``path``) imports, at any level of the module (functions
    included): ``from a import b`` is ``a.b`` when that is one of the ``known`` modules, else
    ``a``."""
    known = set(known)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(tree) if runtime_only else ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                name = f"{base}.{alias.name}"
                found.add(name if name in known else base)
    return found


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def graph(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, set[str]]:
    """The import graph between the modules of ``packages`` (runtime imports only)."""
    known = modules(root, packages)
    edges: dict[str, set[str]] = {}
    for module, path in known.items():
        targets = set()
        for name in imported(module, path, known):
            if name in known and name != module:
                targets.add(name)
        edges[module] = targets
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:  # iterative, so a deep graph cannot overflow the stack
        nonlocal counter
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def runtime_importers(root: Path) -> list[str]:
    """Modules of ``api/``, ``signing/`` and ``forms/`` that import ``engine.runtime`` or
    SpiffWorkflow (``bench/engine.py`` may: it measures SpiffWorkflow's own rate beside ours;
    tests may import anything)."""
    found = []
    known = modules(root)
    for module, path in known.items():
        if _within(module, "engine"):
            continue
        for name in imported(module, path, known, runtime_only=False):
            if _within(name, "engine.runtime") or _within(name, "SpiffWorkflow"):
                found.append(f"{module} imports {name}")
    return sorted(set(found))


def core_plugin_imports(root: Path) -> list[str]:
    """Imports of a plug-in by the engine's core, and of ``signing``/``api`` by the engine."""
    found = []
    known = modules(root)
    for module, path in modules(root, ["engine"]).items():
        names = imported(module, path, known, runtime_only=False)
        for name in names:
            if _within(name, "signing") or _within(name, "api"):
                found.append(f"{module} imports {name}")
            elif any(_within(module, c) for c in CORE) and any(_within(name, p) for p in PLUGINS):
                found.append(f"{module} imports {name}")
    return sorted(set(found))


def oversized(root: Path, packages: Iterable[str] = ("engine", "api")) -> list[str]:
    """Modules longer than ``MAX_LINES`` without a ``# size:`` comment in their first lines."""
    found = []
    for module, path in modules(root, packages).items():
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) <= MAX_LINES:
            continue
        head = lines[:40]
        if not any(line.startswith(SIZE_MARKER) for line in head):
            found.append(f"{module} ({len(lines)} lines) has no '{SIZE_MARKER} <why>' comment")
    return found


# -- the rules on this repository -----------------------------------------------------------------


def _top_imports(path: Path) -> set[str]:
    return {name.split(".")[0] for name in imported("x", path, runtime_only=False)}


def test_layering() -> None:
    violations = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            names = _top_imports(path)
            for module in names:
                allowed = RULES.get(module)
                if allowed is not None and package not in allowed:
                    violations.append(f"{path.relative_to(ROOT)} imports {module}")
            if package == "forms" and "engine" in names:
                violations.append(f"{path.relative_to(ROOT)} imports engine")
    assert violations == []


def test_spiffworkflow_stays_in_the_runtime() -> None:
    users = sorted(
        str(p.relative_to(ROOT))
        for p in (ROOT / "engine").rglob("*.py")
        if "SpiffWorkflow" in _top_imports(p)
    )
    assert all(u.startswith("engine/runtime/") for u in users), users


def test_nothing_outside_the_engine_imports_its_runtime() -> None:
    assert runtime_importers(ROOT) == []


def test_the_engine_core_imports_no_plugin() -> None:
    assert core_plugin_imports(ROOT) == []


def test_no_import_cycle_between_modules() -> None:
    found = cycles(graph(ROOT))
    assert found == [], "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_long_modules_say_why() -> None:
    assert oversized(ROOT) == []


# -- each rule reports a planted violation --------------------------------------------------------


def plant(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for package in PACKAGES:
        (root / package).mkdir(exist_ok=True)
        (root / package / "__init__.py").touch()
    return root


def test_an_import_of_the_runtime_from_api_is_reported(tmp_path: Path) -> None:
    root = plant(
        tmp_path,
        {
            "engine/runtime/__init__.py": "",
            "engine/runtime/workflow.py": "import SpiffWorkflow\n",
            "engine/kernel.py": "from engine.runtime import workflow\n",  # allowed: inside
            "api/pages.py": "def page():\n    from engine.runtime.workflow import Runner\n",
        },
    )
    assert runtime_importers(root) == ["api.pages imports engine.runtime.workflow"]


def test_a_plugin_imported_by_the_core_is_reported(tmp_path: Path) -> None:
    root = plant(
        tmp_path,
        {
            "engine/kernel/__init__.py": "",
            "engine/kernel/engine.py": "import engine.payments\n",
            "engine/payments/__init__.py": "",
            "engine/analytics.py": "from signing import service\n",
            "engine/bootstrap.py": "from engine import payments\n",  # the root may
        },
    )
    assert core_plugin_imports(root) == [
        "engine.analytics imports signing",
        "engine.kernel.engine imports engine.payments",
    ]


def test_a_cycle_is_reported_with_its_members(tmp_path: Path) -> None:
    root = plant(
        tmp_path,
        {
            "engine/a.py": "from engine import b\n",
            # hidden in a function, as the cycles this test replaced were
            "engine/b.py": "def f():\n    from engine.a import x\n",
            "engine/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from engine import a\n",
            "engine/d.py": "from engine import c\n",
        },
    )
    assert cycles(graph(root)) == [["engine.a", "engine.b"]]
    # a TYPE_CHECKING import does not run: engine.a -> engine.c would not close a cycle
    (root / "engine/a.py").write_text("from engine import b, c\n", encoding="utf-8")
    assert cycles(graph(root)) == [["engine.a", "engine.b"]]


def test_a_long_module_without_a_reason_is_reported(tmp_path: Path) -> None:
    body = "x = 1\n" * (MAX_LINES + 1)
    root = plant(
        tmp_path,
        {
            "engine/long.py": '"""Doc."""\n' + body,
            "api/explained.py": '"""Doc."""\n\n# size: one table of routes\n' + body,
            "engine/short.py": body[: 6 * MAX_LINES],
        },
    )
    assert oversized(root) == [
        f"engine.long ({MAX_LINES + 2} lines) has no '# size: <why>' comment"
    ]


@pytest.mark.parametrize("rule", ["runtime", "plugins", "cycles", "size"])
def test_the_rules_hold_on_an_empty_tree(tmp_path: Path, rule: str) -> None:
    root = plant(tmp_path, {})
    result = {
        "runtime": runtime_importers(root),
        "plugins": core_plugin_imports(root),
        "cycles": cycles(graph(root)),
        "size": oversized(root),
    }[rule]
    assert result == []
