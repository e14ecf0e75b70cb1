"""The ``aqd`` command as an operator runs it: a subprocess on a test database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, World

AQD = [sys.executable, "-m", "api.cli"]


class Cli:
    def __init__(self, url: str, tmp: Path) -> None:
        self.env = {
            **os.environ,
            "AQD_DATABASE_URL": url,
            "AQD_CLOCK": "2025-03-03T08:00:00+00:00",
            "AQD_SCRIPT_TIME_LIMIT_MS": "300",
            "AQD_VAR_DIR": str(tmp),
        }
        self.tmp = tmp

    def __call__(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*AQD, *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if ok:
            assert result.returncode == 0, result.stderr
        return result

    def json_file(self, name: str, value: object) -> str:
        path = self.tmp / name
        path.write_text(json.dumps(value))
        return str(path)


def refused(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stderr.strip()


def aqd(world: World, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AQD_DATABASE_URL": world.url,
        "AQD_CLOCK": world.clock.now().isoformat(),
    }
    result = subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (result.returncode == 0) == ok, result.stderr
    return result
