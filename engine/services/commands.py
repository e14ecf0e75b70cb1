"""Commands: each one locks its contract, runs, and writes state, projections, timings, one
chained event and its outbox rows in the caller's transaction (DESIGN.md invariant 1).

Services never commit; the boundary (CLI, worker wrapper, API dependency) does. A per-process
cache keeps hot workflows deserialized, keyed by instance and validated by the contract's
``revision`` under the row lock (invariant 8); it is updated only after a successful commit.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple
from uuid import uuid4

from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from engine import forms_bridge
from engine.clock import Clock, SystemClock
from engine.config import Settings, get_settings
from engine.db import get_engine
from engine.errors import Conflict, InvalidInput, NotFound, StaleRevision, TaskNotReady
from engine.models import (
    Beneficiary,
    Contract,
    Employer,
    HumanTask,
    Office,
    ProcessDefinition,
)
from engine.runtime import context
from engine.runtime.durations import add_iso_duration
from engine.runtime.sandbox import Sandbox
from engine.runtime.serializer import SERIALIZER_VERSION
from engine.runtime.workdays import calendar
from engine.runtime.workflow import ReadyTask, Runner, Specs
from engine.services import notifications
from engine.services.contract_state import ContractState, LiveInstance, chain_hash
from engine.services.facts import start_facts
from engine.services.signatures import SIGNATURE_EVENT_KINDS
from engine.services.store import Locked, NewInstance, Store, WritePlan

if TYPE_CHECKING:
    from engine.services.migration import BatchResult, DryRun, RollbackResult, Selection

GENESIS = "0" * 64
MAIN = "main"
EMPTY_HASH = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@dataclass(frozen=True)
class Recorded:
    """The event a command appended."""

    contract_id: int
    seq: int
    kind: str
    hash: str
    revision: int


class _WorkflowCache:
    """Hot workflows per process: instance id -> (instance revision, workflow)."""

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


def not_before(payload: dict[str, Any], key: str, at: datetime) -> datetime:
    """When a thrown side effect may run: ``at``, or later if the model deferred it with
    ``"not_before": "<ISO 8601 date-time with offset>"`` in the message payload (e.g. a month's
    payment order, decided when the proof arrives, is paid at the month's end). The outbox runner
    claims a row only once ``available_at`` has passed."""
    value = payload.get("not_before")
    if value is None:
        return at
    when: datetime | None = None
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            when = None
    if when is None or when.tzinfo is None:
        raise InvalidInput(
            f"side effect {key}: not_before {value!r} is not an ISO 8601 date-time with an "
            "offset (e.g. 2025-03-31T18:00:00+01:00)",
            fields={"not_before": "ISO 8601 date-time with offset"},
        )
    return max(at, when.astimezone(UTC))


class RunningRow(NamedTuple):
    """A running process instance as the loader needs it (also cached per contract)."""

    id: int
    key: str
    process_id: str
    waiting_messages: list[str]
    next_due_at: datetime | None
    revision: int


class _Loader:
    """Loads a contract's instances for one command: cache first, stored state otherwise.

    The list of running instances is cached per contract and validated by the contract's
    revision (every instance write bumps it), so a hot contract skips that query too."""

    def __init__(self, aqd: Aqd, store: Store, contract: Locked) -> None:
        self.aqd = aqd
        self.store = store
        self.contract = contract
        cached = aqd.running_cache.take(contract.id, contract.revision)
        rows = cached if cached is not None else store.running(contract.id)
        self.rows: dict[str, Any] = {r.key: r for r in rows}
        self.ready_before: dict[str, dict[str, ReadyTask]] = {}

    def load(self, key: str) -> LiveInstance | None:
        known = self.rows.get(key)
        ref = (known.id, known.process_id, known.revision) if known is not None else None
        if ref is None:
            ref = self.store.instance_ref(self.contract.id, key)
        if ref is None:
            return None
        row_id, process_id, revision = ref
        hot = self.aqd.cache.take(row_id, revision)
        if hot is None:
            state, version = self.store.state(row_id)
            specs = self.aqd.specs(self.store.session, self.contract.definition_id, process_id)
            wf = specs.restore(state, version)
            ready = self.aqd.runner.inspect(wf).ready
        else:
            wf, ready = hot
        self.ready_before[key] = {t.task_guid: t for t in ready}
        return LiveInstance(key=key, process_id=process_id, wf=wf, row_id=row_id, revision=revision)

    def waiting_for(self, message: str) -> list[str]:
        return [k for k, r in self.rows.items() if message in (r.waiting_messages or [])]

    def due(self, now: datetime) -> list[str]:
        return sorted(k for k, r in self.rows.items() if r.next_due_at and r.next_due_at <= now)


class _NoLoader:
    rows: dict[str, Any] = {}
    ready_before: dict[str, dict[str, ReadyTask]] = {}

    def load(self, key: str) -> LiveInstance | None:
        return None

    def waiting_for(self, message: str) -> list[str]:
        return []


Action = Callable[[ContractState], None]


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
        self._read_db: Engine | None = None
        self.clock: Clock = clock or SystemClock()
        self.sandbox = Sandbox(
            self.settings.script_time_limit_ms / 1000,
            clock=context.now,
            memory_limit_mb=self.settings.script_memory_limit_mb,
        )
        self.runner = Runner(self.sandbox)
        self.cache = _WorkflowCache(self.settings.workflow_cache_size)
        self.running_cache = _WorkflowCache(self.settings.workflow_cache_size)
        self._specs: dict[tuple[int, str], Specs] = {}
        self._defs: dict[int, ProcessDefinition] = {}
        self._lock = threading.Lock()

    def session(self) -> Session:
        return Session(self.db, expire_on_commit=False)

    def read_session(self) -> Session:
        """A session for reads only. On PostgreSQL it runs in autocommit: no BEGIN/ROLLBACK
        round trips, each statement sees its own snapshot (fine for pages and reports that
        read in one statement or tolerate a moving snapshot). Never write through it."""
        if self._read_db is None:
            self._read_db = (
                self.db.execution_options(isolation_level="AUTOCOMMIT")
                if self.db.dialect.name == "postgresql"
                else self.db
            )
        return Session(self._read_db, expire_on_commit=False)

    def clear_caches(self) -> None:
        """Forget hot workflows (e.g. after the database was changed behind the engine)."""
        self.cache.clear()
        self.running_cache.clear()

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
        self, store: Store, contract_id: int, expected_revision: int | None
    ) -> Locked:
        contract = store.lock(contract_id)
        self._check_revision(contract, expected_revision)
        return contract

    @staticmethod
    def _check_revision(contract: Locked, expected_revision: int | None) -> None:
        if expected_revision is not None and contract.revision != expected_revision:
            raise StaleRevision(
                f"contract {contract.number} changed (revision {contract.revision}, "
                f"you had {expected_revision}); reload and try again",
                fields={"expected_revision": expected_revision, "revision": contract.revision},
            )

    def _execute(
        self,
        store: Store,
        contract: Locked,
        kind: str,
        actor: str,
        payload: dict[str, Any],
        action: Action | None,
        plan: WritePlan | None = None,
        loader: _Loader | _NoLoader | None = None,
        at: datetime | None = None,
        definition_id: int | None = None,
    ) -> Recorded:
        """Run ``action`` on the contract's workflows and write everything in one go.

        ``definition_id`` is the version the contract runs on after the command, when the
        command moves it to another one (a migration or its rollback)."""
        at = (at or self.clock.now()).astimezone(UTC)
        pinned = definition_id or contract.definition_id
        plan = plan or WritePlan()
        seq = contract.last_seq + 1
        revision = contract.revision + 1
        if loader is None:
            loader = _Loader(self, store, contract) if action is not None else _NoLoader()
        state: ContractState | None = None
        if action is not None:
            definition = self.definition(store.session, pinned)
            state = ContractState(
                number=contract.number,
                specs=lambda pid: self.specs(store.session, pinned, pid),
                meta=definition.meta,
                runner=self.runner,
                loader=loader,
                instance_count=contract.instance_count,
            )
            with context.command_context(at, f"{contract.number}:{seq}"):
                action(state)
                result = state.finish()
            state_hash = result.state_hash
            self._plan_instances(store, contract, state, loader, plan, at, seq, pinned)
        else:
            state_hash = EMPTY_HASH
        body = {
            "seq": seq,
            "kind": kind,
            "actor": actor,
            "at": at.isoformat(),
            "payload": payload,
            "state_hash": state_hash,
        }
        prev = contract.chain_head or GENESIS
        digest = chain_hash(prev, body)
        changed = state.result.changed if state is not None else []
        first: int | NewInstance | None = None
        if changed:
            first = changed[0].row_id or NewInstance(changed[0].key)
        plan.event = {
            "contract_id": contract.id,
            "seq": seq,
            "kind": kind,
            "actor": actor,
            "at": at,
            "instance_id": first,
            "payload": payload,
            "state_hash": state_hash,
            "prev_hash": prev,
            "hash": digest,
        }
        plan.contract.update(
            {
                "id": contract.id,
                "revision": revision,
                "last_seq": seq,
                "chain_head": digest,
                "instance_count": state.instance_count if state else contract.instance_count,
            }
        )
        if pinned != contract.definition_id:
            plan.contract["definition_id"] = pinned
        new_ids = store.write(plan)
        if plan.task_inserts:  # the employer's or beneficiary's turn: tell them (same transaction)
            notifications.tasks_ready(
                store.session,
                contract.id,
                contract.number,
                plan.task_inserts,
                at,
                self.settings.public_url,
            )
        puts = store.session.info.setdefault("aqd_cache_puts", [])
        for inst, inst_revision, ready in plan.cache_puts:
            if inst.row_id is None:
                inst.row_id = new_ids[inst.key]
            puts.append((self.cache, inst.row_id, inst_revision, (inst.wf, ready)))
        if state is not None:
            running = dict(loader.rows)
            for inst in state.result.changed:
                done, waiting, due = plan.instance_after[inst.key]
                if done:
                    running.pop(inst.key, None)
                else:
                    assert inst.row_id is not None
                    running[inst.key] = RunningRow(
                        inst.row_id, inst.key, inst.process_id, waiting, due, inst.revision + 1
                    )
            puts.append((self.running_cache, contract.id, revision, list(running.values())))
        return Recorded(contract.id, seq, kind, digest, revision)

    def _plan_instances(
        self,
        store: Store,
        contract: Locked,
        state: ContractState,
        loader: _Loader | _NoLoader,
        plan: WritePlan,
        at: datetime,
        seq: int,
        definition_id: int,
    ) -> None:
        result = state.result
        runner = self.runner
        definition = self.definition(store.session, definition_id)
        processes = definition.meta["processes"]
        changed_keys = {inst.key for inst in result.changed}
        due_dates = {
            k: r.next_due_at
            for k, r in loader.rows.items()
            if r.next_due_at is not None and k not in changed_keys
        }
        completed_task = plan.task_updates[0][0] if plan.task_updates else None
        refs: dict[str, int | NewInstance] = {}
        for key, inst in state.instances.items():
            if key not in changed_keys and inst.row_id is not None:
                ready = list(loader.ready_before.get(key, {}).values())
                plan.cache_puts.append((inst, inst.revision, ready))
        for inst in result.changed:
            wf = inst.wf
            seen = runner.inspect(wf)
            done = seen.completed
            due = seen.next_due
            if due is not None:
                due_dates[inst.key] = due
            values = {
                "state": inst.state,
                "state_hash": inst.hash,
                "serializer_version": SERIALIZER_VERSION,
                "status": "completed" if done else "running",
                "waiting_messages": seen.waiting_messages,
                "next_due_at": due,
                "ended_at": at if done else None,
            }
            if inst.row_id is None:
                refs[inst.key] = NewInstance(inst.key)
                plan.instance_inserts.append(
                    {
                        "contract_id": contract.id,
                        "process_id": inst.process_id,
                        "key": inst.key,
                        "revision": 1,
                        "started_at": at,
                        **values,
                    }
                )
            else:
                refs[inst.key] = inst.row_id
                plan.instance_updates.append({"id": inst.row_id, **values})
            plan.cache_puts.append((inst, inst.revision + 1, seen.ready))
            plan.instance_after[inst.key] = (done, seen.waiting_messages, due)
            before = loader.ready_before.get(inst.key, {})
            after = {t.task_guid: t for t in seen.ready}
            for guid, task in after.items():
                if guid not in before:
                    plan.task_inserts.append(
                        _task_row(contract, refs[inst.key], task, processes, at)
                    )
            for guid in before:
                if guid not in after and guid != completed_task:
                    plan.task_updates.append((guid, {"status": "cancelled", "completed_at": at}))
            if inst.key == MAIN:
                ran = [step.task_guid for key, step in result.steps if key == inst.key]
                data = runner.result_data(wf, ran)
                status = data.get("contract_status")
                if isinstance(status, str) and status and status != contract.status:
                    plan.contract["status"] = status[:32]
                elif done and not status:
                    plan.contract["status"] = "ended"
                outcome = data.get("outcome")
                if isinstance(outcome, str) and outcome:
                    plan.contract["outcome"] = outcome[:32]
                if done:
                    plan.contract["ended_at"] = at
        plan.contract["next_due_at"] = min(due_dates.values()) if due_dates else None
        plan.steps = [
            {
                "contract_id": contract.id,
                "instance_id": refs[key],
                "event_seq": seq,
                "task_guid": step.task_guid,
                "bpmn_id": step.bpmn_id,
                "spec_type": step.spec_type,
                "started_at": step.started_at,
                "duration_us": step.duration_us,
            }
            for key, step in result.steps
        ]
        for intent in result.outbox:
            body = (
                dict(intent.payload)
                if isinstance(intent.payload, dict)
                else {"value": intent.payload}
            )
            if body.get("reply"):
                body["reply_to"] = intent.source
            plan.outbox.append(
                {
                    "contract_id": contract.id,
                    "kind": intent.kind,
                    "payload": body,
                    "idempotency_key": intent.idempotency_key,
                    "status": "pending",
                    "attempts": 0,
                    "available_at": not_before(body, intent.idempotency_key, at),
                    "created_at": at,
                }
            )

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
            instance_count=0,
            started_at=at,
            **parties,
        )
        session.add(contract)
        session.flush()
        contract.number = f"{programme.upper()}-{at.year}-{contract.id:06d}"
        session.flush()
        start_data = {
            **data,
            "contract_number": contract.number,
            "params": resolve_parameters(definition.parameters, at),
            **start_facts(
                session,
                list(definition.meta.get("manifest", {}).get("start_facts", [])),
                programme,
                parties,
                at,
            ),
        }
        payload = {"programme": programme, "definition_id": definition.id, "data": start_data}
        locked = Locked(
            id=contract.id,
            number=contract.number,
            programme=programme,
            definition_id=definition.id,
            office_id=contract.office_id,
            revision=0,
            last_seq=0,
            chain_head="",
            instance_count=0,
            status="requested",
        )

        def action(state: ContractState) -> None:
            state.start(definition.main_process, start_data, key=MAIN)

        self._execute(
            Store(session),
            locked,
            "contract_started",
            actor,
            payload,
            action,
            loader=_NoLoader(),
            at=at,
        )
        session.expire(contract)
        return contract

    def _resolve_parties(self, session: Session, data: dict[str, Any]) -> dict[str, Any]:
        parties: dict[str, Any] = {"office_id": None, "employer_id": None, "beneficiary_id": None}
        lookups: tuple[tuple[str, Any, Any, str], ...] = (
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

    def complete_task(
        self,
        session: Session,
        task_guid: str,
        data: dict[str, Any],
        actor: str,
        expected_revision: int | None = None,
    ) -> Recorded:
        if not isinstance(data, dict):
            raise InvalidInput("task data must be a JSON object")
        store = Store(session)
        found = store.lock_task(task_guid)
        if found is None:
            raise NotFound(f"task {task_guid} not found")
        contract, task = found
        if task.task_status != "ready":
            raise TaskNotReady(f"task {task_guid} is already {task.task_status}")
        self._check_revision(contract, expected_revision)
        clean = forms_bridge.validate(task.task_programme, task.form_key, data)
        at = self.clock.now()
        plan = WritePlan()
        plan.task_updates.append(
            (
                task_guid,
                {
                    "status": "completed",
                    "completed_at": at,
                    "completed_by": actor,
                    "claimed_at": task.claimed_at or at,
                    "assignee": task.assignee or actor,
                },
            )
        )
        key = task.instance_key
        payload = {"instance": key, "task_guid": task_guid, "bpmn_id": task.bpmn_id, "data": clean}

        def action(state: ContractState) -> None:
            state.complete(key, task_guid, clean)

        return self._execute(
            store, contract, "task_completed", actor, payload, action, plan=plan, at=at
        )

    def _lock_ready_task(self, session: Session, task_guid: str) -> tuple[Store, Locked, Any]:
        """Lock the task's contract, then check the task is still ready (assignee changes)."""
        contract_id = session.scalar(
            select(HumanTask.contract_id).where(HumanTask.task_guid == task_guid)
        )
        if contract_id is None:
            raise NotFound(f"task {task_guid} not found")
        store = Store(session)
        contract = self._lock_contract(store, contract_id, None)
        task = session.execute(
            select(HumanTask.status, HumanTask.assignee).where(HumanTask.task_guid == task_guid)
        ).one()
        if task.status != "ready":
            raise TaskNotReady(f"task {task_guid} is already {task.status}")
        return store, contract, task

    def claim_task(
        self, session: Session, task_guid: str, actor: str, release: bool = False
    ) -> Recorded:
        store, contract, task = self._lock_ready_task(session, task_guid)
        at = self.clock.now()
        plan = WritePlan()
        if release:
            if task.assignee != actor:
                raise Conflict(f"task {task_guid} is not claimed by {actor}")
            plan.task_updates.append((task_guid, {"assignee": None, "claimed_at": None}))
            kind, assignee = "task_released", None
        else:
            if task.assignee and task.assignee != actor:
                raise Conflict(f"task {task_guid} is already claimed by {task.assignee}")
            plan.task_updates.append((task_guid, {"assignee": actor, "claimed_at": at}))
            kind, assignee = "task_claimed", actor
        payload = {"task_guid": task_guid, "assignee": assignee}
        return self._execute(store, contract, kind, actor, payload, None, plan=plan, at=at)

    def reassign_task(
        self, session: Session, task_guid: str, assignee: str | None, actor: str, reason: str
    ) -> Recorded:
        """An office head gives a ready task to someone else (or back to the pool)."""
        if not reason.strip():
            raise InvalidInput("a reason is required", fields={"reason": "required"})
        store, contract, task = self._lock_ready_task(session, task_guid)
        at = self.clock.now()
        plan = WritePlan()
        plan.task_updates.append(
            (task_guid, {"assignee": assignee, "claimed_at": at if assignee else None})
        )
        payload = {
            "task_guid": task_guid,
            "assignee": assignee,
            "previous": task.assignee,
            "reason": reason.strip()[:500],
        }
        recorded = self._execute(
            store, contract, "task_reassigned", actor, payload, None, plan=plan, at=at
        )
        if assignee:
            notifications.task_assigned(
                session,
                task_guid,
                assignee,
                actor,
                payload["reason"],
                recorded.seq,
                at,
                self.settings.public_url,
            )
        return recorded

    def correlate_message(
        self,
        session: Session,
        contract_id: int,
        name: str,
        payload: Any,
        actor: str = "system",
    ) -> Recorded:
        store = Store(session)
        contract = self._lock_contract(store, contract_id, None)
        body: dict[str, Any] = {"name": name, "payload": payload}

        def action(state: ContractState) -> None:
            body["instance"] = state.message(name, payload)

        return self._execute(store, contract, "message_received", actor, body, action)

    def record_event(
        self,
        session: Session,
        contract_id: int,
        kind: str,
        payload: dict[str, Any],
        actor: str,
    ) -> Recorded:
        """Append a fact that changes no workflow state (the signing ceremony's steps) to the
        contract's hash chain, in the caller's transaction."""
        if kind not in SIGNATURE_EVENT_KINDS:
            raise InvalidInput(f"event kind {kind!r} cannot be recorded directly")
        store = Store(session)
        contract = self._lock_contract(store, contract_id, None)
        return self._execute(store, contract, kind, actor, dict(payload), None)

    def fire_timers(
        self, session: Session, contract_id: int, actor: str = "timer", *, poll: bool = False
    ) -> Recorded | None:
        """Fire the contract's due timers; None if nothing was due (no event written).

        ``poll``: the caller is a timer poller: skip the contract (None) if another
        transaction holds it or its due time has moved past now, instead of waiting."""
        store = Store(session)
        now = self.clock.now()
        if poll:
            found = store.lock_due(contract_id, now)
            if found is None:
                return None
            contract = found
        else:
            contract = self._lock_contract(store, contract_id, None)
        loader = _Loader(self, store, contract)
        due = loader.due(now)
        if not due:
            return None
        body: dict[str, Any] = {"instances": due}

        def action(state: ContractState) -> None:
            state.fire_timers(due)

        return self._execute(
            store, contract, "timers_fired", actor, body, action, loader=loader, at=now
        )

    def record_side_effect(
        self,
        session: Session,
        idempotency_key: str,
        ok: bool,
        result: dict[str, Any] | None = None,
        actor: str = "worker",
    ) -> Recorded | None:
        """Store a side effect's result; deliver ``payload.reply`` as a message if it succeeded.
        Recording the same result twice is a no-op (returns None)."""
        store = Store(session)
        found = store.lock_outbox(idempotency_key)
        if found is None:
            raise NotFound(f"side effect {idempotency_key} not found")
        contract, row = found
        if row.outbox_status in ("completed", "failed"):
            return None
        at = self.clock.now()
        plan = WritePlan()
        plan.outbox_update = (
            row.outbox_id,
            {"status": "completed" if ok else "failed", "result": result or {}, "completed_at": at},
        )
        reply = row.payload.get("reply") if ok else row.payload.get("reply_failed")
        body: dict[str, Any] = {
            "key": idempotency_key,
            "ok": ok,
            "result": result or {},
            "reply": reply,
        }
        if not reply:
            return self._execute(
                store, contract, "side_effect_recorded", actor, body, None, plan=plan, at=at
            )
        target = row.payload.get("reply_to") or None

        def action(state: ContractState) -> None:
            body["instance"] = state.message(str(reply), result or {}, target)

        return self._execute(
            store, contract, "side_effect_recorded", actor, body, action, plan=plan, at=at
        )

    def resolve_incident(
        self,
        session: Session,
        idempotency_key: str,
        action: str,
        actor: str,
        reason: str,
    ) -> Recorded:
        """An incident is a side effect that failed for good (outbox status ``failed``).
        ``retry`` runs it again from scratch (its result is then recorded as usual); ``skip``
        closes it for good without running it. Either is an event of the contract, with who and
        why, in the same transaction as the outbox row's change."""
        if action not in ("retry", "skip"):
            raise InvalidInput(f"unknown incident action {action!r}", fields={"action": action})
        if not reason.strip():
            raise InvalidInput("a reason is required", fields={"reason": "required"})
        store = Store(session)
        found = store.lock_outbox(idempotency_key)
        if found is None:
            raise NotFound(f"side effect {idempotency_key} not found")
        contract, row = found
        if row.outbox_status != "failed":
            raise Conflict(f"side effect {idempotency_key} is {row.outbox_status}, not failed")
        at = self.clock.now()
        plan = WritePlan()
        if action == "retry":
            values: dict[str, Any] = {
                "status": "pending",
                "attempts": 0,
                "available_at": at,
                "completed_at": None,
            }
        else:
            values = {"status": "skipped", "completed_at": at}
        plan.outbox_update = (row.outbox_id, values)
        kind = "incident_retried" if action == "retry" else "incident_skipped"
        payload = {"key": idempotency_key, "reason": reason.strip()[:500]}
        return self._execute(store, contract, kind, actor, payload, None, plan=plan, at=at)

    # -- migrations of running contracts (engine/services/migration.py) ---------------------------

    def migration_dry_run(self, selection: Selection) -> DryRun:
        """Per selected contract: can it move to the target version, and why not."""
        from engine.services import migration

        return migration.dry_run(self, selection)

    def migrate_contracts(
        self, selection: Selection, actor: str, note: str, progress: Any = None
    ) -> BatchResult:
        """Migrate the selected contracts, one audited command and transaction each."""
        from engine.services import migration

        return migration.migrate_batch(self, selection, actor, note, progress)

    def rollback_migration(self, batch_id: int, actor: str, reason: str) -> RollbackResult:
        """Roll back a batch's contracts that have not moved since their migration."""
        from engine.services import migration

        return migration.rollback_batch(self, batch_id, actor, reason)


def _task_row(
    contract: Locked,
    instance_id: int | NewInstance,
    task: ReadyTask,
    processes: dict[str, Any],
    at: datetime,
) -> dict[str, Any]:
    info = _user_task_info(processes, task.bpmn_id)
    due_in = info.get("due_in", "")
    working_days = int(info.get("due_working_days") or 0)
    due_at = (
        calendar(get_settings().holidays_file).due_after(at, working_days)
        if working_days
        else add_iso_duration(at, due_in)
        if due_in
        else None
    )
    return {
        "contract_id": contract.id,
        "instance_id": instance_id,
        "task_guid": task.task_guid,
        "bpmn_id": task.bpmn_id,
        "name": task.name,
        "programme": contract.programme,
        "lane": info.get("lane") or task.lane,
        "candidate_group": info.get("candidate_group") or task.lane,
        "office_id": contract.office_id,
        "form_key": info.get("form_key", ""),
        "status": "ready",
        "assignee": None,
        "due_at": due_at,
        "ready_at": at,
        "claimed_at": None,
        "completed_at": None,
        "completed_by": None,
    }


def _user_task_info(processes: dict[str, Any], bpmn_id: str) -> dict[str, Any]:
    for proc in processes.values():
        info = proc["user_tasks"].get(bpmn_id)
        if info is not None:
            return dict(info)
    return {}


def resolve_parameters(parameters: dict[str, Any], at: datetime) -> dict[str, Any]:
    """Pick each parameter's value in force on ``at`` (``parameters.json`` of the programme).

    Format: ``{"parameters": {"name": [{"value": 200, "valid_from": "2019-06-01",
    "valid_to": null, "legal_basis": "D2019-542 art.4"}, ...]}}``.
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
