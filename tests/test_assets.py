"""Every file a template loads from /static/ is produced by the front-end build (npm run build),
and the check finds a missing one. The build runs here as the Dockerfile's assets stage runs it,
into a temporary directory, so a file only an old build left in api/static/vendor/ does not
count."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.helpers import dockerfile
from tests.helpers.assets import missing_assets, template_references, unreferenced_bundles

TEMPLATE_DIRS = [ROOT / "api" / "templates", ROOT / "forms" / "templates"]
TEMPLATE_DIRS.append(ROOT / "signing" / "templates")


@pytest.fixture(scope="module")
def built_static(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """api/static/ as the image has it: the checked-in files plus a fresh build's vendor/."""
    root = tmp_path_factory.mktemp("assets-stage")
    stages = dockerfile.parse(ROOT / "Dockerfile")
    workdir = dockerfile.replay_node_stage(dockerfile.stage(stages, "assets"), ROOT, root)
    static = tmp_path_factory.mktemp("static") / "static"
    shutil.copytree(
        ROOT / "api" / "static", static, ignore=shutil.ignore_patterns("vendor", "vendor.next")
    )
    built = root / workdir.relative_to("/") / "api" / "static" / "vendor"
    shutil.copytree(built, static / "vendor")
    return static


def test_the_templates_reference_the_bundles() -> None:
    paths = {ref.path for ref in template_references(TEMPLATE_DIRS)}
    # the pages that need them: every page, the contract history, the BPMN and DMN editors
    assert {"aqd.css", "vendor/htmx.min.js", "vendor/viewer.js", "vendor/modeller.js"} <= paths
    assert {"vendor/dmn.js", "vendor/dmn/dmn-js-shared.css", "vendor/modeller.css"} <= paths


def test_the_build_produces_every_referenced_asset(built_static: Path) -> None:
    assert missing_assets(TEMPLATE_DIRS, built_static) == []
    # ... with the fonts the style sheets load
    assert (built_static / "vendor" / "dmn" / "dmn-font" / "font" / "dmn.svg").is_file()


def test_the_build_makes_no_bundle_nobody_loads(built_static: Path) -> None:
    assert unreferenced_bundles(TEMPLATE_DIRS, built_static / "vendor") == []


def test_the_source_tree_has_the_current_build(built_static: Path) -> None:
    # the files the development server and the tests serve (make install's build)
    assert missing_assets(TEMPLATE_DIRS, ROOT / "api" / "static") == []
    fresh = {p.relative_to(built_static).as_posix() for p in built_static.rglob("*")}
    tree = {
        p.relative_to(ROOT / "api" / "static").as_posix()
        for p in (ROOT / "api" / "static").rglob("*")
        if not p.name.startswith(".") and "vendor.next" not in p.parts
    }
    assert tree - fresh == set(), "files an older build left behind: run make assets"


def test_a_missing_style_sheet_or_font_is_reported(built_static: Path, tmp_path: Path) -> None:
    static = tmp_path / "static"
    shutil.copytree(built_static, static)
    (static / "vendor" / "dmn" / "dmn-js-shared.css").unlink()
    (static / "vendor" / "bpmn" / "bpmn-font" / "font" / "bpmn.svg").unlink()
    assert missing_assets(TEMPLATE_DIRS, static) == [
        "api/templates/modeller.html: /static/vendor/dmn/dmn-js-shared.css is missing",
        "vendor/bpmn/bpmn-font/css/bpmn-embedded.css: /static/vendor/bpmn/bpmn-font/font/bpmn.svg"
        " is missing",
    ]


def test_a_planted_reference_is_checked(tmp_path: Path) -> None:
    templates = tmp_path / "web" / "templates"
    (templates / "pages").mkdir(parents=True)
    (templates / "pages" / "new.html").write_text(
        '<script src="/static/vendor/chart.js"></script>\n'
        "<link rel=\"stylesheet\" href=\"{{ url_for('static', path='vendor/chart.css') }}\">\n"
        '<img src="/static/img/{{ name }}.png">\n',
        encoding="utf-8",
    )
    static = tmp_path / "static"
    (static / "vendor" / "fonts").mkdir(parents=True)
    (static / "vendor" / "chart.css").write_text(
        "@font-face { src: url('fonts/chart.woff2?v=2') format('woff2'),"
        ' url("data:font/woff2;base64,AAAA"); }\n'
        '.x { background: url(../../outside.png); } @import "theme.css";\n',
        encoding="utf-8",
    )
    assert missing_assets([templates], static) == [
        "web/templates/pages/new.html: /static/img/{{ is built at render time",
        "web/templates/pages/new.html: /static/vendor/chart.js is missing",
        "vendor/chart.css: /static/vendor/fonts/chart.woff2 is missing",
        "vendor/chart.css: vendor/../../outside.png points above /static/",
        "vendor/chart.css: /static/vendor/theme.css is missing",
    ]
    (static / "vendor" / "stray.js").write_text("", encoding="utf-8")
    assert unreferenced_bundles([templates], static / "vendor") == ["stray.js"]
