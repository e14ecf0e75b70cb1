"""Programme benchmark: one complete CIVP contract (24 months) through the engine.

Usage: ``AQD_DATABASE_URL=postgresql+psycopg://... python bench/programmes.py``. Prints, as its
last line, one JSON object: ``civp_24m_seconds`` (request → outcome, every command durable),
``state_bytes_m1/m12/m24`` (bytes of the contract's live workflow state — its main workflow plus
the running month — after months 1, 12 and 24) and ``archived_bytes_per_month`` (each closed
month instance kept for the history).
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select

from bench.engine import START, _task, activate_contract, prepare, scratch_url
from engine import Aqd, FrozenClock, Settings
from engine.models import Contract, Outbox, ProcessInstance


def live_bytes(aqd: Aqd, contract_id: int) -> int:
    with aqd.session() as s:
        return int(
            s.scalar(
                select(func.sum(func.length(ProcessInstance.state))).where(
                    ProcessInstance.contract_id == contract_id,
                    ProcessInstance.status == "running",
                )
            )
            or 0
        )


def main() -> None:
    base = os.environ.get("AQD_DATABASE_URL", f"sqlite:///{ROOT / 'var' / 'aqd.db'}")
    url = scratch_url(base)
    prepare(url, 1)
    clock = FrozenClock(START)
    aqd = Aqd(url, clock=clock, settings=Settings(database_url=url))
    sizes: dict[int, int] = {}
    started = time.perf_counter()
    cid = activate_contract(aqd, 0)
    for month in range(1, 25):
        with aqd.session() as s:
            due = s.scalar(select(Contract.next_due_at).where(Contract.id == cid))
        assert due is not None, f"month {month}"
        clock.set(due + timedelta(minutes=1))
        with aqd.session() as s, s.begin():
            aqd.fire_timers(s, cid)
        guid = _task(aqd, cid, "attendance")
        with aqd.session() as s, s.begin():
            aqd.complete_task(s, guid, {"days_present": 20}, "bench")
        with aqd.session() as s:
            key = s.scalar(select(Outbox.idempotency_key).where(Outbox.status == "pending"))
        assert key is not None
        with aqd.session() as s, s.begin():
            aqd.record_side_effect(s, key, True, {"bank_ref": key[-12:]})
        sizes[month] = live_bytes(aqd, cid)
    guid = _task(aqd, cid, "record_outcome")
    with aqd.session() as s, s.begin():
        aqd.complete_task(s, guid, {"outcome": "hired_cdi"}, "bench")
    elapsed = time.perf_counter() - started
    with aqd.session() as s:
        archived = s.scalars(
            select(func.length(ProcessInstance.state)).where(
                ProcessInstance.contract_id == cid, ProcessInstance.key != "main"
            )
        ).all()
        status = s.scalar(select(Contract.status).where(Contract.id == cid))
    assert status == "ended", status
    print(f"CIVP 24 months: {elapsed:.2f} s; live state {sizes[1]} / {sizes[12]} / {sizes[24]} B")
    print(
        json.dumps(
            {
                "civp_24m_seconds": round(elapsed, 3),
                "state_bytes_m1": sizes[1],
                "state_bytes_m12": sizes[12],
                "state_bytes_m24": sizes[24],
                "archived_bytes_per_month": round(sum(archived) / len(archived)),
            }
        )
    )


if __name__ == "__main__":
    main()
