"""Suspend, resume, terminate and extend a running contract as its parties (not via the CLI).

Each action is offered only while the contract's process waits for its message and only to the
parties allowed to send it; the form is validated; the message carries who acted; refusals are
clear 403/404/409/422 errors that change nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from engine.access.accounts import Principal
from engine.commands import contract_actions
from engine.errors import Conflict, InvalidInput, NotFound, NotPermitted
from engine.models import Beneficiary, Contract, Employer, Event, Office
from tests.conftest import World

COUNSELLOR = "counsellor"


def office_staff(world: World, code: str = "TUN", role: str = COUNSELLOR) -> Principal:
    with world.aqd.session() as s:
        office_id = s.scalar(select(Office.id).where(Office.code == code))
    return Principal(10, "c.tun", "C", "fr", frozenset({role}), office_id=office_id)


def employer(world: World) -> Principal:
    with world.aqd.session() as s:
        employer_id = s.scalar(select(Employer.id))
    return Principal(11, "acme", "ACME", "fr", frozenset({"employer"}), employer_id=employer_id)


def beneficiary(world: World) -> Principal:
    with world.aqd.session() as s:
        beneficiary_id = s.scalar(select(Beneficiary.id))
    return Principal(
        12, "amira", "A", "ar", frozenset({"beneficiary"}), beneficiary_id=beneficiary_id
    )


def keys(world: World, principal: Principal, cid: int) -> list[str]:
    with world.aqd.session() as s:
        c = s.get(Contract, cid)
        assert c is not None
        return [a["key"] for a in contract_actions.available(s, principal, c)]


def contract(world: World, cid: int) -> Contract:
    with world.aqd.session() as s:
        c = s.get(Contract, cid)
        assert c is not None
        return c


def last_event(world: World, cid: int) -> Event:
    with world.aqd.session() as s:
        e = s.scalar(select(Event).where(Event.contract_id == cid).order_by(Event.seq.desc()))
        assert e is not None
        return e


def test_before_activation_the_employer_may_only_refuse_the_offer(world: World) -> None:
    cid = world.start()
    assert keys(world, office_staff(world), cid) == []
    assert keys(world, employer(world), cid) == ["employer_decline"]
    assert keys(world, beneficiary(world), cid) == []
    with pytest.raises(Conflict, match="does not accept terminate_contract"):
        contract_actions.perform(
            world.aqd, employer(world), cid, "employer_terminate", {"reason": "employer_closed"}
        )
    assert contract(world, cid).status == "in_review"


def test_each_party_sees_its_own_actions_on_an_active_contract(world: World) -> None:
    cid = world.start()
    world.activate(cid)
    assert keys(world, office_staff(world), cid) == ["suspend", "extend", "terminate"]
    assert keys(world, office_staff(world, role="office_head"), cid) == [
        "suspend",
        "extend",
        "terminate",
    ]
    assert keys(world, employer(world), cid) == ["employer_extend", "employer_terminate"]
    assert keys(world, beneficiary(world), cid) == ["beneficiary_terminate"]
    finance = office_staff(world, role="finance")
    assert keys(world, finance, cid) == []


def test_suspend_then_resume_as_the_counsellor(world: World) -> None:
    cid = world.start()
    world.activate(cid)
    staff = office_staff(world)
    before = contract(world, cid).revision
    rec = contract_actions.perform(
        world.aqd, staff, cid, "suspend", {"reason": "sick_leave", "note": "certificat"}, before
    )
    assert contract(world, cid).status == "suspended"
    event = last_event(world, cid)
    assert event.seq == rec.seq and event.actor == "c.tun"
    assert event.payload["name"] == "suspend_contract"
    assert event.payload["payload"] == {
        "reason": "sick_leave",
        "note": "certificat",
        "requested_by": "office",
        "by": "c.tun",
    }
    assert keys(world, staff, cid) == ["resume", "terminate"]
    assert keys(world, employer(world), cid) == ["employer_terminate"]
    world.clock.advance(days=10)
    contract_actions.perform(world.aqd, staff, str(contract(world, cid).number), "resume", {})
    assert contract(world, cid).status == "active"
    assert keys(world, staff, cid) == ["suspend", "extend", "terminate"]


@pytest.mark.parametrize(
    ("who", "key", "data", "reason", "outcome"),
    [
        (
            "employer",
            "employer_terminate",
            {"reason": "hired", "hire_contract": "cdi"},
            "hired",
            "hired_cdi",
        ),
        (
            "employer",
            "employer_terminate",
            {"reason": "economic_reasons"},
            "economic_reasons",
            "none",
        ),
        (
            "beneficiary",
            "beneficiary_terminate",
            {"reason": "placed_elsewhere"},
            "placed_elsewhere",
            "placed_elsewhere",
        ),
        (
            "beneficiary",
            "beneficiary_terminate",
            {"reason": "beneficiary_left"},
            "beneficiary_left",
            "none",
        ),
        (
            "office",
            "terminate",
            {"reason": "unjustified_absence", "outcome": "none", "note": "3 mois d'absence"},
            "unjustified_absence",
            "none",
        ),
    ],
)
def test_termination_records_reason_and_outcome_and_stops_payments(
    world: World, who: str, key: str, data: dict[str, str], reason: str, outcome: str
) -> None:
    cid = world.start()
    world.activate(cid)
    world.run_month(cid)
    orders = len(world.orders(cid))
    principal = {"employer": employer, "beneficiary": beneficiary, "office": office_staff}[who](
        world
    )
    contract_actions.perform(world.aqd, principal, cid, key, data)
    c = contract(world, cid)
    assert c.status == "terminated"
    assert (c.outcome, c.next_due_at) == (outcome, None)
    sent = last_event(world, cid).payload["payload"]
    assert (sent["reason"], sent["outcome"], sent["requested_by"]) == (reason, outcome, who)
    assert keys(world, principal, cid) == []
    world.clock.advance(days=62)
    assert not world.fire(cid)
    assert len(world.orders(cid)) == orders


def test_extension_asked_by_the_employer_goes_through_the_decision(world: World) -> None:
    cid = world.start()
    world.activate(cid)
    # Too early: the decision refuses (TOO_EARLY) and the contract runs on unchanged.
    contract_actions.perform(world.aqd, employer(world), cid, "employer_extend", {"months": 6})
    sent = last_event(world, cid).payload["payload"]
    assert sent == {"months": 6, "requested_by": "employer", "by": "acme"}
    assert contract(world, cid).status == "active"


def test_bad_forms_are_field_errors_and_change_nothing(world: World) -> None:
    cid = world.start()
    world.activate(cid)
    revision = contract(world, cid).revision
    cases: list[tuple[str, dict[str, object], Callable[[World], Principal], str]] = [
        ("employer_terminate", {"reason": "hired"}, employer, "hire_contract"),
        ("employer_terminate", {"reason": "other"}, employer, "note"),
        ("suspend", {"reason": "holiday"}, office_staff, "reason"),
        ("terminate", {"reason": "fraud", "outcome": "none"}, office_staff, "note"),
        ("extend", {"months": 0}, office_staff, "months"),
    ]
    for key, data, who, field in cases:
        with pytest.raises(InvalidInput) as info:
            contract_actions.perform(world.aqd, who(world), cid, key, data)
        assert field in " ".join(info.value.fields), (key, info.value.fields)
    assert contract(world, cid).revision == revision
    assert contract(world, cid).status == "active"


def test_scope_wrong_party_stale_revision_and_unknown_action(world: World) -> None:
    cid = world.start()
    world.activate(cid)
    with pytest.raises(NotPermitted):
        contract_actions.perform(
            world.aqd, employer(world), cid, "suspend", {"reason": "sick_leave"}
        )
    with pytest.raises(NotPermitted):
        contract_actions.perform(
            world.aqd, beneficiary(world), cid, "employer_terminate", {"reason": "employer_closed"}
        )
    with world.aqd.session() as s, s.begin():
        other = Office(code="SOU", name_fr="Sousse", name_ar="سوسة", governorate="Sousse")
        s.add(other)
    with pytest.raises(NotFound):
        contract_actions.perform(
            world.aqd, office_staff(world, "SOU"), cid, "suspend", {"reason": "sick_leave"}
        )
    assert keys(world, office_staff(world, "SOU"), cid) == []
    with pytest.raises(Conflict, match="changed since"):
        contract_actions.perform(
            world.aqd, office_staff(world), cid, "suspend", {"reason": "sick_leave"}, 0
        )
    with pytest.raises(NotFound):
        contract_actions.perform(world.aqd, office_staff(world), cid, "delete", {})
    assert contract(world, cid).status == "active"


def test_the_employer_refuses_the_offer(world: World) -> None:
    cid = world.start()
    with pytest.raises(InvalidInput) as info:
        contract_actions.perform(world.aqd, employer(world), cid, "employer_decline", {})
    assert "reason" in " ".join(info.value.fields)
    contract_actions.perform(
        world.aqd, employer(world), cid, "employer_decline", {"reason": "Poste supprimé"}
    )
    c = contract(world, cid)
    assert c.status == "rejected"
    sent = last_event(world, cid).payload["payload"]
    assert sent == {"reason": "Poste supprimé", "requested_by": "employer", "by": "acme"}
    assert keys(world, employer(world), cid) == []
    with world.aqd.session() as s:
        from engine.models import HumanTask

        open_tasks = s.scalars(
            select(HumanTask).where(HumanTask.contract_id == cid, HumanTask.status == "ready")
        ).all()
    assert open_tasks == []
