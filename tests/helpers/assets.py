"""Which static files the templates reference, and which of them are missing: the pages' own
``/static/…`` links, then every ``url(…)`` and ``@import`` in the style sheets they load (the
bpmn-js and dmn-js fonts), followed until nothing new turns up."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

# a literal /static/ path in a template, up to the first quote, space or query
_STATIC = re.compile(r"""/static/([^"'\s)?#<>]+)""")
# url_for('static', path='…') as Starlette spells it
_URL_FOR = re.compile(r"""url_for\(\s*["']static["']\s*,\s*path\s*=\s*["']([^"']+)["']""")
_CSS_URL = re.compile(r"""url\(\s*(["']?)([^"')]+)\1\s*\)|@import\s+["']([^"']+)["']""")


@dataclass(frozen=True, order=True)
class Reference:
    source: str  # the template or style sheet that names the file
    path: str  # relative to the static directory


def template_references(template_dirs: Iterable[Path]) -> list[Reference]:
    found: set[Reference] = set()
    for directory in template_dirs:
        for template in sorted(p for p in directory.rglob("*") if p.is_file()):
            text = template.read_text(encoding="utf-8")
            source = template.relative_to(directory.parent.parent).as_posix()
            for match in [*_STATIC.finditer(text), *_URL_FOR.finditer(text)]:
                found.add(Reference(source, match.group(1)))
    return sorted(found)


def _css_references(sheet: PurePosixPath, text: str) -> list[str]:
    paths = []
    for match in _CSS_URL.finditer(text):
        target = (match.group(2) or match.group(3) or "").strip()
        if not target or target.startswith(("data:", "http:", "https:", "//", "#")):
            continue
        target = re.split(r"[?#]", target, maxsplit=1)[0]
        if target.startswith("/static/"):
            paths.append(target.removeprefix("/static/"))
        else:
            paths.append(_normalise(sheet.parent / target))
    return paths


def _normalise(path: PurePosixPath) -> str:
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            if not parts:
                return f"<outside>/{path.as_posix()}"  # above the static directory
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)


def missing_assets(template_dirs: Iterable[Path], static_dir: Path) -> list[str]:
    """One line per referenced file that ``static_dir`` lacks (empty: every page finds all
    its scripts, styles and fonts). A path built at render time cannot be checked: it is
    reported too, so a template names its assets literally."""
    problems: list[str] = []
    queue = template_references(template_dirs)
    seen: set[str] = set()
    while queue:
        ref = queue.pop(0)
        if "{" in ref.path or "}" in ref.path:
            problems.append(f"{ref.source}: /static/{ref.path} is built at render time")
            continue
        if ref.path.startswith("<outside>/"):
            outside = ref.path.removeprefix("<outside>/")
            problems.append(f"{ref.source}: {outside} points above /static/")
            continue
        if ref.path in seen:
            continue
        seen.add(ref.path)
        file = static_dir / ref.path
        if not file.is_file():
            problems.append(f"{ref.source}: /static/{ref.path} is missing")
            continue
        if file.suffix == ".css":
            sheet = PurePosixPath(ref.path)
            text = file.read_text(encoding="utf-8")
            queue.extend(Reference(ref.path, p) for p in _css_references(sheet, text))
    return problems


def unreferenced_bundles(template_dirs: Iterable[Path], vendor_dir: Path) -> list[str]:
    """Files at the top of the vendor directory that no template loads: a bundle the build
    makes for nobody (the packages' style and font folders below it are copied whole)."""
    referenced = {ref.path for ref in template_references(template_dirs)}
    prefix = vendor_dir.name
    return sorted(
        file.name
        for file in vendor_dir.iterdir()
        if file.is_file()
        and not file.name.startswith(".")
        and f"{prefix}/{file.name}" not in referenced
    )
