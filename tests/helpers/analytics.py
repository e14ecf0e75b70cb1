"""Lead-time data whose durations are known exactly, written directly (no engine run)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import func, select

from engine import Aqd, analytics
from engine.models import Contract, Office, PaymentOrder, StepTiming
from tests.conftest import World

T0 = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)


#: office → (days to signed, days to the first paid order)
DAYS = {"TUN": (10, 40), "KEF": (20, 55)}


class HasAqd(Protocol):
    aqd: Aqd


class Seeder:
    """Contracts, activation step timings and payment orders written directly (``world``: a
    test world, or the web tests' app, once a contract is deployed)."""

    def __init__(self, world: World | HasAqd) -> None:
        self.world = world
        with world.aqd.session() as s, s.begin():
            offices = {o.code: o.id for o in s.scalars(select(Office))}
            if "KEF" not in offices:
                kef = Office(code="KEF", name_fr="Le Kef", name_ar="الكاف", governorate="Le Kef")
                s.add(kef)
                s.flush()
                offices["KEF"] = kef.id
            self.offices = offices
            self.definition = s.scalar(select(Contract.definition_id).limit(1))
        if self.definition is None:
            assert isinstance(world, World), "no contract yet: seed from a test world"
            self.definition = _definition_of(world)
        with world.aqd.session() as s:
            self.n = s.scalar(select(func.count()).select_from(Contract)) or 0

    def contract(
        self,
        office: str,
        requested: datetime,
        signed_after: timedelta | None,
        paid_after: timedelta | None = None,
        programme: str = "civp",
        also_activated_after: timedelta | None = None,
        rejected_after: timedelta | None = None,
        ordered_after: timedelta | None = None,
    ) -> int:
        self.n += 1
        with self.world.aqd.session() as s, s.begin():
            c = Contract(
                number=f"LT-{self.n:05d}",
                programme=programme,
                definition_id=self.definition,
                office_id=self.offices[office],
                status="active",
                started_at=requested,
            )
            s.add(c)
            s.flush()
            for n, after in enumerate((signed_after, also_activated_after)):
                if after is not None:
                    s.add(
                        StepTiming(
                            contract_id=c.id,
                            instance_id=0,
                            event_seq=5 + n,
                            task_guid=f"lt-{c.id}-{n}",
                            bpmn_id=analytics.ACTIVATION_STEP,
                            spec_type="ScriptTask",
                            started_at=requested + after,
                            duration_us=10,
                        )
                    )
            for month, (status, after) in enumerate(
                (("rejected", rejected_after), ("paid", paid_after), ("ordered", ordered_after)),
                start=1,
            ):
                if after is not None:
                    s.add(_order(c, office, month, status, requested + after))
            return c.id


def _definition_of(world: World) -> int:
    cid = world.start()
    with world.aqd.session() as s:
        found = s.scalar(select(Contract.definition_id).where(Contract.id == cid))
    assert found is not None
    return found


def _order(c: Contract, office: str, month: int, status: str, at: datetime) -> PaymentOrder:
    key = f"payment:{c.number}:{month}:beneficiary:allowance"
    return PaymentOrder(
        idempotency_key=key,
        end_to_end_id=f"E2E{c.id:08d}{month:02d}",
        contract_id=c.id,
        contract_number=c.number,
        programme=c.programme,
        office_code=office,
        period=at.strftime("%Y-%m"),
        contract_month=month,
        payee_kind="beneficiary",
        payee_name="B",
        kind="allowance",
        amount_millimes=200_000,
        status=status,
        ordered_at=at - timedelta(days=3),
        settled_at=at if status in ("paid", "rejected") else None,
    )


def seed(world: World, first: datetime, count: int) -> Seeder:
    """``count`` contracts per office, one requested every 12 hours from ``first``, each signed
    and first paid exactly ``DAYS[office]`` days after its request."""
    seeder = Seeder(world)
    for i in range(count):
        for office, (signed, paid) in DAYS.items():
            seeder.contract(
                office,
                first + timedelta(hours=12 * i),
                timedelta(days=signed),
                timedelta(days=paid),
            )
    return seeder
