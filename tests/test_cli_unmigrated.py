"""Every ``aqd`` command on a database that was never migrated: one line naming the fix, exit 1.

The commands are walked from the command tree itself, so a new command without an entry in
``ARGS`` (or in ``NOT_ON_A_DATABASE``, with its reason) fails this test until it gets one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.main
from typer.testing import CliRunner

import api.cli  # noqa: F401  (adds serve, demo, documents, ... to the app)
from api import bootstrap
from engine.cli import app  # api.cli adds its commands to this app when imported
from engine.cli_support import using_root
from engine.config import get_settings
from engine.payments.accounts import make_rib

#: commands that do not read the database, or that serve until stopped, and why
NOT_ON_A_DATABASE = {
    "db upgrade": "it creates the schema: on an empty database it succeeds",
    "serve": "serves until stopped; its start-up migration check is in tests/web",
    "worker": "a Celery worker: runs until stopped",
    "scheduler": "Celery beat: runs until stopped",
    "dev-idp": "the development identity provider has no database",
    "payments dev-bank": "answers a bank file with a bank file; no database",
    "verify-package": "verifies a package file offline; no database",
}

#: arguments that get each command past its own input checks to its first database read
ARGS: dict[str, list[str]] = {
    "deploy": ["{root}/processes/civp"],
    "verify-contracts": [],
    "export-package": ["CIVP-2025-000001", "{tmp}/package.zip"],
    "decide": ["civp", "civp_beneficiary_eligibility", "--data", "{data}"],
    "replay": ["CIVP-2025-000001"],
    "demo": [],
    "definitions list": [],
    "contracts start": ["civp", "--data", "{data}"],
    "contracts list": [],
    "contracts show": ["CIVP-2025-000001"],
    "contracts events": ["CIVP-2025-000001"],
    "contracts migrate": ["civp", "--dry-run"],
    "contracts migrations": [],
    "contracts rollback-migration": ["1", "--reason", "test"],
    "tasks list": [],
    "tasks claim": ["00000000-0000-0000-0000-000000000000", "--user", "u"],
    "tasks escalate": [],
    "tasks complete": ["00000000-0000-0000-0000-000000000000", "--data", "{data}"],
    "timers run": [],
    "messages send": ["CIVP-2025-000001", "terminate_contract"],
    "outbox run": [],
    "outbox list": [],
    "outbox incidents": [],
    "outbox retry": ["payment:x", "--reason", "test"],
    "outbox skip": ["payment:x", "--reason", "test"],
    "analytics steps": [],
    "analytics lead-times": [],
    "analytics refresh": [],
    "analytics import-baseline": ["{baseline}"],
    "analytics evidence": ["civp"],
    "analytics report": ["--month", "2025-04", "--out", "{tmp}/report.pdf"],
    "payments batch": ["--out", "{tmp}/batches"],
    "payments export": ["1", "{tmp}/batches"],
    "payments mark-sent": ["1"],
    "payments import": ["{bank}"],
    "payments list": [],
    "payments set-account": ["{rib}", "--beneficiary", "12345678"],
    "contacts record": [
        "--by",
        "counsellor.tun",
        "--beneficiary",
        "12345678",
        "--phone",
        "22123456",
    ],
    "contacts history": ["amira"],
    "anchors create": [],
    "anchors verify": [],
    "anchors list": [],
    "documents export": ["CIVP-2025-000001", "{tmp}/documents"],
    "documents expire": [],
    "employers status": ["1234567A", "PRIVATE_FIRM", "--proof", "{proof}", "--user", "c"],
    "employers certificate": [
        "1234567A",
        "tax",
        "--reference",
        "AF-1",
        "--valid-from",
        "2025-01-01",
        "--valid-until",
        "2025-06-30",
        "--proof",
        "{proof}",
        "--user",
        "c",
    ],
    "employers show": ["1234567A"],
    "registry show": ["12345678", "--user", "counsellor.tun"],
    "registry set": [
        "12345678",
        "diploma_date",
        "2021-06-30",
        "--reason",
        "diploma seen",
        "--proof",
        "{proof}",
        "--user",
        "counsellor.tun",
    ],
}


def leaf_commands() -> Iterator[str]:
    # typer ships its own copy of click: its groups are recognised by what they do
    def walk(command: Any, path: list[str]) -> Iterator[str]:
        if hasattr(command, "list_commands"):
            ctx = typer.Context(command)
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                yield from walk(sub, [*path, name])
        else:
            yield " ".join(path)

    yield from walk(typer.main.get_command(app), [])


def test_every_command_is_listed() -> None:
    commands = set(leaf_commands())
    assert commands, "no command found"
    assert sorted(commands - set(ARGS) - set(NOT_ON_A_DATABASE)) == []
    assert sorted((set(ARGS) | set(NOT_ON_A_DATABASE)) - commands) == []


@pytest.fixture
def unmigrated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    monkeypatch.setenv("AQD_DATABASE_URL", f"sqlite:///{tmp_path / 'never-migrated.db'}")
    monkeypatch.setenv("AQD_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("AQD_CLOCK", "2025-04-01T08:00:00+00:00")
    get_settings.cache_clear()
    data = tmp_path / "data.json"
    data.write_text(json.dumps({"office": "TUN"}), encoding="utf-8")
    baseline = tmp_path / "baseline.csv"
    baseline.write_text("office,programme,step,date,hours\n", encoding="utf-8")
    bank = tmp_path / "bank.csv"
    bank.write_text("end_to_end_id,status\nAQD-TUN-0001,paid\n", encoding="utf-8")
    root = Path(__file__).resolve().parent.parent
    proof = tmp_path / "proof.pdf"
    proof.write_bytes(b"%PDF-1.4 certificate")
    yield {
        "proof": str(proof),
        "tmp": str(tmp_path),
        "data": str(data),
        "baseline": str(baseline),
        "bank": str(bank),
        "root": str(root),
        "rib": make_rib(1, 1, 7),
    }
    get_settings.cache_clear()


@pytest.mark.parametrize("command", sorted(ARGS))
def test_command_on_an_unmigrated_database(command: str, unmigrated: dict[str, str]) -> None:
    args = [*command.split(), *(a.format(**unmigrated) for a in ARGS[command])]
    with using_root(bootstrap.build):  # as `aqd` runs it (api.cli.main)
        result = CliRunner().invoke(app, args)
    output = result.output.strip()
    assert result.exit_code == 1, (result.exit_code, output, result.exception)
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), repr(result.exception)
    lines = output.splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("error: database"), output
    assert "aqd db upgrade" in lines[0], output
    assert "Traceback" not in output
