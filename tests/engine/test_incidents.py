"""Incidents: a side effect that fails for good stays visible (outbox status ``failed``) until
an admin retries or skips it; either is an event of the contract, with who and why."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine import Aqd
from engine.audit.replay import replay_contract
from engine.errors import Conflict, InvalidInput
from engine.models import Event, Outbox
from engine.outbox import runner as outbox
from engine.outbox.handlers import (
    HandlerResult,
    OutboxItem,
    SideEffectError,
)
from tests.conftest import SQLITE_IN_TEST_ALL, World

KIND = "test.notify"


class Flaky:
    """Fails for good the first time, succeeds afterwards."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, aqd: Aqd, item: OutboxItem) -> HandlerResult:
        self.calls += 1
        if self.calls == 1:
            raise SideEffectError("SMTP 550 mailbox unavailable", retryable=False)
        return HandlerResult({"sent": True})


@pytest.fixture
def flaky(world: World) -> Flaky:
    handler = Flaky()
    world.aqd.plugins.register_handler(KIND, handler)
    return handler


def side_effect(world: World, cid: int, key: str) -> None:
    now = world.clock.now()
    with world.aqd.session() as s, s.begin():
        s.add(
            Outbox(
                contract_id=cid,
                kind=KIND,
                payload={"to": "x@example.tn"},
                idempotency_key=key,
                status="pending",
                attempts=0,
                available_at=now,
                created_at=now,
            )
        )


def status(world: World, key: str) -> str:
    with world.aqd.session() as s:
        return str(s.scalar(select(Outbox.status).where(Outbox.idempotency_key == key)))


def kinds(world: World, cid: int) -> list[str]:
    with world.aqd.session() as s:
        return list(s.scalars(select(Event.kind).where(Event.contract_id == cid)))


def test_retry_and_skip_are_contract_events(world: World, flaky: Flaky) -> None:
    cid = world.start()
    side_effect(world, cid, "notify:1")
    assert outbox.run_once(world.aqd).failed == 1
    assert status(world, "notify:1") == "failed"
    with world.aqd.session() as s, s.begin(), pytest.raises(InvalidInput):
        world.aqd.resolve_incident(s, "notify:1", "retry", "admin", " ")
    with world.aqd.session() as s, s.begin():
        world.aqd.resolve_incident(s, "notify:1", "retry", "admin", "mailbox fixed")
    assert status(world, "notify:1") == "pending"
    assert outbox.run_once(world.aqd).done == 1
    assert status(world, "notify:1") == "completed"
    with world.aqd.session() as s, s.begin(), pytest.raises(Conflict):
        world.aqd.resolve_incident(s, "notify:1", "skip", "admin", "too late")

    flaky.calls = 0
    side_effect(world, cid, "notify:2")
    outbox.run_once(world.aqd)
    with world.aqd.session() as s, s.begin():
        world.aqd.resolve_incident(s, "notify:2", "skip", "admin", "sent by hand")
    assert status(world, "notify:2") == "skipped"
    assert outbox.run_once(world.aqd).claimed == 0
    assert kinds(world, cid)[-5:] == [
        "side_effect_recorded",
        "incident_retried",
        "side_effect_recorded",
        "side_effect_recorded",
        "incident_skipped",
    ]
    with world.aqd.session() as s:
        skipped = s.scalars(select(Event).where(Event.kind == "incident_skipped")).one()
        assert (skipped.actor, skipped.payload) == (
            "admin",
            {"key": "notify:2", "reason": "sent by hand"},
        )
        assert replay_contract(world.aqd, s, cid).ok


@SQLITE_IN_TEST_ALL
def test_cli_lists_and_skips_incidents(world: World, flaky: Flaky) -> None:
    from tests.helpers.cli import aqd

    cid = world.start()
    side_effect(world, cid, "notify:3")
    outbox.run_once(world.aqd)
    listed = aqd(world, "outbox", "incidents").stdout
    assert "CIVP-2025-000001\ttest.notify\tnotify:3\t1\t" in listed and "SMTP 550" in listed
    aqd(world, "outbox", "skip", "notify:3", ok=False)  # the reason is required
    assert "skip: notify:3" in aqd(world, "outbox", "skip", "notify:3", "--reason", "done").stdout
    assert aqd(world, "outbox", "incidents").stdout == ""
