"""The web app on a migrated database with every programme deployed and the demo data seeded
(6 pilot offices, their staff, companies, job seekers and contracts in various states)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy import select

from api import bootstrap, demo
from api.app import create_app
from engine import Aqd, FrozenClock, Settings
from engine.definitions.deploy import deploy
from engine.models import HumanTask
from tests.conftest import ROOT, _truncate, database
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


def make_web(url: str) -> Web:
    clock = FrozenClock("2025-03-03T08:00:00+00:00")
    aqd = bootstrap.build(Settings(database_url=url, script_time_limit_ms=500), clock=clock)
    for programme in PROGRAMMES:
        with aqd.session() as s, s.begin():
            deploy(s, ROOT / "processes" / programme, aqd.sandbox, clock, actor="test")
    demo.seed(aqd, real_signatures=False)  # the ceremony is tested in tests/signing
    return Web(aqd, clock, create_app(aqd))


# The web tests' SQLite column runs in `make test-all` only (marked slow): the pages and the API
# read and write through the engine, whose own tests all run on SQLite too; each web test seeds
# the whole demo (about 3 s of CPU), which made this column a large part of the suite's time.
@pytest.fixture(params=["postgresql", pytest.param("sqlite", marks=pytest.mark.slow)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from database(request, tmp_path)


@pytest.fixture
def web(db_url: str) -> Web:
    return make_web(db_url)


@pytest.fixture
def live(pg_url: str) -> Iterator[LiveServer]:
    _truncate(pg_url)
    with LiveServer(make_web(pg_url)) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()
