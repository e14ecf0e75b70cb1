"""Inbox benchmark: the counsellor inbox on a national-size PostgreSQL database.

Usage: ``AQD_DATABASE_URL=postgresql+psycopg://postgres@/aqd?host=/var/run/postgresql
python bench/inbox.py [--contracts 1000000] [--tasks 200000] [--offices 100] [--reuse]``.

It seeds a scratch database (``<name>_inbox``) with ``--offices`` offices, a counsellor and a
few companies per office, one job seeker per contract, ``--contracts`` contracts and
``--tasks`` open tasks spread evenly over the offices (70 % counsellor lane, 30 % employer lane,
due dates from three weeks overdue to three weeks ahead). The rows are inserted in bulk with
``generate_series``: they are the inbox's projection (contract, human_task, parties) that the
inbox reads, not runnable workflows — the engine's own throughput is bench/engine.py's job.

Then it measures, warm:

- the inbox page query (``engine.inbox.inbox``: scope, filters, count, sort, one page
  of 25) for random counsellors, default filters and a search by CIN: p50/p95 in ms;
- the HTTP endpoint ``GET /api/v1/tasks`` served by uvicorn (2 server processes, bearer token),
  one request at a time: p50/p95 in ms;
- requests per second on that endpoint under a local asyncio load generator (32 keep-alive
  connections, 10 s; it shares the 2 cores with the server).

The last line is one JSON object with ``query_p95_ms``, ``http_p95_ms``, ``req_per_s``,
``contracts`` and ``open_tasks`` (plus the p50s and the search query's p95).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import socket

import psycopg
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from engine import (
    Aqd,
    Settings,
    inbox,
)
from engine.access import accounts
from engine.db import dispose_all, normalize_url
from engine.definitions.deploy import deploy
from engine.models import Contract, HumanTask, User
from engine.schema_migrations import upgrade

PORT = 8765
WORKERS = 2  # one uvicorn process per port (see main)


def bench_url(base: str, reuse: bool) -> str:
    parsed = make_url(normalize_url(base))
    if parsed.get_backend_name() != "postgresql":
        raise SystemExit(
            "bench/inbox.py needs PostgreSQL (AQD_DATABASE_URL=postgresql+psycopg://…)"
        )
    name = f"{parsed.database or 'aqd'}_inbox"
    admin = parsed.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and not reuse:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        if not exists or not reuse:
            conn.execute(f'CREATE DATABASE "{name}"')
    return parsed.set(database=name).render_as_string(hide_password=False)


def seed(url: str, contracts: int, tasks: int, offices: int) -> None:
    upgrade(url)
    aqd = Aqd(url, settings=Settings(database_url=url))
    with aqd.session() as s, s.begin():
        definition = deploy(s, ROOT / "processes" / "civp", aqd.sandbox, aqd.clock, "bench")
        definition_id = definition.definition.id
        password = accounts.hash_password("bench-password")
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    started = time.perf_counter()
    per_office_tasks = tasks // offices
    with psycopg.connect(dsn) as conn:
        conn.execute(
            """
            INSERT INTO office (code, name_fr, name_ar, governorate, pilot)
            SELECT 'O' || lpad(o::text, 3, '0'), 'Bureau ' || o, 'مكتب ' || o,
                   'G' || (o %% 24), o < 6
            FROM generate_series(0, %(n)s - 1) o
            """,
            {"n": offices},
        )
        conn.execute(
            """
            INSERT INTO employer
                (name, matricule_fiscal, cnss_number, sector, governorate, office_id)
            SELECT 'Entreprise ' || e, lpad(e::text, 7, '0') || 'A', (100000 + e)::text,
                   'services', 'Tunis', 1 + e %% %(offices)s
            FROM generate_series(0, %(offices)s * 50 - 1) e
            """,
            {"offices": offices},
        )
        conn.execute(
            """
            INSERT INTO beneficiary (cin, first_name, last_name, diploma_level, disabled, office_id)
            SELECT lpad((10000000 + b)::text, 8, '0'), 'Prenom' || (b %% 97), 'Nom' || (b %% 991),
                   'HIGHER_ED', false, 1 + b %% %(offices)s
            FROM generate_series(0, %(n)s - 1) b
            """,
            {"n": contracts, "offices": offices},
        )
        conn.execute(
            """
            INSERT INTO contract (number, programme, definition_id, office_id, employer_id,
                beneficiary_id, status, revision, last_seq, chain_head, instance_count, started_at)
            SELECT 'CIVP-2025-' || lpad((c + 1)::text, 7, '0'), 'civp', %(d)s,
                   1 + c %% %(offices)s,
                   1 + (c %% %(offices)s) + %(offices)s * ((c / %(offices)s) %% 50),
                   c + 1, CASE WHEN c %% 5 = 0 THEN 'in_review' ELSE 'active' END, 1, 1, '', 1,
                   timestamptz '2025-01-01' + (c %% 300) * interval '1 day'
            FROM generate_series(0, %(n)s - 1) c
            """,
            {"n": contracts, "offices": offices, "d": definition_id},
        )
        conn.execute(
            """
            INSERT INTO process_instance (contract_id, process_id, key, status, state, state_hash,
                serializer_version, revision, waiting_messages, started_at)
            SELECT 1 + t, 'civp_contract', 'main', 'running', '\\x7b7d'::bytea, '', '1', 1,
                   '[]'::jsonb, timestamptz '2025-01-01'
            FROM generate_series(0, %(n)s - 1) t
            """,
            {"n": tasks},
        )
        conn.execute(
            """
            INSERT INTO human_task (contract_id, instance_id, task_guid, bpmn_id, name, programme,
                lane, candidate_group, office_id, form_key, status, assignee, due_at, ready_at)
            SELECT 1 + t, 1 + t, gen_random_uuid()::text,
                   CASE WHEN (t / %(offices)s) %% 10 < 7 THEN 'counsellor_validation'
                        ELSE 'employer_agreement' END,
                   'task', 'civp',
                   CASE WHEN (t / %(offices)s) %% 10 < 7 THEN 'counsellor' ELSE 'employer' END,
                   CASE WHEN (t / %(offices)s) %% 10 < 7 THEN 'counsellor' ELSE 'employer' END,
                   1 + t %% %(offices)s,
                   CASE WHEN (t / %(offices)s) %% 10 < 7 THEN 'counsellor_validation'
                        ELSE 'employer_agreement' END,
                   'ready',
                   CASE WHEN t %% 13 = 0
                        THEN 'counsellor.o' || lpad((t %% %(offices)s)::text, 3, '0') END,
                   now() - interval '21 days' + ((t * 7919) %% 60480) * interval '1 minute',
                   now() - interval '60 days' + (t %% 40000) * interval '1 minute'
            FROM generate_series(0, %(n)s - 1) t
            """,
            {"n": tasks, "offices": offices},
        )
        with conn.cursor() as cur:
            cur.execute("SELECT id, code FROM office ORDER BY id")
            rows = cur.fetchall()
            for office_id, code in rows:
                cur.execute(
                    "INSERT INTO app_user (username, display_name, password_hash, locale,"
                    " office_id,"
                    " active, created_at) VALUES (%s, %s, %s, 'fr', %s, true, now()) RETURNING id",
                    (f"counsellor.{code.lower()}", f"Counsellor {code}", password, office_id),
                )
                user_id = cur.fetchone()[0]  # type: ignore[index]
                cur.execute(
                    "INSERT INTO user_role (user_id, role) VALUES (%s, 'counsellor')", (user_id,)
                )
        conn.commit()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    print(
        f"seeded {contracts} contracts, {per_office_tasks * offices} open tasks, "
        f"{offices} offices in {time.perf_counter() - started:.1f} s",
        flush=True,
    )


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure_query(aqd: Aqd, rounds: int) -> dict[str, float]:
    with aqd.session() as s:
        users = s.scalars(select(User).where(User.office_id.is_not(None))).all()
        principals = [accounts.principal_of(s, u) for u in users]
        # a job seeker with an open task in each office, to search by CIN
        cins = {
            office: f"{10000000 + int(beneficiary or 1) - 1:08d}"
            for office, beneficiary in s.execute(
                select(HumanTask.office_id, func.min(Contract.beneficiary_id))
                .join(Contract, Contract.id == HumanTask.contract_id)
                .where(HumanTask.lane == "counsellor")
                .group_by(HumanTask.office_id)
            )
        }
    now = aqd.clock.now()
    rng = random.Random(7)
    default: list[float] = []
    search: list[float] = []
    for i in range(rounds + 20):
        p = rng.choice(principals)
        f = inbox.InboxFilter(per_page=25, page=1 + rng.randrange(3))
        with aqd.session() as s:
            t0 = time.perf_counter()
            page = inbox.inbox(s, p, f, now)
            elapsed = (time.perf_counter() - t0) * 1000
        assert page.items, "the inbox is empty"
        if i >= 20:
            default.append(elapsed)
        with aqd.session() as s:
            t0 = time.perf_counter()
            found = inbox.inbox(s, p, inbox.InboxFilter(q=cins[p.office_id]), now)
            elapsed = (time.perf_counter() - t0) * 1000
        assert found.total >= 1, "the search by CIN found nothing"
        if i >= 20:
            search.append(elapsed)
    return {
        "query_p50_ms": round(statistics.median(default), 2),
        "query_p95_ms": round(percentile(default, 0.95), 2),
        "search_p95_ms": round(percentile(search, 0.95), 2),
    }


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> int:
    writer.write(raw)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


def _raw(path: str, token: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        "Connection: keep-alive\r\n\r\n"
    ).encode()


async def measure_http(
    tokens: list[str], sequential: int, seconds: float, conns: int
) -> dict[str, float]:
    paths = ["/api/v1/tasks?per_page=25", "/api/v1/tasks?per_page=25&page=2"]
    rng = random.Random(11)
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    latencies: list[float] = []
    for i in range(sequential + 20):
        raw = _raw(rng.choice(paths), rng.choice(tokens))
        t0 = time.perf_counter()
        status = await _request(reader, writer, raw)
        assert status == 200, status
        if i >= 20:
            latencies.append((time.perf_counter() - t0) * 1000)
    writer.close()

    done = 0
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client(k: int) -> None:
        nonlocal done, errors
        r, w = await asyncio.open_connection("127.0.0.1", PORT + k % WORKERS)
        local = random.Random(k)
        while time.perf_counter() < deadline:
            status = await _request(r, w, _raw(local.choice(paths), local.choice(tokens)))
            if status == 200:
                done += 1
            else:
                errors += 1
        w.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(conns)))
    elapsed = time.perf_counter() - started
    assert errors == 0, f"{errors} failed requests under load"
    return {
        "http_p50_ms": round(statistics.median(latencies), 2),
        "http_p95_ms": round(percentile(latencies, 0.95), 2),
        "req_per_s": round(done / elapsed, 1),
    }


def app() -> Any:
    """uvicorn --factory entry point: the real application on the benchmark database."""
    from api import bootstrap  # noqa: PLC0415 (FastAPI loads in the uvicorn worker only)
    from api.app import create_app  # noqa: PLC0415 (FastAPI loads in the uvicorn worker only)

    return create_app(bootstrap.build(Settings(database_url=os.environ["AQD_DATABASE_URL"])))


def wait_for_port(proc: subprocess.Popen[bytes], port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the server exited")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contracts", type=int, default=1_000_000)
    parser.add_argument("--tasks", type=int, default=200_000)
    parser.add_argument("--offices", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--reuse", action="store_true", help="keep an already seeded database")
    args = parser.parse_args()
    base = os.environ.get(
        "AQD_DATABASE_URL", "postgresql+psycopg://postgres@/aqd?host=/var/run/postgresql"
    )
    url = bench_url(base, args.reuse)
    aqd = Aqd(url, settings=Settings(database_url=url))
    try:
        with aqd.session() as s:
            seeded = s.scalar(select(func.count()).select_from(Contract)) or 0
    except Exception:
        seeded = 0
    if seeded != args.contracts:
        if seeded:
            raise SystemExit("the database holds another size; run without --reuse")
        seed(url, args.contracts, args.tasks, args.offices)
    else:
        upgrade(url)  # a reused database gets the migrations added since it was seeded
    with aqd.session() as s:
        open_tasks = s.scalar(
            select(func.count()).select_from(HumanTask).where(HumanTask.status == "ready")
        )
    result: dict[str, Any] = {}
    result.update(measure_query(aqd, args.rounds))
    print(f"inbox query: {result}", flush=True)

    with aqd.session() as s:
        principals = [
            accounts.principal_of(s, u)
            for u in s.scalars(select(User).where(User.office_id.is_not(None)).limit(20))
        ]
    tokens = [str(accounts.create_token(aqd, p, "bench")["token"]) for p in principals]
    dispose_all()
    env = {**os.environ, "AQD_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    # Two single-process servers on two ports rather than `uvicorn --workers 2`: with the shared
    # socket of --workers, a keep-alive request waited ~40 ms more (the delayed-ACK signature),
    # which measured the socket setup, not Aqd; `aqd serve` runs one process per container.
    command = [sys.executable, "-m", "uvicorn", "bench.inbox:app", "--factory"]
    quiet = ["--log-level", "warning", "--no-access-log"]
    servers = [
        subprocess.Popen([*command, "--port", str(PORT + n), *quiet], cwd=ROOT, env=env)
        for n in range(WORKERS)
    ]
    try:
        for n, server in enumerate(servers):
            wait_for_port(server, PORT + n)
        result.update(asyncio.run(measure_http(tokens, args.rounds, args.seconds, 32)))
    finally:
        for server in servers:
            server.send_signal(signal.SIGINT)
        for server in servers:
            server.wait(timeout=30)
    result.update({"contracts": args.contracts, "open_tasks": int(open_tasks or 0)})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
