"""A CIVP contract started under the 2019 rules (décret 2019-542: an extension of up to 12 months
within the same firm) keeps them after the 2025 version (no more extension from 1 October 2025)
is deployed, and a contract started after that gets the new rule."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from engine.audit.replay import replay_contract
from engine.definitions.deploy import deploy
from engine.models import ProcessDefinition, ProcessInstance
from tests.conftest import ROOT, World, make_world
from tests.processes.scenarios import contract, main_data

NEW_RULE = "2025-10-01"


def rules_of_2019(tmp_path: Path) -> Path:
    """CIVP as it was deployed before the ANETI note of 1 Oct 2025: the same process and tables,
    its parameters without the 2025 versions (the 2019 ones open-ended)."""
    folder = tmp_path / "civp"
    shutil.copytree(ROOT / "processes" / "civp", folder)
    doc = json.loads((folder / "parameters.json").read_text())
    for name, versions in doc["parameters"].items():
        kept = [v for v in versions if v["valid_from"] < NEW_RULE]
        for v in kept:
            if v["valid_to"] and v["valid_to"] >= "2025-09-30":
                v["valid_to"] = None
        doc["parameters"][name] = kept
    (folder / "parameters.json").write_text(json.dumps(doc, indent=2))
    return folder


def bare_world(url: str) -> World:
    """The conftest's world without any programme deployed."""
    return make_world(url, programmes=())


def extension(world: World, cid: int) -> bytes:
    """Ask for a 2-month extension; the contract's main state after the decision."""
    world.message(cid, "request_extension", {"months": 2, "requested_by": "employer"})
    with world.aqd.session() as s:
        state = s.scalar(
            select(ProcessInstance.state).where(
                ProcessInstance.contract_id == cid, ProcessInstance.key == "main"
            )
        )
    assert state is not None
    return bytes(state)


def test_a_2019_contract_keeps_its_rules_after_the_2025_version(
    db_url: str, tmp_path: Path
) -> None:
    world = bare_world(db_url)
    with world.aqd.session() as s, s.begin():
        old = deploy(s, rules_of_2019(tmp_path), world.aqd.sandbox, world.clock).definition.id
    before = world.start()  # requested 1 March 2025, starts 1 April
    world.activate(before)

    world.clock.set(datetime(2025, 10, 1, 7, 0, tzinfo=UTC))
    with world.aqd.session() as s, s.begin():
        deployed = deploy(s, ROOT / "processes" / "civp", world.aqd.sandbox, world.clock)
        assert deployed.created and deployed.definition.version == 2
        new = deployed.definition.id
    world.clock.set(datetime(2025, 10, 15, 8, 0, tzinfo=UTC))
    after = world.start(request_date="2025-10-15", start_date="2025-11-01")
    world.activate(after)
    assert (contract(world, before).definition_id, contract(world, after).definition_id) == (
        old,
        new,
    )

    # the new contract: no extension at all under the 2025 rule
    assert b'"extension_reason":"EXTENSION_STOPPED"' in extension(world, after)
    # the old one, asked on the same day: only too early (D2019-542 still applies to it) ...
    state = extension(world, before)
    assert b'"extension_reason":"TOO_EARLY"' in state
    assert b"EXTENSION_STOPPED" not in state
    # ... and granted near its term (March 2026), when months run on after the 2025 version
    for _ in range(11):
        world.run_month(before)
    assert b'"extension_reason":"OK"' in extension(world, before)
    for _ in range(3):
        world.run_month(before)
    world.complete(before, "record_outcome", {"outcome": "hired_cdi"}, "counsellor")
    c = contract(world, before)
    assert (c.status, c.definition_id) == ("ended", old)
    assert main_data(world, before)["end_date"] == "2026-05-31"  # 12 + 2 months
    with world.aqd.session() as s:
        version = s.scalar(select(ProcessDefinition.version).where(ProcessDefinition.id == old))
        assert version == 1
        assert replay_contract(world.aqd, s, before).ok
    assert [amount for _, amount in world.orders(before)] == ["200.000"] * 14
    assert contract(world, after).status == "active"
