"""Engine benchmark: durable steps through Aqd against SpiffWorkflow alone and the commit floor.

Usage: ``AQD_DATABASE_URL=postgresql+psycopg://... python bench/engine.py [--contracts N]``
(``make bench``). The database named in the URL is left alone: the benchmark creates its own
scratch database next to it (PostgreSQL: ``<name>_bench``; SQLite: ``var/bench.db``).

Workload: the CIVP monthly cycle, which is what a contract does for most of its life. Each
contract is activated, then runs 24 months; a month is three commands (timer fires, employer
attendance, payment confirmation). One *step* is one such command.

* ``anchor``: SpiffWorkflow alone on the same BPMN, in memory, with its default script engine,
  serializing and deserializing the workflows after each step (no database);
* ``limit``: one-row ``INSERT`` + ``COMMIT`` on one connection (the floor of any durable step);
* ``aqd``: the same steps as durable commands (lock, run, state, inbox, timings, chained event,
  outbox, commit) in one process, and ``aqd_2proc`` with two processes on two cores.

The last line printed is one JSON object with the numbers.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg
from sqlalchemy import select
from sqlalchemy.engine import make_url

from engine import Aqd, FrozenClock, Settings
from engine.db import dispose_all, normalize_url
from engine.definitions.deploy import deploy
from engine.employers import Proof, record_checked_employer
from engine.kernel.signature_events import SIGNING_PARTIES, signature_result
from engine.models import Beneficiary, Contract, Employer, HumanTask, Office, Outbox
from engine.schema_migrations import upgrade

MONTHS = 24
START = "2025-03-03T08:00:00+00:00"
AGREEMENT = {
    "agreed": True,
    "position_title": "Developer",
    "tutor_name": "Mr Tutor",
    "employer_complement": 200,
}


# -- scratch database and programme -----------------------------------------------------------


#: the employer's checked status and certificates (engine/employers): valid all along
CHECKED = (date(2009, 1, 1), date(2099, 12, 31))
PROOF = Proof("certificate.pdf", b"%PDF-1.4 bench certificate")


def scratch_url(url: str) -> str:
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = ROOT / "var" / "bench.db"
        path.parent.mkdir(exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"

    name = f"{parsed.database or 'aqd'}_bench"
    admin = parsed.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return parsed.set(database=name).render_as_string(hide_password=False)


def programme_folder() -> Path:
    """processes/civp with a 24-month contract (the rest of the programme unchanged)."""
    folder = Path(tempfile.mkdtemp(prefix="aqd-bench-")) / "civp"
    shutil.copytree(ROOT / "processes" / "civp", folder)
    params = json.loads((folder / "parameters.json").read_text())
    params["parameters"]["contract_months"][0]["value"] = MONTHS
    (folder / "parameters.json").write_text(json.dumps(params))
    return folder


def prepare(url: str, contracts: int) -> None:
    upgrade(url)
    clock = FrozenClock(START)
    aqd = Aqd(url, clock=clock, settings=Settings(database_url=url))
    with aqd.session() as s, s.begin():
        deploy(s, programme_folder(), aqd.sandbox, clock)
        office = Office(code="TUN", name_fr="Tunis", name_ar="تونس", governorate="Tunis")
        s.add(office)
        s.flush()
        employer = Employer(
            name="ACME",
            matricule_fiscal="1234567A",
            cnss_number="1",
            sector="it",
            governorate="Tunis",
            office_id=office.id,
        )
        s.add(employer)
        s.flush()
        record_checked_employer(
            s, employer.id, "PRIVATE_FIRM", *CHECKED, PROOF, "bench", clock.now()
        )
        for i in range(contracts):
            s.add(
                Beneficiary(
                    cin=f"{10000000 + i}", first_name="B", last_name=str(i), office_id=office.id
                )
            )
    dispose_all()


# -- aqd: durable commands ----------------------------------------------------------------------


def _task(aqd: Aqd, contract_id: int, bpmn_id: str) -> str:
    with aqd.session() as s:
        guid = s.scalar(
            select(HumanTask.task_guid).where(
                HumanTask.contract_id == contract_id,
                HumanTask.bpmn_id == bpmn_id,
                HumanTask.status == "ready",
            )
        )
    assert guid is not None, (contract_id, bpmn_id)
    return guid


def activate_contract(aqd: Aqd, beneficiary: int) -> int:
    """Start a CIVP contract for bench beneficiary number ``beneficiary`` and activate it."""
    data = {
        "office": "TUN",
        "employer_mf": "1234567A",
        "beneficiary_cin": f"{10000000 + beneficiary}",
        "nationality": "TN",
        "diploma_level": "HIGHER_ED",
        "request_date": "2025-03-01",
        "start_date": "2025-04-01",
    }
    with aqd.session() as s, s.begin():
        cid = aqd.start_contract(s, "civp", data, "bench").id
    for bpmn_id, form in (
        ("employer_agreement", AGREEMENT),
        ("counsellor_validation", {"validation_decision": "validate"}),
    ):
        guid = _task(aqd, cid, bpmn_id)
        with aqd.session() as s, s.begin():
            aqd.complete_task(s, guid, form, "bench")
    with aqd.session() as s, s.begin():
        for party in SIGNING_PARTIES:
            aqd.correlate_message(s, cid, "signature_result", signature_result(party), "bench")
    return cid


def run_aqd(url: str, first: int, count: int, result: Any = None) -> dict[str, Any]:
    """Activate ``count`` contracts, then time every month-cycle command for 24 months."""
    clock = FrozenClock(START)
    aqd = Aqd(url, clock=clock, settings=Settings(database_url=url, workflow_cache_size=10_000))
    ids = []
    for i in range(first, first + count):
        ids.append(activate_contract(aqd, i))

    per_month: dict[int, list[float]] = {m: [] for m in range(1, MONTHS + 1)}
    wall = 0.0
    for month in range(1, MONTHS + 1):
        with aqd.session() as s:
            due = s.scalar(select(Contract.next_due_at).where(Contract.id == ids[0]))
        assert due is not None
        clock.set(due + timedelta(minutes=1))
        for cid in ids:
            t0 = time.perf_counter()
            with aqd.session() as s, s.begin():
                assert aqd.fire_timers(s, cid) is not None
            t1 = time.perf_counter()
            guid = _task(aqd, cid, "attendance")
            t2 = time.perf_counter()
            with aqd.session() as s, s.begin():
                aqd.complete_task(s, guid, {"days_present": 20}, "bench")
            t3 = time.perf_counter()
            with aqd.session() as s:
                key = s.scalar(
                    select(Outbox.idempotency_key).where(
                        Outbox.contract_id == cid, Outbox.status == "pending"
                    )
                )
            assert key is not None
            t4 = time.perf_counter()
            with aqd.session() as s, s.begin():
                aqd.record_side_effect(s, key, True, {"bank_ref": "X"})
            t5 = time.perf_counter()
            per_month[month].extend([t1 - t0, t3 - t2, t5 - t4])
            wall += (t1 - t0) + (t3 - t2) + (t5 - t4)
    steps = [d for durations in per_month.values() for d in durations]
    out = {
        "steps": len(steps),
        "seconds": wall,
        "durations": steps,
        "month1": statistics.median(per_month[1]),
        "month24": statistics.median(per_month[MONTHS]),
    }
    dispose_all()
    if result is not None:
        result.put(out)
    return out


def run_aqd_parallel(url: str, first: int, count: int, procs: int) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    share = count // procs
    workers = [
        ctx.Process(target=run_aqd, args=(url, first + i * share, share, queue))
        for i in range(procs)
    ]
    started = time.perf_counter()
    for w in workers:
        w.start()
    results = [queue.get() for _ in workers]
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    steps = sum(r["steps"] for r in results)
    # Each process also spends time activating its contracts; measure the month-cycle span only
    # through the processes' own step clocks, bounded by the slower one.
    busiest = max(r["seconds"] for r in results)
    return {"steps": steps, "seconds": busiest, "elapsed": elapsed}


# -- anchor: SpiffWorkflow alone -----------------------------------------------------------------


def run_anchor(contracts: int) -> dict[str, Any]:
    from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow  # noqa: PLC0415 (SpiffWorkflow's own rate, measured in its process)
    from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment  # noqa: PLC0415 (SpiffWorkflow's own rate, measured in its process)
    from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser  # noqa: PLC0415 (SpiffWorkflow's own rate, measured in its process)
    from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition  # noqa: PLC0415 (SpiffWorkflow's own rate, measured in its process)
    from SpiffWorkflow.util.task import TaskState  # noqa: PLC0415 (SpiffWorkflow's own rate, measured in its process)

    from engine.runtime import context  # noqa: PLC0415 (SpiffWorkflow's own rate, measured in its process)
    from engine.runtime.sandbox import helper_functions  # noqa: PLC0415 (SpiffWorkflow's own rate, measured in its process)
    from engine.runtime.serializer import SERIALIZER  # noqa: PLC0415 (SpiffWorkflow's own rate, measured in its process)

    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(ROOT / "processes" / "civp" / "civp.bpmn"))
    parser.add_dmn_file(str(ROOT / "processes" / "civp" / "civp_eligibility.dmn"))
    parser.add_dmn_file(str(ROOT / "processes" / "civp" / "civp_monthly_stipend.dmn"))
    spec = parser.get_spec("civp_month")
    subprocess_specs = parser.get_subprocess_specs("civp_month")
    now = datetime.fromisoformat(START)
    engine = PythonScriptEngine(environment=TaskDataEnvironment(helper_functions(lambda: now)))
    params = {"stipend_higher_ed": 200, "stipend_other": 150, "disability_topup": 50}

    def roundtrip(wf: BpmnWorkflow) -> BpmnWorkflow:
        restored = SERIALIZER.deserialize_json(SERIALIZER.serialize_json(wf))
        restored.script_engine = engine
        return restored

    def message(wf: BpmnWorkflow, name: str, payload: Any) -> None:
        wf.send_event(BpmnEvent(MessageEventDefinition(name), payload))
        wf.do_engine_steps()

    def new_month(period: int, number: str) -> BpmnWorkflow:
        data = {
            "period": period,
            "months": MONTHS,
            "contract_start": "2025-04-01",
            "diploma_level": "HIGHER_ED",
            "disabled": False,
            "params": params,
            "contract_number": number,
        }
        wf = BpmnWorkflow(spec, subprocess_specs, script_engine=engine)
        wf.get_tasks(state=TaskState.READY)[0].set_data(**data)
        wf.do_engine_steps()
        message(wf, "civp_month_start", data)
        return wf

    months = {c: new_month(1, f"C{c}") for c in range(contracts)}
    per_month: dict[int, list[float]] = {m: [] for m in range(1, MONTHS + 1)}
    due = datetime(2025, 4, 30, 18, tzinfo=UTC)
    for month in range(1, MONTHS + 1):
        with context.command_context(due + timedelta(days=40 * month), "anchor"):
            for c in range(contracts):
                wf = months[c]
                t0 = time.perf_counter()
                wf.refresh_timers()
                wf.do_engine_steps()
                wf = roundtrip(wf)
                t1 = time.perf_counter()
                task = wf.get_tasks(state=TaskState.READY, manual=True)[0]
                task.data.update({"days_present": 20})
                task.run()
                wf.do_engine_steps()
                nxt = None
                for event in wf.get_events():
                    if event.event_definition.name == "civp_month_start":
                        nxt = new_month(event.payload["period"], f"C{c}")
                wf = roundtrip(wf)
                if nxt is not None:
                    nxt = roundtrip(nxt)
                t2 = time.perf_counter()
                message(wf, "payment_confirmed", {"bank_ref": "X"})
                wf = roundtrip(wf)
                t3 = time.perf_counter()
                assert wf.completed
                if nxt is not None:
                    months[c] = nxt
                per_month[month].extend([t1 - t0, t2 - t1, t3 - t2])
    steps = [d for durations in per_month.values() for d in durations]
    return {"steps": len(steps), "seconds": sum(steps), "durations": steps}


# -- limit: the commit floor ---------------------------------------------------------------


def run_limit(url: str, seconds: float = 3.0) -> float:
    parsed = make_url(url)
    count = 0
    if parsed.get_backend_name() == "sqlite":
        conn = sqlite3.connect(parsed.database or ":memory:", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE IF NOT EXISTS bench_limit (id INTEGER PRIMARY KEY, v INTEGER)")
        end = time.perf_counter() + seconds
        start = time.perf_counter()
        while time.perf_counter() < end:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO bench_limit (v) VALUES (?)", (count,))
            conn.execute("COMMIT")
            count += 1
        elapsed = time.perf_counter() - start
        conn.close()
        return count / elapsed

    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as pg:
        pg.execute("CREATE TABLE IF NOT EXISTS bench_limit (id bigserial PRIMARY KEY, v int)")
        pg.commit()
        end = time.perf_counter() + seconds
        start = time.perf_counter()
        while time.perf_counter() < end:
            pg.execute("INSERT INTO bench_limit (v) VALUES (%s)", (count,))
            pg.commit()
            count += 1
        elapsed = time.perf_counter() - start
    return count / elapsed


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--contracts", type=int, default=10, help="contracts per round (even)")
    cli.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians reported")
    args = cli.parse_args()
    contracts = max(2, args.contracts - args.contracts % 2)
    rounds = max(1, args.rounds)
    base = os.environ.get("AQD_DATABASE_URL", f"sqlite:///{ROOT / 'var' / 'aqd.db'}")
    url = scratch_url(base)
    backend = make_url(url).get_backend_name()
    print(
        f"database: {backend}; {rounds} rounds of {contracts} contracts x {MONTHS} months "
        "x 3 steps",
        flush=True,
    )
    prepare(url, contracts * rounds * 2)

    # Anchor, limit and aqd alternate within each round, so drift on a shared machine hits
    # them alike; the medians of the rounds are reported.
    anchor_rates, limit_rates, aqd_rates, two_rates = [], [], [], []
    durations: list[float] = []
    month1: list[float] = []
    month24: list[float] = []
    first = 0
    for n in range(1, rounds + 1):
        anchor = run_anchor(contracts)
        anchor_rates.append(anchor["steps"] / anchor["seconds"])
        limit_rates.append(run_limit(url, seconds=2.0))
        single = run_aqd(url, first, contracts)
        first += contracts
        aqd_rates.append(single["steps"] / single["seconds"])
        durations.extend(single["durations"])
        month1.append(single["month1"])
        month24.append(single["month24"])
        double = run_aqd_parallel(url, first, contracts, 2)
        first += contracts
        two_rates.append(double["steps"] / double["seconds"])
        print(
            f"round {n}: anchor {anchor_rates[-1]:.0f}, limit {limit_rates[-1]:.0f}, "
            f"aqd {aqd_rates[-1]:.0f}, aqd x2 {two_rates[-1]:.0f} steps/s",
            flush=True,
        )

    anchor_rate = statistics.median(anchor_rates)
    limit_rate = statistics.median(limit_rates)
    aqd_rate = statistics.median(aqd_rates)
    two_rate = statistics.median(two_rates)
    durations.sort()
    result = {
        "database": backend,
        "contracts": contracts,
        "rounds": rounds,
        "months": MONTHS,
        "anchor_steps_per_s": round(anchor_rate, 1),
        "limit_commits_per_s": round(limit_rate, 1),
        "aqd_steps_per_s": round(aqd_rate, 1),
        "aqd_2proc_steps_per_s": round(two_rate, 1),
        "aqd_over_anchor": round(aqd_rate / anchor_rate, 3),
        "aqd_over_limit": round(aqd_rate / limit_rate, 3),
        "aqd_2proc_over_1proc": round(two_rate / aqd_rate, 3),
        "step_p50_ms": round(durations[len(durations) // 2] * 1000, 3),
        "step_p95_ms": round(durations[int(len(durations) * 0.95)] * 1000, 3),
        "month24_over_month1": round(statistics.median(month24) / statistics.median(month1), 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
