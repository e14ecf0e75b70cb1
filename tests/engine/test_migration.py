"""Migration of running contracts to a new definition version (issue 7).

Version 2 of CIVP (tests/helpers/migration.py) adds a counsellor step, ``documents_check``,
before the signatures, and renames the monthly attendance step (``attendance_report``). So a
contract still in the agreement migrates and will take the new step; a contract at the
signatures migrates and is past the change; an active contract whose month waits for its end
migrates and will take the renamed step; a contract whose attendance is ready (or done) cannot.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from engine import Conflict, FrozenClock, InvalidInput, Settings, bootstrap
from engine.audit.package import build_package, verify_package
from engine.audit.replay import history_of, replay_contract, state_at
from engine.audit.verification import verify_contracts_parallel
from engine.commands.version_migration import Selection, rollback_contract
from engine.db import dispose_all
from engine.definitions.deploy import deploy
from engine.models import (
    Contract,
    Event,
    HumanTask,
    MigrationItem,
    Outbox,
    ProcessDefinition,
    ProcessInstance,
)
from tests.conftest import AGREEMENT, START, World, _truncate, make_world
from tests.helpers.migration import NEW_STEP, civp_v2_folder

VALIDATE: dict[str, object] = {"validation_decision": "validate"}


def deploy_v2(world: World, tmp_path: Path) -> ProcessDefinition:
    with world.aqd.session() as s, s.begin():
        definition = deploy(
            s, civp_v2_folder(tmp_path), world.aqd.sandbox, world.clock, note="decree"
        ).definition
        s.expunge(definition)
    assert definition.version == 2
    return definition


def due(world: World, contract_id: int) -> datetime:
    with world.aqd.session() as s:
        found = s.scalar(select(Contract.next_due_at).where(Contract.id == contract_id))
    assert found is not None, f"contract {contract_id} has no timer due"
    return found


def ready(world: World, contract_id: int) -> list[str]:
    with world.aqd.session() as s:
        return sorted(
            s.scalars(
                select(HumanTask.bpmn_id).where(
                    HumanTask.contract_id == contract_id, HumanTask.status == "ready"
                )
            )
        )


def version_of(world: World, contract_id: int) -> int:
    with world.aqd.session() as s:
        found = s.scalar(
            select(ProcessDefinition.version)
            .join(Contract, Contract.definition_id == ProcessDefinition.id)
            .where(Contract.id == contract_id)
        )
    assert found is not None
    return found


def replays(world: World, contract_id: int) -> bool:
    with world.aqd.session() as s:
        report = replay_contract(world.aqd, s, contract_id)
    assert report.ok, report.problems
    return True


def to_month_end(world: World, contract_id: int) -> None:
    world.clock.set(due(world, contract_id) + timedelta(minutes=3))


def finish_contract(world: World, contract_id: int, task: str) -> None:
    """Run every remaining month (attendance step ``task``, payment confirmed), then record
    the outcome."""
    for _ in range(30):
        if "record_outcome" in ready(world, contract_id):
            break
        if task not in ready(world, contract_id):
            to_month_end(world, contract_id)
            assert world.fire(contract_id)
        world.complete(contract_id, task, {"days_present": 19}, "employer")
        with world.aqd.session() as s:
            key = s.scalar(
                select(Outbox.idempotency_key).where(
                    Outbox.contract_id == contract_id,
                    Outbox.kind == "payment_order",
                    Outbox.status == "pending",
                )
            )
        assert key is not None
        with world.aqd.session() as s, s.begin():
            world.aqd.record_side_effect(s, key, True, {"bank_ref": key[-12:]})
    world.complete(contract_id, "record_outcome", {"outcome": "hired_cdi"}, "counsellor")
    with world.aqd.session() as s:
        contract = s.get(Contract, contract_id)
        assert contract is not None
        assert (contract.status, contract.outcome) == ("ended", "hired_cdi")


class Groups:
    """Contracts in each position relative to version 2's changes, named after the stage they
    wait at: the agreement, the validation, the signatures, their month's end, the month's
    attendance, or the month's payment (attendance done)."""

    ORDER = ("agreement", "validation", "signing", "month", "attendance", "paid")

    def __init__(self, world: World, sizes: dict[str, int]) -> None:
        self.ids: dict[str, list[int]] = {k: [] for k in self.ORDER}
        w = world
        for group, n in sizes.items():
            assert group in self.ORDER, group
            for _ in range(n):
                self.ids[group].append(w.start())
        for cid in self.later("agreement"):
            w.complete(cid, "employer_agreement", AGREEMENT, "employer")
        for cid in self.later("validation", skip=("signing",)):
            w.complete(cid, "counsellor_validation", VALIDATE, "c")
        for cid in self.later("signing"):
            w.sign_all(cid)
        # The month's end comes: the attendance of some contracts is asked, or done.
        if self.later("month"):
            to_month_end(w, self.later("month")[0])
        for cid in self.ids["attendance"] + self.ids["paid"]:
            assert w.fire(cid)
        for cid in self.ids["paid"]:
            w.complete(cid, "attendance", {"days_present": 19}, "employer")
        # Validated now, so their signature deadline lies ahead of this clock.
        for cid in self.ids["signing"]:
            w.complete(cid, "counsellor_validation", VALIDATE, "c")

    def later(self, stage: str, skip: tuple[str, ...] = ()) -> list[int]:
        """The contracts of the groups past ``stage``."""
        order = self.ORDER
        return [
            cid
            for g in order[order.index(stage) + 1 :]
            if g not in skip
            for cid in self.ids.get(g, [])
        ]


SMALL = {"agreement": 2, "validation": 2, "signing": 1, "month": 2, "attendance": 1, "paid": 1}


def test_dry_run_migrate_and_replay(world: World, tmp_path: Path) -> None:
    groups = Groups(world, SMALL)
    deploy_v2(world, tmp_path)
    report = world.aqd.migration_dry_run(Selection(programme="civp")).to_dict()
    by_number = {v["number"]: v for v in report["verdicts"]}
    with world.aqd.session() as s:
        numbers = {c.id: c.number for c in s.scalars(select(Contract))}
    positions = {
        g: {by_number[numbers[c]]["position"] for c in ids} for g, ids in groups.ids.items()
    }
    assert positions == {
        "agreement": {"ahead"},
        "validation": {"ahead"},
        "signing": {"past"},
        "month": {"ahead"},
        "attendance": {"blocked"},
        "paid": {"blocked"},
    }
    assert by_number[numbers[groups.ids["agreement"][0]]]["ahead"] == [NEW_STEP]
    assert by_number[numbers[groups.ids["month"][0]]]["ahead"] == ["attendance_report"]
    blocked = by_number[numbers[groups.ids["attendance"][0]]]["reasons"]
    assert blocked == [
        "civp_month#2: the ready step attendance (Monthly attendance) is not in the new version"
    ]
    paid = " ".join(by_number[numbers[groups.ids["paid"][0]]]["reasons"])
    assert "attendance" in paid and "path the new version lacks" in paid
    # The dry run wrote nothing.
    with world.aqd.session() as s:
        assert s.scalar(select(func.count()).select_from(MigrationItem)) == 0
        assert {c.definition_id for c in s.scalars(select(Contract))} == {1}

    result = world.aqd.migrate_contracts(Selection(programme="civp"), "pm", "decree 2025").to_dict()
    assert result["migrated"] == 7
    assert len(result["refused"]) == 2
    with world.aqd.session() as s:
        event = s.scalars(
            select(Event)
            .where(Event.contract_id == groups.ids["agreement"][0])
            .order_by(Event.seq.desc())
        ).first()
        assert event is not None
        assert event.kind == "contract_migrated"
        assert event.actor == "pm"
        assert (event.payload["from"]["version"], event.payload["to"]["version"]) == (1, 2)
        assert event.payload["instances"]["main"]["ahead"] == [NEW_STEP]
    for cid in [c for ids in groups.ids.values() for c in ids]:
        assert replays(world, cid)

    # Each migrated contract goes on on the new path.
    a, b = groups.ids["agreement"][0], groups.ids["validation"][0]
    world.complete(a, "employer_agreement", AGREEMENT, "employer")
    world.complete(a, "counsellor_validation", VALIDATE, "c")
    world.complete(b, "counsellor_validation", VALIDATE, "c")
    assert ready(world, a) == ready(world, b) == [NEW_STEP]
    world.complete(b, NEW_STEP, {"documents_complete": True}, "c")
    world.sign_all(b)
    month = groups.ids["month"][0]
    assert world.fire(month)
    assert ready(world, month) == ["attendance_report"]
    # A contract that could not move stays on version 1 and its path.
    stuck = groups.ids["attendance"][0]
    assert version_of(world, stuck) == 1
    world.complete(stuck, "attendance", {"days_present": 10}, "employer")
    for cid in (a, b, month, stuck):
        assert replays(world, cid)
    # The audit package of a migrated contract carries both versions and verifies offline.
    with world.aqd.session() as s:
        package = build_package(s, b, world.clock.now())
    verified = verify_package(package)
    assert verified.ok, verified.problems


def test_migrated_timers_keep_their_due_time(world: World, tmp_path: Path) -> None:
    groups = Groups(world, {"signing": 1, "month": 1})
    signing, month = groups.ids["signing"][0], groups.ids["month"][0]
    before = {cid: due(world, cid) for cid in (signing, month)}
    deploy_v2(world, tmp_path)
    world.clock.set(world.clock.now() + timedelta(days=2))
    result = world.aqd.migrate_contracts(Selection(programme="civp"), "pm", "decree").to_dict()
    assert result["migrated"] == 2
    assert {cid: due(world, cid) for cid in (signing, month)} == before


def test_rollback_restores_the_old_version_until_a_step_completes(
    world: World, tmp_path: Path
) -> None:
    groups = Groups(world, {"agreement": 2, "month": 1})
    moved_on, idle = groups.ids["agreement"]
    month = groups.ids["month"][0]
    with world.aqd.session() as s:
        states = {
            (c, i.key): i.state_hash
            for c in (moved_on, idle, month)
            for i in s.scalars(select(ProcessInstance).where(ProcessInstance.contract_id == c))
        }
    deploy_v2(world, tmp_path)
    batch = world.aqd.migrate_contracts(Selection(programme="civp"), "pm", "decree").to_dict()
    assert batch["migrated"] == 3
    world.complete(moved_on, "employer_agreement", AGREEMENT, "employer")
    guid = world.task(idle, "employer_agreement")
    with world.aqd.session() as s, s.begin():
        world.aqd.claim_task(s, guid, "employer")  # a claim does not move the workflow

    result = world.aqd.rollback_migration(batch["batch"], "pm", "wrong version").to_dict()
    assert result["rolled_back"] == 2
    [refused] = result["refused"]
    assert "employer_agreement was completed" in refused["reason"]
    assert version_of(world, moved_on) == 2
    assert version_of(world, idle) == version_of(world, month) == 1
    with world.aqd.session() as s:
        for c in (idle, month):
            for inst in s.scalars(select(ProcessInstance).where(ProcessInstance.contract_id == c)):
                assert inst.state_hash == states[(c, inst.key)]
        kinds = list(
            s.scalars(select(Event.kind).where(Event.contract_id == idle).order_by(Event.seq))
        )
        assert kinds[-3:] == ["contract_migrated", "task_claimed", "contract_migration_rolled_back"]
    for cid in (moved_on, idle, month):
        assert replays(world, cid)
    # Back on version 1, the old path: no documents_check after the validation.
    world.complete(idle, "employer_agreement", AGREEMENT, "employer")
    world.complete(idle, "counsellor_validation", VALIDATE, "c")
    assert NEW_STEP not in ready(world, idle)
    assert replays(world, idle)
    # Rolling back again touches only what is still migrated (and still refuses it).
    again = world.aqd.rollback_migration(batch["batch"], "pm", "again").to_dict()
    assert again["rolled_back"] == 0
    assert [r["reason"] for r in again["refused"]] == [refused["reason"]]
    with world.aqd.session() as s, s.begin():
        item = s.scalar(select(MigrationItem).where(MigrationItem.contract_id == idle))
        assert item is not None
        with pytest.raises(Conflict, match="rolled_back in this batch"):
            rollback_contract(world.aqd, s, item.id, "pm", "again")


def test_migration_rechecks_each_contract_under_its_lock(world: World, tmp_path: Path) -> None:
    groups = Groups(world, {"month": 1})
    month = groups.ids["month"][0]
    deploy_v2(world, tmp_path)
    report = world.aqd.migration_dry_run(Selection(programme="civp")).to_dict()
    assert report["verdicts"][0]["can_migrate"]
    # Between the dry run and the migration, the month's end comes: attendance is now ready.
    to_month_end(world, month)
    assert world.fire(month)
    result = world.aqd.migrate_contracts(Selection(programme="civp"), "pm", "decree").to_dict()
    assert result["migrated"] == 0
    [refused] = result["refused"]
    assert "ready step attendance" in refused["reason"]
    assert version_of(world, month) == 1
    with world.aqd.session() as s:
        kinds = set(s.scalars(select(Event.kind).where(Event.contract_id == month)))
    assert "contract_migrated" not in kinds
    assert replays(world, month)


def test_history_viewer_steps_through_a_migration(world: World, tmp_path: Path) -> None:
    groups = Groups(world, {"validation": 1})
    cid = groups.ids["validation"][0]
    deploy_v2(world, tmp_path)
    world.aqd.migrate_contracts(Selection(programme="civp"), "pm", "decree")
    world.complete(cid, "counsellor_validation", VALIDATE, "c")
    with world.aqd.session() as s:
        history = history_of(s, cid)
    assert [d["version"] for d in history["definitions"].values()] == [1]
    kinds = [e["kind"] for e in history["events"]]
    migrated = kinds.index("contract_migrated") + 1
    at = state_at(history, migrated, world.aqd.runner)
    assert at["kind"] == "contract_migrated"
    after = state_at(history, migrated + 1, world.aqd.runner)
    assert after["instances"]["main"]["ready"] == [NEW_STEP]


def test_a_ready_step_whose_form_changed_gets_the_new_form(world: World, tmp_path: Path) -> None:
    cid = world.start()
    folder = civp_v2_folder(tmp_path)
    bpmn = folder / "civp.bpmn"
    text = bpmn.read_text(encoding="utf-8")
    changed = text.replace('value="employer_agreement"', f'value="{NEW_STEP}"', 1)
    assert changed != text
    bpmn.write_text(changed, encoding="utf-8")
    with world.aqd.session() as s, s.begin():
        deploy(s, folder, world.aqd.sandbox, world.clock, note="new agreement form")
    [verdict] = world.aqd.migration_dry_run(Selection(programme="civp")).to_dict()["verdicts"]
    assert list(verdict["inbox"].values()) == [{"form_key": NEW_STEP}]

    def form() -> str:
        with world.aqd.session() as s:
            found = s.scalar(
                select(HumanTask.form_key).where(
                    HumanTask.contract_id == cid, HumanTask.status == "ready"
                )
            )
        assert found is not None
        return found

    batch = world.aqd.migrate_contracts(Selection(programme="civp"), "pm", "decree").to_dict()
    assert form() == NEW_STEP
    world.aqd.rollback_migration(batch["batch"], "pm", "back")
    assert form() == "employer_agreement"
    assert replays(world, cid)


def test_a_running_subprocess_the_new_version_lacks_blocks(world: World, tmp_path: Path) -> None:
    cid = world.start()
    folder = civp_v2_folder(tmp_path)
    bpmn = folder / "civp.bpmn"
    text = bpmn.read_text(encoding="utf-8")
    renamed = (
        text.replace('id="agreement"', 'id="agreement_2026"')
        .replace('sourceRef="agreement"', 'sourceRef="agreement_2026"')
        .replace('targetRef="agreement"', 'targetRef="agreement_2026"')
        .replace(">agreement</bpmn:flowNodeRef>", ">agreement_2026</bpmn:flowNodeRef>")
    )
    assert renamed != text
    bpmn.write_text(renamed, encoding="utf-8")
    with world.aqd.session() as s, s.begin():
        deploy(s, folder, world.aqd.sandbox, world.clock, note="agreement reworked")
    [verdict] = world.aqd.migration_dry_run(Selection(programme="civp")).to_dict()["verdicts"]
    assert not verdict["can_migrate"]
    reasons = " | ".join(verdict["reasons"])
    assert "subprocess agreement is running but the new version has no such subprocess" in reasons
    assert "the started step agreement" in reasons
    result = world.aqd.migrate_contracts(Selection(programme="civp"), "pm", "x").to_dict()
    assert result["migrated"] == 0 and result["refused"][0]["reason"]
    assert version_of(world, cid) == 1


def test_bad_selections_are_refused(world: World, tmp_path: Path) -> None:
    world.start()
    with pytest.raises(InvalidInput, match="note"):
        world.aqd.migrate_contracts(Selection(programme="civp"), "pm", " ")
    with pytest.raises(InvalidInput, match="no version 7"):
        world.aqd.migration_dry_run(Selection(programme="civp", to_version=7))
    # Nothing to do: every contract already runs the newest version.
    assert world.aqd.migration_dry_run(Selection(programme="civp")).to_dict()["contracts"] == 0
    deploy_v2(world, tmp_path)
    sel = Selection(programme="civp", statuses=["active"])
    assert world.aqd.migration_dry_run(sel).to_dict()["contracts"] == 0
    assert world.aqd.migration_dry_run(Selection(programme="civp")).to_dict()["can_migrate"] == 1


# -- 1,000 contracts on PostgreSQL -----------------------------------------------------------------

NATIONAL = {
    "agreement": 500,
    "validation": 320,
    "signing": 40,
    "month": 80,
    "attendance": 40,
    "paid": 20,
}


def _seed_share(url: str, sizes: dict[str, int], out: Any) -> None:
    """One process's share of the contracts (each process runs its own engine and clock)."""
    clock = FrozenClock(START)
    settings = Settings(database_url=url, script_time_limit_ms=500, workflow_cache_size=2000)
    world = World(aqd=bootstrap.build(settings, clock=clock), clock=clock, url=url)
    out.put(Groups(world, sizes).ids)
    dispose_all()


def _seed(url: str, sizes: dict[str, int], processes: int = 2) -> Groups:
    """Create the contracts in ``processes`` processes (commands are CPU-bound)."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    shares = [
        {g: n // processes + (k < n % processes) for g, n in sizes.items()}
        for k in range(processes)
    ]
    workers = [ctx.Process(target=_seed_share, args=(url, share, queue)) for share in shares]
    for w in workers:
        w.start()
    parts = [queue.get() for _ in workers]
    for w in workers:
        w.join()
        assert w.exitcode == 0
    groups = Groups.__new__(Groups)
    groups.ids = {g: sorted(c for part in parts for c in part[g]) for g in Groups.ORDER}
    return groups


@pytest.mark.slow
@pytest.mark.timeout(900)  # ~1 min of CPU; on a shared machine the wall time may triple
def test_thousand_contracts_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    _truncate(pg_url)
    world = make_world(pg_url)
    t0 = time.perf_counter()
    groups = _seed(pg_url, NATIONAL)
    setup_s = time.perf_counter() - t0
    assert {g: len(v) for g, v in groups.ids.items()} == NATIONAL
    # This process's clock joins the seeders' (the month's end has come).
    to_month_end(world, groups.ids["month"][0])
    deploy_v2(world, tmp_path)

    t1 = time.perf_counter()
    report = world.aqd.migration_dry_run(Selection(programme="civp")).to_dict()
    dry_s = time.perf_counter() - t1
    assert report["contracts"] == 1000
    with world.aqd.session() as s:
        numbers = {c.id: c.number for c in s.scalars(select(Contract))}
    by_number = {v["number"]: v["position"] for v in report["verdicts"]}
    reasons = {v["number"]: v["reasons"] for v in report["verdicts"]}
    expected = {
        "agreement": "ahead",
        "validation": "ahead",
        "signing": "past",
        "month": "ahead",
        "attendance": "blocked",
        "paid": "blocked",
    }
    for group, ids in groups.ids.items():
        positions = {by_number[numbers[c]] for c in ids}
        assert positions == {expected[group]}, (group, reasons[numbers[ids[0]]])
    assert (report["can_migrate"], report["cannot_migrate"]) == (940, 60)
    assert (report["ahead_of_change"], report["past_change"]) == (900, 40)

    t2 = time.perf_counter()
    result = world.aqd.migrate_contracts(Selection(programme="civp"), "pm", "decree").to_dict()
    migrate_s = time.perf_counter() - t2
    assert result["migrated"] == 940
    assert len(result["refused"]) == 60
    print(
        f"\nsetup {setup_s:.1f} s, dry run {dry_s:.1f} s ({1000 / dry_s:.0f} contracts/s), "
        f"migration {migrate_s:.1f} s ({940 / migrate_s:.0f} contracts/s)"
    )

    # Every contract reaches its next state: migrated ones on the new path.
    t3 = time.perf_counter()
    w = world
    for cid in groups.ids["agreement"]:
        w.complete(cid, "employer_agreement", AGREEMENT, "employer")
        assert ready(w, cid) == ["counsellor_validation"]
    for cid in groups.ids["validation"]:
        w.complete(cid, "counsellor_validation", VALIDATE, "c")
        assert ready(w, cid) == [NEW_STEP]
    for cid in groups.ids["signing"]:
        w.sign_all(cid)
    for cid in groups.ids["month"]:
        assert w.fire(cid)
        assert ready(w, cid) == ["attendance_report"]
    for cid in groups.ids["attendance"]:
        w.complete(cid, "attendance", {"days_present": 19}, "employer")
    with w.aqd.session() as s:
        versions = dict(
            s.execute(
                select(Contract.id, ProcessDefinition.version).join(
                    ProcessDefinition, ProcessDefinition.id == Contract.definition_id
                )
            ).all()
        )
        status = dict(s.execute(select(Contract.id, Contract.status)).all())
    for group, ids in groups.ids.items():
        assert {versions[c] for c in ids} == {1 if expected[group] == "blocked" else 2}, group
    assert {status[c] for c in groups.ids["signing"]} == {"active"}

    next_s = time.perf_counter() - t3

    # A sample runs to its end on the new path.
    sample = [groups.ids[g][-1] for g in ("agreement", "validation", "signing", "month")]
    a, b, _signed, d = sample
    w.complete(a, "counsellor_validation", VALIDATE, "c")
    for cid in (a, b):
        w.complete(cid, NEW_STEP, {"documents_complete": True}, "c")
        w.sign_all(cid)
    w.complete(d, "attendance_report", {"days_present": 19}, "employer")
    for cid in sample:
        finish_contract(w, cid, "attendance_report")

    # Every contract replays and verifies (in 2 processes, as aqd verify-contracts does).
    t4 = time.perf_counter()
    verified = verify_contracts_parallel(world.aqd, sorted(versions), processes=2)
    assert verified.failed == []
    assert verified.passed == 1000
    print(
        f"next states {next_s:.1f} s, replayed 1000 contracts in "
        f"{time.perf_counter() - t4:.1f} s, total {time.perf_counter() - t0:.1f} s"
    )


# -- the command line ------------------------------------------------------------------------------


@pytest.mark.slow  # some twenty `aqd` processes; the same steps run in-process above
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cli_dry_run_migrate_and_roll_back(world: World, tmp_path: Path) -> None:
    from tests.helpers.cli import Cli, refused

    ids = [world.start(), world.start()]
    world.complete(ids[1], "employer_agreement", AGREEMENT, "employer")
    folder = civp_v2_folder(tmp_path)
    cli = Cli(world.url, tmp_path)
    assert "civp: deployed version 2" in cli("deploy", str(folder)).stdout
    dry = json.loads(cli("contracts", "migrate", "civp", "--dry-run").stdout)
    assert (dry["contracts"], dry["can_migrate"], dry["ahead_of_change"]) == (2, 2, 2)
    assert "a note saying why is required" in refused(cli("contracts", "migrate", "civp", ok=False))
    assert "no version 9" in refused(
        cli("contracts", "migrate", "civp", "--to-version", "9", "--dry-run", ok=False)
    )
    done = json.loads(
        cli("contracts", "migrate", "civp", "--note", "decree", "--user", "pm").stdout
    )
    assert (done["migrated"], done["refused"]) == (2, [])
    [batch] = json.loads(cli("contracts", "migrations", "--programme", "civp").stdout)
    assert (batch["batch"], batch["migrated"], batch["created_by"]) == (done["batch"], 2, "pm")
    world.aqd.clear_caches()
    world.complete(ids[1], "counsellor_validation", VALIDATE, "c")
    back = cli("contracts", "rollback-migration", str(done["batch"]), "--reason", "r", ok=False)
    assert back.returncode == 1
    result = json.loads(back.stdout)
    assert result["rolled_back"] == 1
    assert "counsellor_validation was completed" in result["refused"][0]["reason"]
    detail = json.loads(cli("contracts", "migrations", str(done["batch"])).stdout)
    assert sorted(c["status"] for c in detail["contracts"]) == ["migrated", "rolled_back"]
    for cid in ids:
        assert "ok" in cli("replay", str(cid)).stdout.lower()
