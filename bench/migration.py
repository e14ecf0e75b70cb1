"""Migration benchmark: running CIVP contracts moved to a new version (issue 7).

Usage: ``AQD_DATABASE_URL=postgresql+psycopg://... python bench/migration.py [--contracts N]``
(default 500, in a scratch database beside the one in the URL). Half the contracts wait for the
employer's agreement, half for the counsellor's validation; version 2 adds a step before the
signatures (``tests/helpers/migration.py``). Prints, as its last line, one JSON object:
``dry_run_per_s``, ``migrate_per_s`` and ``rollback_per_s`` (contracts per second, each
migration and rollback its own command and transaction), with the counts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.engine import AGREEMENT, START, _task, prepare, scratch_url
from engine import Aqd, FrozenClock, Settings
from engine.commands.version_migration import Selection
from engine.definitions.deploy import deploy
from tests.helpers.migration import civp_v2_folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=500)
    args = parser.parse_args()
    base = os.environ.get("AQD_DATABASE_URL", f"sqlite:///{ROOT / 'var' / 'aqd.db'}")
    url = scratch_url(base)
    prepare(url, args.contracts)
    clock = FrozenClock(START)
    aqd = Aqd(url, clock=clock, settings=Settings(database_url=url))
    ids = []
    for i in range(args.contracts):
        data = {
            "office": "TUN",
            "employer_mf": "1234567A",
            "beneficiary_cin": f"{10000000 + i}",
            "nationality": "TN",
            "diploma_level": "HIGHER_ED",
            "request_date": "2025-03-01",
            "start_date": "2025-04-01",
        }
        with aqd.session() as s, s.begin():
            ids.append(aqd.start_contract(s, "civp", data, "bench").id)
    for cid in ids[::2]:
        guid = _task(aqd, cid, "employer_agreement")
        with aqd.session() as s, s.begin():
            aqd.complete_task(s, guid, AGREEMENT, "bench")
    with aqd.session() as s, s.begin():
        deploy(s, civp_v2_folder(Path(tempfile.mkdtemp(prefix="aqd-bench-"))), aqd.sandbox, clock)
    aqd.clear_caches()  # measure loads from the database, as after a restart
    selection = Selection(programme="civp")
    t0 = time.perf_counter()
    report = aqd.migration_dry_run(selection).to_dict()
    dry_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    batch = aqd.migrate_contracts(selection, "bench", "benchmark").to_dict()
    migrate_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    back = aqd.rollback_migration(batch["batch"], "bench", "benchmark").to_dict()
    rollback_s = time.perf_counter() - t2
    print(
        json.dumps(
            {
                "contracts": args.contracts,
                "can_migrate": report["can_migrate"],
                "migrated": batch["migrated"],
                "rolled_back": back["rolled_back"],
                "dry_run_per_s": round(args.contracts / dry_s, 1),
                "migrate_per_s": round(batch["migrated"] / migrate_s, 1),
                "rollback_per_s": round(back["rolled_back"] / rollback_s, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
