"""Karama's employer conditions (issue 20 item 2; notes/PROGRAMMES.md section 2.5, table D5): a
private-sector firm or a liberal profession whose tax and CNSS situation is up to date
(D2019-542, [S13][S15b], confidence M), decided by karama_employer_eligibility (hit policy
FIRST, the matching rules checked against it) and through a Karama contract, where a refusal
ends the request with its reason code before the employer's agreement."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from engine.audit.replay import history_of
from engine.employers import Proof, record_certificate, record_status
from engine.models import Contract, Employer, HumanTask
from tests.conftest import World, make_world
from tests.helpers.decisions import evaluate
from tests.helpers.karama import REQUEST
from tests.processes.scenarios import main_data

DAY = "2025-03-03"


def case(
    status: str = "PRIVATE_FIRM", tax: str | None = "2025-12-31", cnss: str | None = "2025-12-31"
) -> dict[str, Any]:
    return {
        "employer_standing": {
            "legal_status": status,
            "tax_certificate_until": tax,
            "cnss_certificate_until": cnss,
            "checked_on": DAY,
        }
    }


CASES: list[tuple[str, dict[str, Any], bool, str]] = [
    ("a private firm, certificates valid", case(), True, "OK"),
    ("a liberal profession, certificates valid", case("LIBERAL_PROFESSION"), True, "OK"),
    ("a public administration", case("PUBLIC_ADMINISTRATION"), False, "EMPLOYER_PUBLIC_SECTOR"),
    (
        "a public establishment with commercial status",
        case("PUBLIC_ESTABLISHMENT_COMMERCIAL"),
        False,
        "EMPLOYER_PUBLIC_SECTOR",
    ),
    (
        "a public training establishment",
        case("PUBLIC_TRAINING_ESTABLISHMENT"),
        False,
        "EMPLOYER_PUBLIC_SECTOR",
    ),
    ("an association", case("ASSOCIATION"), False, "EMPLOYER_SECTOR"),
    ("a status nobody checked", case("UNKNOWN"), False, "EMPLOYER_STATUS_UNKNOWN"),
    ("the tax certificate expires on the request day", case(tax=DAY), True, "OK"),
    (
        "the tax certificate expired the day before",
        case(tax="2025-03-02"),
        False,
        "TAX_NOT_UP_TO_DATE",
    ),
    ("no tax certificate", case(tax=None), False, "TAX_NOT_UP_TO_DATE"),
    ("the CNSS certificate expires on the request day", case(cnss=DAY), True, "OK"),
    (
        "the CNSS certificate expired the day before",
        case(cnss="2025-03-02"),
        False,
        "CNSS_NOT_UP_TO_DATE",
    ),
    ("no CNSS certificate", case(cnss=None), False, "CNSS_NOT_UP_TO_DATE"),
    (
        "both certificates expired: the tax row comes first",
        case(tax="2024-01-01", cnss="2024-01-01"),
        False,
        "TAX_NOT_UP_TO_DATE",
    ),
    (
        "a public administration with valid certificates",
        case("PUBLIC_ADMINISTRATION", DAY, DAY),
        False,
        "EMPLOYER_PUBLIC_SECTOR",
    ),
]


@pytest.mark.parametrize(("name", "data", "eligible", "reason"), CASES, ids=[c[0] for c in CASES])
def test_employer_condition(name: str, data: dict[str, Any], eligible: bool, reason: str) -> None:
    answer = evaluate("karama", "karama_employer_eligibility", data, date.fromisoformat(DAY))
    out = answer.outputs
    assert (out["employer_eligible"], out["employer_reason"]) == (eligible, reason), name
    assert out["employer_legal_basis"].startswith("D2019-542 (Karama employers")
    assert "[S13][S15b]" in out["employer_legal_basis"]


def test_no_rule_before_the_programme_has_parameters() -> None:
    """Before 1 June 2019 (the first day of Karama's parameters, décret 2019-542) no rule applies:
    aqd decide answers "no rule in force" for that day."""
    answer = evaluate("karama", "karama_employer_eligibility", case(), date(2019, 5, 31))
    assert answer.outputs == {} and answer.applying == []
    assert evaluate("karama", "karama_employer_eligibility", case(), date(2019, 6, 1)).matched


# -- through a Karama contract -------------------------------------------------------------------

PROOF = Proof("attestation.pdf", b"%PDF-1.4 scan")


def karama_world(db_url: str, status: str, tax_until: str, cnss_until: str) -> World:
    """The world with Karama deployed and a second employer whose record says ``status``."""
    world = make_world(db_url, programmes=("karama",))
    now = world.clock.now()
    with world.aqd.session() as s, s.begin():
        first = s.scalar(select(Employer).where(Employer.matricule_fiscal == "1234567A"))
        assert first is not None
        s.add(
            Employer(
                name="Régie",
                matricule_fiscal="7654321B",
                cnss_number="9",
                sector="services",
                governorate="Tunis",
                office_id=first.office_id,
            )
        )
        s.flush()
        record_status(s, "7654321B", status, date(2020, 1, 1), PROOF, "counsellor", now)
        for kind, until in (("tax", tax_until), ("cnss", cnss_until)):
            record_certificate(
                s,
                "7654321B",
                kind,
                f"{kind}-1",
                date(2024, 12, 1),
                date.fromisoformat(until),
                PROOF,
                "counsellor",
                now,
            )
    return world


def requested(world: World) -> tuple[str, dict[str, Any], list[str]]:
    """(status with its reason code, the start data's employer_standing, open steps) of a
    request by 7654321B."""
    cid = world.start_programme("karama", {**REQUEST, "employer_mf": "7654321B"})
    with world.aqd.session() as s:
        contract = s.get(Contract, cid)
        assert contract is not None
        data = history_of(s, cid)["events"][0]["payload"]["data"]
        steps = list(
            s.scalars(
                select(HumanTask.bpmn_id).where(
                    HumanTask.contract_id == cid, HumanTask.status == "ready"
                )
            )
        )
        status = contract.status
    reason = main_data(world, cid).get("rejection_reason")
    return f"{status} {reason}" if reason else status, data["employer_standing"], steps


def test_a_public_establishment_with_commercial_status_is_refused(db_url: str) -> None:
    world = karama_world(db_url, "PUBLIC_ESTABLISHMENT_COMMERCIAL", "2025-12-31", "2025-12-31")
    status, standing, steps = requested(world)
    assert standing["legal_status"] == "PUBLIC_ESTABLISHMENT_COMMERCIAL"
    assert (status, steps) == ("rejected EMPLOYER_PUBLIC_SECTOR", [])


def test_a_cnss_certificate_expiring_on_the_request_day_is_valid(db_url: str) -> None:
    world = karama_world(db_url, "LIBERAL_PROFESSION", "2025-12-31", "2025-03-03")
    status, standing, steps = requested(world)
    assert standing["checked_on"] == "2025-03-03" == standing["cnss_certificate_until"]
    assert (status, steps) == ("in_review", ["employer_agreement"])


def test_a_tax_certificate_expired_the_day_before_refuses(db_url: str) -> None:
    world = karama_world(db_url, "PRIVATE_FIRM", "2025-03-02", "2025-12-31")
    status, _, steps = requested(world)
    assert (status, steps) == ("rejected TAX_NOT_UP_TO_DATE", [])
