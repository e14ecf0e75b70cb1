"""The command kernel: what every command shares (DESIGN.md invariants 1, 3, 4, 7 and 8).

A command locks its contract, runs its workflows until they wait, and writes in the caller's
transaction the new state (``revision + 1``), the task projections (inbox), the step timings,
one hash-chained event and its outbox rows. Services never commit; the boundary (CLI, worker
wrapper, API dependency) does. The commands themselves are :class:`engine.commands.aqd.Aqd`'s
methods, built on this kernel.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from engine.clock import Clock, SystemClock
from engine.config import Settings, get_settings
from engine.db import get_engine
from engine.errors import NotFound, StaleRevision
from engine.kernel.contract_state import ContractState, chain_hash
from engine.kernel.store import Locked, NewInstance, Store, WritePlan
from engine.kernel.versions import version_in_force
from engine.logs import get as get_logger
from engine.logs import timed
from engine.models import (
    ProcessDefinition,
)
from engine.notifications import notify as notifications
from engine.plugins import Plugins
from engine.runtime import context
from engine.runtime.sandbox import Sandbox
from engine.runtime.serializer import SERIALIZER_VERSION
from engine.runtime.workflow import Runner, Specs

if TYPE_CHECKING:
    pass

from engine.kernel.cache import WorkflowCache
from engine.kernel.loader import Action, Loader, NoLoader, RunningRow
from engine.kernel.planning import (
    EMPTY_HASH,
    GENESIS,
    MAIN,
    Recorded,
    not_before,
    ready_task_row,
)

_log = get_logger("commands")


class Kernel:
    """The engine's kernel: definitions, caches, and the command skeleton (one per process;
    thread-safe)."""

    def __init__(
        self,
        database_url: str | None = None,
        clock: Clock | None = None,
        settings: Settings | None = None,
        plugins: Plugins | None = None,
    ) -> None:
        """Build engines through a composition root (``engine.bootstrap.build``,
        ``api.bootstrap.build``), which hands over the plug-ins; an engine built without
        ``plugins`` runs no side effect and validates no signature."""
        self.settings = settings or get_settings()
        self.database_url = database_url or self.settings.database_url
        self.db: Engine = get_engine(self.database_url)
        self.plugins = plugins if plugins is not None else Plugins(root="")
        self._read_db: Engine | None = None
        self.clock: Clock = clock or SystemClock()
        self.sandbox = Sandbox(
            self.settings.script_time_limit_ms / 1000,
            clock=context.now,
            memory_limit_mb=self.settings.script_memory_limit_mb,
        )
        self.runner = Runner(self.sandbox)
        self.cache = WorkflowCache(self.settings.workflow_cache_size)
        self.running_cache = WorkflowCache(self.settings.workflow_cache_size)
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

    def definition_on(self, session: Session, programme: str, day: date) -> ProcessDefinition:
        """The version of ``programme`` in force for a request made on ``day``."""
        return version_in_force(session, programme, day)

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
        loader: Loader | NoLoader | None = None,
        at: datetime | None = None,
        definition_id: int | None = None,
    ) -> Recorded:
        """Run ``action`` on the contract's workflows and write everything in one go; one log
        line (``command``) says which contract, what, by whom, how long and how it ended.

        ``definition_id`` is the version the contract runs on after the command, when the
        command moves it to another one (a migration or its rollback)."""
        with timed(_log, "command", contract=contract.number, kind=kind, actor=actor) as line:
            recorded = self._execute_command(
                store, contract, kind, actor, payload, action, plan, loader, at, definition_id
            )
            line["seq"] = recorded.seq
        return recorded

    def _execute_command(
        self,
        store: Store,
        contract: Locked,
        kind: str,
        actor: str,
        payload: dict[str, Any],
        action: Action | None,
        plan: WritePlan | None,
        loader: Loader | NoLoader | None,
        at: datetime | None,
        definition_id: int | None,
    ) -> Recorded:
        at = (at or self.clock.now()).astimezone(UTC)
        pinned = definition_id or contract.definition_id
        plan = plan or WritePlan()
        seq = contract.last_seq + 1
        revision = contract.revision + 1
        if loader is None:
            loader = Loader(self, store, contract) if action is not None else NoLoader()
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
                    row_id = inst.row_id if inst.row_id is not None else new_ids[inst.key]
                    running[inst.key] = RunningRow(
                        row_id, inst.key, inst.process_id, waiting, due, inst.revision + 1
                    )
            puts.append((self.running_cache, contract.id, revision, list(running.values())))
        return Recorded(contract.id, seq, kind, digest, revision)

    def _plan_instances(
        self,
        store: Store,
        contract: Locked,
        state: ContractState,
        loader: Loader | NoLoader,
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
                        ready_task_row(contract, refs[inst.key], task, processes, at)
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
