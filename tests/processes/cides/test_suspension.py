"""CIDES (legacy): suspension holds the month's stipend; resumption restarts it; too long ends
it."""

from __future__ import annotations

from tests.conftest import World
from tests.helpers.cides import agree, start
from tests.processes.suspension import suspend_and_resume, suspend_too_long


def _active(world: World) -> int:
    cid = start(world)
    agree(world, cid)
    world.sign_all(cid)
    return cid


def test_suspension_holds_then_resumption_restarts_the_stipend(world: World) -> None:
    suspend_and_resume(world, _active(world), "attendance", {"days_present": 20})


def test_suspension_longer_than_the_maximum_ends_the_contract(world: World) -> None:
    suspend_too_long(world, _active(world))
