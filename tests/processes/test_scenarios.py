"""Scenario table: every path of every programme's lifecycle, walked through the real engine on
the fake clock (issue 3, "What it must show").

The table has one row per path (``PATHS``) and one column per programme (``PROGRAMMES``);
``TABLE`` lists its cells, one test each. A cell is either walked (the path runs and asserts
statuses, reason codes, tasks, outbox rows, payment amounts, events) or marked not applicable
with the reason; a not-applicable cell still runs a test, which checks that the engine refuses
the path or that the model does not have it. Refusals expand to one cell per reason code of each
eligibility table, outcomes to one cell per outcome of ``record_outcome``. Amounts are computed
from each programme's ``parameters.json`` (``tests/processes/scenarios.py``), never copied from
the process. ``python -m tests.processes.test_scenarios`` prints the table.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, select

from engine import Conflict, FrozenClock, InvalidInput, Settings, bootstrap
from engine.audit.replay import history_of, replay_contract
from engine.db import get_engine
from engine.models import (
    Base,
    Beneficiary,
    Contract,
    Employer,
    EmployerFact,
    HumanTask,
    Office,
    ProcessDefinition,
)
from engine.schema_migrations import upgrade
from tests.conftest import ROOT, START, World, _truncate, make_world
from tests.processes.scenarios import (
    OUTCOMES,
    PROGRAMMES,
    VALIDATE,
    Programme,
    active,
    agree,
    contract,
    events,
    instances,
    main_data,
    outbox,
    ready,
    refusal_codes,
    sign,
    start,
    tnd,
)
from tests.processes.suspension import suspend_and_resume, suspend_too_long

Walk = Callable[[World, Programme, str], None]


#: the world, deployed
KEPT = ("office", "employer", "employer_fact", "beneficiary", "process_definition")
#: (parents first: rows are deleted in the reverse order)


def deploy_all(world: World) -> None:
    for p in PROGRAMMES.values():
        if p.key != "civp":  # make_world deployed CIVP
            world.clock.set(p.clock)
            world.deploy(p.key)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file with the test world and the five programmes deployed, made once
    per worker; each test gets a copy (the same as migrating a fresh file, ten times faster)."""
    path = tmp_path_factory.mktemp("template") / "aqd.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    deploy_all(make_world(url))
    get_engine(url).dispose()
    return path


@pytest.fixture(scope="session")
def pg_kept() -> dict[str, set[tuple[object, ...]]]:
    """The rows of the worker's PostgreSQL world, as ``kept_rows`` reads them."""
    return {}


def kept_rows(conn: Connection) -> dict[str, set[tuple[object, ...]]]:
    queries = {
        "process_definition": select(ProcessDefinition.id, ProcessDefinition.content_hash),
        "office": select(Office.id, Office.code),
        "employer": select(Employer.id, Employer.matricule_fiscal),
        "employer_fact": select(EmployerFact.id, EmployerFact.employer_id),
        "beneficiary": select(Beneficiary.id, Beneficiary.cin),
    }
    return {name: {tuple(row) for row in conn.execute(q)} for name, q in queries.items()}


def pg_world(url: str, kept: dict[str, set[tuple[object, ...]]]) -> World:
    """The worker's PostgreSQL database emptied with DELETE but for the world's rows (on a few
    rows per table, a tenth of the conftest's TRUNCATE, which rewrites every table's files).
    Other modules' tests on this worker truncate it: the world is then built again."""
    tables = {t.name: t for t in Base.metadata.sorted_tables}
    with get_engine(url).begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name not in KEPT:
                conn.execute(table.delete())
        for name in reversed(KEPT):
            ids = [row[0] for row in kept.get(name, ())]
            conn.execute(tables[name].delete().where(tables[name].c.id.not_in(ids)))
        intact = bool(kept) and kept_rows(conn) == kept
    if not intact:
        _truncate(url)
        deploy_all(make_world(url))
        with get_engine(url).connect() as conn:
            kept.clear()
            kept.update(kept_rows(conn))
    return fresh_world(url)


def fresh_world(url: str) -> World:
    clock = FrozenClock(START)
    settings = Settings(database_url=url, script_time_limit_ms=500, workflow_cache_size=2000)
    return World(aqd=bootstrap.build(settings, clock=clock), clock=clock, url=url)


# The SQLite column runs in `make test-all` only (marked slow): the same walk on the second
# database repeats the engine's code paths that every engine test already runs on SQLite.
@pytest.fixture(params=["postgresql", pytest.param("sqlite", marks=pytest.mark.slow)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """The conftest's world (office, employer, beneficiary; here with every programme
    deployed) on both databases. SQLite: a copy of a template file. PostgreSQL: see
    ``pg_world``."""
    if request.param == "postgresql":
        yield pg_world(request.getfixturevalue("pg_url"), request.getfixturevalue("pg_kept"))
        return
    template: Path = request.getfixturevalue("sqlite_template")
    for file in template.parent.glob(f"{template.name}*"):
        shutil.copy(file, tmp_path / file.name)
    world = fresh_world(f"sqlite:///{tmp_path / template.name}")
    yield world
    get_engine(world.url).dispose()


def replays(world: World, cid: int) -> None:
    with world.aqd.session() as s:
        report = replay_contract(world.aqd, s, cid)
    assert report.ok, report.problems


def days(duration: str) -> int:
    found = re.fullmatch(r"P(\d+)D", duration)
    assert found, duration
    return int(found.group(1))


def period_end(start_date: str, period: int) -> date:
    """The last day of a contract's period (1-based), months counted from its start date."""
    first = date.fromisoformat(start_date)
    months = first.month - 1 + period
    return date(first.year + months // 12, months % 12 + 1, first.day) - timedelta(days=1)


def period_month(start_date: str, period: int) -> str:
    """The calendar month a period is paid in: the month of its last day."""
    return period_end(start_date, period).isoformat()[:7]


def closed(world: World, cid: int, status: str) -> Contract:
    """The contract ended in ``status``: every instance completed, no task, no timer."""
    c = contract(world, cid)
    assert (c.status, c.next_due_at) == (status, None)
    assert instances(world, cid) == {"completed"}
    assert ready(world, cid) == []
    return c


# -- the paths ---------------------------------------------------------------------------------


def eligible(world: World, p: Programme, _arg: str) -> None:
    cid = start(world, p)
    c = contract(world, cid)
    assert (c.status, c.number) == ("in_review", f"{p.key.upper()}-{p.clock.year}-{cid:06d}")
    assert ready(world, cid) == ["employer_agreement"]
    with world.aqd.session() as s:
        task = s.scalar(select(HumanTask).where(HumanTask.contract_id == cid))
        assert task is not None and task.lane == "employer"
    assert events(world, cid) == ["contract_started"]
    assert outbox(world, cid) == []


def ineligible(world: World, p: Programme, reason: str) -> None:
    refusal = next(r for r in p.refusals if r.reason == reason)
    if refusal.setup:
        refusal.setup(world)
    cid = start(world, p, refusal.changes, on=refusal.on)
    closed(world, cid, "rejected")
    assert main_data(world, cid)["rejection_reason"] == reason
    assert events(world, cid) == ["contract_started"]
    assert outbox(world, cid) == []
    replays(world, cid)


def employer_declines_agreement(world: World, p: Programme, _arg: str) -> None:
    """The employer refuses the agreement (message ``decline_agreement``) instead of agreeing;
    the contract is refused with EMPLOYER_DECLINED and the employer's reason is kept."""
    cid = start(world, p)
    world.message(cid, "decline_agreement", {"reason": "Poste supprimé"})
    closed(world, cid, "rejected")
    data = main_data(world, cid)
    assert (data["rejection_reason"], data["decline_reason"]) == (
        "EMPLOYER_DECLINED",
        "Poste supprimé",
    )
    assert outbox(world, cid) == []
    assert events(world, cid) == ["contract_started", "message_received"]
    replays(world, cid)


def employer_declines_signature(world: World, p: Programme, _arg: str) -> None:
    """The employer declines to sign the offer: the counsellor reviews and rejects."""
    cid = start(world, p)
    agree(world, p, cid, VALIDATE)
    sign(world, cid, "beneficiary")
    sign(world, cid, "employer", "declined")
    assert contract(world, cid).status == "awaiting_signature"
    assert ready(world, cid) == ["review_decline"]
    world.complete(cid, "review_decline", {"decline_decision": "reject"}, "counsellor")
    closed(world, cid, "rejected")
    assert main_data(world, cid)["rejection_reason"] == "SIGNATURE_DECLINED"
    requests = [r.idempotency_key for r in outbox(world, cid, "signature_request")]
    number = contract(world, cid).number
    assert requests == [f"signature:{number}:1:{party}" for party in ("beneficiary", "employer")]
    assert outbox(world, cid, "payment_order") == []
    replays(world, cid)


def counsellor_returns_then_approves(world: World, p: Programme, _arg: str) -> None:
    cid = start(world, p)
    agree(world, p, cid, {"validation_decision": "return", "return_reason": "Pièce CNSS manquante"})
    assert contract(world, cid).status == "in_review"
    assert ready(world, cid) == ["employer_agreement"]  # the employer's step again
    agree(world, p, cid, VALIDATE)
    assert contract(world, cid).status == "awaiting_signature"
    world.sign_all(cid)
    c = contract(world, cid)
    assert c.status == "active" and c.next_due_at is not None
    first_due = period_end(str(p.request["start_date"]), 1)
    if p.key == "civp":  # the attendance sheet opens 4 days before the month's end
        first_due -= timedelta(days=4)
    assert c.next_due_at.date() == first_due
    completed = [e for e in events(world, cid) if e == "task_completed"]
    assert len(completed) == 2 * (len(p.agreement) + 1)
    replays(world, cid)


def counsellor_rejects(world: World, p: Programme, _arg: str) -> None:
    cid = start(world, p)
    agree(world, p, cid, {"validation_decision": "reject", "reject_code": "DOCUMENTS_MISSING"})
    closed(world, cid, "rejected")
    assert main_data(world, cid)["rejection_reason"] == "DOCUMENTS_MISSING"
    assert outbox(world, cid) == []
    replays(world, cid)


def signature_expires(world: World, p: Programme, _arg: str) -> None:
    """Nobody signs: a reminder after ``signature_reminder``, expiry at ``signature_deadline``."""
    params = p.params()
    reminder, deadline = days(params["signature_reminder"]), days(params["signature_deadline"])
    cid = start(world, p)
    agree(world, p, cid, VALIDATE)
    validated = world.clock.now()
    world.clock.set(validated + timedelta(days=reminder, minutes=-5))
    assert not world.fire(cid)
    world.clock.set(validated + timedelta(days=reminder, minutes=5))
    assert world.fire(cid)
    assert contract(world, cid).status == "awaiting_signature"
    world.clock.set(validated + timedelta(days=deadline, minutes=-5))
    assert not world.fire(cid)
    world.clock.set(validated + timedelta(days=deadline, minutes=5))
    assert world.fire(cid)
    closed(world, cid, "expired")
    rows = outbox(world, cid)
    number = contract(world, cid).number
    assert [(r.kind, r.idempotency_key) for r in rows] == [
        ("signature_request", f"signature:{number}:1:beneficiary"),
        ("signature_reminder", f"signature-reminder:{number}:1:beneficiary"),
        ("signing_closed", f"signing-closed:{number}"),
    ]
    replays(world, cid)


def run_term(world: World, p: Programme, months: int | None = None) -> int:
    """An active contract run to its term: every month's task done and payment confirmed;
    ``months`` runs a variant of the programme whose term is that many months."""
    cid = active(world, p, variant={"contract_months": months} if months else None)
    for _ in range(months or p.months()):
        world.run_month(cid, task=p.month_task, data=p.month_data)
    c = contract(world, cid)
    assert (c.status, c.next_due_at) == ("active", None)
    assert ready(world, cid) == [p.outcome_task]
    return cid


def full_term(world: World, p: Programme, _arg: str) -> None:
    """Every month of the term pays each party exactly the amount its parameters give."""
    cid = run_term(world, p)
    number = contract(world, cid).number
    start_date = str(p.request["start_date"])
    expected = [
        (
            f"payment:{number}:{m}:{pay.payee}:{pay.kind}",
            pay.payee,
            pay.kind,
            m,
            period_month(start_date, m),
            str(pay.amount),
            "completed",
        )
        for m in range(1, p.months() + 1)
        for pay in p.monthly()
    ]
    actual = [
        (
            r.idempotency_key,
            r.payload["payee"],
            r.payload["kind"],
            r.payload["period"],
            r.payload["month"],
            r.payload["amount"],
            r.status,
        )
        for r in outbox(world, cid, "payment_order")
    ]
    assert actual == expected
    outcome = "hired_cdi"
    world.complete(cid, p.outcome_task, dict(p.outcomes[outcome]), "counsellor")
    c = contract(world, cid)
    assert (c.status, c.outcome) == ("ended", outcome)
    if p.key == "cides":  # the integration premium, to the employer, a year after the hire
        premium_due(world, p, cid)
    replays(world, cid)


def premium_due(world: World, p: Programme, cid: int) -> None:
    params = p.params()
    c = contract(world, cid)
    assert c.next_due_at is not None
    assert c.next_due_at.date().isoformat() == "2020-10-01"  # hire_date + 12 months
    world.clock.set(c.next_due_at + timedelta(minutes=3))
    assert world.fire(cid)
    order = outbox(world, cid, "payment_order")[-1]
    period = p.months() + int(params["integration_premium_delay_months"])
    assert order.idempotency_key == f"payment:{c.number}:{period}:employer:premium"
    assert (order.payload["payee"], order.payload["amount"], order.payload["month"]) == (
        "employer",
        str(tnd(params["integration_premium"])),
        "2020-10",
    )
    with world.aqd.session() as s, s.begin():
        world.aqd.record_side_effect(s, order.idempotency_key, True, {"bank_ref": "PRIME"})
    closed(world, cid, "ended")


def outcome(world: World, p: Programme, value: str) -> None:
    """Each outcome is recorded at the term, on a one-month variant of the programme (the real
    term is walked once, by ``full_term``)."""
    cid = run_term(world, p, months=1)
    if value in p.not_outcomes:
        with pytest.raises(InvalidInput) as info:
            world.complete(cid, p.outcome_task, {"outcome": value}, "employer")
        assert "outcome" in info.value.fields
        assert contract(world, cid).status == "active"
        assert ready(world, cid) == [p.outcome_task]
        return
    world.complete(cid, p.outcome_task, dict(p.outcomes[value]), "counsellor")
    c = contract(world, cid)
    assert (c.status, c.outcome) == ("ended", value) and c.ended_at is not None
    assert len(outbox(world, cid, "payment_order")) == 1
    if p.key == "cides":
        data = main_data(world, cid)
        hired = value != "none"
        assert (data["employer_sanction"], data["sanction_reason"]) == (
            not hired,
            None if hired else "NO_HIRE",
        )
        if not hired:
            closed(world, cid, "ended")
    else:
        closed(world, cid, "ended")
    if p.key == "civp":  # the outcome feeds the employer's insertion rate (décret 2023-461)
        record = next_request_record(world)
        inserted = 0 if value == "none" else 1
        # none: rate 0 and no cooling-off year yet, so the firm's next request is refused
        status = "rejected" if value == "none" else "in_review"
        assert (record["completed"], record["inserted"], record["status"]) == (1, inserted, status)


def suspension(world: World, p: Programme, _arg: str) -> None:
    cid = active(world, p)
    suspend_and_resume(world, cid, p.month_task, p.month_data)
    (pay,) = p.monthly()
    amounts = [r.payload["amount"] for r in outbox(world, cid, "payment_order")]
    assert amounts == [str(pay.amount)] * 2


def suspension_too_long(world: World, p: Programme, _arg: str) -> None:
    cid = active(world, p)
    suspend_too_long(world, cid)
    assert main_data(world, cid)["termination_reason"] == "SUSPENSION_EXCEEDED"


def early_termination(world: World, p: Programme, _arg: str) -> None:
    """Terminated in month 4: months 1-3 were paid, nothing after, even once months pass."""
    cid = active(world, p)
    for _ in range(3):
        world.run_month(cid, task=p.month_task, data=p.month_data)
    world.clock.set(world.clock.now() + timedelta(days=10))
    world.message(cid, "terminate_contract", {"reason": "employer_closed", "outcome": "none"})
    c = closed(world, cid, "terminated")
    assert c.outcome == "none"
    world.clock.set(world.clock.now() + timedelta(days=90))
    assert not world.fire(cid)
    orders = outbox(world, cid, "payment_order")
    assert [r.payload["period"] for r in orders] == [1, 2, 3]
    data = main_data(world, cid)
    assert (data["termination_reason"], data["outcome"]) == ("employer_closed", "none")
    replays(world, cid)


def hired_before_the_term(world: World, p: Programme, _arg: str) -> None:
    """The beneficiary is hired in month 3: the contract ends early with that outcome, the
    running month is not paid, and (CIVP) the early hire counts as an insertion."""
    cid = active(world, p)
    for _ in range(2):
        world.run_month(cid, task=p.month_task, data=p.month_data)
    world.clock.set(world.clock.now() + timedelta(days=5))
    hired = {"reason": "beneficiary_hired", "outcome": "hired_cdd"}
    world.message(cid, "terminate_contract", hired)
    c = closed(world, cid, "terminated")
    assert c.outcome == "hired_cdd" and c.ended_at is not None
    assert [r.payload["period"] for r in outbox(world, cid, "payment_order")] == [1, 2]
    if p.key == "civp":
        record = next_request_record(world)
        assert (record["completed"], record["inserted"]) == (1, 1)
    replays(world, cid)


def next_request_record(world: World) -> dict[str, object]:
    """The employer's CIVP record as a request made the next day sees it."""
    world.clock.set(world.clock.now() + timedelta(days=1))
    today = world.clock.now().date()
    again = world.start(request_date=today.isoformat(), start_date=None)
    with world.aqd.session() as s:
        data = history_of(s, again)["events"][0]["payload"]["data"]
    record: dict[str, object] = data["employer_record"]
    record["status"] = contract(world, again).status
    return record


def extension_granted(world: World, p: Programme, _arg: str) -> None:
    if p.extension:
        return extension_absent(world, p)
    cid = active(world, p)
    months = p.months()
    for _ in range(months - 1):
        world.run_month(cid, task=p.month_task, data=p.month_data)
    world.message(cid, "request_extension", {"months": 2, "requested_by": "employer"})
    for _ in range(3):
        world.run_month(cid, task=p.month_task, data=p.month_data)
    assert contract(world, cid).next_due_at is None
    assert ready(world, cid) == [p.outcome_task]
    (pay,) = p.monthly()
    orders = outbox(world, cid, "payment_order")
    assert [(r.payload["period"], r.payload["amount"]) for r in orders] == [
        (m, str(pay.amount)) for m in range(1, months + 3)
    ]
    world.complete(cid, p.outcome_task, dict(p.outcomes["hired_cdd"]), "counsellor")
    closed(world, cid, "ended")
    data = main_data(world, cid)
    assert (data["extension_reason"], data["extension_months"], data["end_date"]) == (
        "OK",
        2,
        "2026-05-31",
    )
    replays(world, cid)


def extension_refused(world: World, p: Programme, _arg: str) -> None:
    if p.extension:
        return extension_absent(world, p)
    cid = active(world, p, {"prior_civp_months": 12})  # 12 + 12 + 3 > 24 months
    months = p.months()
    for _ in range(months - 1):
        world.run_month(cid, task=p.month_task, data=p.month_data)
    world.message(cid, "request_extension", {"months": 3, "requested_by": "counsellor"})
    world.run_month(cid, task=p.month_task, data=p.month_data)
    assert contract(world, cid).next_due_at is None
    assert ready(world, cid) == [p.outcome_task]
    assert len(outbox(world, cid, "payment_order")) == months
    world.complete(cid, p.outcome_task, dict(p.outcomes["none"]), "counsellor")
    closed(world, cid, "ended")
    data = main_data(world, cid)
    assert (data["extension_reason"], data["extension_months"]) == ("DURATION_EXHAUSTED", 0)
    replays(world, cid)


def extension_absent(world: World, p: Programme) -> None:
    """A programme without extension: its model has no such message and the engine refuses
    one sent to an active contract, changing nothing."""
    assert "request_extension" not in (ROOT / "processes" / p.key / f"{p.key}.bpmn").read_text()
    cid = active(world, p)
    before = contract(world, cid).revision
    with pytest.raises(Conflict, match="not waiting for message"):
        world.message(cid, "request_extension", {"months": 2, "requested_by": "employer"})
    c = contract(world, cid)
    assert (c.status, c.revision) == ("active", before)


PATHS: dict[str, Walk] = {
    "eligible": eligible,
    "ineligible": ineligible,
    "employer declines the agreement": employer_declines_agreement,
    "employer declines to sign": employer_declines_signature,
    "counsellor returns then approves": counsellor_returns_then_approves,
    "counsellor rejects": counsellor_rejects,
    "signature expires": signature_expires,
    "full term, amounts per party per month": full_term,
    "suspension and resumption": suspension,
    "suspension longer than the maximum": suspension_too_long,
    "early termination mid-term": early_termination,
    "hired before the term": hired_before_the_term,
    "extension granted": extension_granted,
    "extension refused": extension_refused,
    "outcome": outcome,
}


def not_applicable(p: Programme, path: str, arg: str) -> str | None:
    """Why a path does not apply to a programme (its test checks the refusal), or None."""
    if path.startswith("extension"):
        return p.extension
    if path == "outcome":
        return p.not_outcomes.get(arg)
    return None


def cells() -> list[tuple[str, str, str]]:
    """The table, cell by cell: (programme, path, argument)."""
    out: list[tuple[str, str, str]] = []
    for key, p in PROGRAMMES.items():
        for path in PATHS:
            if path == "ineligible":
                out += [(key, path, r.reason) for r in p.refusals]
            elif path == "outcome":
                out += [(key, path, o) for o in OUTCOMES]
            else:
                out.append((key, path, ""))
    return out


TABLE = cells()


def cell_id(cell: tuple[str, str, str]) -> str:
    key, path, arg = cell
    na = " (n/a)" if not_applicable(PROGRAMMES[key], path, arg) else ""
    return f"{key}: {path}{' ' + arg if arg else ''}{na}"


@pytest.mark.parametrize("cell", TABLE, ids=[cell_id(c) for c in TABLE])
def test_scenario(world: World, cell: tuple[str, str, str]) -> None:
    key, path, arg = cell
    PATHS[path](world, PROGRAMMES[key], arg)


@pytest.mark.parametrize("key", PROGRAMMES)
def test_every_refusal_reason_of_the_eligibility_tables_is_walked(key: str) -> None:
    p = PROGRAMMES[key]
    codes: set[str] = set()
    for dmn, output in p.eligibility_tables:
        codes |= refusal_codes(key, dmn, output)
    assert codes and {r.reason for r in p.refusals} == codes


def test_every_outcome_of_the_record_form_is_walked_or_refused() -> None:
    import json

    for key, p in PROGRAMMES.items():
        schema = json.loads(
            (ROOT / "forms" / "schemas" / key / f"{_form(p)}.schema.json").read_text()
        )
        offered = set(schema["properties"]["outcome"]["enum"])
        assert offered == set(p.outcomes), key
        assert offered | set(p.not_outcomes) == set(OUTCOMES), key
        assert not offered & set(p.not_outcomes), key


def _form(p: Programme) -> str:
    return "hire_outcome" if p.outcome_task == "record_hire" else p.outcome_task


def test_the_table_has_every_path_for_every_programme() -> None:
    for key in PROGRAMMES:
        paths = {path for k, path, _ in TABLE if k == key}
        assert paths == set(PATHS), key
    assert len(PROGRAMMES) == 5


def render_table() -> str:
    """The table in Markdown: a row per path, a column per programme."""
    keys = list(PROGRAMMES)
    lines = ["| path | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for path in PATHS:
        row = [path]
        for key in keys:
            p = PROGRAMMES[key]
            args = [a for k, pa, a in TABLE if k == key and pa == path]
            walked = [a for a in args if not not_applicable(p, path, a)]
            skipped = [a for a in args if not_applicable(p, path, a)]
            cell = ", ".join(walked) if any(walked) else ("walked" if walked else "")
            if skipped:
                why = not_applicable(p, path, skipped[0])
                which = f" ({', '.join(skipped)})" if any(skipped) else ""
                cell = (cell + "; " if cell else "") + f"n/a{which}: {why}"
            row.append(cell)
        lines.append("| " + " | ".join(row) + " |")
    monthly = [
        "; ".join(f"{pay.payee} {pay.kind} {pay.amount} TND" for pay in p.monthly())
        + f", months 1-{p.months()}"
        for p in PROGRAMMES.values()
    ]
    lines.append("| orders each month (full term) | " + " | ".join(monthly) + " |")
    direct = [p.paid_directly for p in PROGRAMMES.values()]
    lines.append("| paid between the parties, not ordered | " + " | ".join(direct) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_table())
