"""Shared fixtures: every engine test runs on both PostgreSQL and SQLite (parametrised).

PostgreSQL: one database per xdist worker, migrated with Alembic once, truncated between tests.
SQLite: a fresh migrated file per test. The URL of the PostgreSQL server comes from
``AQD_TEST_PG_URL`` (default: the local socket, user postgres); it must be reachable: a missing
database fails the run instead of silently skipping half of it.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import func, select, text

from engine import Aqd, FrozenClock, Settings, bootstrap
from engine.db import dispose_all, get_engine
from engine.definitions.deploy import deploy
from engine.employers import Proof, record_checked_employer
from engine.kernel.signature_events import SIGNING_PARTIES, signature_result
from engine.logs import configure
from engine.models import Base, Beneficiary, Contract, Employer, HumanTask, Office, Outbox
from engine.schema_migrations import upgrade
from tests.helpers.delivery import sms, smtp

__all__ = ["sms", "smtp"]  # fixtures: the SMS gateway and the SMTP server (local, real)

ROOT = Path(__file__).resolve().parent.parent
PG_BASE = os.environ.get(
    "AQD_TEST_PG_URL", "postgresql+psycopg://postgres@/{db}?host=/var/run/postgresql"
)
START = "2025-03-03T08:00:00+00:00"
#: the days the test employer's certificates are valid, and the scan its counsellor checked
CHECKED = (date(2009, 1, 1), date(2099, 12, 31))
PROOF = Proof("certificate.pdf", b"%PDF-1.4 test certificate")


ADMIN_URL = PG_BASE.format(db="postgres").replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture(scope="session")
def pg_url(worker_id: str, testrun_uid: str) -> Iterator[str]:
    """A database of our own per test run and xdist worker (runs may overlap on one server)."""
    name = f"aqd_test_{testrun_uid[:10]}_{worker_id}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_BASE.format(db=name)
    upgrade(url)
    yield url
    dispose_all()
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate(url: str) -> None:
    engine = get_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in reversed(Base.metadata.sorted_tables))
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty migrated database of the kind ``request.param`` names."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("pg_url")
        _truncate(url)
        yield url
    else:
        url = f"sqlite:///{tmp_path / 'aqd.db'}"
        upgrade(url)
        yield url
        get_engine(url).dispose()


#: For tests whose every step is a new process (the ``aqd`` command, a Celery worker): each
#: process costs an interpreter's start-up, so their SQLite half runs in ``make test-all`` only;
#: the engine's own tests cover SQLite in the fast tier.
SQLITE_IN_TEST_ALL = pytest.mark.parametrize(
    "db_url", ["postgresql", pytest.param("sqlite", marks=pytest.mark.slow)], indirect=True
)


@pytest.fixture(params=["postgresql", "sqlite"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from database(request, tmp_path)


@dataclass
class World:
    """A migrated database with CIVP deployed and one office, employer and beneficiary."""

    aqd: Aqd
    clock: FrozenClock
    url: str

    def request(self, **overrides: object) -> dict[str, object]:
        data: dict[str, object] = {
            "office": "TUN",
            "employer_mf": "1234567A",
            "beneficiary_cin": "12345678",
            "nationality": "TN",
            "diploma_level": "HIGHER_ED",
            "request_date": "2025-03-01",
            "start_date": "2025-04-01",
        }
        data.update(overrides)
        return data

    def start(self, **overrides: object) -> int:
        with self.aqd.session() as s, s.begin():
            return self.aqd.start_contract(s, "civp", self.request(**overrides), "employer").id

    def task(self, contract_id: int, bpmn_id: str) -> str:
        with self.aqd.session() as s:
            guid = s.scalar(
                select(HumanTask.task_guid).where(
                    HumanTask.contract_id == contract_id,
                    HumanTask.bpmn_id == bpmn_id,
                    HumanTask.status == "ready",
                )
            )
        assert guid is not None, f"{bpmn_id} is not ready in contract {contract_id}"
        return guid

    def complete(
        self, contract_id: int, bpmn_id: str, data: Mapping[str, object], user: str = "u"
    ) -> None:
        guid = self.task(contract_id, bpmn_id)
        with self.aqd.session() as s, s.begin():
            self.aqd.complete_task(s, guid, dict(data), user)

    def message(self, contract_id: int, name: str, payload: object) -> None:
        with self.aqd.session() as s, s.begin():
            self.aqd.correlate_message(s, contract_id, name, payload)

    def sign_all(self, contract_id: int) -> None:
        """Each party's signature step, as signing/ reports it once the PDF is signed."""
        for party in SIGNING_PARTIES:
            # signing/ took the step's signature request (an outbox row) ...
            with self.aqd.session() as s:
                key = s.scalar(
                    select(Outbox.idempotency_key).where(
                        Outbox.contract_id == contract_id,
                        Outbox.kind == "signature_request",
                        Outbox.status == "pending",
                    )
                )
            assert key is not None and key.endswith(f":{party}"), key
            with self.aqd.session() as s, s.begin():
                self.aqd.record_side_effect(s, key, True, {"party": party})
            # ... and reports the signature once the PDF is signed.
            self.message(contract_id, "signature_result", signature_result(party))

    def fire(self, contract_id: int) -> bool:
        with self.aqd.session() as s, s.begin():
            return self.aqd.fire_timers(s, contract_id) is not None

    def month_end(self, *contract_ids: int) -> None:
        """Open the month's attendance sheet of each contract (its timer; they started the same
        day) and move the clock past the month's end, so an attendance recorded next is ordered
        at once. CIVP opens the sheet four days before the month ends (08:00) and pays the
        month at its end (18:00); an attendance recorded inside that window is ordered for the
        month's end (``test_attendance_in_the_month_s_last_days_is_paid_at_its_end``)."""
        with self.aqd.session() as s:
            due = s.scalar(
                select(func.max(Contract.next_due_at)).where(Contract.id.in_(contract_ids))
            )
        assert due is not None, f"contracts {contract_ids} have no timer due"
        if self.clock.now() < due:
            self.clock.set(due + timedelta(minutes=1))
        for cid in contract_ids:
            assert self.fire(cid), f"contract {cid} had no timer due"
        self.clock.advance(days=4, hours=11)

    def run_month(
        self,
        contract_id: int,
        days_present: int = 19,
        task: str = "attendance",
        data: dict[str, object] | None = None,
    ) -> str:
        """Reach the month's end, complete its task (CIVP attendance by default) and confirm
        the payment it ordered; return the payment's idempotency key."""
        with self.aqd.session() as s:
            due = s.scalar(select(Contract.next_due_at).where(Contract.id == contract_id))
        assert due is not None, f"contract {contract_id} has no timer due"
        self.clock.set(due + timedelta(minutes=3))
        assert self.fire(contract_id)
        self.complete(contract_id, task, data or {"days_present": days_present}, "employer")
        with self.aqd.session() as s:
            key = s.scalar(
                select(Outbox.idempotency_key).where(
                    Outbox.contract_id == contract_id,
                    Outbox.status == "pending",
                    Outbox.kind == "payment_order",
                )
            )
        assert key is not None
        with self.aqd.session() as s, s.begin():
            self.aqd.record_side_effect(s, key, True, {"bank_ref": key[-12:]})
        return key

    def orders(self, contract_id: int) -> list[tuple[str, str]]:
        """The contract's payment orders as (idempotency key, amount), oldest first."""
        with self.aqd.session() as s:
            rows = s.scalars(
                select(Outbox)
                .where(Outbox.contract_id == contract_id, Outbox.kind == "payment_order")
                .order_by(Outbox.id)
            )
            return [(r.idempotency_key, str(r.payload.get("amount"))) for r in rows]

    def deploy(self, programme: str) -> None:
        with self.aqd.session() as s, s.begin():
            deploy(s, ROOT / "processes" / programme, self.aqd.sandbox, self.clock)

    def start_programme(self, programme: str, request: dict[str, object]) -> int:
        with self.aqd.session() as s, s.begin():
            return self.aqd.start_contract(s, programme, request, "employer").id

    def activate(self, contract_id: int) -> None:
        self.complete(contract_id, "employer_agreement", AGREEMENT, "employer")
        self.complete(
            contract_id, "counsellor_validation", {"validation_decision": "validate"}, "c"
        )
        self.sign_all(contract_id)


AGREEMENT = {
    "agreed": True,
    "position_title": "Developer",
    "tutor_name": "Mr Tutor",
    "employer_complement": 200,
}


def make_world(url: str, cache_size: int = 2000, programmes: tuple[str, ...] = ("civp",)) -> World:
    clock = FrozenClock(START)
    settings = Settings(database_url=url, script_time_limit_ms=500, workflow_cache_size=cache_size)
    aqd = bootstrap.build(settings, clock=clock)  # the engine's own plug-ins (no signing)
    with aqd.session() as s, s.begin():
        for programme in programmes:
            deploy(s, ROOT / "processes" / programme, aqd.sandbox, clock, actor="test")
        office = Office(
            code="TUN", name_fr="Tunis", name_ar="تونس", governorate="Tunis", pilot=True
        )
        s.add(office)
        s.flush()
        employer = Employer(
            name="ACME",
            matricule_fiscal="1234567A",
            cnss_number="123",
            sector="informatique",
            governorate="Tunis",
            office_id=office.id,
        )
        s.add(employer)
        s.flush()
        # a private firm whose tax and CNSS certificates cover every date the tests use
        record_checked_employer(
            s, employer.id, "PRIVATE_FIRM", *CHECKED, PROOF, "test", clock.now()
        )
        s.add(Beneficiary(cin="12345678", first_name="Amira", last_name="B", office_id=office.id))
    return World(aqd=aqd, clock=clock, url=url)


@pytest.fixture
def world(db_url: str) -> World:
    return make_world(db_url)


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Aqd's structured log lines (engine/logs.py, at INFO) written during the test."""
    out = io.StringIO()
    configure("INFO", "json", stream=out)
    yield out
    for handler in list(logging.getLogger().handlers):
        if handler.get_name() == "aqd-structured":
            logging.getLogger().removeHandler(handler)
    logging.getLogger("aqd").setLevel(logging.NOTSET)
