"""The processing-time dashboard and its API: scope by role, CSV export, baseline upload,
and the evidence (reduction and difference in differences) once a baseline exists."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

from tests.web.conftest import Web


def _baseline() -> str:
    lines = ["office,programme,step,date,hours"]
    start = date(2024, 6, 3)
    for i in range(60):
        day = start + timedelta(days=5 * i)
        for office, hours in (("TUN", 180), ("KEF", 170), ("SFX", 175), ("NAB", 160)):
            lines.append(f"{office},civp,employer_agreement,{day},{hours + i % 7}")
            lines.append(f"{office},civp,counsellor_validation,{day},{hours // 2 + i % 5}")
    return "\n".join(lines) + "\n"


def test_roles_and_scope_of_the_dashboard(web: Web) -> None:
    c = web.client()
    manager = web.token("manager")
    rows = c.get("/api/v1/analytics/steps", headers=manager).json()
    offices = {r["office"] for r in rows}
    assert len(offices) == 6 and {r["step"] for r in rows} >= {"employer_agreement"}
    head = web.token("head.tun")
    own = c.get("/api/v1/analytics/steps", headers=head, params={"office": "GAF"}).json()
    assert {r["office"] for r in own} == {"TUN"}  # the office filter cannot widen the scope
    counsellor = web.token("counsellor.tun")
    assert c.get("/api/v1/analytics/steps", headers=counsellor).status_code == 403
    assert c.get("/api/v1/analytics/evidence?programme=civp", headers=head).status_code == 403


def test_baseline_upload_then_evidence_on_the_page(web: Web) -> None:
    c = web.client()
    manager = web.token("manager")
    bad = c.post(
        "/api/v1/analytics/baseline",
        headers=manager,
        json={
            "filename": "x.csv",
            "csv": "office,programme,step,date,hours\nZZZ,civp,s,2024-01-01,3\n",
        },
    )
    assert bad.status_code == 422 and "line 2" in bad.json()["fields"]
    auditor = web.token("auditor")
    refused = c.post(
        "/api/v1/analytics/baseline",
        headers=auditor,
        json={"filename": "b.csv", "csv": _baseline()},
    )
    assert refused.status_code == 403
    ok = c.post(
        "/api/v1/analytics/baseline",
        headers=manager,
        json={"filename": "b.csv", "csv": _baseline()},
    )
    assert ok.status_code == 201 and ok.json()["cases"] == 480
    evidence = c.get("/api/v1/analytics/evidence?programme=civp", headers=auditor).json()
    steps = {s["step"]: s for s in evidence["steps"]}
    assert steps["employer_agreement"]["digital_cases"] > 0
    assert steps["employer_agreement"]["reduction"]["estimate"] > 0.9
    assert evidence["difference_in_differences"]["time_saved"]["estimate"] > 0.5

    browser, _ = web.login("manager")
    page = browser.get("/analytics", params={"programme": "civp"})
    assert page.status_code == 200
    assert page.text.count('data-testid="step-row"') >= 6
    assert page.text.count('data-testid="evidence-row"') == 2 and 'data-testid="did"' in page.text
    exported = browser.get("/analytics.csv", params={"programme": "civp"})
    assert exported.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(exported.text)))
    assert table and {"step", "median_hours", "median_waiting_hours"} <= set(table[0])
    ar, _csrf = web.login("head.bar")  # the demo's Ben Arous staff use Arabic
    assert 'dir="rtl"' in ar.get("/analytics").text
    assert ar.get("/analytics").text.count("آجال المعالجة") >= 1


def _signed_and_paid(web: Web, office: str, count: int, signed_days: int, paid_days: int) -> None:
    """``count`` contracts of a programme the demo does not have ("leadtest"), each signed
    ``signed_days`` and first paid ``paid_days`` after its request."""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from engine.models import Contract, Office, PaymentOrder, StepTiming

    requested = datetime(2025, 2, 3, 9, 0, tzinfo=UTC)
    with web.aqd.session() as s, s.begin():
        office_id = s.scalar(select(Office.id).where(Office.code == office))
        definition = s.scalar(select(Contract.definition_id).limit(1))
        assert office_id is not None and definition is not None
        for i in range(count):
            c = Contract(
                number=f"LEAD-{office}-{i}",
                programme="leadtest",
                definition_id=definition,
                office_id=office_id,
                status="active",
                started_at=requested + timedelta(hours=i),
            )
            s.add(c)
            s.flush()
            s.add(
                StepTiming(
                    contract_id=c.id,
                    instance_id=0,
                    event_seq=9,
                    task_guid=f"lead-{c.id}",
                    bpmn_id="activate",
                    spec_type="ScriptTask",
                    started_at=c.started_at + timedelta(days=signed_days),
                    duration_us=1,
                )
            )
            s.add(
                PaymentOrder(
                    idempotency_key=f"payment:{c.number}:1:beneficiary:allowance",
                    end_to_end_id=f"LEAD{c.id:010d}",
                    contract_id=c.id,
                    contract_number=c.number,
                    programme="leadtest",
                    office_code=office,
                    period="2025-03",
                    contract_month=1,
                    payee_kind="beneficiary",
                    payee_name="B",
                    kind="allowance",
                    amount_millimes=1000,
                    status="paid",
                    ordered_at=c.started_at,
                    settled_at=c.started_at + timedelta(days=paid_days),
                )
            )


def test_lead_times_on_the_page_in_csv_and_the_api(web: Web) -> None:
    _signed_and_paid(web, "TUN", 3, signed_days=12, paid_days=40)
    _signed_and_paid(web, "GAF", 2, signed_days=5, paid_days=33)
    c = web.client()
    manager = web.token("manager")
    rows = c.get(
        "/api/v1/analytics/lead-times", headers=manager, params={"programme": "leadtest"}
    ).json()
    assert [(r["office"], r["milestone"], r["count"], r["median_days"]) for r in rows] == [
        ("GAF", "signed", 2, 5.0),
        ("GAF", "first_payment", 2, 33.0),
        ("TUN", "signed", 3, 12.0),
        ("TUN", "first_payment", 3, 40.0),
    ]
    monthly = c.get(
        "/api/v1/analytics/lead-times",
        headers=manager,
        params={"programme": "leadtest", "month": "2025-02"},
    ).json()
    assert [(r["office"], r["milestone"]) for r in monthly] == [
        ("GAF", "signed"),
        ("TUN", "signed"),
    ]
    head = web.token("head.tun")
    own = c.get("/api/v1/analytics/lead-times", headers=head, params={"office": "GAF"}).json()
    assert {r["office"] for r in own} == {"TUN"}
    assert (
        c.get("/api/v1/analytics/lead-times", headers=web.token("counsellor.tun")).status_code
        == 403
    )

    browser, _ = web.login("manager")
    page = browser.get("/analytics", params={"programme": "leadtest"})
    assert page.status_code == 200
    assert page.text.count('data-testid="lead-time-row"') == 2
    assert (
        "12 j" in page.text
        and "40 j" in page.text
        and "De la demande au contrat signé" in page.text
    )
    exported = browser.get("/analytics/lead-times.csv", params={"programme": "leadtest"})
    assert exported.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["office"], r["milestone"], r["median_days"]) for r in table] == [
        ("GAF", "signed", "5.0"),
        ("GAF", "first_payment", "33.0"),
        ("TUN", "signed", "12.0"),
        ("TUN", "first_payment", "40.0"),
    ]
    ar, _csrf = web.login("head.bar")
    arabic = ar.get("/analytics").text
    assert "الآجال الإجمالية" in arabic and "من الطلب إلى العقد الممضى" in arabic


def test_an_end_to_end_baseline_shows_in_days_on_the_page(web: Web) -> None:
    """A baseline of the paper's request-to-signature time (step ``signed``) is compared with
    the contracts' lead times, in days."""
    from datetime import UTC, datetime, timedelta

    from tests.helpers.analytics import Seeder

    seeder = Seeder(web)  # a programme the demo does not have: its contracts are these
    for i in range(5):
        requested = datetime(2025, 1, 6, 8, tzinfo=UTC) + timedelta(hours=i)
        seeder.contract("TUN", requested, timedelta(days=12), programme="leadtest")
    rows = "".join(f"TUN,leadtest,signed,2024-0{1 + i % 9}-10,{45 * 24}\n" for i in range(30))
    ok = web.client().post(
        "/api/v1/analytics/baseline",
        headers=web.token("manager"),
        json={"filename": "paper-signed.csv", "csv": "office,programme,step,date,hours\n" + rows},
    )
    assert ok.status_code == 201
    browser, _ = web.login("manager")
    page = browser.get("/analytics", params={"programme": "leadtest"}).text
    row = re.search(r'<tr data-testid="evidence-row">(.*?)</tr>', page, re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    assert cells[0] == "De la demande au contrat signé"
    assert re.fullmatch(r"45\s+j", cells[1]) and re.fullmatch(r"12\s+j", cells[2]), cells
    assert cells[3].startswith("73.3 %")
