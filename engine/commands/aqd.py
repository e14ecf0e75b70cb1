"""The engine's commands (:class:`Aqd`): start a contract, complete, claim and reassign tasks,
correlate messages, fire timers, record side effects and incidents, and migrate contracts between
definition versions. Each is one transaction in the caller's session, through the kernel's
command skeleton (:class:`engine.kernel.engine.Kernel`).
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import forms_bridge
from engine.commands import version_migration as migration
from engine.commands.version_migration import BatchResult, DryRun, RollbackResult, Selection
from engine.errors import Conflict, InvalidInput, NotFound, TaskNotReady
from engine.kernel.contract_state import ContractState
from engine.kernel.engine import Kernel
from engine.kernel.facts import start_facts
from engine.kernel.loader import Loader, NoLoader
from engine.kernel.planning import (
    MAIN,
    Recorded,
    resolve_parameters,
)
from engine.kernel.signature_events import SIGNATURE_EVENT_KINDS
from engine.kernel.store import Locked, Store, WritePlan
from engine.models import (
    Beneficiary,
    Contract,
    Employer,
    Event,
    HumanTask,
    Office,
)
from engine.notifications import notify as notifications
from engine.registry import (
    check_cumulation,
    lock_beneficiary,
    refuse_registry_facts,
    registry_facts,
)


class Aqd(Kernel):
    """The engine's command and query service (one per process; thread-safe)."""

    def start_contract(
        self,
        session: Session,
        programme: str,
        data: dict[str, Any],
        actor: str = "system",
    ) -> Contract:
        if not isinstance(data, dict):
            raise InvalidInput("contract data must be a JSON object")
        at = self.clock.now()
        # the version whose rules apply to a request made today (docs/rules.md)
        definition = self.definition_on(session, programme, at.date())
        start_form = definition.meta.get("manifest", {}).get("start_form")
        if start_form:
            data = forms_bridge.validate(programme, str(start_form), data)
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
            loader=NoLoader(),
            at=at,
        )
        session.expire(contract)
        return contract

    def request_contract(
        self,
        session: Session,
        programme: str,
        beneficiary_id: int,
        employer_id: int,
        terms: dict[str, Any],
        actor: str,
    ) -> Contract:
        """Start a contract an employer asked for, on the registry's facts (engine/registry):
        ``terms`` gives the position and terms only (a registry fact in it is refused with
        422); the job seeker's facts, office and the request date (the engine's clock) are
        read here; the duplicate and cumulation rules are checked under the job seeker's row
        lock, so two concurrent requests for the same person cannot both pass."""
        refuse_registry_facts(terms)
        at = self.clock.now()
        beneficiary = lock_beneficiary(session, beneficiary_id)
        check_cumulation(session, beneficiary.id, employer_id, programme, at)
        definition = self.definition_on(session, programme, at.date())
        start_form = str(definition.meta.get("manifest", {}).get("start_form") or "")
        fields = set(forms_bridge.schema(programme, start_form).get("properties", {}))
        employer_mf = session.scalar(
            select(Employer.matricule_fiscal).where(Employer.id == employer_id)
        )
        office = session.scalar(select(Office.code).where(Office.id == beneficiary.office_id))
        data = {
            **terms,
            **registry_facts(session, beneficiary, employer_id, at, fields),
            "office": office,
            "employer_mf": employer_mf,
            "beneficiary_cin": beneficiary.cin,
        }
        return self.start_contract(session, programme, data, actor)

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
        contract_data = None
        if forms_bridge.parameter_bounds(task.task_programme, task.form_key):
            # a bound from the contract's dated parameters (the start event keeps them)
            contract_data = self._start_data(session, contract.id)
        clean = forms_bridge.validate(task.task_programme, task.form_key, data, contract_data)
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

    @staticmethod
    def _start_data(session: Session, contract_id: int) -> dict[str, Any]:
        """The contract's start data (request, facts and the parameters in force then)."""
        payload = session.scalar(
            select(Event.payload).where(Event.contract_id == contract_id, Event.seq == 1)
        )
        data = payload.get("data") if isinstance(payload, dict) else None
        return dict(data) if isinstance(data, dict) else {}

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
        loader = Loader(self, store, contract)
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

    # -- migrations of running contracts (engine/commands/version_migration.py) --------

    def migration_dry_run(self, selection: Selection) -> DryRun:
        """Per selected contract: can it move to the target version, and why not."""
        return migration.dry_run(self, selection)

    def migrate_contracts(
        self, selection: Selection, actor: str, note: str, progress: Any = None
    ) -> BatchResult:
        """Migrate the selected contracts, one audited command and transaction each."""
        return migration.migrate_batch(self, selection, actor, note, progress)

    def rollback_migration(self, batch_id: int, actor: str, reason: str) -> RollbackResult:
        """Roll back a batch's contracts that have not moved since their migration."""
        return migration.rollback_batch(self, batch_id, actor, reason)
