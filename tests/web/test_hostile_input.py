"""Hostile values over the API: 422 naming the field, nothing stored (issue: NaN passed
``minimum``, was stored as null and broke the contract's replay; impossible dates passed)."""

from __future__ import annotations

from sqlalchemy import func, select

from engine.models import Beneficiary, Contract
from tests.web.conftest import Web

COMPANY = {
    "name": "Sonde SARL",
    "matricule_fiscal": "7654321C",
    "cnss_number": "445566",
    "sector": "informatique",
    "governorate": "Tunis",
    "office": "TUN",
    "username": "sonde",
    "password": "a-long-password",
}


def test_non_finite_numbers_and_impossible_dates_get_422_naming_the_field(web: Web) -> None:
    c = web.client()
    assert c.post("/api/v1/employers", json=COMPANY).status_code == 201
    token = c.post("/api/v1/tokens", json={"username": "sonde", "password": "a-long-password"})
    h = {"Authorization": f"Bearer {token.json()['token']}", "Content-Type": "application/json"}
    with web.aqd.session() as s:
        cin = s.scalar(select(Beneficiary.cin).order_by(Beneficiary.id))
        before = s.scalar(select(func.count()).select_from(Contract))
    for raw, field, message in [
        ("NaN", "months_worked_total", "must be a finite number"),
        ("Infinity", "months_worked_total", "must be a finite number"),
        ("-Infinity", "prior_civp_months", "must be a finite number"),
        ("1e999", "months_worked_continuous", "must be a finite number"),
        ('"2026-02-30"', "start_date", "not a valid date (YYYY-MM-DD)"),
        ('"not-a-date"', "start_date", "not a valid date (YYYY-MM-DD)"),
        ('"9999-12-31"', "start_date", "the date must be between 1900-01-01 and 2100-12-31"),
    ]:
        body = (
            f'{{"programme": "civp", "beneficiary_cin": "{cin}", '
            f'"data": {{"diploma_level": "BTS", "{field}": {raw}}}}}'
        )
        r = c.post("/api/v1/contracts", headers=h, content=body)
        assert r.status_code == 422, (raw, r.status_code, r.text)
        assert r.json()["fields"].get(field) == message, (raw, r.json())
    with web.aqd.session() as s:
        assert s.scalar(select(func.count()).select_from(Contract)) == before


def test_readiness_names_the_dependency_that_is_down_not_its_exception(web: Web) -> None:
    web.aqd.settings = web.aqd.settings.model_copy(
        update={"broker_url": "redis://127.0.0.1:1/0"}  # nothing listens on port 1
    )
    r = web.client().get("/readyz")
    assert r.status_code == 503
    assert r.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "broker": "unavailable"},
    }
    assert "127.0.0.1" not in r.text and "Error" not in r.text
