"""The processing-time dashboard and its API: scope by role, CSV export, baseline upload,
and the evidence (reduction and difference in differences) once a baseline exists."""

from __future__ import annotations

import csv
import io
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
