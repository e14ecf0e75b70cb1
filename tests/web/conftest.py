"""The web app on a migrated database with every programme deployed and the demo data seeded
(6 pilot offices, their staff, companies, job seekers and contracts in various states)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy import select
from sqlalchemy.engine import make_url

from api import bootstrap, demo
from api.app import create_app
from engine import Aqd, FrozenClock, Settings
from engine.db import get_engine
from engine.definitions.deploy import deploy
from engine.models import HumanTask
from engine.schema_migrations import upgrade
from tests.conftest import ADMIN_URL, PG_BASE, ROOT, database
from tests.helpers.browser import ARGS, CHROMIUM, LiveServer

PASSWORD = demo.DEMO_PASSWORD
PROGRAMMES = ("civp", "karama", "crva", "csc")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match is not None, "the page has no CSRF token"
    return match.group(1)


@dataclass
class Web:
    aqd: Aqd
    clock: FrozenClock
    app: object

    def client(self, peer: str = "testclient") -> TestClient:
        """A client whose requests come from the socket address ``peer``."""
        return TestClient(self.app, follow_redirects=False, client=(peer, 50000))  # type: ignore[arg-type]

    def login(self, username: str, password: str = PASSWORD) -> tuple[TestClient, str]:
        """A browser signed in as ``username``, and its session's CSRF token."""
        c = self.client()
        token = csrf_of(c.get("/login").text)
        r = c.post("/login", data={"username": username, "password": password, "csrf_token": token})
        assert r.status_code == 303, r.text
        page = c.get(r.headers["location"])
        assert page.status_code == 200, page.text
        return c, csrf_of(page.text)

    def token(self, username: str) -> dict[str, str]:
        r = self.client().post("/api/v1/tokens", json={"username": username, "password": PASSWORD})
        assert r.status_code == 201, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def month_task(self, beneficiary_user: str = "beneficiary.tun") -> tuple[int, str]:
        """The active demo contract of a job seeker once its first month's attendance sheet
        is open: (contract id, guid of the employer's monthly attendance task)."""
        from datetime import timedelta

        from engine.models import Contract, User

        with self.aqd.session() as s:
            contract = s.scalar(
                select(Contract)
                .join(User, User.beneficiary_id == Contract.beneficiary_id)
                .where(User.username == beneficiary_user)
            )
        assert contract is not None and contract.status == "active"
        assert contract.next_due_at is not None
        self.clock.set(contract.next_due_at + timedelta(minutes=5))
        with self.aqd.session() as s, s.begin():
            self.aqd.fire_timers(s, contract.id)
        with self.aqd.session() as s:
            guid = s.scalar(
                select(HumanTask.task_guid).where(
                    HumanTask.contract_id == contract.id,
                    HumanTask.bpmn_id == "attendance",
                    HumanTask.status == "ready",
                )
            )
        assert guid is not None
        return contract.id, guid

    def ready_task(self, office_code: str, step: str) -> str:
        with self.aqd.session() as s:
            from engine.models import Office

            office_id = s.scalar(select(Office.id).where(Office.code == office_code))
            guid = s.scalar(
                select(HumanTask.task_guid)
                .where(
                    HumanTask.bpmn_id == step,
                    HumanTask.status == "ready",
                    HumanTask.office_id == office_id,
                )
                .order_by(HumanTask.id)
            )
        assert guid is not None, f"no ready {step} in {office_code}"
        return guid


START = "2025-03-03T08:00:00+00:00"


def _build(url: str, now: str) -> Web:
    clock = FrozenClock(now)
    aqd = bootstrap.build(Settings(database_url=url, script_time_limit_ms=500), clock=clock)
    return Web(aqd, clock, create_app(aqd))


def make_web(url: str) -> Web:
    """Deploy every programme and seed the demo on the empty migrated database at ``url``."""
    web = _build(url, START)
    for programme in PROGRAMMES:
        with web.aqd.session() as s, s.begin():
            deploy(s, ROOT / "processes" / programme, web.aqd.sandbox, web.clock, actor="test")
    demo.seed(web.aqd, real_signatures=False)  # the ceremony is tested in tests/signing
    return web


@dataclass(frozen=True)
class Seeded:
    """A database seeded once per test run and worker, copied for each test that needs one:
    seeding the demo takes seconds of CPU, a copy a fraction of that."""

    kind: str
    template: str  # PostgreSQL: the template database's name; SQLite: the file's path
    now: str  # the clock when seeding ended, where each copy's clock starts

    def copy(self, tmp_path: Path) -> str:
        """A fresh copy of the seeded database; its URL."""
        if self.kind == "sqlite":
            target = tmp_path / "aqd.db"
            shutil.copyfile(self.template, target)
            return f"sqlite:///{target}"
        name = f"{self.template}_copy"
        url = PG_BASE.format(db=name)
        get_engine(url).dispose()  # the previous test's connections to the previous copy
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return url


def _seed(url: str) -> str:
    web = make_web(url)
    now = web.clock.now().isoformat()
    get_engine(url).dispose()  # a template database must have no connection
    return now


@pytest.fixture(scope="session")
def seeded_pg(pg_url: str) -> Iterator[Seeded]:
    name = f"{make_url(pg_url).database}_seed"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_BASE.format(db=name)
    upgrade(url)
    yield Seeded("postgresql", name, _seed(url))
    get_engine(PG_BASE.format(db=f"{name}_copy")).dispose()
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}_copy" WITH (FORCE)')
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def seeded_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    path = tmp_path_factory.mktemp("seeded") / "aqd.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    now = _seed(url)  # disposing the engine checkpoints the WAL into the file
    return Seeded("sqlite", str(path), now)


# The web tests' SQLite column runs in `make test-all` only (marked slow): the pages and the API
# read and write through the engine, whose own tests all run on SQLite too.
@pytest.fixture(params=["postgresql", pytest.param("sqlite", marks=pytest.mark.slow)])
def seeded(request: pytest.FixtureRequest) -> Seeded:
    fixture = "seeded_pg" if request.param == "postgresql" else "seeded_sqlite"
    value: Seeded = request.getfixturevalue(fixture)
    return value


# The probes of test_transactions.py want an empty migrated database of each kind.
@pytest.fixture(params=["postgresql", pytest.param("sqlite", marks=pytest.mark.slow)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from database(request, tmp_path)


@pytest.fixture
def web(seeded: Seeded, tmp_path: Path) -> Web:
    """The web app on its own copy of the seeded demo database."""
    return _build(seeded.copy(tmp_path), seeded.now)


@pytest.fixture
def live(seeded_pg: Seeded, tmp_path: Path) -> Iterator[LiveServer]:
    with LiveServer(_build(seeded_pg.copy(tmp_path), seeded_pg.now)) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()
