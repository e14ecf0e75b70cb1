"""Commands: each one locks its contract, runs, and writes state, projections, timings, one
chained event and its outbox rows in the caller's transaction (DESIGN.md invariant 1).

Services never commit; the boundary (CLI, worker wrapper, API dependency) does. A per-process
cache keeps hot workflows deserialized, keyed by instance and validated by the contract's
``revision`` under the row lock (invariant 8); it is updated only after a successful commit.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any
from uuid import uuid4

from sqlalchemy import Engine, event, insert, select, update
from sqlalchemy.orm import Session

from engine import forms_bridge
from engine.clock import Clock, SystemClock
from engine.config import Settings, get_settings
from engine.db import get_engine, is_postgres
from engine.errors import Conflict, InvalidInput, NotFound, StaleRevision, TaskNotReady
from engine.models import (
    Beneficiary,
    Contract,
    Employer,
    Event,
    HumanTask,
    Office,
    Outbox,
    ProcessDefinition,
    ProcessInstance,
    StepTiming,
)
from engine.runtime import context
from engine.runtime.durations import add_iso_duration
from engine.runtime.sandbox import Sandbox
from engine.runtime.serializer import SERIALIZER_VERSION, load
from engine.runtime.workflow import Runner, Specs
from engine.services.contract_state import (
    CommandResult,
    ContractState,
    LiveInstance,
    chain_hash,
)

GENESIS = "0" * 64
MAIN = "main"


class _WorkflowCache:
    """Hot workflows per process: instance id -> (contract revision, workflow)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[int, tuple[int, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, instance_id: int, revision: int) -> Any | None:
        with self._lock:
            item = self._items.pop(instance_id, None)
        if item is None or item[0] != revision:
            return None
        return item[1]

    def put(self, instance_id: int, revision: int, wf: Any) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[instance_id] = (revision, wf)
            self._items.move_to_end(instance_id)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


@event.listens_for(Session, "after_commit")
def _publish_cache(session: Session) -> None:
    for cache, instance_id, revision, wf in session.info.pop("aqd_cache_puts", []):
        cache.put(instance_id, revision, wf)


@event.listens_for(Session, "after_rollback")
def _drop_cache(session: Session) -> None:
    session.info.pop("aqd_cache_puts", None)


class _DbLoader:
    """Loads a contract's running instances for one command (cache first)."""

    def __init__(self, aqd: Aqd, session: Session, contract: Contract) -> None:
        self.aqd = aqd
        self.session = session
        self.contract = contract
        rows = session.execute(
            select(
                ProcessInstance.id,
                ProcessInstance.key,
                ProcessInstance.process_id,
                ProcessInstance.waiting_messages,
                ProcessInstance.next_due_at,
            ).where(ProcessInstance.contract_id == contract.id, ProcessInstance.status == "running")
        ).all()
        self.rows = {r.key: r for r in rows}

    def load(self, key: str) -> LiveInstance | None:
        known = self.rows.get(key)
        row = (
            (known.id, known.process_id)
            if known is not None
            else self.session.execute(
                select(ProcessInstance.id, ProcessInstance.process_id).where(
                    ProcessInstance.contract_id == self.contract.id, ProcessInstance.key == key
                )
            ).one_or_none()
        )
        if row is None:
            return None
        row_id, process_id = row[0], row[1]
        wf = self.aqd.cache.take(row_id, self.contract.revision)
        if wf is None:
            state, version = self.session.execute(
                select(ProcessInstance.state, ProcessInstance.serializer_version).where(
                    ProcessInstance.id == row_id
                )
            ).one()
            specs = self.aqd.specs(self.session, self.contract.definition_id, process_id)
            wf = load(state, version, specs.fresh_dicts())
        return LiveInstance(key=key, process_id=process_id, wf=wf, row_id=row_id)

    def waiting_for(self, message: str) -> list[str]:
        return [k for k, r in self.rows.items() if message in (r.waiting_messages or [])]

    def due(self, now: datetime) -> list[str]:
        return sorted(k for k, r in self.rows.items() if r.next_due_at and r.next_due_at <= now)


class Aqd:
    """The engine's command and query service (one per process; thread-safe)."""

    def __init__(
        self,
        database_url: str | None = None,
        clock: Clock | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.db: Engine = get_engine(database_url or self.settings.database_url)
        self.clock: Clock = clock or SystemClock()
        self.sandbox = Sandbox(self.settings.script_time_limit_ms / 1000, clock=context.now)
        self.runner = Runner(self.sandbox)
        self.cache = _WorkflowCache(self.settings.workflow_cache_size)
        self._specs: dict[tuple[int, str], Specs] = {}
        self._defs: dict[int, ProcessDefinition] = {}
        self._lock = threading.Lock()

    def session(self) -> Session:
        return Session(self.db, expire_on_commit=False)

    # -- definitions --------------------------------------------------------------------------

    def definition(self, session: Session, definition_id: int) -> ProcessDefinition:
        found = self._defs.get(definition_id)
        if found is None:
            found = session.get(ProcessDefinition, definition_id)
            if found is None:
                raise NotFound(f"definition {definition_id} not found")
            session.expunge(found)
            with self._lock:
                self._defs[definition_id] = found
        return found

    def specs(self, session: Session, definition_id: int, process_id: str) -> Specs:
        key = (definition_id, process_id)
        found = self._specs.get(key)
        if found is None:
            definition = self.definition(session, definition_id)
            if process_id not in definition.specs:
                raise NotFound(f"process {process_id} not in definition {definition_id}")
            found = Specs(definition.specs[process_id])
            with self._lock:
                self._specs[key] = found
        return found

    def latest_definition(self, session: Session, programme: str) -> ProcessDefinition:
        found = session.scalars(
            select(ProcessDefinition)
            .where(ProcessDefinition.programme == programme, ProcessDefinition.status == "active")
            .order_by(ProcessDefinition.version.desc())
            .limit(1)
        ).first()
        if found is None:
            raise NotFound(f"programme {programme!r} has no deployed definition")
        return found

    # -- the command skeleton --------------------------------------------------------------------

    def _lock_contract(
        self, session: Session, contract_id: int, expected_revision: int | None = None
    ) -> Contract:
        stmt = select(Contract).where(Contract.id == contract_id)
        if is_postgres(session):
            stmt = stmt.with_for_update()
        contract = session.scalars(stmt.execution_options(populate_existing=True)).first()
        if contract is None:
            raise NotFound(f"contract {contract_id} not found")
        if expected_revision is not None and contract.revision != expected_revision:
            raise StaleRevision(
                f"contract {contract.number} changed (revision {contract.revision}, "
                f"you had {expected_revision}); reload and try again",
                fields={"expected_revision": expected_revision, "revision": contract.revision},
            )
        return contract

    def _state(self, session: Session, contract: Contract, loader: _DbLoader) -> ContractState:
        definition = self.definition(session, contract.definition_id)
        instance_count = self._instance_count(session, contract.id)
        return ContractState(
            number=contract.number,
            specs=lambda pid: self.specs(session, contract.definition_id, pid),
            meta=definition.meta,
            runner=self.runner,
            loader=loader,
            instance_count=instance_count,
        )

    def _instance_count(self, session: Session, contract_id: int) -> int:
        from sqlalchemy import func

        return int(
            session.scalar(select(func.count()).where(ProcessInstance.contract_id == contract_id))
            or 0
        )

    def _record(
        self,
        session: Session,
        contract: Contract,
        kind: str,
        actor: str,
        at: datetime,
        payload: dict[str, Any],
        state: ContractState | None,
    ) -> Event:
        """Persist what the command did: instances, projections, timings, event, outbox."""
        result = state.finish() if state is not None else CommandResult(state_hash=_EMPTY)
        seq = contract.last_seq + 1
        revision = contract.revision + 1
        definition = self.definition(session, contract.definition_id)
        ready_by_instance: dict[int, list[Any]] = {}
        main_data: dict[str, Any] | None = None
        main_done = False
        for inst in result.changed:
            wf = inst.wf
            done = bool(wf.completed)
            waiting = self.runner.waiting_messages(wf)
            due = self.runner.next_due(wf)
            values = {
                "state": inst.state,
                "state_hash": inst.hash,
                "serializer_version": SERIALIZER_VERSION,
                "status": "completed" if done else "running",
                "waiting_messages": waiting,
                "next_due_at": due,
                "ended_at": at if done else None,
            }
            if inst.row_id is None:
                row = ProcessInstance(
                    contract_id=contract.id,
                    process_id=inst.process_id,
                    key=inst.key,
                    started_at=at,
                    revision=1,
                    **values,
                )
                session.add(row)
                session.flush()
                inst.row_id = row.id
            else:
                session.execute(
                    update(ProcessInstance)
                    .where(ProcessInstance.id == inst.row_id)
                    .values(revision=ProcessInstance.revision + 1, **values)
                )
            ready_by_instance[inst.row_id] = self.runner.ready_tasks(wf)
            if inst.key == MAIN:
                main_data = self.runner.result_data(wf)
                main_done = done
            session.info.setdefault("aqd_cache_puts", []).append(
                (self.cache, inst.row_id, revision, wf)
            )
        self._sync_tasks(session, contract, definition, ready_by_instance, at, actor)
        if result.steps:
            rows = [
                {
                    "contract_id": contract.id,
                    "instance_id": next(i.row_id for i in result.changed if i.key == key),
                    "event_seq": seq,
                    "task_guid": step.task_guid,
                    "bpmn_id": step.bpmn_id,
                    "spec_type": step.spec_type,
                    "started_at": step.started_at,
                    "duration_us": step.duration_us,
                }
                for key, step in result.steps
            ]
            session.execute(insert(StepTiming), rows)
        for intent in result.outbox:
            exists = session.scalar(
                select(Outbox.id).where(Outbox.idempotency_key == intent.idempotency_key)
            )
            if exists is None:
                body = (
                    dict(intent.payload)
                    if isinstance(intent.payload, dict)
                    else {"value": intent.payload}
                )
                if body.get("reply"):
                    body["reply_to"] = intent.source
                session.add(
                    Outbox(
                        contract_id=contract.id,
                        kind=intent.kind,
                        payload=body,
                        idempotency_key=intent.idempotency_key,
                        status="pending",
                        attempts=0,
                        available_at=at,
                        created_at=at,
                    )
                )
        body = {
            "seq": seq,
            "kind": kind,
            "actor": actor,
            "at": at.isoformat(),
            "payload": payload,
            "state_hash": result.state_hash,
        }
        digest = chain_hash(contract.chain_head or GENESIS, body)
        ev = Event(
            contract_id=contract.id,
            seq=seq,
            kind=kind,
            actor=actor,
            at=at,
            instance_id=result.changed[0].row_id if result.changed else None,
            payload=payload,
            state_hash=result.state_hash,
            prev_hash=contract.chain_head or GENESIS,
            hash=digest,
        )
        session.add(ev)
        contract.revision = revision
        contract.last_seq = seq
        contract.chain_head = digest
        if main_data is not None:
            status = main_data.get("contract_status")
            if isinstance(status, str) and status:
                contract.status = status[:32]
            elif main_done:
                contract.status = "ended"
            outcome = main_data.get("outcome")
            if isinstance(outcome, str) and outcome:
                contract.outcome = outcome[:32]
            if main_done:
                contract.ended_at = at
        session.flush()
        contract.next_due_at = session.scalar(
            select(ProcessInstance.next_due_at)
            .where(
                ProcessInstance.contract_id == contract.id,
                ProcessInstance.status == "running",
                ProcessInstance.next_due_at.is_not(None),
            )
            .order_by(ProcessInstance.next_due_at)
            .limit(1)
        )
        session.flush()
        return ev

    def _sync_tasks(
        self,
        session: Session,
        contract: Contract,
        definition: ProcessDefinition,
        ready_by_instance: dict[int, list[Any]],
        at: datetime,
        actor: str,
    ) -> None:
        if not ready_by_instance:
            return
        existing = {
            t.task_guid: t
            for t in session.scalars(
                select(HumanTask).where(
                    HumanTask.instance_id.in_(list(ready_by_instance)), HumanTask.status == "ready"
                )
            )
        }
        processes = definition.meta["processes"]
        for instance_id, ready in ready_by_instance.items():
            for task in ready:
                if task.task_guid in existing:
                    existing.pop(task.task_guid)
                    continue
                info = _user_task_info(processes, task.bpmn_id)
                due = add_iso_duration(at, info.get("due_in", "")) if info.get("due_in") else None
                session.add(
                    HumanTask(
                        contract_id=contract.id,
                        instance_id=instance_id,
                        task_guid=task.task_guid,
                        bpmn_id=task.bpmn_id,
                        name=task.name,
                        programme=contract.programme,
                        lane=info.get("lane") or task.lane,
                        candidate_group=info.get("candidate_group", task.lane),
                        office_id=contract.office_id,
                        form_key=info.get("form_key", ""),
                        status="ready",
                        due_at=due,
                        ready_at=at,
                    )
                )
        for gone in existing.values():
            gone.status = "cancelled"
            gone.completed_at = at

    # -- commands ---------------------------------------------------------------------------------

    def start_contract(
        self,
        session: Session,
        programme: str,
        data: dict[str, Any],
        actor: str = "system",
    ) -> Contract:
        if not isinstance(data, dict):
            raise InvalidInput("contract data must be a JSON object")
        definition = self.latest_definition(session, programme)
        start_form = definition.meta.get("manifest", {}).get("start_form")
        if start_form:
            data = forms_bridge.validate(programme, str(start_form), data)
        at = self.clock.now()
        parties = self._resolve_parties(session, data)
        contract = Contract(
            number=f"pending-{uuid4().hex}",
            programme=programme,
            definition_id=definition.id,
            status="requested",
            revision=0,
            last_seq=0,
            chain_head="",
            started_at=at,
            **parties,
        )
        session.add(contract)
        session.flush()
        contract.number = f"{programme.upper()}-{at.year}-{contract.id:06d}"
        start_data = {
            **data,
            "contract_number": contract.number,
            "params": resolve_parameters(definition.parameters, at),
        }
        payload = {"programme": programme, "definition_id": definition.id, "data": start_data}
        with context.command_context(at, f"{contract.number}:1"):
            state = ContractState(
                number=contract.number,
                specs=lambda pid: self.specs(session, definition.id, pid),
                meta=definition.meta,
                runner=self.runner,
                loader=_NoLoader(),
                instance_count=0,
            )
            state.start(definition.main_process, start_data, key=MAIN)
            self._record(session, contract, "contract_started", actor, at, payload, state)
        return contract

    def _resolve_parties(self, session: Session, data: dict[str, Any]) -> dict[str, Any]:
        parties: dict[str, Any] = {"office_id": None, "employer_id": None, "beneficiary_id": None}
        lookups = (
            ("office", Office, Office.code, "office_id"),
            ("employer_mf", Employer, Employer.matricule_fiscal, "employer_id"),
            ("beneficiary_cin", Beneficiary, Beneficiary.cin, "beneficiary_id"),
        )
        for field_name, model, column, target in lookups:
            value = data.get(field_name)
            if value in (None, ""):
                continue
            found = session.scalar(select(model.id).where(column == str(value)))
            if found is None:
                raise InvalidInput(
                    f"unknown {field_name} {value!r}", fields={field_name: "not found"}
                )
            parties[target] = found
        if parties["office_id"] is None and parties["beneficiary_id"] is not None:
            parties["office_id"] = session.scalar(
                select(Beneficiary.office_id).where(Beneficiary.id == parties["beneficiary_id"])
            )
        return parties

    def _run_command(
        self,
        session: Session,
        contract: Contract,
        kind: str,
        actor: str,
        payload: dict[str, Any],
        action: Any,
    ) -> Event:
        at = self.clock.now()
        loader = _DbLoader(self, session, contract)
        state = self._state(session, contract, loader)
        with context.command_context(at, f"{contract.number}:{contract.last_seq + 1}"):
            action(state, loader, at)
            return self._record(session, contract, kind, actor, at, payload, state)

    def complete_task(
        self,
        session: Session,
        task_guid: str,
        data: dict[str, Any],
        actor: str,
        expected_revision: int | None = None,
    ) -> Event:
        task = session.scalar(select(HumanTask).where(HumanTask.task_guid == task_guid))
        if task is None:
            raise NotFound(f"task {task_guid} not found")
        contract = self._lock_contract(session, task.contract_id, expected_revision)
        session.refresh(task)
        if task.status != "ready":
            raise TaskNotReady(f"task {task_guid} is already {task.status}")
        if not isinstance(data, dict):
            raise InvalidInput("task data must be a JSON object")
        clean = forms_bridge.validate(task.programme, task.form_key, data)
        key = session.scalar(
            select(ProcessInstance.key).where(ProcessInstance.id == task.instance_id)
        )
        assert key is not None
        payload = {"instance": key, "task_guid": task_guid, "bpmn_id": task.bpmn_id, "data": clean}
        at = self.clock.now()
        task.status = "completed"
        task.completed_at = at
        task.completed_by = actor
        if task.claimed_at is None:
            task.claimed_at = at
            task.assignee = actor

        def action(state: ContractState, _loader: _DbLoader, _at: datetime) -> None:
            state.complete(key, task_guid, clean)

        return self._run_command(session, contract, "task_completed", actor, payload, action)

    def claim_task(
        self, session: Session, task_guid: str, actor: str, release: bool = False
    ) -> Event:
        task = session.scalar(select(HumanTask).where(HumanTask.task_guid == task_guid))
        if task is None:
            raise NotFound(f"task {task_guid} not found")
        contract = self._lock_contract(session, task.contract_id)
        session.refresh(task)
        if task.status != "ready":
            raise TaskNotReady(f"task {task_guid} is already {task.status}")
        at = self.clock.now()
        if release:
            if task.assignee != actor:
                raise Conflict(f"task {task_guid} is not claimed by {actor}")
            task.assignee = None
            task.claimed_at = None
            kind = "task_released"
        else:
            if task.assignee and task.assignee != actor:
                raise Conflict(f"task {task_guid} is already claimed by {task.assignee}")
            task.assignee = actor
            task.claimed_at = at
            kind = "task_claimed"
        payload = {"task_guid": task_guid, "assignee": task.assignee}
        return self._record(session, contract, kind, actor, at, payload, None)

    def correlate_message(
        self,
        session: Session,
        contract_id: int,
        name: str,
        payload: Any,
        actor: str = "system",
    ) -> Event:
        contract = self._lock_contract(session, contract_id)
        body = {"name": name, "payload": payload}

        def action(state: ContractState, _loader: _DbLoader, _at: datetime) -> None:
            body["instance"] = state.message(name, payload)

        return self._run_command(session, contract, "message_received", actor, body, action)

    def fire_timers(self, session: Session, contract_id: int, actor: str = "timer") -> Event | None:
        """Fire the contract's due timers; None if nothing was due (no event written)."""
        contract = self._lock_contract(session, contract_id)
        now = self.clock.now()
        loader = _DbLoader(self, session, contract)
        due = loader.due(now)
        if not due:
            contract.next_due_at = min(
                (r.next_due_at for r in loader.rows.values() if r.next_due_at), default=None
            )
            return None
        body: dict[str, Any] = {"instances": due}

        def action(state: ContractState, _loader: _DbLoader, _at: datetime) -> None:
            state.fire_timers(due)

        return self._run_command(session, contract, "timers_fired", actor, body, action)

    def record_side_effect(
        self,
        session: Session,
        idempotency_key: str,
        ok: bool,
        result: dict[str, Any] | None = None,
        actor: str = "worker",
    ) -> Event | None:
        """Store a side effect's result; deliver ``payload.reply`` as a message if it succeeded."""
        row = session.scalar(select(Outbox).where(Outbox.idempotency_key == idempotency_key))
        if row is None:
            raise NotFound(f"side effect {idempotency_key} not found")
        if row.contract_id is None:
            raise InvalidInput(f"side effect {idempotency_key} has no contract")
        contract = self._lock_contract(session, row.contract_id)
        session.refresh(row)
        if row.status in ("completed", "failed"):
            return None
        at = self.clock.now()
        row.status = "completed" if ok else "failed"
        row.result = result or {}
        row.completed_at = at
        row.attempts += 1
        reply = row.payload.get("reply") if ok else row.payload.get("reply_failed")
        body = {"key": idempotency_key, "ok": ok, "result": result or {}, "reply": reply}
        if not reply:
            return self._record(session, contract, "side_effect_recorded", actor, at, body, None)

        target = row.payload.get("reply_to") or None

        def action(state: ContractState, _loader: _DbLoader, _at: datetime) -> None:
            body["instance"] = state.message(str(reply), result or {}, target)

        return self._run_command(session, contract, "side_effect_recorded", actor, body, action)


_EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


class _NoLoader:
    def load(self, key: str) -> LiveInstance | None:
        return None

    def waiting_for(self, message: str) -> list[str]:
        return []


def _user_task_info(processes: dict[str, Any], bpmn_id: str) -> dict[str, Any]:
    for proc in processes.values():
        info = proc["user_tasks"].get(bpmn_id)
        if info is not None:
            return dict(info)
    return {}


def resolve_parameters(parameters: dict[str, Any], at: datetime) -> dict[str, Any]:
    """Pick each parameter's value in force on ``at`` (``parameters.json`` of the programme).

    Format: ``{"name": [{"value": 200, "valid_from": "2019-06-01", "valid_to": null,
    "legal_basis": "D2019-542 art.4"}, ...]}``.
    """
    day = at.date().isoformat()
    resolved: dict[str, Any] = {}
    for name, versions in parameters.get("parameters", {}).items():
        for version in versions:
            start = version.get("valid_from") or "0000-01-01"
            end = version.get("valid_to") or "9999-12-31"
            if start <= day <= end:
                resolved[name] = version["value"]
                break
    return resolved
