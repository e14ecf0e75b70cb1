"""Auditors step through a contract's history, see the state at any event with what each
event changed, and verify it; a tampered event is named."""

from __future__ import annotations

import re

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
