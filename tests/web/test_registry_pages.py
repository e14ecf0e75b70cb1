"""The counsellor's registry card (api/pages/registry.py): a counsellor of the job seeker's
office corrects a fact with a reason and a proof, and the card's history shows it; another
office's counsellor gets 404 and an employer 403; a bad value is refused with 422 naming the
field; a Karama request the job seeker accepts afterwards starts on the corrected fact."""

from __future__ import annotations

import io

from PIL import Image
from sqlalchemy import func, select

from engine import forms_bridge, inbox
from engine.models import Beneficiary, BeneficiaryFactChange, Contract, Event
from engine.registry import registry_facts
from tests.helpers.registry import seeker_account
from tests.web.conftest import PASSWORD, Web


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "white").save(out, format="PNG")
    return out.getvalue()


def test_a_counsellor_corrects_a_fact_and_a_karama_request_starts_on_it(web: Web) -> None:
    cin, born, person_id = seeker_account(web.aqd, "TUN", "seeker.four", web.clock.now())
    browser, csrf = web.login("counsellor.tun")
    card = browser.get(f"/registry/{cin}")
    assert card.status_code == 200 and 'data-testid="registry-facts"' in card.text
    with web.aqd.session() as s:
        person = s.get(Beneficiary, person_id)
        assert person is not None and person.diploma_level == "OTHER"
    for field, value in (("diploma_level", "HIGHER_ED"), ("diploma_date", "2019-09-30")):
        r = browser.post(
            f"/registry/{cin}",
            data={"csrf_token": csrf, "field": field, "value": value, "reason": "diplôme vu"},
            files={"proof": ("diplome.png", _png(), "image/png")},
        )
        assert r.status_code == 303, r.text
        assert r.headers["location"] == f"/registry/{cin}?flash=fact_changed"
    page = browser.get(f"/registry/{cin}").text
    history = page.split('data-testid="registry-history"', 1)[1]
    assert "diplôme vu" in history and "2016-06-30" in history and "2019-09-30" in history
    assert "counsellor.tun" in history and "diplome.png" in history
    with web.aqd.session() as s:
        change = s.scalars(
            select(BeneficiaryFactChange).order_by(BeneficiaryFactChange.id.desc())
        ).first()
    assert change is not None
    assert (change.field, change.before, change.after) == (
        "diploma_date",
        "2016-06-30",
        "2019-09-30",
    )
    proof = browser.get(f"/registry/{cin}/proofs/{change.id}")
    assert proof.status_code == 200 and proof.content == _png()

    c = web.client()
    body = {"programme": "karama", "beneficiary_cin": cin, "birth_date": born}
    body["data"] = {"start_date": "2025-04-01"}  # type: ignore[assignment]
    asked = c.post("/api/v1/contract-requests", headers=web.token("employer.tun"), json=body)
    assert asked.status_code == 202, asked.text
    seeker = c.post("/api/v1/tokens", json={"username": "seeker.four", "password": PASSWORD})
    reference = asked.json()["reference"]
    accepted = c.post(
        f"/api/v1/contract-requests/{reference}/accept",
        headers={"Authorization": f"Bearer {seeker.json()['token']}"},
    )
    assert accepted.status_code == 200, accepted.text
    with web.aqd.session() as s:
        start = s.scalar(
            select(Event.payload)
            .join(Contract, Contract.id == Event.contract_id)
            .where(Contract.number == accepted.json()["contract_number"], Event.seq == 1)
        )
    assert isinstance(start, dict)
    assert (start["data"]["diploma_date"], start["data"]["diploma_level"]) == (
        "2019-09-30",
        "HIGHER_ED",
    )


def test_other_offices_and_employers_are_refused_and_bad_values_named(web: Web) -> None:
    cin, _born, _id = seeker_account(web.aqd, "TUN", "seeker.four", web.clock.now())
    other, other_csrf = web.login("counsellor.gaf")
    assert other.get(f"/registry/{cin}").status_code == 404
    found = other.get(f"/registry?cin={cin}")  # the search leads to the card, which is hidden
    assert other.get(found.headers["location"]).status_code == 404
    form = {"csrf_token": other_csrf, "field": "disabled", "value": "true", "reason": "x"}
    assert other.post(f"/registry/{cin}", data=form).status_code == 404
    employer, employer_csrf = web.login("employer.tun")
    assert employer.get(f"/registry/{cin}").status_code == 403
    form["csrf_token"] = employer_csrf
    assert employer.post(f"/registry/{cin}", data=form).status_code == 403

    browser, csrf = web.login("counsellor.tun")
    assert browser.get(f"/registry?cin={cin}").headers["location"] == f"/registry/{cin}"
    bad = {"csrf_token": csrf, "field": "job_loss_reason", "value": "LAYOFF", "reason": "x"}
    r = browser.post(f"/registry/{cin}", data=bad)
    assert r.status_code == 422
    row = r.text.split('data-fact="job_loss_reason"', 1)[1].split("</tr>", 1)[0]
    assert "valeur non autorisée" in row  # the field's own message, in the counsellor's French
    late = {**bad, "field": "diploma_date", "value": "2101-01-01"}
    r = browser.post(f"/registry/{cin}", data=late)
    assert r.status_code == 422
    assert 'data-fact="diploma_date" class="invalid"' in r.text
    with web.aqd.session() as s:
        assert s.scalar(select(func.count()).select_from(BeneficiaryFactChange)) == 0


#: the terms an employer gives per programme beside the start date (what the request form asks)
TERMS: dict[str, dict[str, object]] = {"csc": {"host_type": "ASSOCIATION"}}


def test_every_demo_job_seeker_has_the_facts_each_programme_reads(web: Web) -> None:
    """The demo's registry feeds every start form that can be requested today, for every demo
    job seeker; and a job seeker accepts a request of each of those programmes."""
    now = web.clock.now()
    with web.aqd.session() as s:
        open_ = inbox.programmes_open_for_requests(s, now)
        people = s.scalars(select(Beneficiary).order_by(Beneficiary.id)).all()
        assert len(people) == 24 and len(open_) >= 4
        for chosen in open_:
            programme, form = chosen["programme"], str(chosen["start_form"])
            fields = set(forms_bridge.schema(programme, form)["properties"])
            for person in people:
                facts = registry_facts(s, person, None, now, fields)
                data = {
                    "office": "TUN",
                    "employer_mf": "1234567A",
                    "beneficiary_cin": person.cin,
                    **facts,
                    **TERMS.get(programme, {}),
                }
                forms_bridge.validate(programme, form, data)  # InvalidInput names a gap
    cin, born, _id = seeker_account(web.aqd, "TUN", "seeker.four", now)
    c = web.client()
    employer = web.token("employer.tun")
    seeker = web.token("seeker.four")
    for chosen in open_:
        programme = chosen["programme"]
        data = {"start_date": "2025-04-01", **TERMS.get(programme, {})}
        body = {"programme": programme, "beneficiary_cin": cin, "birth_date": born, "data": data}
        asked = c.post("/api/v1/contract-requests", headers=employer, json=body)
        assert asked.status_code == 202, (programme, asked.text)
        reference = asked.json()["reference"]
        accepted = c.post(f"/api/v1/contract-requests/{reference}/accept", headers=seeker)
        assert accepted.status_code == 200, (programme, accepted.text)
