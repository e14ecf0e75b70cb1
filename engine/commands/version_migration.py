# size: one command (moving running contracts to another definition version) with its dry run,
# batch and rollback, which share the per-contract assessment and the migrated-state writer.
"""Moving running contracts to a new definition version (DESIGN.md invariant 6, issue 7).

1. **Select** contracts of a programme (by version, status or number) that are not on the
   target version and still run.
2. **Dry run**: each contract's workflows are loaded and moved in memory (nothing is written):
   it *can migrate* (with the new steps still ahead of it, or none: it is past the change) or it
   *cannot*, with the reasons (a ready or waiting step, a completed path or a running subprocess
   the new version lacks).
3. **Migrate** in bulk: each contract is its own command and transaction (lock, move every
   running instance, write their states, the inbox, and one hash-chained ``contract_migrated``
   event naming both versions and what moved), recorded in a batch with the states it had, so
4. a batch can be **rolled back**, contract by contract, while the migrated workflows have not
   moved since (no step completed, no message or timer delivered): the
   ``contract_migration_rolled_back`` event restores exactly the stored states.

Replay re-executes both events (``engine/audit/replay.py``), so a migrated contract verifies
like any other.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.errors import Conflict, EngineError, InvalidInput, NotFound, NotPermitted
from engine.kernel.contract_state import ContractState, LiveInstance
from engine.kernel.engine import Kernel
from engine.kernel.loader import Loader as CommandLoader
from engine.kernel.planning import EMPTY_HASH, Recorded, user_task_info
from engine.kernel.store import Store, WritePlan
from engine.models import (
    Contract,
    Event,
    HumanTask,
    MigrationBatch,
    MigrationItem,
    ProcessDefinition,
)
from engine.models import ProcessInstance as Instance
from engine.runtime import state_migration as runtime
from engine.runtime.serializer import SERIALIZER_VERSION, dump

#: Moving running contracts is the programme managers' call (DESIGN.md §5).
MIGRATORS = frozenset({"programme_manager"})
MIGRATED = "contract_migrated"
ROLLED_BACK = "contract_migration_rolled_back"
#: Contract statuses that no longer run (nothing to migrate).
_ENDED = ("ended", "rejected", "expired", "terminated")
MAX_SELECTION = 100_000


@dataclass
class Selection:
    """Which contracts to move, and where to."""

    programme: str
    to_version: int | None = None
    from_versions: list[int] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)
    limit: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "programme": self.programme,
            "to_version": self.to_version,
            "from_versions": self.from_versions,
            "statuses": self.statuses,
            "numbers": self.numbers,
            "limit": self.limit,
        }


@dataclass
class Verdict:
    """The dry run's answer for one contract."""

    contract_id: int
    number: str
    status: str
    from_version: int
    can_migrate: bool
    reasons: list[str] = field(default_factory=list)
    #: New steps still ahead of the contract (empty: it is past every change).
    ahead: list[str] = field(default_factory=list)
    instances: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Ready steps whose inbox row changes (form, lane, group): task guid -> new values.
    inbox: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def position(self) -> str:
        if not self.can_migrate:
            return "blocked"
        return "ahead" if self.ahead else "past"

    def to_dict(self) -> dict[str, Any]:
        return {
            "contract_id": self.contract_id,
            "number": self.number,
            "status": self.status,
            "from_version": self.from_version,
            "can_migrate": self.can_migrate,
            "position": self.position,
            "reasons": self.reasons,
            "ahead": self.ahead,
            "instances": self.instances,
            "inbox": self.inbox,
        }


@dataclass
class DryRun:
    programme: str
    to_version: int
    verdicts: list[Verdict] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        positions = [v.position for v in self.verdicts]
        return {
            "programme": self.programme,
            "to_version": self.to_version,
            "contracts": len(self.verdicts),
            "can_migrate": sum(1 for v in self.verdicts if v.can_migrate),
            "cannot_migrate": sum(1 for v in self.verdicts if not v.can_migrate),
            "ahead_of_change": positions.count("ahead"),
            "past_change": positions.count("past"),
            "seconds": round(self.seconds, 3),
            "verdicts": [v.to_dict() for v in self.verdicts],
        }


def _version_ref(definition: ProcessDefinition) -> dict[str, Any]:
    return {
        "definition_id": definition.id,
        "version": definition.version,
        "content_hash": definition.content_hash,
    }


def require_migrator(roles: frozenset[str] | set[str]) -> None:
    if not set(roles) & MIGRATORS:
        raise NotPermitted("migrating running contracts is for programme managers")


# -- selection ------------------------------------------------------------------------------------


def target_definition(session: Session, selection: Selection) -> ProcessDefinition:
    if not selection.programme:
        raise InvalidInput("a programme is required", fields={"programme": "required"})
    stmt = select(ProcessDefinition).where(ProcessDefinition.programme == selection.programme)
    if selection.to_version is not None:
        stmt = stmt.where(ProcessDefinition.version == selection.to_version)
    found = session.scalars(stmt.order_by(ProcessDefinition.version.desc()).limit(1)).first()
    if found is None:
        if selection.to_version is None:
            raise NotFound(f"programme {selection.programme!r} has no deployed definition")
        raise InvalidInput(
            f"programme {selection.programme!r} has no version {selection.to_version}",
            fields={"to_version": "not found"},
        )
    return found


def select_contracts(
    session: Session, selection: Selection, target: ProcessDefinition
) -> list[int]:
    """Ids of the running contracts of the selection that are not on ``target`` yet."""
    if selection.limit is not None and not 0 < selection.limit <= MAX_SELECTION:
        raise InvalidInput(
            f"limit must be between 1 and {MAX_SELECTION}", fields={"limit": "out of range"}
        )
    stmt = (
        select(Contract.id)
        .join(ProcessDefinition, ProcessDefinition.id == Contract.definition_id)
        .where(
            Contract.programme == selection.programme,
            Contract.definition_id != target.id,
            Contract.ended_at.is_(None),
            Contract.status.not_in(_ENDED),
        )
        .order_by(Contract.id)
    )
    if selection.from_versions:
        stmt = stmt.where(ProcessDefinition.version.in_(selection.from_versions))
    if selection.statuses:
        stmt = stmt.where(Contract.status.in_(selection.statuses))
    if selection.numbers:
        stmt = stmt.where(Contract.number.in_(selection.numbers))
    stmt = stmt.limit(selection.limit or MAX_SELECTION)
    return list(session.scalars(stmt))


# -- assessment -----------------------------------------------------------------------------------


def _completed_problems(
    aqd: Kernel, session: Session, target: ProcessDefinition, rows: list[Any]
) -> list[str]:
    """Finished instances are not rewritten; they must still read under the new version."""
    problems: list[str] = []
    for row in rows:
        if row.process_id not in target.specs:
            problems.append(f"{row.key}: process {row.process_id} is not in the new version")
            continue
        specs = aqd.specs(session, target.id, row.process_id)
        missing = runtime.step_ids(bytes(row.state)) - runtime.spec_names(specs)
        if missing:
            problems.append(
                f"{row.key}: the completed steps {', '.join(sorted(missing))} are a path the "
                "new version lacks"
            )
        lost = runtime.subprocess_names(bytes(row.state)) - set(specs.subprocess_specs)
        if lost:
            problems.append(f"{row.key}: subprocesses {', '.join(sorted(lost))} cannot be mapped")
    return problems


def assess(aqd: Kernel, session: Session, contract_id: int, target: ProcessDefinition) -> Verdict:
    """Move the contract's workflows in memory (nothing is written) and say how it went."""
    contract = session.get(Contract, contract_id)
    if contract is None:
        raise NotFound(f"contract {contract_id} not found")
    current = aqd.definition(session, contract.definition_id)
    verdict = Verdict(
        contract_id=contract.id,
        number=contract.number,
        status=contract.status,
        from_version=current.version,
        can_migrate=True,
    )
    if contract.programme != target.programme:
        verdict.reasons.append(f"the contract is a {contract.programme} contract")
    elif contract.definition_id == target.id:
        verdict.reasons.append(f"the contract already runs version {target.version}")
    rows = session.execute(
        select(
            Instance.key,
            Instance.process_id,
            Instance.status,
            Instance.state,
            Instance.serializer_version,
        )
        .where(Instance.contract_id == contract.id)
        .order_by(Instance.key)
    ).all()
    running = [r for r in rows if r.status == "running"]
    if not running:
        verdict.reasons.append("the contract has no running workflow")
    verdict.reasons.extend(
        _completed_problems(aqd, session, target, [r for r in rows if r.status != "running"])
    )
    ahead: set[str] = set()
    for row in running:
        if row.process_id not in target.specs:
            verdict.reasons.append(f"{row.key}: process {row.process_id} is not in the new version")
            continue
        old = aqd.specs(session, contract.definition_id, row.process_id)
        new = aqd.specs(session, target.id, row.process_id)
        wf = aqd.runner.attach(old.restore(bytes(row.state), row.serializer_version))
        result = runtime.apply(wf, old, new)
        if not result.ok:
            verdict.reasons.extend(f"{row.key}: {p}" for p in result.problems)
            continue
        new.restore(dump(wf), SERIALIZER_VERSION)  # the moved state must read back
        ahead.update(result.ahead)
        verdict.instances[row.key] = {"process": row.process_id, **result.mapping()}
    verdict.can_migrate = not verdict.reasons
    if verdict.can_migrate:
        verdict.inbox = dict(_reprojected(session, contract.id, target))
    verdict.ahead = sorted(ahead) if verdict.can_migrate else []
    return verdict


def dry_run(aqd: Kernel, selection: Selection) -> DryRun:
    started = time.perf_counter()
    with aqd.session() as session:
        target = target_definition(session, selection)
        ids = select_contracts(session, selection, target)
        report = DryRun(programme=target.programme, to_version=target.version)
        for contract_id in ids:
            report.verdicts.append(assess(aqd, session, contract_id, target))
    report.seconds = time.perf_counter() - started
    return report


# -- the commands -------------------------------------------------------------------------------


class Loader(CommandLoader):
    """The command loader, restoring a cold instance from the state the migration already read
    onto the cached specs (``Specs.restore``), not by restoring the specs again."""

    def __init__(self, aqd: Kernel, store: Store, contract: Any) -> None:
        super().__init__(aqd, store, contract)
        self.states: dict[int, tuple[bytes, str]] = {}

    def stored(self, key: str) -> tuple[bytes, str]:
        row_id = self.rows[key].id
        if row_id not in self.states:
            self.states[row_id] = self.store.state(row_id)
        return self.states[row_id]

    def load(self, key: str) -> LiveInstance | None:
        known = self.rows.get(key)
        if known is None:
            return super().load(key)
        hot = self.aqd.cache.take(known.id, known.revision)
        if hot is not None:
            wf, ready = hot
        else:
            state, version = self.stored(key)
            specs = self.aqd.specs(
                self.store.session, self.contract.definition_id, known.process_id
            )
            wf = self.aqd.runner.attach(specs.restore(state, version))
            ready = self.aqd.runner.inspect(wf).ready
        self.ready_before[key] = {t.task_guid: t for t in ready}
        return LiveInstance(
            key=key, process_id=known.process_id, wf=wf, row_id=known.id, revision=known.revision
        )


def migrate_contract(
    aqd: Kernel,
    session: Session,
    contract_id: int,
    target: ProcessDefinition,
    batch_id: int,
    actor: str,
    note: str = "",
) -> tuple[Recorded, bytes, int]:
    """One contract's migration: one command in the caller's transaction. Returns the event,
    the snapshot rollback needs (the running instances' stored states) and the version (id)
    the contract ran before."""
    store = Store(session)
    contract = store.lock(contract_id)
    if contract.programme != target.programme:
        raise InvalidInput(f"contract {contract.number} is a {contract.programme} contract")
    if contract.definition_id == target.id:
        raise Conflict(f"contract {contract.number} already runs version {target.version}")
    current = aqd.definition(session, contract.definition_id)
    loader = Loader(aqd, store, contract)
    if not loader.rows:
        raise Conflict(f"contract {contract.number} has no running workflow")
    finished = session.execute(
        select(Instance.key, Instance.process_id, Instance.state).where(
            Instance.contract_id == contract.id, Instance.status != "running"
        )
    ).all()
    problems = _completed_problems(aqd, session, target, list(finished))
    missing = sorted(k for k, r in loader.rows.items() if r.process_id not in target.specs)
    problems.extend(
        f"{k}: process {loader.rows[k].process_id} is not in the new version" for k in missing
    )
    if problems:
        raise Conflict("; ".join(problems))
    snapshot: dict[str, dict[str, str]] = {}
    for key in sorted(loader.rows):
        state, version = loader.stored(key)
        snapshot[key] = {"state": state.decode(), "version": version}
    plan = WritePlan()
    plan.task_updates.extend(_reprojected(session, contract.id, target))
    payload: dict[str, Any] = {
        "batch": batch_id,
        "from": _version_ref(current),
        "to": _version_ref(target),
        "instances": {},
        "inbox": dict(plan.task_updates),
        "note": note[:500],
    }

    def action(state: ContractState) -> None:
        for key in sorted(loader.rows):
            pid = loader.rows[key].process_id
            result = state.migrate(
                key,
                aqd.specs(session, current.id, pid),
                aqd.specs(session, target.id, pid),
            )
            payload["instances"][key] = {"process": pid, **result.mapping()}

    recorded = aqd._execute(
        store,
        contract,
        MIGRATED,
        actor,
        payload,
        action,
        plan=plan,
        loader=loader,
        definition_id=target.id,
    )
    return recorded, orjson.dumps(snapshot), current.id


def _reprojected(
    session: Session, contract_id: int, definition: ProcessDefinition
) -> list[tuple[str, dict[str, Any]]]:
    """Inbox rows of the contract's ready steps whose form, lane or group differ in
    ``definition``: (task guid, the new values). The step itself is the same (same BPMN id)."""
    processes = definition.meta["processes"]
    rows = session.execute(
        select(
            HumanTask.task_guid,
            HumanTask.bpmn_id,
            HumanTask.form_key,
            HumanTask.lane,
            HumanTask.candidate_group,
        )
        .where(HumanTask.contract_id == contract_id, HumanTask.status == "ready")
        .order_by(HumanTask.id)
    ).all()
    updates = []
    for row in rows:
        info = user_task_info(processes, row.bpmn_id)
        if not info:
            continue
        wanted = {
            "form_key": info.get("form_key", ""),
            "lane": info.get("lane") or row.lane,
            "candidate_group": info.get("candidate_group") or info.get("lane") or row.lane,
        }
        changes = {k: v for k, v in wanted.items() if getattr(row, k) != v}
        if changes:
            updates.append((str(row.task_guid), changes))
    return updates


def _moved_since(session: Session, contract_id: int, seq: int) -> str:
    """Why the contract can no longer be rolled back past event ``seq`` ('' if it can)."""
    later = session.execute(
        select(Event.seq, Event.kind, Event.payload, Event.at)
        .where(Event.contract_id == contract_id, Event.seq > seq, Event.state_hash != EMPTY_HASH)
        .order_by(Event.seq)
        .limit(1)
    ).first()
    if later is None:
        return ""
    when = later.at.date().isoformat()
    if later.kind == "task_completed":
        step = later.payload.get("bpmn_id", "?")
        return f"the migrated step {step} was completed on {when} (event {later.seq})"
    return f"the contract moved on since the migration ({later.kind} on {when}, event {later.seq})"


def rollback_contract(
    aqd: Kernel, session: Session, item_id: int, actor: str, reason: str
) -> Recorded:
    """Put one migrated contract back on its old version, in the caller's transaction."""
    item = session.get(MigrationItem, item_id)
    if item is None:
        raise NotFound(f"migration item {item_id} not found")
    store = Store(session)
    contract = store.lock(item.contract_id)
    session.refresh(item)
    if item.status != "migrated" or item.snapshot is None or item.event_seq is None:
        raise Conflict(f"contract {contract.number} is {item.status} in this batch, not migrated")
    if contract.definition_id != item.to_definition_id:
        raise Conflict(f"contract {contract.number} has moved to another version since")
    why = _moved_since(session, contract.id, item.event_seq)
    if why:
        raise Conflict(f"contract {contract.number} cannot be rolled back: {why}")
    old = aqd.definition(session, item.from_definition_id)
    new = aqd.definition(session, item.to_definition_id)
    snapshot: dict[str, dict[str, str]] = orjson.loads(item.snapshot)
    loader = Loader(aqd, store, contract)
    payload: dict[str, Any] = {
        "batch": item.batch_id,
        "migration_seq": item.event_seq,
        "from": _version_ref(new),
        "to": _version_ref(old),
        "instances": sorted(snapshot),
        "reason": reason[:500],
    }

    def action(state: ContractState) -> None:
        for key in sorted(snapshot):
            pid = loader.rows[key].process_id if key in loader.rows else ""
            if not pid:
                raise Conflict(f"instance {key} of contract {contract.number} no longer runs")
            saved = snapshot[key]
            specs = aqd.specs(session, old.id, pid)
            state.restore(key, saved["state"].encode(), saved["version"], specs)

    plan = WritePlan()
    plan.task_updates.extend(_reprojected(session, contract.id, old))
    payload["inbox"] = dict(plan.task_updates)
    recorded = aqd._execute(
        store,
        contract,
        ROLLED_BACK,
        actor,
        payload,
        action,
        plan=plan,
        loader=loader,
        definition_id=old.id,
    )
    item.status = "rolled_back"
    item.rollback_seq = recorded.seq
    return recorded


# -- batches ---------------------------------------------------------------------------------------


@dataclass
class BatchResult:
    batch_id: int
    programme: str
    to_version: int
    migrated: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch_id,
            "programme": self.programme,
            "to_version": self.to_version,
            "migrated": self.migrated,
            "refused": self.refused,
            "seconds": round(self.seconds, 3),
            "contracts_per_s": round(self.migrated / self.seconds, 1) if self.seconds else None,
        }


def migrate_batch(
    aqd: Kernel,
    selection: Selection,
    actor: str,
    note: str,
    progress: Callable[[int, int], None] | None = None,
) -> BatchResult:
    """Migrate every selected contract, one transaction each; refusals are recorded too."""
    if not note.strip():
        raise InvalidInput("a note saying why is required", fields={"note": "required"})
    started = time.perf_counter()
    with aqd.session() as session, session.begin():
        target = target_definition(session, selection)
        ids = select_contracts(session, selection, target)
        batch = MigrationBatch(
            programme=target.programme,
            to_definition_id=target.id,
            selection=selection.to_dict(),
            note=note.strip()[:2000],
            status="running",
            migrated=0,
            refused=0,
            rolled_back=0,
            created_by=actor,
            created_at=aqd.clock.now(),
        )
        session.add(batch)
        session.flush()
        batch_id = batch.id
        session.expunge(target)
    result = BatchResult(batch_id=batch_id, programme=target.programme, to_version=target.version)
    for n, contract_id in enumerate(ids, start=1):
        try:
            with aqd.session() as session, session.begin():
                recorded, snapshot, from_id = migrate_contract(
                    aqd, session, contract_id, target, batch_id, actor, note.strip()
                )
                session.add(
                    MigrationItem(
                        batch_id=batch_id,
                        contract_id=contract_id,
                        from_definition_id=from_id,
                        to_definition_id=target.id,
                        status="migrated",
                        reasons=[],
                        event_seq=recorded.seq,
                        snapshot=snapshot,
                        at=aqd.clock.now(),
                    )
                )
            result.migrated += 1
        except EngineError as exc:
            with aqd.session() as session, session.begin():
                contract = session.get(Contract, contract_id)
                if contract is None:
                    raise NotFound(
                        f"contract {contract_id} was deleted during the migration"
                    ) from exc
                session.add(
                    MigrationItem(
                        batch_id=batch_id,
                        contract_id=contract_id,
                        from_definition_id=contract.definition_id,
                        to_definition_id=target.id,
                        status="refused",
                        reasons=[exc.message],
                        at=aqd.clock.now(),
                    )
                )
                result.refused.append({"number": contract.number, "reason": exc.message})
        if progress is not None:
            progress(n, len(ids))
    with aqd.session() as session, session.begin():
        done = session.get(MigrationBatch, batch_id)
        if done is None:
            raise NotFound(f"migration batch {batch_id} was deleted while it ran")
        done.migrated = result.migrated
        done.refused = len(result.refused)
        done.status = "done"
        done.finished_at = aqd.clock.now()
    result.seconds = time.perf_counter() - started
    return result


@dataclass
class RollbackResult:
    batch_id: int
    rolled_back: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"batch": self.batch_id, "rolled_back": self.rolled_back, "refused": self.refused}


def rollback_batch(aqd: Kernel, batch_id: int, actor: str, reason: str) -> RollbackResult:
    """Roll back every contract of the batch that has not moved since; the others are listed
    with the reason they cannot be."""
    if not reason.strip():
        raise InvalidInput("a reason is required", fields={"reason": "required"})
    with aqd.session() as session:
        batch = session.get(MigrationBatch, batch_id)
        if batch is None:
            raise NotFound(f"migration batch {batch_id} not found")
        if batch.status == "running":
            raise Conflict(f"migration batch {batch_id} is still running")
        items = session.execute(
            select(MigrationItem.id, Contract.number)
            .join(Contract, Contract.id == MigrationItem.contract_id)
            .where(MigrationItem.batch_id == batch_id, MigrationItem.status == "migrated")
            .order_by(MigrationItem.id)
        ).all()
    if not items:
        raise Conflict(f"migration batch {batch_id} has no migrated contract to roll back")
    result = RollbackResult(batch_id=batch_id)
    for item_id, number in items:
        try:
            with aqd.session() as session, session.begin():
                rollback_contract(aqd, session, item_id, actor, reason.strip())
            result.rolled_back += 1
        except EngineError as exc:
            result.refused.append({"number": number, "reason": exc.message})
    with aqd.session() as session, session.begin():
        batch = session.get(MigrationBatch, batch_id)
        if batch is None:
            raise NotFound(f"migration batch {batch_id} was deleted while it was rolled back")
        batch.rolled_back = int(
            session.scalar(
                select(func.count())
                .select_from(MigrationItem)
                .where(MigrationItem.batch_id == batch_id, MigrationItem.status == "rolled_back")
            )
            or 0
        )
        batch.status = "rolled_back" if batch.rolled_back == batch.migrated else "part_rolled_back"
    return result


def list_batches(session: Session, programme: str | None = None) -> list[dict[str, Any]]:
    stmt = (
        select(MigrationBatch, ProcessDefinition.version)
        .join(ProcessDefinition, ProcessDefinition.id == MigrationBatch.to_definition_id)
        .order_by(MigrationBatch.id.desc())
        .limit(200)
    )
    if programme:
        stmt = stmt.where(MigrationBatch.programme == programme)
    return [_batch_dict(b, version) for b, version in session.execute(stmt).all()]


def _batch_dict(batch: MigrationBatch, version: int) -> dict[str, Any]:
    return {
        "batch": batch.id,
        "programme": batch.programme,
        "to_version": version,
        "status": batch.status,
        "migrated": batch.migrated,
        "refused": batch.refused,
        "rolled_back": batch.rolled_back,
        "note": batch.note,
        "created_by": batch.created_by,
        "created_at": batch.created_at.isoformat(),
        "finished_at": batch.finished_at.isoformat() if batch.finished_at else None,
    }


def batch_detail(session: Session, batch_id: int) -> dict[str, Any]:
    found = session.execute(
        select(MigrationBatch, ProcessDefinition.version)
        .join(ProcessDefinition, ProcessDefinition.id == MigrationBatch.to_definition_id)
        .where(MigrationBatch.id == batch_id)
    ).first()
    if found is None:
        raise NotFound(f"migration batch {batch_id} not found")
    batch, version = found
    rows = session.execute(
        select(MigrationItem, Contract.number)
        .join(Contract, Contract.id == MigrationItem.contract_id)
        .where(MigrationItem.batch_id == batch_id)
        .order_by(MigrationItem.id)
    ).all()
    return {
        **_batch_dict(batch, version),
        "contracts": [
            {
                "number": number,
                "status": item.status,
                "reasons": item.reasons,
                "event_seq": item.event_seq,
                "rollback_seq": item.rollback_seq,
            }
            for item, number in rows
        ],
    }
