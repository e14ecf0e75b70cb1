"""Anchors of the hash chains at national size: anchoring, verifying, proving one contract.

Usage: ``AQD_DATABASE_URL=postgresql+psycopg://... python bench/anchors.py [--contracts N]``
(default 150,000). The database named in the URL is left alone: the benchmark creates
``<name>_anchors`` next to it. The contracts are rows written directly (each with a chain of 12
events' head), since anchoring reads only the contract rows.

Measured, each against the floor of what it must read in the same run:

* ``first_anchor_s``: every contract's head anchored (leaves written, Merkle root, token), against
  ``scan_s``, one plain read of every contract's ``(id, last_seq, chain_head)``;
* ``incremental_anchor_s``: the next hour's anchor after a tenth of the contracts moved, and
  ``idle_anchor_s`` when none did;
* ``verify_anchors_s``: rebuilding both anchors' roots from their leaves and checking the tokens;
* ``proof_s``: one contract's proof for its audit package (reads the whole first anchor).

The last line printed is one JSON object with the numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import os

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from api import bootstrap
from engine import Aqd, FrozenClock, Settings
from engine.audit.anchors import contract_proof, create_anchor, verify_anchors
from engine.db import dispose_all, normalize_url
from engine.definitions.deploy import deploy
from engine.models import Office
from engine.schema_migrations import upgrade

START = "2026-12-01T08:00:00+00:00"


def scratch(url: str) -> str:
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() != "postgresql":
        raise SystemExit("bench/anchors.py measures PostgreSQL")
    name = f"{parsed.database or 'aqd'}_anchors"
    admin = parsed.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return parsed.set(database=name).render_as_string(hide_password=False)


def prepare(aqd: Aqd, contracts: int) -> None:
    with aqd.session() as s, s.begin():
        definition = deploy(s, ROOT / "processes" / "civp", aqd.sandbox, aqd.clock)
        office = Office(code="TUN", name_fr="Tunis", name_ar="تونس", governorate="Tunis")
        s.add(office)
        s.flush()
        s.execute(
            text(
                "INSERT INTO contract (number, programme, definition_id, office_id, status, "
                "revision, last_seq, chain_head, instance_count, started_at) "
                "SELECT 'B-' || g, 'civp', :d, :o, 'active', 12, 12, "
                "encode(sha256(('head' || g)::bytea), 'hex'), 1, :at "
                "FROM generate_series(1, :n) AS g"
            ),
            {"d": definition.definition.id, "o": office.id, "at": START, "n": contracts},
        )


def timed(fn: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contracts", type=int, default=150_000)
    args = parser.parse_args()

    url = scratch(os.environ.get("AQD_DATABASE_URL", "postgresql+psycopg://postgres@/aqd"))
    upgrade(url)
    with tempfile.TemporaryDirectory() as var:
        clock = FrozenClock(START)
        aqd = bootstrap.build(Settings(database_url=url, var_dir=Path(var)), clock=clock)
        prepare(aqd, args.contracts)
        with aqd.session() as s:
            _, scan_s = timed(
                lambda: s.execute(text("SELECT id, last_seq, chain_head FROM contract")).all()
            )
        first, first_s = timed(lambda: create_anchor(aqd))
        assert first["contracts"] == args.contracts, first
        assert not first["error"], first
        idle, idle_s = timed(lambda: create_anchor(aqd))
        assert idle["anchor"] is None
        moved = args.contracts // 10
        with aqd.session() as s, s.begin():
            s.execute(
                text(
                    "UPDATE contract SET last_seq = last_seq + 1, "
                    "chain_head = encode(sha256(chain_head::bytea), 'hex') WHERE id % 10 = 0"
                )
            )
        clock.set(datetime(2026, 12, 1, 9, tzinfo=UTC))  # the next hour
        second, second_s = timed(lambda: create_anchor(aqd))
        assert second["contracts"] == moved, second
        report, verify_s = timed(lambda: verify_anchors(aqd))
        assert report.to_dict()["ok"], report.failed
        assert report.leaves == args.contracts + moved
        with aqd.session() as s:
            proof, proof_s = timed(lambda: contract_proof(s, 1))
        assert proof is not None
        dispose_all()
    out = {
        "contracts": args.contracts,
        "scan_s": round(scan_s, 3),
        "first_anchor_s": round(first_s, 3),
        "first_over_scan": round(first_s / scan_s, 1),
        "idle_anchor_s": round(idle_s, 3),
        "moved": moved,
        "incremental_anchor_s": round(second_s, 3),
        "verify_anchors_s": round(verify_s, 3),
        "proof_s": round(proof_s, 3),
        "proof_path_hashes": len(proof["path"]),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
