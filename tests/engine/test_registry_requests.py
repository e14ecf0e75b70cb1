"""The engine's side of an employer's request (engine/registry, ``Aqd.request_contract``), on
PostgreSQL and SQLite: the registry's facts and the engine's clock, never the request's; the
duplicate and cumulation rules; two concurrent requests for one job seeker cannot both pass."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from engine.errors import InvalidInput
from engine.models import Beneficiary, Contract, Employer, Event
from engine.registry import RequestRefused
from tests.conftest import World

HOLD_S = 0.8


def _ids(world: World) -> tuple[int, int]:
    with world.aqd.session() as s:
        b = s.scalar(select(Beneficiary.id).where(Beneficiary.cin == "12345678"))
        e = s.scalar(select(Employer.id).where(Employer.matricule_fiscal == "1234567A"))
    assert b is not None and e is not None
    return b, e


def _request(world: World, terms: dict[str, object] | None = None) -> int:
    b, e = _ids(world)
    with world.aqd.session() as s, s.begin():
        contract = world.aqd.request_contract(
            s, "civp", b, e, terms or {"start_date": "2025-04-01"}, "employer"
        )
        return contract.id


def test_registry_facts_and_the_clock_make_the_start_data(world: World) -> None:
    b, _e = _ids(world)
    with world.aqd.session() as s, s.begin():
        person = s.get(Beneficiary, b)
        assert person is not None
        person.disabled, person.diploma_level, person.prior_civp_months = True, "BTS", 5
    for field, value in (("disabled", False), ("request_date", "2020-01-01")):
        with pytest.raises(InvalidInput) as refused:
            _request(world, {field: value})
        assert refused.value.fields == {field: "kept by the job-seeker registry"}
    cid = _request(world)
    with world.aqd.session() as s:
        payload = s.scalar(select(Event.payload).where(Event.contract_id == cid, Event.seq == 1))
    assert isinstance(payload, dict)
    data = payload["data"]
    assert (data["disabled"], data["diploma_level"], data["prior_civp_months"]) == (True, "BTS", 5)
    assert data["request_date"] == world.clock.now().date().isoformat()
    assert data["office"] == "TUN" and data["employer_mf"] == "1234567A"


def test_one_open_contract_per_job_seeker_and_programme(world: World) -> None:
    first = _request(world)
    with pytest.raises(RequestRefused) as refused:
        _request(world)
    assert refused.value.reason == "DUPLICATE_CONTRACT" and refused.value.status_code == 409
    with world.aqd.session() as s, s.begin():
        contract = s.get(Contract, first)
        assert contract is not None
        contract.status = "rejected"  # a closed contract no longer blocks a new request
    assert _request(world) != first


def test_no_second_civp_with_the_same_firm_from_october_2025(world: World) -> None:
    first = _request(world)
    with world.aqd.session() as s, s.begin():
        contract = s.get(Contract, first)
        assert contract is not None
        contract.status, contract.ended_at = "ended", datetime(2025, 9, 1, tzinfo=UTC)
    world.clock.set(datetime(2025, 9, 30, 12, tzinfo=UTC))
    second = _request(world)  # before 1 October 2025 ANETI could still prolong
    with world.aqd.session() as s, s.begin():
        contract = s.get(Contract, second)
        assert contract is not None
        contract.status = "ended"
    world.clock.set(datetime(2025, 10, 1, 8, tzinfo=UTC))
    with pytest.raises(RequestRefused) as refused:
        _request(world)
    assert refused.value.reason == "CIVP_SAME_FIRM_AGAIN"


def test_concurrent_requests_for_one_job_seeker_cannot_both_pass(world: World) -> None:
    """The first request holds its transaction open after writing its contract; the second
    must wait for the job seeker's lock, then see that contract and be refused (without the
    lock it would read no open contract on PostgreSQL and pass)."""
    b, e = _ids(world)
    written = threading.Event()
    outcome: dict[str, object] = {}

    def first() -> None:
        with world.aqd.session() as s, s.begin():
            world.aqd.request_contract(s, "civp", b, e, {}, "employer")
            written.set()
            time.sleep(HOLD_S)

    def second() -> None:
        assert written.wait(10)
        started = time.monotonic()
        try:
            with world.aqd.session() as s, s.begin():
                world.aqd.request_contract(s, "civp", b, e, {}, "employer")
            outcome["result"] = "passed"
        except RequestRefused as exc:
            outcome["result"] = exc.reason
        outcome["waited"] = time.monotonic() - started

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert outcome["result"] == "DUPLICATE_CONTRACT"
    assert isinstance(outcome["waited"], float) and outcome["waited"] >= HOLD_S / 2
    with world.aqd.session() as s:
        assert s.scalar(select(func.count()).select_from(Contract)) == 1
