"""Rules about the tests themselves, checked on their source.

``pytest.raises(Exception)`` passes on any error, including a ``TypeError`` from a typo in the
test: it proves nothing about the refusal the test is named after. Every ``pytest.raises``
names the precise class (each class, when it is given a tuple).
Templates carry no inline script (the Content-Security-Policy would block it silently).
A test module does not import another test module (pytest would collect its tests twice and
its fixtures would leak): shared pieces live in a ``conftest.py`` or in ``tests/helpers/``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
BROAD = {"Exception", "BaseException"}


def _sources() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(), str(path))) for path in sorted(TESTS.rglob("*.py"))]


def _is_pytest_raises(node: ast.Call) -> bool:
    func = node.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "raises"
        and isinstance(func.value, ast.Name)
        and func.value.id == "pytest"
    )


def _names(expected: ast.expr) -> list[str]:
    """The class names in ``pytest.raises``'s first argument (a name, attribute or tuple)."""
    if isinstance(expected, ast.Tuple):
        return [name for element in expected.elts for name in _names(element)]
    if isinstance(expected, ast.Name):
        return [expected.id]
    if isinstance(expected, ast.Attribute):
        return [expected.attr]
    return []


def broad_raises(tree: ast.Module) -> list[int]:
    """Lines of the ``pytest.raises`` calls that accept any exception (or name none)."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _is_pytest_raises(node):
            expected = node.args[0] if node.args else None
            if expected is None:
                expected = next(
                    (k.value for k in node.keywords if k.arg == "expected_exception"), None
                )
            if expected is None or BROAD & set(_names(expected)):
                lines.append(node.lineno)
    return lines


def test_every_pytest_raises_names_a_precise_error() -> None:
    found = [
        f"{path.relative_to(TESTS.parent)}:{line}"
        for path, tree in _sources()
        for line in broad_raises(tree)
    ]
    assert found == [], "pytest.raises(Exception) proves nothing; name the error: " + ", ".join(
        found
    )


def test_the_check_sees_a_planted_broad_raises() -> None:
    planted = ast.parse(
        "import pytest\n"
        "def test_x():\n"
        "    with pytest.raises(Exception, match='x'):\n"
        "        pass\n"
        "    with pytest.raises((ValueError, BaseException)):\n"
        "        pass\n"
        "    with pytest.raises(expected_exception=Exception):\n"
        "        pass\n"
        "    with pytest.raises(ValueError):\n"
        "        pass\n"
    )
    assert broad_raises(planted) == [3, 5, 7]


def imported_test_modules(path: Path, tree: ast.Module) -> list[str]:
    """The test modules (``test_*``) that ``path`` imports, wherever the import stands."""
    found = []
    for node in ast.walk(tree):
        modules: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module] if node.level == 0 else []
            if node.level:
                # a relative import: resolve it against the importing module's package
                base = path.parent
                for _ in range(node.level - 1):
                    base = base.parent
                modules = [".".join([*base.relative_to(TESTS.parent).parts, node.module])]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        found += [m for m in modules if m.split(".")[-1].startswith("test_")]
    return found


def test_no_test_module_imports_another() -> None:
    found = [
        f"{path.relative_to(TESTS.parent)} imports {module}"
        for path, tree in _sources()
        for module in imported_test_modules(path, tree)
    ]
    assert found == [], "move the shared pieces to a conftest.py or tests/helpers/: " + "; ".join(
        found
    )


def test_the_import_check_sees_a_planted_import() -> None:
    planted = ast.parse(
        "from tests.engine.test_replay import busy_contract\n"
        "def f():\n"
        "    from tests.test_cli import Cli\n"
        "from tests.conftest import World\n"
        "from tests.helpers.migration import civp_v2_folder\n"
    )
    assert imported_test_modules(TESTS / "engine" / "test_x.py", planted) == [
        "tests.engine.test_replay",
        "tests.test_cli",
    ]


# -- templates: the Content-Security-Policy allows no inline script -------------------------------

_INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
# data blocks (``type="application/json"``) are not run, so the policy lets them be
_INLINE_SCRIPT = re.compile(
    r"<script(?![^>]*\b(?:src=|type=\"application/json\"))[^>]*>", re.IGNORECASE
)


def inline_scripts(html: str) -> list[str]:
    """Inline event handlers (``onchange=``…) and ``<script>`` elements without ``src``: the
    browser refuses both under ``script-src 'self'``, so what they do silently never happens."""
    found = [m.group(0).strip() for m in _INLINE_HANDLER.finditer(html)]
    return found + [m.group(0) for m in _INLINE_SCRIPT.finditer(html)]


def test_no_template_has_an_inline_script() -> None:
    """The history page's process switch was an ``onchange`` the policy blocked: with scripts
    on, the auditor could not change process (its button was inside ``<noscript>``)."""
    offenders = {
        str(path.relative_to(ROOT)): inline_scripts(path.read_text(encoding="utf-8"))
        for path in sorted((ROOT / "api" / "templates").rglob("*.html"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_inline_script_check_sees_planted_ones() -> None:
    assert inline_scripts('<select onchange="this.form.submit()">') == ["onchange="]
    assert inline_scripts("<script>alert(1)</script>") == ["<script>"]
    assert inline_scripts('<script src="/static/aqd.js"></script>') == []
    assert inline_scripts('<p data-on="x">conditions</p>') == []
    assert inline_scripts('<script type="application/json" id="t">{}</script>') == []
