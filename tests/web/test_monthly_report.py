"""The printable monthly report: a bilingual PDF of one month's processing times per office and
programme with the reduction against the baseline, from the analytics page (scoped by role)
and from ``aqd analytics report``."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine import analytics
from engine.models import ChainAnchor, HumanTask, Office, ProcessInstance
from tests.conftest import ROOT
from tests.helpers.analytics import Seeder
from tests.web.conftest import Web

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")
FEB = datetime(2024, 2, 5, 9, tzinfo=UTC)


def text_of(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    return re.sub("[\u202a-\u202e\u2066-\u2069]", "", text)


def seed_february(web: Web) -> None:
    """TUN: five counsellor validations of 2, 4, 6, 8 and 10 hours (claimed after an hour, due
    in 7 hours); GAF: three employer agreements of 20, 30 and 40 hours; a paper baseline of
    about 60 hours for TUN's validations."""
    with web.aqd.session() as s, s.begin():
        instance = s.scalars(select(ProcessInstance).order_by(ProcessInstance.id)).first()
        assert instance is not None
        offices = {o.code: o.id for o in s.scalars(select(Office))}
        tasks = [("TUN", "counsellor_validation", "counsellor", h) for h in (2, 4, 6, 8, 10)]
        tasks += [("GAF", "employer_agreement", "employer", h) for h in (20, 30, 40)]
        for i, (office, step, lane, hours) in enumerate(tasks):
            ready = FEB + timedelta(days=i)
            s.add(
                HumanTask(
                    contract_id=instance.contract_id,
                    instance_id=instance.id,
                    task_guid=f"report-{i}",
                    bpmn_id=step,
                    name=step,
                    programme="civp",
                    lane=lane,
                    candidate_group=lane,
                    office_id=offices[office],
                    form_key=step,
                    status="completed",
                    due_at=ready + timedelta(hours=7) if lane == "counsellor" else None,
                    ready_at=ready,
                    claimed_at=ready + timedelta(hours=1) if lane == "counsellor" else None,
                    completed_at=ready + timedelta(hours=hours),
                    completed_by="u",
                )
            )
        csv = "office,programme,step,date,hours\n" + "".join(
            f"TUN,civp,counsellor_validation,2023-0{1 + i % 9}-10,{58 + i % 5}\n" for i in range(40)
        )
        analytics.import_baseline(s, csv, "paper.csv", web.clock.now())


def test_monthly_report_pdf_from_the_page(web: Web, tmp_path: Path) -> None:
    seed_february(web)
    auditor, _ = web.login("auditor")
    page = auditor.get("/analytics")
    assert 'action="/analytics/report.pdf"' in page.text and 'value="2025-02"' in page.text
    r = auditor.get("/analytics/report.pdf", params={"month": "2024-02"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert "aqd-report-2024-02.pdf" in r.headers["content-disposition"]
    text = text_of(r.content, tmp_path)
    french, _, arabic = text.partition("آجال المعالجة")
    assert "rapport mensuel 2024-02" in french
    assert re.search(r"Étapes traitées dans le mois\s+8\b", french)
    assert "(TUN) — bureau pilote" in french and "(GAF)" in french
    # TUN's validations: 5 cases, median 6 h, p90 9.2 h, waiting 1 h, working 5 h, 2 of 5 late
    assert re.search(r"5\s+6\.00\s+9\.20\s+1\.00\s+5\.00\s+40\.0 %", french), french
    # GAF's agreements wait on the employer: median 30 h, all of it waiting
    assert re.search(r"3\s+30\.00\s+38\.00\s+30\.00\s+0\.00\s+—", french)
    # the reduction against ~60 h on paper, with its interval
    found = re.search(
        r"60\.00 h \(40\)\s+6\.00 h \(5\)\s+(\d+\.\d) % \((\d+\.\d) % à (\d+\.\d) %\)", french
    )
    assert found is not None, french
    estimate, low, high = (float(x) for x in found.groups())
    assert estimate == 90.0 and low <= estimate <= high
    assert "التقرير الشهري" in arabic and "تونس" in arabic and "قفصة" in arabic
    assert "9.20" in arabic and "40.0 %" in arabic and "90.0 %" in arabic

    # an office head gets their own office only, whatever the query asks
    head, _ = web.login("head.tun")
    own = text_of(
        head.get("/analytics/report.pdf", params={"month": "2024-02", "office": "GAF"}).content,
        tmp_path,
    )
    assert "(TUN)" in own and "(GAF)" not in own and "قفصة" not in own
    # counsellors and employers do not get it; a malformed month is refused
    counsellor, _ = web.login("counsellor.tun")
    assert counsellor.get("/analytics/report.pdf", params={"month": "2024-02"}).status_code == 403
    employer, _ = web.login("employer.tun")
    assert employer.get("/analytics/report.pdf", params={"month": "2024-02"}).status_code == 403
    assert auditor.get("/analytics/report.pdf", params={"month": "2024-13"}).status_code == 422


@pytest.mark.parametrize("seeded", ["sqlite"], indirect=True)
def test_monthly_report_from_the_command_line(web: Web, tmp_path: Path) -> None:
    seed_february(web)
    out = tmp_path / "feb.pdf"
    args = ["analytics", "report", "--month", "2024-02", "--programme", "civp", "--office", "TUN"]
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", *args, "--out", str(out)],
        cwd=ROOT,
        env={"AQD_DATABASE_URL": web.aqd.db.url.render_as_string(hide_password=False)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    text = text_of(out.read_bytes(), tmp_path)
    assert re.search(r"Comité de pilotage · programme \S+ · bureau TUN", text)
    assert "(TUN)" in text and "(GAF)" not in text
    assert re.search(r"5\s+6\.00\s+9\.20", text)


def test_monthly_report_gives_the_lead_times_and_the_end_to_end_reduction(
    web: Web, tmp_path: Path
) -> None:
    """Five TUN contracts signed in February 2024, 8 to 12 days after their request, each first
    paid 30 days after it; the paper took 60 days from the request to the signed contract."""
    seeder = Seeder(web)
    for i, days in enumerate((8, 9, 10, 11, 12)):
        seeder.contract(
            "TUN",
            datetime(2024, 1, 25, 8, tzinfo=UTC) + timedelta(hours=i),
            timedelta(days=days),
            timedelta(days=30),
        )
    with web.aqd.session() as s, s.begin():
        csv = "office,programme,step,date,hours\n" + "".join(
            f"TUN,civp,signed,2023-0{1 + i % 9}-10,{60 * 24}\n" for i in range(40)
        )
        analytics.import_baseline(s, csv, "paper-lead.csv", web.clock.now())
    auditor, _ = web.login("auditor")
    r = auditor.get("/analytics/report.pdf", params={"month": "2024-02"})
    assert r.status_code == 200
    french, _, arabic = text_of(r.content, tmp_path).partition("آجال المعالجة")
    assert "Délais de bout en bout" in french
    # signed: 5 contracts, median 10 days, p90 11.6; first paid: 5, 30 days each
    assert re.search(
        r"CIVP — Bureau de l'emploi de\s+5\s+10\.0\sj\s+11\.6\sj\s+5\s+30\.0\sj\s+30\.0\sj", french
    ), french
    # against the paper's 60 days, with its interval
    found = re.search(
        r"De la demande au contrat signé\s+60\.0\sj \(40\)\s+10\.0\sj \(5\)\s+(\d+\.\d) %", french
    )
    assert found is not None, french
    assert float(found.group(1)) == 83.3
    # (pdftotext gives the lam-alef ligature of الآجال and إلى back in another order)
    assert "الجملية" in arabic and "العقد الممضى" in arabic
    assert re.search(r"11\.6\s?يوم", arabic) and "83.3 %" in arabic


@pytest.mark.parametrize("seeded", ["postgresql"], indirect=True)
def test_the_report_prints_the_month_s_last_anchor_root(web: Web, tmp_path: Path) -> None:
    """A printed report keeps the root of the month's last anchor outside Aqd: deleting later
    anchors, or rewriting the history under them, cannot go unnoticed against it."""
    from engine.audit.anchors import create_anchor

    web.aqd.settings.var_dir = tmp_path
    made = create_anchor(web.aqd)  # at the web clock's time, 3 March 2025
    with web.aqd.session() as s:
        root = s.scalar(select(ChainAnchor.root).where(ChainAnchor.id == made["anchor"]))
    assert root is not None
    auditor, _ = web.login("auditor")
    march = text_of(
        auditor.get("/analytics/report.pdf", params={"month": "2025-03"}).content, tmp_path
    )
    assert f"Ancre des historiques n° {made['anchor']} du 2025-03-03 08:00 UTC" in march
    assert root in re.sub(r"\s+", "", march)
    february = text_of(
        auditor.get("/analytics/report.pdf", params={"month": "2025-02"}).content, tmp_path
    )
    assert "Ancre des historiques" not in february  # anchored after February
