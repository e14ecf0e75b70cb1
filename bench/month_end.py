"""Month-end payment run: N active CIVP contracts reach the end of their month; their
attendance was certified in the month's last days, so the month's end writes the payment orders
and the bank files.

``python bench/month_end.py [--contracts N] [--workers 2] [--out DIR]`` on PostgreSQL
(``AQD_DATABASE_URL``; default: the local socket). It works in a scratch database beside the
one in the URL (``<name>_month_end_<pid>``, dropped at the end unless ``--keep``). The last
line is one JSON object with ``contracts``, ``month_end_seconds``, ``orders_per_s`` and the
phases.

Setup (not timed): 6 offices, one employer each, one beneficiary with a RIB per contract. One
contract per office is started and activated through the engine's commands (the template);
the others are **clones** of the templates' rows — the contract row and its two workflow states
(the main lifecycle and month 1 waiting for its attendance sheet to open), with the contract
number and the SpiffWorkflow task ids rewritten per clone — because activating 150,000
contracts through 600,000 commands would take longer than the month itself. The clones have no
event history before the month's last days (they cannot be replayed); everything after goes
through the ordinary commands.

Timed, with ``--workers`` processes, in two periods of the month:

1. ``month_work`` — the month's last days, reported apart from the month's end: at the
   sheet's opening (4 days before the end) every process runs the production timer poller
   (``run_due_timers``, pages of 500; overlapping pollers skip each other's contracts), then
   ``complete_task`` of the employer's attendance for the contracts it opened. Each
   attendance computes the stipend, throws the payment order for the month's end (an outbox
   row with ``available_at`` = the end, 18:00) and starts month 2. In production this work is
   spread over those days as employers certify; here it runs back to back.
2. ``month_end_seconds`` — the month's end (the clock moves past 18:00):
   ``timers``: the production poller (nothing of these contracts is due: month 2 waits for
   its own sheet); ``orders``: the outbox runner in every process (``outbox.run_once``: claim
   with ``FOR UPDATE SKIP LOCKED``, the batched ``payment_order`` handler, mark ``awaiting``)
   until no order is left; ``batches``: one pain.001 XML (XSD-validated) + CSV per office,
   written to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url

from engine import Aqd, FrozenClock, Settings, bootstrap
from engine.commands.timers import run_due_timers
from engine.db import dispose_all, get_engine, normalize_url
from engine.definitions.deploy import deploy
from engine.employers import Proof, record_checked_employer
from engine.kernel.signature_events import SIGNING_PARTIES, signature_result
from engine.models import (
    Beneficiary,
    Contract,
    Employer,
    HumanTask,
    Office,
    Outbox,
    ProcessInstance,
)
from engine.models.payments import PayeeAccount, PaymentOrder
from engine.outbox import runner as outbox
from engine.payments.accounts import make_rib
from engine.payments.batches import create_batch, debtor_account
from engine.schema_migrations import upgrade

START = "2025-03-03T08:00:00+00:00"
OFFICES = (
    ("TUN", "Tunis", "تونس"),
    ("BAR", "Ben Arous", "بن عروس"),
    ("GAF", "Gafsa", "قفصة"),
    ("GAB", "Gabès", "قابس"),
    ("KEF", "Le Kef", "الكاف"),
    ("SOU", "Sousse", "سوسة"),
)
AGREEMENT = {
    "agreed": True,
    "position_title": "Developer",
    "tutor_name": "Mr Tutor",
    "employer_complement": 200,
}
UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CHUNK = 500


#: the employer's checked status and certificates (engine/employers): valid all along
CHECKED = (date(2009, 1, 1), date(2099, 12, 31))
PROOF = Proof("certificate.pdf", b"%PDF-1.4 bench certificate")


def scratch_url(url: str) -> str:
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() != "postgresql":
        raise SystemExit("bench/month_end.py needs PostgreSQL (AQD_DATABASE_URL)")
    name = f"{parsed.database or 'aqd'}_month_end_{os.getpid()}"  # runs never share one
    admin = parsed.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return parsed.set(database=name).render_as_string(hide_password=False)


def drop(url: str) -> None:
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')


def engine_for(url: str, at: str = START) -> Aqd:
    return bootstrap.build(Settings(database_url=url), clock=FrozenClock(at))


# -- setup (not timed) ---------------------------------------------------------------------------


def prepare(url: str, contracts: int) -> None:
    upgrade(url)
    aqd = engine_for(url)
    now = aqd.clock.now()
    with aqd.session() as s, s.begin():
        deploy(s, ROOT / "processes" / "civp", aqd.sandbox, aqd.clock, actor="bench")
        for n, (code, fr, ar) in enumerate(OFFICES):
            office = Office(code=code, name_fr=fr, name_ar=ar, governorate=fr, pilot=True)
            s.add(office)
            s.flush()
            employer = Employer(
                name=f"Employer {code}",
                matricule_fiscal=f"{1000000 + n}A",
                cnss_number=str(n),
                sector="it",
                governorate=fr,
                office_id=office.id,
            )
            s.add(employer)
            s.flush()
            record_checked_employer(s, employer.id, "PRIVATE_FIRM", *CHECKED, PROOF, "bench", now)
    with aqd.db.begin() as conn:
        for first in range(0, contracts, 20_000):
            rows = range(first, min(contracts, first + 20_000))
            conn.execute(
                insert(Beneficiary),
                [
                    {
                        "id": i + 1,
                        "cin": f"{10000000 + i}",
                        "first_name": "Bénéficiaire",
                        "last_name": str(i + 1),
                        "diploma_level": "HIGHER_ED",
                        "disabled": False,
                        "office_id": i % len(OFFICES) + 1,
                    }
                    for i in rows
                ],
            )
            conn.execute(
                insert(PayeeAccount),
                [
                    {
                        "payee_kind": "beneficiary",
                        "payee_id": i + 1,
                        "rib": make_rib(8, 1 + i % 900, i + 1),
                        "updated_at": now,
                        "updated_by": "bench",
                    }
                    for i in rows
                ],
            )
        conn.execute(text("SELECT setval('beneficiary_id_seq', :n)"), {"n": contracts})
    # one template per office, activated through the engine's commands
    for n, (code, _, _) in enumerate(OFFICES[: min(len(OFFICES), contracts)]):
        activate(aqd, code, f"{1000000 + n}A", f"{10000000 + n}")
    clone(aqd, contracts)
    with aqd.db.begin() as conn:
        conn.execute(text("ANALYZE"))
    dispose_all()


def activate(aqd: Aqd, office: str, employer: str, cin: str) -> int:
    data = {
        "office": office,
        "employer_mf": employer,
        "beneficiary_cin": cin,
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
        with aqd.session() as s:
            guid = s.scalar(
                select(HumanTask.task_guid).where(
                    HumanTask.contract_id == cid,
                    HumanTask.bpmn_id == bpmn_id,
                    HumanTask.status == "ready",
                )
            )
        assert guid is not None
        with aqd.session() as s, s.begin():
            aqd.complete_task(s, guid, form, "bench")
    with aqd.session() as s, s.begin():
        for party in SIGNING_PARTIES:
            aqd.correlate_message(s, cid, "signature_result", signature_result(party), "bench")
    return cid


def _rewrite(state: bytes, old_number: bytes, new_number: bytes, salt: str) -> bytes:
    state = state.replace(old_number, new_number)
    cache: dict[bytes, bytes] = {}

    def fresh(match: re.Match[bytes]) -> bytes:
        old = match.group(0)
        if old not in cache:
            cache[old] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{salt}:{old.decode()}")).encode()
        return cache[old]

    return UUID.sub(fresh, state)


def clone(aqd: Aqd, contracts: int) -> None:
    """Copy the templates' contract and workflow rows to reach ``contracts`` contracts."""
    with aqd.session() as s:
        templates = list(s.scalars(select(Contract).order_by(Contract.id)))
        instances = {
            t.id: list(
                s.scalars(
                    select(ProcessInstance)
                    .where(ProcessInstance.contract_id == t.id)
                    .order_by(ProcessInstance.id)
                )
            )
            for t in templates
        }
    first = len(templates) + 1
    with aqd.db.begin() as conn:
        for start in range(first, contracts + 1, 5_000):
            contract_rows: list[dict[str, Any]] = []
            instance_rows: list[dict[str, Any]] = []
            for cid in range(start, min(contracts, start + 4_999) + 1):
                t = templates[(cid - 1) % len(templates)]
                number = f"CIVP-2025-{cid:06d}"
                contract_rows.append(
                    {
                        "id": cid,
                        "number": number,
                        "programme": t.programme,
                        "definition_id": t.definition_id,
                        "office_id": t.office_id,
                        "employer_id": t.employer_id,
                        "beneficiary_id": cid,
                        "status": t.status,
                        "revision": t.revision,
                        "last_seq": t.last_seq,
                        "chain_head": t.chain_head,
                        "instance_count": t.instance_count,
                        "next_due_at": t.next_due_at,
                        "started_at": t.started_at,
                    }
                )
                for inst in instances[t.id]:
                    instance_rows.append(
                        {
                            "contract_id": cid,
                            "process_id": inst.process_id,
                            "key": inst.key,
                            "status": inst.status,
                            "state": _rewrite(
                                inst.state, t.number.encode(), number.encode(), number
                            ),
                            "state_hash": inst.state_hash,
                            "serializer_version": inst.serializer_version,
                            "revision": inst.revision,
                            "waiting_messages": inst.waiting_messages,
                            "next_due_at": inst.next_due_at,
                            "started_at": inst.started_at,
                        }
                    )
            conn.execute(insert(Contract), contract_rows)
            conn.execute(insert(ProcessInstance), instance_rows)
        conn.execute(text("SELECT setval('contract_id_seq', :n)"), {"n": contracts})


# -- the month-end (timed) -----------------------------------------------------------------------


def month_phase(aqd: Aqd) -> tuple[int, int]:
    """Open the month's attendance sheets with the production poller, and record the
    attendance (the month's last days).

    Every worker polls at once, as overlapping scheduler runs do in production: a page of due
    contracts at a time (``run_due_timers``, which skips contracts another poller holds), then
    the attendance of the contracts this worker fired, while their workflows are still in its
    cache."""
    fired = completed = 0
    while True:
        run = run_due_timers(aqd, limit=CHUNK, pages=1)
        if run.failed:
            raise SystemExit(f"timers failed: {run.failed[:3]}")
        if not run.fired and not run.idle:
            return fired, completed
        fired += run.fired
        with aqd.session() as s:
            tasks = list(
                s.scalars(
                    select(HumanTask.task_guid).where(
                        HumanTask.contract_id.in_(run.fired_contracts),
                        HumanTask.bpmn_id == "attendance",
                        HumanTask.status == "ready",
                    )
                )
            )
        for guid in tasks:
            with aqd.session() as s, s.begin():
                aqd.complete_task(s, guid, {"days_present": 20}, "employer")
            completed += 1


def orders_phase(aqd: Aqd) -> int:
    awaiting = 0
    while True:
        run = outbox.run_once(aqd, limit=200)
        awaiting += run.awaiting
        if run.claimed == 0:
            return awaiting


def batches_phase(aqd: Aqd, offices: list[str], period: str, out: Path) -> tuple[int, int, int]:
    files = size = orders = 0
    for office in offices:
        with aqd.session() as s, s.begin():
            batch = create_batch(
                s, office, period, aqd.clock.now(), "bench", debtor_account(aqd.settings)
            )
        if batch is None:
            continue
        xml_path, csv_path = batch.write(out)
        files += 2
        orders += batch.orders
        size += xml_path.stat().st_size + csv_path.stat().st_size
    return files, orders, size


def timers_phase(aqd: Aqd) -> int:
    run = run_due_timers(aqd, limit=CHUNK)
    if run.failed:
        raise SystemExit(f"timers failed: {run.failed[:3]}")
    return run.fired


def worker(
    url: str,
    k: int,
    workers: int,
    at: tuple[str, str],
    period: str,
    out: str,
    barrier: Any,
    result: Any,
) -> None:
    """One worker process: the month's last days, then the month's end (timers, orders,
    batches), in step with the others (barriers)."""
    # imports done before the clock starts

    aqd = engine_for(url, at[0])
    codes = [o[0] for o in OFFICES]
    barrier.wait()  # ready
    month = month_phase(aqd)
    barrier.wait()
    assert isinstance(aqd.clock, FrozenClock)
    aqd.clock.set(datetime.fromisoformat(at[1]))
    barrier.wait()  # the month's end starts
    fired = timers_phase(aqd)
    barrier.wait()
    orders = orders_phase(aqd)
    barrier.wait()
    made = batches_phase(aqd, codes[k::workers], period, Path(out))
    barrier.wait()
    result.put((month, fired, orders, made))


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--contracts", type=int, default=150_000)
    cli.add_argument("--workers", type=int, default=2)
    cli.add_argument("--out", type=Path, default=None, help="folder for the bank files")
    cli.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = cli.parse_args()
    contracts = max(1, args.contracts)
    workers = max(1, args.workers)
    out = args.out or Path(tempfile.mkdtemp(prefix="aqd-month-end-"))
    base = os.environ.get(
        "AQD_DATABASE_URL", "postgresql+psycopg://postgres@/aqd?host=/var/run/postgresql"
    )
    url = scratch_url(base)
    print(f"setting up {contracts} active contracts in {make_url(url).database}", flush=True)
    t0 = time.perf_counter()
    prepare(url, contracts)
    setup = time.perf_counter() - t0
    with get_engine(url).connect() as conn:
        opens = conn.scalar(select(func.max(Contract.next_due_at)))
    dispose_all()
    assert opens is not None
    # the sheet opens 4 days before the month's end (08:00); the month is paid at its end
    # (18:00, Tunis): the month's end runs 5 minutes after that
    period_end = (opens + timedelta(days=4)).date()
    end_at = datetime.combine(period_end, datetime.min.time(), tzinfo=timezone(timedelta(hours=1)))
    at = (
        (opens + timedelta(minutes=5)).isoformat(),
        (end_at + timedelta(hours=18, minutes=5)).isoformat(),
    )
    period = period_end.strftime("%Y-%m")
    print(f"setup {setup:.1f}s; sheets open {at[0]}; month end {at[1]}", flush=True)

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(workers + 1)
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=worker, args=(url, k, workers, at, period, str(out), barrier, queue))
        for k in range(workers)
    ]
    for p in procs:
        p.start()
    barrier.wait()  # every worker has started and imported the engine
    t0 = time.perf_counter()
    barrier.wait()
    t_work = time.perf_counter() - t0
    print(f"month's last days (sheets + attendance): {t_work:.1f}s", flush=True)
    barrier.wait()  # every worker's clock is at the month's end
    t0 = time.perf_counter()
    barrier.wait()
    t_timers = time.perf_counter() - t0
    barrier.wait()
    t_orders = time.perf_counter() - t0 - t_timers
    print(f"month end: timers {t_timers:.1f}s, orders {t_orders:.1f}s", flush=True)
    barrier.wait()
    t_batches = time.perf_counter() - t0 - t_timers - t_orders
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
        if p.exitcode:
            raise SystemExit(f"a worker failed with exit code {p.exitcode}")
    opened = sum(r[0][0] for r in results)
    completed = sum(r[0][1] for r in results)
    fired = sum(r[1] for r in results)
    made = [r[3] for r in results]
    batched = sum(m[1] for m in made)
    print(f"batches: {sum(m[0] for m in made)} files, {batched} orders in {t_batches:.1f}s")

    with get_engine(url).connect() as conn:
        orders = conn.scalar(select(func.count()).select_from(PaymentOrder)) or 0
        distinct = conn.scalar(select(func.count(func.distinct(PaymentOrder.idempotency_key))))
        # The month's payment orders, all handed to the bank (the templates' activation left
        # their signature requests pending: the setup signs by message, not through signing/).
        pending = conn.scalar(
            select(func.count())
            .select_from(Outbox)
            .where(Outbox.kind == "payment_order", Outbox.status != "awaiting")
        )
    dispose_all()
    total = t_timers + t_orders + t_batches
    result = {
        "contracts": contracts,
        "workers": workers,
        "month_end_seconds": round(total, 1),
        "orders": orders,
        "orders_per_s": round(orders / total, 1) if total else 0.0,
        "timers_s": round(t_timers, 1),
        "timers_fired_at_month_end": fired,
        "orders_s": round(t_orders, 1),
        "order_writes_per_s": round(orders / t_orders, 1) if t_orders else 0.0,
        "batches_s": round(t_batches, 1),
        "batch_files": sum(r[0] for r in made),
        "batch_bytes": sum(r[2] for r in made),
        "batched_orders": batched,
        "month_work_s": round(t_work, 1),
        "month_work_commands_per_s": round((opened + completed) / t_work, 1) if t_work else 0.0,
        "setup_seconds": round(setup, 1),
        "ok": orders == distinct == contracts == batched == completed and pending == 0,
    }
    if not args.keep:
        drop(url)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
