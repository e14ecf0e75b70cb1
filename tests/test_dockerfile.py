"""The Dockerfile, checked without building it (.ci/image builds and smoke-tests the image when
buildah is available; docs/deployment.md): every COPY finds its source, the assets come from
the one front-end build, the wheel carries the packages pyproject.toml names, the runtime has
the libraries and fonts WeasyPrint and the signature stamps load, and the state lives in the
volume docker-compose.yml shares."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import tomllib
from pathlib import Path, PurePosixPath

import pytest
import yaml  # type: ignore[import-untyped]  # no types-PyYAML among the dev tools

from engine.config import Settings
from signing.pades import STAMP_FONTS
from tests.conftest import ROOT
from tests.helpers import dockerfile

STAGES = dockerfile.parse(ROOT / "Dockerfile")
RUNTIME = STAGES[-1]
# The shared libraries WeasyPrint opens (weasyprint/text/ffi.py): Pango and its FreeType
# backend, and HarfBuzz's subsetter (without it every PDF embeds whole fonts, with a warning).
WEASYPRINT_LIBRARIES = ("libpango-1.0.so.0", "libpangoft2-1.0.so.0", "libharfbuzz-subset.so.0")
GENERIC_FAMILIES = {"serif", "sans-serif", "monospace", "cursive", "fantasy", "system-ui"}


def apt_installed(stage: dockerfile.Stage) -> set[str]:
    packages: set[str] = set()
    for run in stage.of("RUN"):
        for command in re.split(r"&&|;", run.args):
            words = shlex.split(command)
            if words[:2] == ["apt-get", "install"]:
                packages |= {w for w in words[2:] if not w.startswith("-")}
    return packages


def debian_packages(*paths: str) -> set[str]:
    """The Debian packages that own these files on this machine (the image's Debian release)."""
    found = subprocess.run(["dpkg", "-S", *paths], capture_output=True, text=True, check=True)
    return {line.split(":", 1)[0] for line in found.stdout.splitlines()}


def test_the_stages_and_their_bases() -> None:
    assert [(s.name, s.base) for s in STAGES] == [
        ("assets", "node:20-bookworm-slim"),
        ("wheel", "python:3.11-slim-bookworm"),
        (None, "python:3.11-slim-bookworm"),
    ]


def test_every_copy_finds_its_source() -> None:
    produced: dict[str, PurePosixPath] = {}
    for stage in STAGES:
        for copy in dockerfile.copies(stage):
            if copy.source_stage is None:
                # raises if the path is missing or the .dockerignore leaves it out
                assert dockerfile.context_sources(copy, ROOT)
                continue
            assert copy.source_stage in produced, f"line {copy.line}: no earlier stage"
            workdir = produced[copy.source_stage]
            for source in copy.sources:
                # a later stage copies from under the earlier one's working directory, where
                # its RUN wrote (the assets' build, the wheel directory)
                assert PurePosixPath(source).is_relative_to(workdir) or source == "/wheels", source
        if stage.name is not None:
            produced[stage.name] = stage.workdir()


def test_a_missing_or_ignored_source_is_reported(tmp_path: Path) -> None:
    (tmp_path / "api" / "static" / "vendor").mkdir(parents=True)
    (tmp_path / ".dockerignore").write_text("# built in the image\napi/static/vendor\n")
    (tmp_path / "Dockerfile").write_text(
        "FROM python:3.11-slim-bookworm\nCOPY api/static/vendor \\\n  ./vendor\nCOPY gone ./\n"
    )
    (stage,) = dockerfile.parse(tmp_path / "Dockerfile")
    vendor, gone = dockerfile.copies(stage)
    with pytest.raises(FileNotFoundError, match="line 2: COPY api/static/vendor: left out by"):
        dockerfile.context_sources(vendor, tmp_path)
    with pytest.raises(FileNotFoundError, match="line 4: COPY gone: not in the build context"):
        dockerfile.context_sources(gone, tmp_path)


def test_the_assets_stage_runs_the_one_front_end_build() -> None:
    assets = dockerfile.stage(STAGES, "assets")
    runs = [run.words() for run in assets.of("RUN")]
    assert runs[0][:2] == ["npm", "ci"]
    assert runs[-1] == ["npm", "run", "build"]
    package = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
    assert package["scripts"]["build"] == "node api/static/build.mjs"
    # ... which make runs too
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^\$\(VENDOR\)/\.built: .*\n\tnpm run --silent build$", makefile, re.M)
    # the wheel stage takes the build's output, not the host's api/static/vendor (ignored)
    wheel = dockerfile.stage(STAGES, "wheel")
    froms = [
        (c.source_stage, c.sources, c.dest) for c in dockerfile.copies(wheel) if c.source_stage
    ]
    assert froms == [("assets", ["/build/api/static/vendor"], "./api/static/vendor")]
    assert dockerfile.ignored("api/static/vendor/dmn.js", dockerfile.ignore_patterns(ROOT))


def test_the_wheel_stage_copies_the_packages_pyproject_includes() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in include}
    wheel = dockerfile.stage(STAGES, "wheel")
    copied = {s for c in dockerfile.copies(wheel) if c.source_stage is None for s in c.sources}
    assert packages <= copied
    assert {"pyproject.toml", "README.md"} <= copied  # the build reads both
    assert ["pip", "wheel", "--no-deps"] == wheel.of("RUN")[-1].words()[:3]


def test_the_runtime_has_what_weasyprint_loads() -> None:
    installed = apt_installed(RUNTIME)
    for library in WEASYPRINT_LIBRARIES:
        assert debian_packages(f"*/{library}") <= installed, library


def test_the_runtime_draws_page_images() -> None:
    # forms/pdfpages.py: the contract's pages as images, for phones without a PDF plug-in
    assert debian_packages("/usr/bin/pdftoppm") <= apt_installed(RUNTIME)


def test_the_runtime_has_every_font_the_documents_name() -> None:
    installed = apt_installed(RUNTIME)
    families: set[str] = set()
    for directory in (ROOT / "forms" / "templates", ROOT / "signing" / "templates"):
        for template in directory.rglob("*.html"):
            for declaration in re.findall(r"font-family:\s*([^;}]+)", template.read_text()):
                families |= {f.strip().strip("'\"") for f in declaration.split(",")}
    families -= GENERIC_FAMILIES
    assert {"Noto Sans", "Noto Naskh Arabic", "DejaVu Sans"} <= families
    for family in sorted(families):
        files = subprocess.run(
            ["fc-list", f":family={family}", "file"], capture_output=True, text=True, check=True
        ).stdout.split()
        assert files, f"no font of the family {family!r} on this machine"
        # one of the packages with a face of this family (DejaVu's are split in two)
        assert debian_packages(*(f.rstrip(":") for f in files)) & installed, family
    for stamp_font in STAMP_FONTS:
        assert debian_packages(str(stamp_font)) <= installed, stamp_font


def test_the_state_is_in_the_shared_var_volume() -> None:
    env = RUNTIME.env()
    assert env["AQD_VAR_DIR"] == "/app/var"
    assert Settings.model_config.get("env_prefix") == "AQD_"
    assert "var_dir" in Settings.model_fields
    assert [v.words() for v in RUNTIME.of("VOLUME")] == [["/app/var"]]
    user = RUNTIME.of("USER")[-1].args
    assert any(f"chown {user} /app/var" in run.args for run in RUNTIME.of("RUN"))
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    aqd_services = {
        name: service
        for name, service in compose["services"].items()
        if service.get("image") == "aqd:latest"
    }
    assert set(aqd_services) == {"migrate", "api", "worker", "scheduler"}
    for name, service in aqd_services.items():
        assert "aqdvar:/app/var" in service["volumes"], name
        assert "AQD_VAR_DIR" not in service["environment"], name  # the image's value
    # the image runs from its working directory, where the migrate job finds processes/
    assert RUNTIME.workdir() == PurePosixPath("/app")
    assert any(c.sources == ["processes"] for c in dockerfile.copies(RUNTIME))
