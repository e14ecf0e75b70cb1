"""A CIVP contract paid month by month on the development bank: accounts, months, orders,
batches."""

from __future__ import annotations

from sqlalchemy import select

from engine.models import (
    Beneficiary,
    HumanTask,
)
from engine.models.payments import PaymentOrder
from engine.payments.accounts import make_rib
from engine.payments.batches import create_batch, debtor_account
from engine.payments.orders import upsert_account
from tests.conftest import World

RIB = make_rib(8, 1, 4242)


GOOD_RIB = make_rib(10, 2, 777)


KEY1 = "payment:CIVP-2025-000001:1:beneficiary:stipend"


def with_account(world: World, rib: str = RIB) -> None:
    with world.aqd.session() as s, s.begin():
        person = s.scalar(select(Beneficiary.id).where(Beneficiary.cin == "12345678"))
        assert person is not None
        upsert_account(s, "beneficiary", person, rib, world.clock.now(), "test")


def to_month_end(world: World, cid: int) -> None:
    world.month_end(cid)


def worked_month(world: World, cid: int, days: int = 20) -> None:
    to_month_end(world, cid)
    world.complete(cid, "attendance", {"days_present": days}, "employer")


def active_contract(world: World) -> int:
    cid = world.start()
    world.activate(cid)
    return cid


def orders(world: World) -> list[PaymentOrder]:
    with world.aqd.session() as s:
        return list(s.scalars(select(PaymentOrder).order_by(PaymentOrder.id)))


def ready(world: World, cid: int) -> list[str]:
    with world.aqd.session() as s:
        return list(
            s.scalars(
                select(HumanTask.bpmn_id).where(
                    HumanTask.contract_id == cid, HumanTask.status == "ready"
                )
            )
        )


def batch(world: World, period: str = "2025-04") -> bytes:
    with world.aqd.session() as s, s.begin():
        files = create_batch(
            s, "TUN", period, world.clock.now(), "test", debtor_account(world.aqd.settings)
        )
    assert files is not None
    return files.xml
