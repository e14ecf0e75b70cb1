"""The ``aqd`` command as other tools script it: real subprocesses, exit codes, one-line errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from engine.models import Office, User, UserRole
from tests.conftest import AGREEMENT, ROOT, SQLITE_IN_TEST_ALL, World
from tests.helpers.cli import Cli, refused


@pytest.fixture
def cli(db_url: str, tmp_path: Path) -> Cli:
    tool = Cli(db_url, tmp_path)
    tool("db", "upgrade")
    return tool


@pytest.mark.slow  # seeds the whole demo through subprocesses (minutes on 2 cores)
def test_full_cli_session(cli: Cli) -> None:
    assert "civp: deployed version 1" in cli("deploy", "processes/civp").stdout
    assert "unchanged" in cli("deploy", "processes/civp").stdout
    assert "\tcivp\tv1\t" in cli("definitions", "list").stdout
    assert "demo data: 6 pilot offices" in cli("demo").stdout
    assert "already present" in cli("demo").stdout
    request = cli.json_file(
        "req.json",
        {
            "office": "TUN",
            "employer_mf": "1000000A",
            "beneficiary_cin": "10000000",
            "nationality": "TN",
            "diploma_level": "HIGHER_ED",
            "request_date": "2025-03-01",
        },
    )
    contract_id = cli("contracts", "start", "civp", "--data", request).stdout.strip()
    assert contract_id.isdigit()
    ids = cli("contracts", "list", "--programme", "civp", "--ids").stdout.split()
    assert contract_id in ids
    assert all(i.isdigit() for i in ids)
    assert cli("contracts", "list", "--status", "active", "--ids").stdout.split() == [
        "3",
        "7",
        "11",
        "15",
        "19",
        "23",
    ]
    line = next(
        x
        for x in cli("tasks", "list", "--contract", contract_id).stdout.splitlines()
        if "employer_agreement" in x
    )
    guid = line.split("\t")[0]
    assert cli("tasks", "claim", guid, "--user", "emp").stdout.strip() == "claimed"
    assert cli(
        "tasks", "complete", guid, "--user", "emp", "--data", cli.json_file("a.json", AGREEMENT)
    ).stdout.startswith("completed")
    assert "conflict" not in refused(
        cli("tasks", "complete", guid, "--data", cli.json_file("b.json", AGREEMENT), ok=False)
    )
    assert "counsellor_validation" in cli("tasks", "list", "--contract", contract_id).stdout
    assert cli("timers", "run").stdout.startswith("fired 0")
    assert "all hashes match" in cli("replay", contract_id).stdout
    shown = json.loads(cli("contracts", "show", contract_id).stdout)
    assert shown["status"] == "in_review"
    events = json.loads(cli("contracts", "events", contract_id).stdout)
    assert [e["kind"] for e in events] == ["contract_started", "task_claimed", "task_completed"]
    first = cli("tasks", "escalate").stdout
    assert re.fullmatch(r"\d+ overdue tasks escalated, \d+ notices queued\n", first), first
    assert cli("tasks", "escalate").stdout.startswith("0 overdue tasks escalated")
    # the contracts' chain heads, anchored with a real time-stamp token, then verified
    anchored = json.loads(cli("anchors", "create").stdout)
    assert anchored["contracts"] >= 1 and anchored["stamped"] == [anchored["anchor"]]
    assert json.loads(cli("anchors", "create").stdout)["anchor"] is None
    checked = json.loads(cli("anchors", "verify").stdout)
    assert checked["ok"] and checked["anchors"] == 1 and checked["unstamped"] == []
    (listed,) = json.loads(cli("anchors", "list").stdout)
    assert listed["id"] == anchored["anchor"] and listed["stamped_at"]


@SQLITE_IN_TEST_ALL
def test_refusals_are_one_line(cli: Cli, tmp_path: Path) -> None:
    assert "no such file" in refused(cli("deploy", str(tmp_path / "missing"), ok=False))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "bad.bpmn").write_text('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "c">]><a/>')
    assert "DTDs and entity declarations are not allowed" in refused(
        cli("deploy", str(bad), ok=False)
    )
    assert "no deployed definition" in refused(
        cli("contracts", "start", "civp", "--data", cli.json_file("x.json", {}), ok=False)
    )
    cli("deploy", "processes/civp")
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    assert "invalid JSON at line 1" in refused(
        cli("contracts", "start", "civp", "--data", str(garbage), ok=False)
    )
    message = refused(
        cli(
            "contracts",
            "start",
            "civp",
            "--data",
            cli.json_file("y.json", {"nationality": "XX"}),
            ok=False,
        )
    )
    assert "form contract_request" in message
    assert "not found" in refused(cli("replay", "999", ok=False))
    assert "not found" in refused(
        cli("tasks", "complete", "nope", "--data", cli.json_file("z.json", {}), ok=False)
    )


@SQLITE_IN_TEST_ALL
def test_hostile_model_never_hangs(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "hostile"
    folder.mkdir()
    (folder / "hostile.bpmn").write_text(
        (ROOT / "tests" / "engine" / "data" / "loop_script.bpmn").read_text()
    )
    started = time.monotonic()
    assert "hostile: deployed version 1" in cli("deploy", str(folder)).stdout
    message = refused(
        cli("contracts", "start", "hostile", "--data", cli.json_file("d.json", {}), ok=False)
    )
    assert "time limit exceeded in spin" in message
    assert time.monotonic() - started < 60


@SQLITE_IN_TEST_ALL
def test_decide_one_case(cli: Cli) -> None:
    cli("deploy", "processes/civp")
    case = cli.json_file(
        "case.json",
        {
            "nationality": "TN",
            "registered_at_office": True,
            "diploma_level": "OTHER",
            "is_primo": False,
            "disabled": False,
            "schooling_ok": False,
            "prior_civp_months": 0,
            "max_civp_months": 12,
        },
    )
    out = json.loads(cli("decide", "civp", "civp_beneficiary_eligibility", "--data", case).stdout)
    assert out["outputs"]["eligible"] is False and out["outputs"]["reason"] == "MIN_SCHOOLING"
    assert out["version"] == 1 and out["matched_rules"][0]["rule"] == "rule_4"
    # the version deployed today also answers for an earlier day, on that day's parameters
    earlier = json.loads(
        cli(
            "decide", "civp", "civp_beneficiary_eligibility", "--data", case, "--on", "2020-01-01"
        ).stdout
    )
    assert (earlier["version"], earlier["on"], earlier["outputs"]["reason"]) == (
        1,
        "2020-01-01",
        "MIN_SCHOOLING",
    )
    assert "decisions: civp_beneficiary_eligibility" in refused(
        cli("decide", "civp", "nope", "--data", case, ok=False)
    )


@SQLITE_IN_TEST_ALL
def test_decide_an_amount(cli: Cli) -> None:
    """The amounts are decisions too: Karama's reimbursement for a wage paid, and its cap."""
    cli("deploy", "processes/karama")
    full = cli.json_file("full.json", {"salary_paid": True, "gross_salary": 900})
    out = json.loads(cli("decide", "karama", "karama_monthly_reimbursement", "--data", full).stdout)
    assert (out["outputs"]["amount"], out["outputs"]["wage_share"]) == ("499.420", 400)
    assert out["matched_rules"][0]["rule"] == "karama_monthly_reimbursement_rule_4"
    assert "D2019-542" in out["outputs"]["amount_legal_basis"]
    low = cli.json_file("low.json", {"salary_paid": True, "gross_salary": 300})
    out = json.loads(cli("decide", "karama", "karama_monthly_reimbursement", "--data", low).stdout)
    assert out["outputs"]["amount"] == "300.000"  # never more than the wage actually paid


@pytest.mark.slow  # seeds the whole demo through subprocesses (minutes on 2 cores)
def test_demo_contract_is_signed_by_all_parties(cli: Cli, tmp_path: Path) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader

    cli("deploy", "processes/civp")
    cli("demo")
    written = cli("documents", "export", "CIVP-2025-000003", str(tmp_path / "docs")).stdout.split()
    assert [Path(p).name for p in written] == [
        "CIVP-2025-000003-r1.pdf",
        "CIVP-2025-000003-r1-beneficiary.pdf",
        "CIVP-2025-000003-r1-employer.pdf",
        "CIVP-2025-000003-r1-office.pdf",
    ]
    with Path(written[-1]).open("rb") as fh:
        fields = [s.field_name for s in PdfFileReader(fh).embedded_signatures]
    assert fields[:3] == ["beneficiary", "employer", "office"]
    assert "no document yet" in cli("documents", "export", "1", str(tmp_path / "none")).stderr
    assert "not found" in cli("documents", "export", "NOPE-1", str(tmp_path), ok=False).stderr


@pytest.mark.slow  # seeds the whole demo through subprocesses (minutes on 2 cores)
def test_export_and_verify_package(cli: Cli, tmp_path: Path) -> None:
    cli("deploy", "processes/civp")
    cli("demo")
    package = tmp_path / "contract-3.zip"
    assert "sha256" in cli("export-package", "3", str(package)).stdout
    # Contract 3 is the demo's active contract: signed by its three parties for real.
    verified = cli("verify-package", str(package)).stdout
    assert "OK, 27 events verified offline" in verified and "not anchored" in verified
    # once anchored, the package proves when its history existed
    cli("anchors", "create")
    anchored = tmp_path / "contract-3-anchored.zip"
    cli("export-package", "3", str(anchored))
    assert re.search(
        r"anchored: events 1-27 existed at 2025-03-03T08:00:00\+00:00 \(anchor 1, time-stamped "
        r"by Aqd development TSA",
        cli("verify-package", str(anchored)).stdout,
    )
    data = bytearray(package.read_bytes())
    data[len(data) // 2] ^= 0xFF
    package.write_bytes(bytes(data))
    assert "FAILED" in refused(cli("verify-package", str(package), ok=False))


@pytest.mark.slow  # seeds the whole demo through subprocesses (minutes on 2 cores)
def test_verify_contracts_reports_the_altered_one(cli: Cli, db_url: str) -> None:
    from sqlalchemy import text

    from engine.db import get_engine

    cli("deploy", "processes/civp")
    cli("demo")
    report = json.loads(cli("verify-contracts").stdout)
    assert (report["checked"], report["passed"], report["failed"]) == (24, 24, [])
    assert report["signatures_validated"] == 0
    # the 6 contracts the demo signs for real: 3 signed versions each, every one validated
    signed = json.loads(cli("verify-contracts", "--signatures", "--programme", "civp").stdout)
    assert signed["failed"] == [] and signed["signatures_validated"] == 18
    with get_engine(db_url).begin() as conn:
        conn.execute(text("UPDATE event SET actor = 'intruder' WHERE contract_id = 7 AND seq = 2"))
    result = cli("verify-contracts", "--sample", "24", ok=False)
    assert result.returncode == 1
    failed = json.loads(result.stdout)["failed"]
    assert [f["first_divergent_seq"] for f in failed] == [2]
    assert failed[0]["contract"].endswith("000007")


def test_commands_start_without_the_web_application_or_pyhanko() -> None:
    """``aqd`` registers the signing hooks but loads pyHanko only when one runs, and FastAPI
    only for ``serve``: a command that does neither starts about a second sooner."""
    probe = (
        "import sys, api.cli\n"
        "from api import bootstrap\n"
        "aqd = bootstrap.build()\n"
        "assert aqd.plugins.document_validators, 'the validator is registered'\n"
        "assert aqd.plugins.timestamper is not None, 'the time-stamper is registered'\n"
        "from engine.access import accounts\n"
        "assert accounts.dummy_hash.cache_info().currsize == 0, 'no password hashed'\n"
        "heavy = [m for m in ('pyhanko', 'fastapi', 'weasyprint', 'argon2') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    # argon2 is imported (the accounts module) but has hashed nothing
    assert done.stdout.strip() == "argon2", done.stdout


def test_a_database_not_migrated_is_told_in_one_line(
    tmp_path: Path, worker_id: str, testrun_uid: str
) -> None:
    """A command reading a table of a migration the database has not run says so, on
    PostgreSQL (UndefinedTable) as on SQLite (no such table), without a traceback."""
    import psycopg

    from tests.conftest import ADMIN_URL, PG_BASE

    name = f"aqd_bare_{testrun_uid[:10]}_{worker_id}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        for url in (PG_BASE.format(db=name), f"sqlite:///{tmp_path / 'bare.db'}"):
            message = refused(Cli(url, tmp_path)("verify-contracts", ok=False))
            assert "not migrated (run 'aqd db upgrade')" in message, message
            assert "\n" not in message
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_employer_record_commands(world: World, tmp_path: Path) -> None:
    """A counsellor keeps the employer's record with proofs; show gives what the decisions
    read on a day (a certificate counts from its first day to its last, both included)."""
    cli = Cli(world.url, tmp_path)
    proof = tmp_path / "attestation.pdf"
    proof.write_bytes(b"%PDF-1.4 scan")
    mf = "1234567A"
    status = ["employers", "status", mf, "PUBLIC_ESTABLISHMENT_COMMERCIAL", "--proof", str(proof)]
    out = cli(*status, "--user", "counsellor.tun", "--since", "2025-01-01").stdout
    assert out.strip() == f"{mf}: PUBLIC_ESTABLISHMENT_COMMERCIAL from 2025-01-01"
    dates = ["--valid-from", "2025-01-01", "--valid-until", "2025-03-31"]
    cli("employers", "certificate", mf, "cnss", "--reference", "CN-9", *dates,
        "--proof", str(proof), "--user", "c")  # fmt: skip
    shown = json.loads(cli("employers", "show", mf, "--on", "2024-12-31").stdout)
    assert shown["standing"]["legal_status"] == "PRIVATE_FIRM"  # the world's, from 2009
    shown = json.loads(cli("employers", "show", mf, "--on", "2025-03-31").stdout)
    assert shown["standing"]["legal_status"] == "PUBLIC_ESTABLISHMENT_COMMERCIAL"
    assert shown["standing"]["checked_on"] == "2025-03-31"
    assert shown["facts"][-1]["proof"]["filename"] == "attestation.pdf"
    text = tmp_path / "note.txt"
    text.write_text("not a scan")
    assert "PDF, PNG or JPEG" in refused(
        cli(
            "employers", "status", mf, "PRIVATE_FIRM", "--proof", str(text), "--user", "c", ok=False
        )
    )


def test_registry_commands(world: World, tmp_path: Path) -> None:
    """A counsellor corrects a job seeker's fact from the command line, with its reason and
    proof; ``show`` gives the record and its history; a bad value names the field."""
    with world.aqd.session() as s, s.begin():
        office = s.scalar(select(Office.id).where(Office.code == "TUN"))
        user = User(
            username="counsellor.tun",
            display_name="C",
            office_id=office,
            created_at=datetime(2025, 1, 1, tzinfo=UTC),
        )
        s.add(user)
        s.flush()
        s.add(UserRole(user_id=user.id, role="counsellor"))
    cli = Cli(world.url, tmp_path)
    proof = tmp_path / "loss.png"
    Image.new("RGB", (4, 4), "white").save(proof, format="PNG")  # proofs are parsed, not sniffed
    out = cli("registry", "set", "12345678", "job_loss_reason", "closure", "--reason",
              "employer's letter", "--proof", str(proof), "--user", "counsellor.tun")  # fmt: skip
    assert out.stdout.strip() == "12345678: job_loss_reason None -> CLOSURE"
    shown = json.loads(cli("registry", "show", "12345678", "--user", "counsellor.tun").stdout)
    [change] = shown["history"]
    assert (change["field"], change["before"], change["after"], change["reason"]) == (
        "job_loss_reason",
        None,
        "CLOSURE",
        "employer's letter",
    )
    assert change["proof"] == "loss.png" and change["by"] == "counsellor.tun"
    bad = ["diploma_date", "31/12/2020", "--reason", "x", "--user", "counsellor.tun"]
    message = refused(cli("registry", "set", "12345678", *bad, ok=False))
    assert "diploma_date" in message, message
