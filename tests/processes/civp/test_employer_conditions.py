"""CIVP's employer conditions besides the insertion rate (issue 20 item 2, table D3): the host is
a private firm or a liberal profession (D2019-542 [S6]; the SIVP stopped in the public sector
around 2010, public training establishments apart [S26]), with tax and CNSS certificates valid
on the request day (assumed for CIVP, sourced for Karama: confidence L). Each case is decided
by civp_employer_eligibility with the parameters in force on its day; the rules that match are
checked against the table's hit policy (FIRST). Then the same conditions through a contract:
the employer's record, kept with proofs, refuses or admits the request."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select

from engine.employers import Proof, employer_standing, record_certificate, record_status
from engine.errors import InvalidInput
from engine.models import Contract, Employer
from tests.conftest import World, make_world
from tests.helpers.decisions import evaluate
from tests.processes.scenarios import main_data

DAY = "2025-03-03"
HISTORY = {"completed": 0, "inserted": 0, "rate": None, "months_since_last_end": None}


def case(
    status: str = "PRIVATE_FIRM",
    tax: str | None = "2025-06-30",
    cnss: str | None = "2025-06-30",
    day: str = DAY,
    history: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "employer_standing": {
            "legal_status": status,
            "tax_certificate_until": tax,
            "cnss_certificate_until": cnss,
            "checked_on": day,
        },
        "employer_record": history or HISTORY,
    }


CASES: list[tuple[str, dict[str, Any], bool, str, str]] = [
    ("a private firm, certificates valid", case(), True, "NO_HISTORY", "D2023-461"),
    ("a liberal profession", case("LIBERAL_PROFESSION"), True, "NO_HISTORY", "D2023-461"),
    (
        "a public training establishment (the exception [S26])",
        case("PUBLIC_TRAINING_ESTABLISHMENT"),
        True,
        "NO_HISTORY",
        "D2023-461",
    ),
    (
        "a public administration",
        case("PUBLIC_ADMINISTRATION"),
        False,
        "EMPLOYER_PUBLIC_SECTOR",
        "[S26]",
    ),
    (
        "a public establishment with commercial status",
        case("PUBLIC_ESTABLISHMENT_COMMERCIAL"),
        False,
        "EMPLOYER_PUBLIC_SECTOR",
        "not found (confidence L)",
    ),
    ("an association", case("ASSOCIATION"), False, "EMPLOYER_SECTOR", "D2019-542"),
    ("a status nobody checked", case("UNKNOWN"), False, "EMPLOYER_STATUS_UNKNOWN", "[S6]"),
    (
        "a public administration with valid certificates and a good record",
        case(
            "PUBLIC_ADMINISTRATION", history={**HISTORY, "completed": 2, "inserted": 2, "rate": 1.0}
        ),
        False,
        "EMPLOYER_PUBLIC_SECTOR",
        "[S26]",
    ),
    (
        "the tax certificate expires on the request day",
        case(tax=DAY),
        True,
        "NO_HISTORY",
        "D2023-461",
    ),
    (
        "the tax certificate expired the day before",
        case(tax="2025-03-02"),
        False,
        "TAX_NOT_UP_TO_DATE",
        "[S13]",
    ),
    ("no tax certificate", case(tax=None), False, "TAX_NOT_UP_TO_DATE", "confidence L"),
    (
        "the CNSS certificate expires on the request day",
        case(cnss=DAY),
        True,
        "NO_HISTORY",
        "D2023-461",
    ),
    (
        "the CNSS certificate expired the day before",
        case(cnss="2025-03-02"),
        False,
        "CNSS_NOT_UP_TO_DATE",
        "[S15b]",
    ),
    ("no CNSS certificate", case(cnss=None), False, "CNSS_NOT_UP_TO_DATE", "confidence L"),
    (
        "both expired: the tax row comes first",
        case(tax="2024-12-31", cnss="2024-12-31"),
        False,
        "TAX_NOT_UP_TO_DATE",
        "[S13]",
    ),
    (
        "certificates valid, insertion rate below the minimum",
        case(history={"completed": 4, "inserted": 1, "rate": 0.25, "months_since_last_end": 2}),
        False,
        "INSERTION_RATE",
        "D2023-461 art.11",
    ),
    (
        "an expired certificate is refused before the insertion rate is read",
        case(
            tax="2025-01-31",
            history={"completed": 4, "inserted": 4, "rate": 1.0, "months_since_last_end": 2},
        ),
        False,
        "TAX_NOT_UP_TO_DATE",
        "[S13]",
    ),
]


@pytest.mark.parametrize(
    ("name", "data", "eligible", "reason", "cites"), CASES, ids=[c[0] for c in CASES]
)
def test_employer_condition(
    name: str, data: dict[str, Any], eligible: bool, reason: str, cites: str
) -> None:
    answer = evaluate("civp", "civp_employer_eligibility", data, date.fromisoformat(DAY))
    out = answer.outputs
    assert (out["employer_eligible"], out["employer_reason"]) == (eligible, reason), name
    assert cites in out["employer_legal_basis"], out["employer_legal_basis"]


# -- through a contract: the employer's record, with proofs --------------------------------------

PROOF = Proof("attestation.pdf", b"%PDF-1.4 scan")


def other_employer(world: World, mf: str) -> None:
    with world.aqd.session() as s, s.begin():
        first = s.scalar(select(Employer).where(Employer.matricule_fiscal == "1234567A"))
        assert first is not None
        s.add(
            Employer(
                name="Other",
                matricule_fiscal=mf,
                cnss_number="9",
                sector="informatique",
                governorate="Tunis",
                office_id=first.office_id,
            )
        )


def start(world: World, mf: str) -> str:
    """The status (and reason code of a refusal) of a CIVP contract the employer ``mf`` requests
    (on 3 March 2025)."""
    cid = world.start_programme("civp", {**world.request(), "employer_mf": mf})
    with world.aqd.session() as s:
        contract = s.get(Contract, cid)
        assert contract is not None
        status = contract.status
    data = main_data(world, cid)
    if status == "rejected":
        assert data["rejection_legal_basis"], "the refusal names its legal basis"
        return f"{status} {data['rejection_reason']}"
    return status


def record(world: World, mf: str, status: str, tax_until: str, cnss_until: str) -> None:
    now = world.clock.now()
    with world.aqd.session() as s, s.begin():
        record_status(s, mf, status, date(2020, 1, 1), PROOF, "counsellor", now)
        for kind, until in (("tax", tax_until), ("cnss", cnss_until)):
            record_certificate(
                s,
                mf,
                kind,
                f"{kind}-1",
                date(2024, 12, 1),
                date.fromisoformat(until),
                PROOF,
                "c",
                now,
            )


def test_an_unchecked_employer_is_refused_until_its_record_is_kept(db_url: str) -> None:
    world = make_world(db_url)
    other_employer(world, "7654321B")
    assert start(world, "7654321B") == "rejected EMPLOYER_STATUS_UNKNOWN"
    # the counsellor checks its file: a private firm whose certificates run to the request day
    # (the world's clock: 3 March 2025)
    record(world, "7654321B", "PRIVATE_FIRM", "2025-03-03", "2025-03-03")
    assert start(world, "7654321B") == "in_review"


def test_a_certificate_expired_the_day_before_refuses_the_request(db_url: str) -> None:
    world = make_world(db_url)
    other_employer(world, "7654321B")
    record(world, "7654321B", "PRIVATE_FIRM", "2025-06-30", "2025-03-02")
    assert start(world, "7654321B") == "rejected CNSS_NOT_UP_TO_DATE"


def test_a_public_establishment_with_commercial_status_is_refused(db_url: str) -> None:
    world = make_world(db_url)
    other_employer(world, "7654321B")
    record(world, "7654321B", "PUBLIC_ESTABLISHMENT_COMMERCIAL", "2025-06-30", "2025-06-30")
    assert start(world, "7654321B") == "rejected EMPLOYER_PUBLIC_SECTOR"


def test_the_record_keeps_every_fact_and_reads_the_one_in_force(world: World) -> None:
    now = world.clock.now()
    with world.aqd.session() as s, s.begin():
        other = s.scalar(select(Employer).where(Employer.matricule_fiscal == "1234567A"))
        assert other is not None
        record_status(s, "1234567A", "ASSOCIATION", date(2026, 1, 1), PROOF, "c", now)
        record_certificate(
            s, "1234567A", "tax", "T-2", date(2100, 1, 1), date(2100, 6, 30), PROOF, "c", now
        )
        standing = employer_standing(s, other.id, datetime(2025, 3, 3, tzinfo=UTC))
        later = employer_standing(s, other.id, datetime(2026, 2, 1, tzinfo=UTC))
    # the status recorded for 2026 is not in force in 2025; a certificate not yet valid is not
    # counted (the one the world's employer holds runs to 2099)
    assert standing["legal_status"] == "PRIVATE_FIRM" and later["legal_status"] == "ASSOCIATION"
    assert standing["tax_certificate_until"] == "2099-12-31"


def test_a_fact_without_a_proof_or_with_reversed_dates_is_refused(world: World) -> None:
    now = world.clock.now()
    with world.aqd.session() as s, s.begin():
        with pytest.raises(InvalidInput, match="PDF, PNG or JPEG"):
            record_status(
                s, "1234567A", "PRIVATE_FIRM", date(2025, 1, 1), Proof("x.txt", b"hi"), "c", now
            )
        with pytest.raises(InvalidInput, match="cannot end before it starts"):
            record_certificate(
                s, "1234567A", "cnss", "C-1", date(2025, 2, 1), date(2025, 1, 31), PROOF, "c", now
            )
        with pytest.raises(InvalidInput, match="unknown legal status"):
            record_status(s, "1234567A", "STATE", date(2025, 1, 1), PROOF, "c", now)
