"""Auditors step through a contract's history, see the state at any event with what each
event changed, and verify it; a tampered event is named."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from engine.models import Contract, Event
from tests.web.conftest import Web


def _active_contract(web: Web) -> Contract:
    with web.aqd.session() as s:
        contract = s.scalars(
            select(Contract).where(Contract.status == "active").order_by(Contract.id)
        ).first()
    assert contract is not None
    return contract


def _finished(client: Any, run_id: int, headers: dict[str, str]) -> dict[str, Any]:
    """The run once done (or as it is after two minutes)."""
    deadline = time.monotonic() + 120
    while True:
        run: dict[str, Any] = client.get(f"/api/v1/verifications/{run_id}", headers=headers).json()
        if run["status"] == "done" or time.monotonic() > deadline:
            return run
        time.sleep(0.2)


def test_history_state_and_verification(web: Web) -> None:
    contract = _active_contract(web)
    auditor, csrf = web.login("auditor")
    page = auditor.get(f"/contracts/{contract.id}/history", params={"at": 2})
    assert page.status_code == 200
    assert page.text.count('data-testid="event"') == contract.last_seq
    assert 'aria-current="step"' in page.text and "position_title" in page.text
    assert 'data-testid="diff"' in page.text  # the agreement changed the workflow data
    api = web.client()
    h = web.token("auditor")
    state = api.get(f"/api/v1/contracts/{contract.id}/state", params={"at": 2}, headers=h).json()
    assert state["kind"] == "task_completed" and state["payload"]["bpmn_id"] == "employer_agreement"
    main = state["changes"]["main"]
    assert "position_title" in main["added"] or "position_title" in main["changed"]
    assert (
        api.get(f"/api/v1/contracts/{contract.id}/state", params={"at": 999}, headers=h).status_code
        == 404
    )
    result = auditor.post(f"/contracts/{contract.id}/verify", data={"csrf_token": csrf})
    assert 'data-ok="yes"' in result.text
    assert api.post(f"/api/v1/contracts/{contract.id}/verify", headers=h).json()["ok"] is True

    # an altered payload in the database is caught at its event
    with web.aqd.session() as s, s.begin():
        ev = s.scalar(select(Event).where(Event.contract_id == contract.id, Event.seq == 2))
        assert ev is not None
        payload = dict(ev.payload)
        payload["data"] = {**payload["data"], "employer_complement": 999}
        s.execute(update(Event).where(Event.id == ev.id).values(payload=payload))
    failed = auditor.post(f"/contracts/{contract.id}/verify", data={"csrf_token": csrf})
    assert 'data-ok="no"' in failed.text
    assert re.search(r"(échoué|failed) [^<]*2\.", failed.text)
    report = api.post(f"/api/v1/contracts/{contract.id}/verify", headers=h).json()
    assert report["ok"] is False and report["first_divergent_seq"] == 2


def test_who_may_audit(web: Web) -> None:
    contract = _active_contract(web)
    c = web.client()
    for user, code in (
        ("counsellor.tun", 200),
        ("counsellor.gaf", 404),
        ("employer.tun", 403),
        ("beneficiary.tun", 403),
        ("manager", 200),
    ):
        h = web.token(user)
        r = c.get(f"/api/v1/contracts/{contract.id}/state", params={"at": 1}, headers=h)
        assert r.status_code == code, (user, r.text)


def test_batch_verification_runs_in_the_background(web: Web) -> None:

    c = web.client()
    auditor = web.token("auditor")
    with web.aqd.session() as s, s.begin():
        ev = s.scalar(select(Event).where(Event.seq == 2).order_by(Event.contract_id))
        assert ev is not None
        tampered = ev.contract_id
        s.execute(update(Event).where(Event.id == ev.id).values(actor="someone else"))
    started = c.post("/api/v1/verifications", headers=auditor, json={})
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    run = _finished(c, run_id, auditor)
    with web.aqd.session() as s:
        total = len(s.scalars(select(Contract.id)).all())
        number = s.scalar(select(Contract.number).where(Contract.id == tampered))
    assert run["status"] == "done" and run["total"] == total == run["checked"]
    assert run["passed"] == total - 1
    assert [f["contract"] for f in run["failed"]] == [number]
    assert run["failed"][0]["first_divergent_seq"] == 2
    # an office head verifies their own office only; a counsellor cannot start one
    head = web.token("head.gaf")
    own = c.post("/api/v1/verifications", headers=head, json={"office": "TUN", "sample": 2})
    assert own.status_code == 202 and own.json()["scope"]["office"].startswith("#")
    assert own.json()["total"] == 2
    assert c.get(f"/api/v1/verifications/{run_id}", headers=head).status_code == 404
    counsellor = web.token("counsellor.tun")
    assert c.post("/api/v1/verifications", headers=counsellor, json={}).status_code == 403
    # a run that validates the signatures too (each signed document's bytes are read)
    signed = c.post("/api/v1/verifications", headers=auditor, json={"signatures": True})
    assert signed.status_code == 202 and signed.json()["scope"]["signatures"] is True
    again = _finished(c, signed.json()["id"], auditor)
    assert again["status"] == "done" and again["passed"] == total - 1
    assert [f["contract"] for f in again["failed"]] == [number]
    browser, _ = web.login("auditor")
    page = browser.get("/verifications")
    assert page.status_code == 200 and f'id="run-{run_id}"' in page.text
    assert 'name="signatures"' in page.text and "signatures validées" in page.text


def test_history_shows_each_decision_with_its_inputs_rule_and_legal_basis(web: Web) -> None:
    """The request's event evaluated the eligibility tables: the auditor sees each decision's
    inputs, the rule that matched (with the decree it cites) and its outputs; an event that
    ran no decision shows none."""
    contract = _active_contract(web)
    auditor, _ = web.login("auditor")
    page = auditor.get(f"/contracts/{contract.id}/history", params={"at": 1})
    assert page.status_code == 200
    assert page.text.count('data-testid="decision"') == 3 and "Règle appliquée" in page.text
    assert "D2019-542" in page.text and "D2023-461 art.11" in page.text
    state = web.client().get(
        f"/api/v1/contracts/{contract.id}/state", params={"at": 1}, headers=web.token("auditor")
    )
    decisions = {d["step"]: d for d in state.json()["decisions"]}
    assert set(decisions) == {"primo", "eligibility", "employer_eligibility"}
    eligibility = decisions["eligibility"]
    inputs = {i["label"]: i["value"] for i in eligibility["inputs"]}
    assert inputs["nationality"] == "TN" and inputs["is_primo"] is True
    [rule] = eligibility["matched"]
    assert rule["description"] == "D2019-542" and rule["row"] >= 1
    assert eligibility["outputs"]["eligible"] is True
    assert eligibility["outputs"]["legal_basis"] == rule["description"]
    # The employer's agreement (event 2) ran one table, the terms the texts bound
    # (civp_terms); the counsellor's validation (event 3) ran none.
    agreed = auditor.get(f"/contracts/{contract.id}/history", params={"at": 2})
    assert agreed.text.count('data-testid="decision"') == 1 and "civp_terms_table" in agreed.text
    validated = auditor.get(f"/contracts/{contract.id}/history", params={"at": 3})
    assert validated.status_code == 200
    assert 'data-testid="decision"' not in validated.text


def test_the_auditor_sees_and_verifies_the_anchors(web: Web, tmp_path: Path) -> None:
    """Once the hourly anchor ran, a contract's verification says up to which event its history
    was time-stamped; the verification page lists the anchors and verifies them."""
    from engine.audit.anchors import create_anchor

    web.aqd.settings.var_dir = tmp_path  # the development TSA's keys
    contract = _active_contract(web)
    auditor, csrf = web.login("auditor")
    before = auditor.post(f"/contracts/{contract.id}/verify", data={"csrf_token": csrf})
    assert 'data-ok="yes"' in before.text and "Pas encore ancré" in before.text
    made = create_anchor(web.aqd)
    assert made["stamped"] == [made["anchor"]] and made["contracts"] >= 1
    after = auditor.post(f"/contracts/{contract.id}/verify", data={"csrf_token": csrf})
    found = re.search(r'data-testid="anchored">([^<]*)<', after.text)
    assert found is not None
    assert f"Les événements 1 à {contract.last_seq} ont été horodatés" in found.group(1)
    page = auditor.get("/verifications")
    assert page.text.count('data-testid="anchor"') == 1 and "development TSA" in page.text
    checked = auditor.post("/verifications/anchors", data={"csrf_token": csrf})
    assert 'data-testid="anchors-result"' in checked.text and 'data-ok="yes"' in checked.text
    api, h = web.client(), web.token("auditor")
    (listed,) = api.get("/api/v1/anchors", headers=h).json()
    assert listed["id"] == made["anchor"] and listed["contracts"] == made["contracts"]
    assert api.post("/api/v1/anchors/verify", headers=h).json()["ok"] is True
    counsellor = web.token("counsellor.tun")
    assert api.get("/api/v1/anchors", headers=counsellor).status_code == 403
    assert api.post("/api/v1/anchors/verify", headers=counsellor).status_code == 403
    head, head_csrf = web.login("head.tun")  # office heads see the list, auditors verify
    assert head.post("/verifications/anchors", data={"csrf_token": head_csrf}).status_code == 403
