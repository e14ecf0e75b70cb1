"""Issue 19 items 3 to 5 over the API: an employer's request names the job seeker and the
terms, never a registry fact; the job seeker accepts it in their account; a second contract for
the same person and programme is refused with its reason code in both languages; a CIN probe
is answered alike for existing and unknown people, and look-ups are rate-limited."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.i18n import catalog
from engine.models import (
    Beneficiary,
    Contract,
    ContractRequest,
    Employer,
    Event,
    HumanTask,
    User,
)
from engine.registry import REGISTRY_FACTS
from tests.helpers.registry import seeker_account
from tests.web.conftest import PASSWORD, Web


def _person(web: Web, username: str) -> tuple[str, str]:
    """The CIN and date of birth of a demo job seeker with an account."""
    with web.aqd.session() as s:
        person = s.scalar(
            select(Beneficiary)
            .join(User, User.beneficiary_id == Beneficiary.id)
            .where(User.username == username)
        )
        assert person is not None and person.birth_date is not None
        return person.cin, person.birth_date.isoformat()


def _ask(c: TestClient, h: dict[str, str], cin: str, born: str, **data: Any) -> Any:
    body = {"programme": "civp", "beneficiary_cin": cin, "birth_date": born, "data": data}
    return c.post("/api/v1/contract-requests", headers=h, json=body)


def test_a_request_cannot_set_a_registry_fact_and_the_contract_reads_the_registry(
    web: Web,
) -> None:
    c = web.client()
    employer = web.token("employer.tun")
    cin, born, person_id = seeker_account(web.aqd, "TUN", "seeker.four", web.clock.now())
    with web.aqd.session() as s:
        before = s.scalar(select(func.count()).select_from(ContractRequest))
    for field, value in (
        ("disabled", True),
        ("request_date", "2024-01-01"),
        ("diploma_level", "HIGHER_ED"),
        ("prior_civp_months", 0),
        ("office", "GAF"),
    ):
        r = _ask(c, employer, cin, born, start_date="2025-04-01", **{field: value})
        assert r.status_code == 422, (field, r.text)
        assert r.json()["fields"] == {field: "kept by the job-seeker registry"}
    with web.aqd.session() as s:
        assert s.scalar(select(func.count()).select_from(ContractRequest)) == before

    asked = _ask(c, employer, cin, born, start_date="2025-04-01")
    assert asked.status_code == 202, asked.text
    reference = asked.json()["reference"]
    seeker = {
        "Authorization": "Bearer "
        + c.post("/api/v1/tokens", json={"username": "seeker.four", "password": PASSWORD}).json()[
            "token"
        ]
    }
    with web.aqd.session() as s:
        company = s.scalar(
            select(Employer.name)
            .join(User, User.employer_id == Employer.id)
            .where(User.username == "employer.tun")
        )
    mine = c.get("/api/v1/contract-requests", headers=seeker).json()
    assert [(r["reference"], r["status"], r["employer"]) for r in mine] == [
        (reference, "awaiting_acceptance", company)
    ]
    other = web.token("beneficiary.tun")
    assert c.get("/api/v1/contract-requests", headers=other).json() == []
    assert c.post(f"/api/v1/contract-requests/{reference}/accept", headers=other).status_code == 404
    accepted = c.post(f"/api/v1/contract-requests/{reference}/accept", headers=seeker)
    assert accepted.status_code == 200, accepted.text
    number = accepted.json()["contract_number"]
    assert accepted.json()["status"] == "accepted" and number.startswith("CIVP-")

    with web.aqd.session() as s:
        person = s.get(Beneficiary, person_id)
        contract = s.scalar(select(Contract).where(Contract.number == number))
        assert person is not None and contract is not None
        start = s.scalar(
            select(Event.payload).where(Event.contract_id == contract.id, Event.seq == 1)
        )
    assert isinstance(start, dict)
    data = start["data"]
    assert contract.beneficiary_id == person_id and contract.office_id == person.office_id
    assert {k: data[k] for k in REGISTRY_FACTS if k in data} == {
        "nationality": person.nationality,
        "registered_at_office": True,
        "diploma_level": person.diploma_level,
        "disabled": person.disabled,
        "schooling_ok": True,
        "months_worked_continuous": 0,
        "months_worked_total": person.months_worked_total,
        # the demo's refused CIVP never ran: no month counts
        "prior_civp_months": person.prior_civp_months,
        "request_date": web.clock.now().date().isoformat(),
    }
    assert data["office"] == "TUN" and data["start_date"] == "2025-04-01"
    # the office sees the facts the decision read and the job seeker's other contracts; the
    # employer does not
    with web.aqd.session() as s:
        guid = s.scalar(
            select(HumanTask.task_guid).where(
                HumanTask.contract_id == contract.id, HumanTask.status == "ready"
            )
        )
        demo_contract = s.scalar(
            select(Contract.number).where(
                Contract.beneficiary_id == person_id, Contract.id != contract.id
            )
        )
    assert guid is not None and demo_contract is not None
    staff = c.get(f"/api/v1/tasks/{guid}", headers=web.token("counsellor.tun")).json()
    assert staff["registry"]["facts"] == {k: data[k] for k in REGISTRY_FACTS if k in data}
    assert [(o["number"], o["status"]) for o in staff["registry"]["other_contracts"]] == [
        (demo_contract, "rejected")
    ]
    assert "registry" not in c.get(f"/api/v1/tasks/{guid}", headers=employer).json()
    page = web.login("counsellor.tun")[0].get(f"/tasks/{guid}")
    assert 'data-testid="registry-facts"' in page.text and demo_contract in page.text
    # the employer sees the contract now, and its request says which
    rows = c.get("/api/v1/contract-requests", headers=employer).json()
    assert (rows[0]["reference"], rows[0]["status"], rows[0]["contract_number"]) == (
        reference,
        "accepted",
        number,
    )
    again = c.post(f"/api/v1/contract-requests/{reference}/accept", headers=seeker)
    assert again.status_code == 409 and again.json()["error"] == "conflict"


def test_a_second_contract_for_the_same_job_seeker_and_programme_is_refused(web: Web) -> None:
    """beneficiary.tun holds the demo's active CIVP with employer.tun."""
    c = web.client()
    employer = web.token("employer2.tun")
    seeker = web.token("beneficiary.tun")
    cin, born = _person(web, "beneficiary.tun")
    asked = _ask(c, employer, cin, born, start_date="2025-04-01")
    assert asked.status_code == 202, asked.text
    reference = asked.json()["reference"]
    with web.aqd.session() as s:
        contracts = s.scalar(select(func.count()).select_from(Contract))
    r = c.post(f"/api/v1/contract-requests/{reference}/accept", headers=seeker)
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["error"] == "request_refused"
    assert body["fields"]["reason"] == "DUPLICATE_CONTRACT"
    labels = {
        "fr": catalog("fr")["reason:DUPLICATE_CONTRACT"],
        "ar": catalog("ar")["reason:DUPLICATE_CONTRACT"],
    }
    assert body["fields"]["reason_label"] == labels
    with web.aqd.session() as s:
        assert s.scalar(select(func.count()).select_from(Contract)) == contracts
    [row] = c.get("/api/v1/contract-requests", headers=employer).json()
    assert (row["status"], row["reason"], row["reason_label"]) == (
        "refused",
        "DUPLICATE_CONTRACT",
        labels,
    )
    assert row["contract_number"] is None

    # Karama with the firm that already had them on a CIVP (notes §2.5, [S14])
    first_employer = web.token("employer.tun")
    karama = c.post(
        "/api/v1/contract-requests",
        headers=first_employer,
        json={"programme": "karama", "beneficiary_cin": cin, "birth_date": born},
    )
    assert karama.status_code == 202, karama.text
    r = c.post(f"/api/v1/contract-requests/{karama.json()['reference']}/accept", headers=seeker)
    assert r.status_code == 409, r.text
    assert r.json()["fields"]["reason"] == "KARAMA_PRIOR_SUBSIDY_SAME_FIRM"
    assert r.json()["fields"]["confidence"] == "M"


def test_cin_probing_answers_alike_and_is_rate_limited(web: Web) -> None:
    c = web.client()
    employer = web.token("employer2.gaf")
    cin, born = _person(web, "beneficiary.tun")  # a person of another office
    probes = [
        (cin, born),  # registered
        (cin, "1990-01-01"),  # registered, wrong date of birth
        ("99999999", born),  # nobody
    ]
    answers = []
    for probe_cin, probe_born in probes:
        r = _ask(c, employer, probe_cin, probe_born)
        assert r.status_code == 202, r.text
        answer = dict(r.json())
        assert set(answer) == {"reference", "programme", "status"}
        answer.pop("reference")
        answers.append((r.status_code, answer, sorted(r.headers.keys())))
    assert answers[0] == answers[1] == answers[2]
    rows = c.get("/api/v1/contract-requests", headers=employer).json()
    shapes = [{k: v for k, v in row.items() if k not in ("reference",)} for row in rows]
    assert shapes[0] == shapes[1] == shapes[2]
    assert all(row["employer"] is None and row["contract_number"] is None for row in rows)
    with web.aqd.session() as s:
        person = s.scalar(select(Beneficiary).where(Beneficiary.cin == cin))
        assert person is not None
    assert person.first_name not in str(rows) and person.last_name not in str(rows)

    web.aqd.settings = web.aqd.settings.model_copy(update={"request_lookups_per_hour": 3})
    for probe_cin, probe_born in probes:
        r = _ask(c, employer, probe_cin, probe_born)
        assert r.status_code == 429, r.text
        assert r.json()["error"] == "too_many_attempts"
        assert int(r.headers["Retry-After"]) == 3601
    # another employer is not limited by this one's look-ups
    assert _ask(c, web.token("employer.gaf"), "99999999", born).status_code == 202
    web.clock.advance(seconds=3601)
    assert _ask(c, employer, "99999999", born).status_code == 202
