"""Counsellors keep the job-seeker registry (engine/registry/record.py), on PostgreSQL and
SQLite: a correction is written with its history (before, after, reason, proof); values are
checked per field (422 naming it); another office's staff get 404, staff who may not edit get
403; a Karama request accepted after the correction starts on the corrected fact."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import date

import pytest
from PIL import Image
from sqlalchemy import func, select

from engine.access.accounts import Principal
from engine.errors import InvalidInput, NotFound, NotPermitted
from engine.inbox.documents import Upload
from engine.models import Beneficiary, BeneficiaryFactChange, Employer, Event, Office
from engine.registry.record import (
    DIPLOMA_LEVELS,
    EDITABLE,
    GOVERNORATES,
    JOB_LOSS_REASONS,
    NATIONALITIES,
    card,
    change_fact,
)
from tests.conftest import ROOT, World

CIN = "12345678"


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "white").save(out, format="PNG")
    return out.getvalue()


def _staff(world: World, role: str, office: str = "TUN", username: str = "c.tun") -> Principal:
    with world.aqd.session() as s, s.begin():
        office_id = s.scalar(select(Office.id).where(Office.code == office))
        if office_id is None:
            found = Office(code=office, name_fr=office, name_ar=office, governorate="Gafsa")
            s.add(found)
            s.flush()
            office_id = found.id
    return Principal(1, username, username, "fr", frozenset({role}), office_id=office_id)


def _set(world: World, who: Principal, field: str, raw: str, reason: str = "CV checked") -> None:
    with world.aqd.session() as s, s.begin():
        change_fact(world.aqd.plugins, s, who, CIN, field, raw, reason, None, world.clock.now())


def test_a_counsellor_corrects_facts_and_the_history_keeps_each_change(world: World) -> None:
    counsellor = _staff(world, "counsellor")
    scan = _png()
    with world.aqd.session() as s, s.begin():
        change_fact(
            world.aqd.plugins,
            s,
            counsellor,
            CIN,
            "diploma_date",
            "2020-06-30",
            "diploma seen at the office",
            Upload("proof", "diplome.png", scan),
            world.clock.now(),
        )
    _set(world, counsellor, "disabled", "yes", "disability card")
    with world.aqd.session() as s:
        person = s.scalar(select(Beneficiary).where(Beneficiary.cin == CIN))
        assert person is not None
        assert (person.diploma_date, person.disabled) == (date(2020, 6, 30), True)
        shown = card(s, counsellor, CIN)
    assert shown["editable"] is True
    assert {f["name"]: f["value"] for f in shown["facts"]}["diploma_date"] == "2020-06-30"
    history = [
        (h["field"], h["before"], h["after"], h["reason"], h["by"], h["proof"], h["proof_sha256"])
        for h in shown["history"]
    ]
    assert history == [  # newest first
        ("disabled", "false", "true", "disability card", "c.tun", None, None),
        (
            "diploma_date",
            None,
            "2020-06-30",
            "diploma seen at the office",
            "c.tun",
            "diplome.png",
            hashlib.sha256(scan).hexdigest(),
        ),
    ]
    assert shown["history"][0]["at"] == world.clock.now().isoformat()


@pytest.mark.parametrize(
    ("field", "raw", "named"),
    [
        ("job_loss_reason", "LAYOFF", "job_loss_reason"),
        ("residence_governorate", "PARIS", "residence_governorate"),
        ("diploma_date", "1899-12-31", "diploma_date"),
        ("diploma_date", "2101-01-01", "diploma_date"),
        ("diploma_date", "2021-02-30", "diploma_date"),
        ("disabled", "maybe", "disabled"),
        ("months_worked_total", "-1", "months_worked_total"),
        ("months_worked_total", "601", "months_worked_total"),
        ("nationality", "", "nationality"),
        ("first_name", "Ali", "field"),
        ("nationality", "TN", "nationality"),  # unchanged: nothing to record
    ],
)
def test_invalid_values_are_refused_naming_the_field(
    world: World, field: str, raw: str, named: str
) -> None:
    counsellor = _staff(world, "counsellor")
    with pytest.raises(InvalidInput) as refused:
        _set(world, counsellor, field, raw)
    assert refused.value.status_code == 422 and list(refused.value.fields) == [named]
    with world.aqd.session() as s:
        assert s.scalar(select(func.count()).select_from(BeneficiaryFactChange)) == 0


def test_a_reason_is_required_and_a_proof_must_parse(world: World) -> None:
    counsellor = _staff(world, "counsellor")
    with pytest.raises(InvalidInput) as refused:
        _set(world, counsellor, "disabled", "true", "  ")
    assert refused.value.fields == {"reason": "a reason is required"}
    with world.aqd.session() as s, s.begin(), pytest.raises(InvalidInput) as damaged:
        change_fact(
            world.aqd.plugins,
            s,
            counsellor,
            CIN,
            "disabled",
            "true",
            "card",
            Upload("proof", "card.png", _png()[:30]),
            world.clock.now(),
        )
    assert list(damaged.value.fields) == ["proof"]


def test_other_offices_and_non_editors_are_refused(world: World) -> None:
    other = _staff(world, "counsellor", "GAF", "c.gaf")
    with pytest.raises(NotFound) as hidden:  # 404: the CIN's office is not revealed
        _set(world, other, "disabled", "true")
    assert hidden.value.status_code == 404
    with world.aqd.session() as s, pytest.raises(NotFound):
        card(s, other, CIN)
    finance = _staff(world, "finance", "TUN", "f.tun")
    with pytest.raises(NotPermitted) as refused:  # 403: office staff who may not edit
        _set(world, finance, "disabled", "true")
    assert refused.value.status_code == 403
    auditor = Principal(9, "auditor", "auditor", "fr", frozenset({"auditor"}))
    with world.aqd.session() as s:
        assert card(s, auditor, CIN)["editable"] is False
    with pytest.raises(NotPermitted):
        _set(world, auditor, "disabled", "true")
    with world.aqd.session() as s:
        assert s.scalar(select(func.count()).select_from(BeneficiaryFactChange)) == 0


def test_a_karama_request_accepted_after_the_correction_starts_on_the_corrected_fact(
    world: World,
) -> None:
    world.deploy("karama")
    counsellor = _staff(world, "counsellor")
    with world.aqd.session() as s:
        person = s.scalar(select(Beneficiary.id).where(Beneficiary.cin == CIN))
        employer = s.scalar(select(Employer.id).where(Employer.matricule_fiscal == "1234567A"))
    assert person is not None and employer is not None
    terms = {"start_date": "2025-04-01"}
    with world.aqd.session() as s, s.begin(), pytest.raises(InvalidInput) as missing:
        world.aqd.request_contract(s, "karama", person, employer, terms, "employer")
    assert "diploma_date" in missing.value.fields
    _set(world, counsellor, "diploma_level", "HIGHER_ED")
    _set(world, counsellor, "diploma_date", "2021-06-30", "diploma seen")
    with world.aqd.session() as s, s.begin():
        contract = world.aqd.request_contract(s, "karama", person, employer, terms, "employer")
        cid = contract.id
    with world.aqd.session() as s:
        payload = s.scalar(select(Event.payload).where(Event.contract_id == cid, Event.seq == 1))
    assert isinstance(payload, dict)
    assert (payload["data"]["diploma_date"], payload["data"]["diploma_level"]) == (
        "2021-06-30",
        "HIGHER_ED",
    )


def test_the_enumerations_are_the_start_forms_own() -> None:
    """The values a counsellor may choose are those the start forms (and so the decision
    tables) use: a programme that adds one makes this fail until the registry knows it."""
    expected = {
        "nationality": NATIONALITIES,
        "diploma_level": DIPLOMA_LEVELS,
        "job_loss_reason": JOB_LOSS_REASONS,
        "residence_governorate": GOVERNORATES,
    }
    seen: dict[str, set[str]] = {}
    for path in (ROOT / "forms" / "schemas").glob("*/contract_request.schema.json"):
        props = json.loads(path.read_text(encoding="utf-8"))["properties"]
        for name in expected:
            if name in props:
                seen.setdefault(name, set()).update(props[name]["enum"])
    assert seen == {name: set(values) for name, values in expected.items()}
    assert all(EDITABLE[name].values == values for name, values in expected.items())
