"""Aqd installed as the image installs it, outside the source tree: the wheel built from the
files the Dockerfile's wheel stage copies (with a fresh front-end build as its assets), in a
new virtual environment, run from a working directory of its own. It keeps its state in ./var
there (not in site-packages), migrates and deploys the programmes as the compose migrate job
does, renders a PDF, and serves its pages with every asset they reference."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
import zipfile
from email.parser import Parser
from importlib import metadata
from pathlib import Path, PurePosixPath

import pytest
import yaml  # type: ignore[import-untyped]  # no types-PyYAML among the dev tools
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from engine.config import Settings
from tests.conftest import ROOT
from tests.helpers import dockerfile
from tests.helpers.assets import missing_assets, template_references

PROBE = """
import json, sys
import api, engine, forms, signing
from engine.config import get_settings
settings = get_settings()
print(json.dumps({
    "packages": {m.__name__: m.__path__[0] for m in (api, engine, forms, signing)},
    "var_dir": str(settings.var_dir),
    "database_url": settings.database_url,
}))
"""


def test_var_dir_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AQD_VAR_DIR", raising=False)
    monkeypatch.delenv("AQD_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.var_dir == tmp_path / "var"
    assert settings.database_url == f"sqlite:///{tmp_path / 'var' / 'aqd.db'}"
    monkeypatch.setenv("AQD_VAR_DIR", "/app/var")
    assert Settings().var_dir == Path("/app/var")
    assert Settings().database_url == "sqlite:////app/var/aqd.db"
    monkeypatch.setenv("AQD_DATABASE_URL", "postgresql+psycopg://aqd@db/aqd")
    assert Settings().database_url == "postgresql+psycopg://aqd@db/aqd"
    assert Settings().var_dir == Path("/app/var")  # the PKI and the schedule stay there


def dependency_closure(wheel: Path) -> set[str]:
    """The distributions a wheel needs, found among this environment's, with their extras."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        requires = Parser().parsestr(archive.read(name).decode()).get_all("Requires-Dist") or []
    needed: set[str] = set()
    queue = [Requirement(r) for r in requires]
    while queue:
        requirement = queue.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        key = canonicalize_name(requirement.name)
        extras = {f"{key}[{e}]" for e in requirement.extras}
        if key in needed and extras <= needed:
            continue
        needed |= {key, *extras}
        for spec in metadata.requires(requirement.name) or []:
            dependency = Requirement(spec)
            marker = dependency.marker
            if marker is None or marker.evaluate({"extra": ""}):
                queue.append(dependency)
            elif any(marker.evaluate({"extra": e}) for e in requirement.extras):
                dependency.marker = None
                queue.append(dependency)
    return {n for n in needed if "[" not in n}


def link_distributions(names: set[str], into: Path) -> None:
    """A directory holding only these installed distributions (links to their top-level
    files and their metadata)."""
    into.mkdir()
    purelib = Path(sysconfig.get_path("purelib"))
    for name in names:
        for file in metadata.distribution(name).files or []:
            top = file.parts[0]
            if top.startswith("..") or top == "__pycache__":
                continue  # scripts outside site-packages
            link = into / top
            if not link.exists():
                link.symlink_to(purelib / top)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return int(answer.status), answer.read()


@pytest.mark.slow
@pytest.mark.timeout(900)  # about a minute alone; several on a loaded 2-core machine
def test_the_installed_package(tmp_path: Path) -> None:
    started = time.monotonic()
    stages = dockerfile.parse(ROOT / "Dockerfile")
    # the assets stage, then the wheel stage's copies with the assets' output
    assets_root = tmp_path / "assets"
    assets_workdir = dockerfile.replay_node_stage(
        dockerfile.stage(stages, "assets"), ROOT, assets_root
    )
    wheel_stage = dockerfile.stage(stages, "wheel")
    source = tmp_path / "wheel"
    workdir = wheel_stage.workdir()
    for copy in dockerfile.copies(wheel_stage):
        if copy.source_stage is None:
            dockerfile.replay_copy(copy, ROOT, source, workdir)
            continue
        assert copy.source_stage == "assets"
        (built,) = copy.sources
        relative = PurePosixPath(built).relative_to(assets_workdir)
        dest = source / workdir.relative_to("/") / copy.dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        (assets_root / assets_workdir.relative_to("/") / relative).rename(dest)
    project = source / workdir.relative_to("/")
    assert not (project / "tests").exists()
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), "."],
        cwd=project,
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("aqd-*.whl")
    marks = {"assets and wheel": time.monotonic() - started}

    # a new environment; its dependencies are this one's, found after its own site-packages
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = ["install", "--quiet", "--no-deps", "--no-index", str(wheel)]
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), *install],
        check=True,
        capture_output=True,
    )
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # only the distributions the wheel declares (and theirs): an import of an undeclared one
    # fails here as it fails in the image
    deps = tmp_path / "deps"
    link_distributions(dependency_closure(wheel), deps)
    (site / "aqd-dependencies.pth").write_text(f"{deps}\n")

    # the image's working directory: processes/ beside, state in ./var
    app = tmp_path / "app"
    runtime_copies = dockerfile.copies(stages[-1])
    for copy in runtime_copies:
        if copy.source_stage is None and copy.sources == ["processes"]:
            dockerfile.replay_copy(copy, ROOT, app, PurePosixPath("/"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AQD_", "PYTHON"))}
    env["PATH"] = f"{venv / 'bin'}:{env['PATH']}"

    probe = subprocess.run(
        [python, "-c", PROBE], cwd=app, env=env, check=True, capture_output=True, text=True
    )
    found = json.loads(probe.stdout)
    for name, path in found["packages"].items():
        assert Path(path).is_relative_to(site), (name, path)
    assert found["var_dir"] == str(app / "var")
    assert found["database_url"] == f"sqlite:///{app / 'var' / 'aqd.db'}"

    # the package data: templates and every asset they reference, the migrations
    api_dir = Path(found["packages"]["api"])
    templates = [api_dir / "templates", Path(found["packages"]["forms"]) / "templates"]
    templates.append(Path(found["packages"]["signing"]) / "templates")
    assert missing_assets(templates, api_dir / "static") == []
    assert not (api_dir / "static" / "vendor" / ".built").exists()

    # the compose migrate job's command, as the image runs it
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    migrate = compose["services"]["migrate"]["command"]
    assert migrate[:2] == ["sh", "-c"]
    subprocess.run(
        ["sh", "-c", migrate[2].replace("$$", "$")],
        cwd=app,
        env=env,
        check=True,
        capture_output=True,
    )
    assert (app / "var" / "aqd.db").is_file()
    marks["migrate job"] = time.monotonic() - started
    listed = subprocess.run(
        ["aqd", "definitions", "list"], cwd=app, env=env, check=True, capture_output=True, text=True
    )
    programmes = sorted(p.name for p in (ROOT / "processes").iterdir() if p.is_dir())
    for programme in programmes:
        assert programme in listed.stdout
    # WeasyPrint with the package's report templates
    report = app / "report.pdf"
    subprocess.run(
        ["aqd", "analytics", "report", "--month", "2025-04", "--out", str(report)],
        cwd=app,
        env=env,
        check=True,
        capture_output=True,
    )
    assert report.read_bytes().startswith(b"%PDF-")

    marks["report"] = time.monotonic() - started
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = app / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            ["aqd", "serve", "--host", "127.0.0.1", "--port", str(port), "--no-timers"],
            cwd=app,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = _get(f"{base}/readyz")
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "/readyz never answered"
                time.sleep(0.3)
        assert status == 200
        status, page = _get(f"{base}/login")
        assert status == 200
        assert b"/static/vendor/htmx.min.js" in page
        for ref in template_references(templates):
            assert _get(f"{base}/static/{ref.path}")[0] == 200, ref
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert not (site / "var").exists()
    assert sorted(p.name for p in (app / "var").iterdir()) >= ["aqd.db"]
    marks["served"] = time.monotonic() - started
    print("installed-package test, seconds from the start:", marks)
