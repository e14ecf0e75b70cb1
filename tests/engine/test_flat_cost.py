"""Invariant 7: a contract's per-step work does not grow with its age. With one short process
instance per month, month 24 loads and writes the same amount of state as month 1."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from sqlalchemy import select

from engine.audit.replay import replay_contract
from engine.definitions.deploy import deploy
from engine.models import ProcessInstance
from tests.conftest import ROOT, World


def deploy_months(world: World, tmp_path: Path, months: int) -> None:
    folder = tmp_path / "civp"
    shutil.copytree(ROOT / "processes" / "civp", folder)
    params = json.loads((folder / "parameters.json").read_text())
    params["parameters"]["contract_months"][0]["value"] = months
    (folder / "parameters.json").write_text(json.dumps(params))
    with world.aqd.session() as s, s.begin():
        deploy(s, folder, world.aqd.sandbox, world.clock)


def test_month_24_costs_what_month_1_costs(world: World, tmp_path: Path) -> None:
    deploy_months(world, tmp_path, 24)
    cid = world.start()
    world.activate(cid)
    main_sizes: list[int] = []
    month_sizes: list[int] = []
    for month in range(1, 25):
        key = world.run_month(cid)
        assert key == f"payment:CIVP-2025-{cid:06d}:{month}:beneficiary:stipend"
        with world.aqd.session() as s:
            rows = {
                i.key: i
                for i in s.scalars(
                    select(ProcessInstance).where(ProcessInstance.contract_id == cid)
                )
            }
        main_sizes.append(len(rows["main"].state))
        finished = [i for k, i in rows.items() if k != "main" and i.status == "completed"]
        month_sizes.append(len(max(finished, key=lambda i: i.id).state))
    assert len(set(main_sizes[:-1])) == 1, main_sizes
    assert max(month_sizes) - min(month_sizes) <= 16, month_sizes
    with world.aqd.session() as s:
        running = s.scalars(
            select(ProcessInstance.key).where(
                ProcessInstance.contract_id == cid, ProcessInstance.status == "running"
            )
        ).all()
        assert running == ["main"]
    world.complete(cid, "record_outcome", {"outcome": "placed_elsewhere"})
    with world.aqd.session() as s:
        report = replay_contract(world.aqd, s, cid)
    assert report.ok, report.problems
