"""Replay: re-execute a contract's events against its pinned definition and check every hash.

Invariants 3 and 4: every input is in the event log (data, messages, timer firings, side-effect
results and the clock value), task ids derive from the contract and event sequence, so the
re-executed workflows must reproduce each event's state hash, the hash chain, and the stored
state of every instance. The first divergence is reported with its event sequence number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import EngineError, NotFound
from engine.models import Contract, Event, ProcessInstance
from engine.runtime import context
from engine.runtime.serializer import state_hash
from engine.services.commands import GENESIS, MAIN, Aqd
from engine.services.contract_state import ContractState, LiveInstance, chain_hash


@dataclass
class ReplayReport:
    contract_id: int
    number: str
    events: int = 0
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    first_divergent_seq: int | None = None

    def fail(self, seq: int | None, message: str) -> None:
        self.ok = False
        self.problems.append(message)
        if seq is not None and (self.first_divergent_seq is None or seq < self.first_divergent_seq):
            self.first_divergent_seq = seq

    def to_dict(self) -> dict[str, Any]:
        return {
            "contract_id": self.contract_id,
            "number": self.number,
            "events": self.events,
            "ok": self.ok,
            "first_divergent_seq": self.first_divergent_seq,
            "problems": self.problems,
        }


class _MemoryLoader:
    def load(self, key: str) -> LiveInstance | None:
        return None

    def waiting_for(self, message: str) -> list[str]:
        return []


def event_body(ev: Event) -> dict[str, Any]:
    return {
        "seq": ev.seq,
        "kind": ev.kind,
        "actor": ev.actor,
        "at": ev.at.isoformat(),
        "payload": ev.payload,
        "state_hash": ev.state_hash,
    }


def replay_contract(aqd: Aqd, session: Session, contract_id: int) -> ReplayReport:
    contract = session.get(Contract, contract_id)
    if contract is None:
        raise NotFound(f"contract {contract_id} not found")
    report = ReplayReport(contract_id=contract.id, number=contract.number)
    events = list(
        session.scalars(select(Event).where(Event.contract_id == contract_id).order_by(Event.seq))
    )
    report.events = len(events)
    _check_chain(contract, events, report)

    definition = aqd.definition(session, contract.definition_id)
    state = ContractState(
        number=contract.number,
        specs=lambda pid: aqd.specs(session, contract.definition_id, pid),
        meta=definition.meta,
        runner=aqd.runner,
        loader=_MemoryLoader(),
        instance_count=0,
    )
    for ev in events:
        state.begin()
        try:
            with context.command_context(_aware(ev.at), f"{contract.number}:{ev.seq}"):
                _apply(state, definition.main_process, ev)
                result = state.finish()
        except EngineError as exc:
            report.fail(ev.seq, f"event {ev.seq} ({ev.kind}) cannot be re-executed: {exc}")
            return report
        if result.state_hash != ev.state_hash:
            report.fail(ev.seq, f"event {ev.seq} ({ev.kind}): state hash differs on replay")
            return report

    rows = list(
        session.scalars(select(ProcessInstance).where(ProcessInstance.contract_id == contract_id))
    )
    for row in rows:
        if state_hash(row.state) != row.state_hash:
            report.fail(None, f"stored state of instance {row.key} does not match its hash")
        replayed = state.instances.get(row.key)
        if replayed is None:
            report.fail(None, f"instance {row.key} is stored but replay never created it")
        elif replayed.hash != row.state_hash:
            report.fail(None, f"stored state of instance {row.key} differs from the replayed one")
    stored = {row.key for row in rows}
    for key in sorted(set(state.instances) - stored):
        report.fail(None, f"replay created instance {key}, which is not stored")
    return report


def _aware(at: datetime) -> datetime:
    from datetime import UTC

    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _check_chain(contract: Contract, events: list[Event], report: ReplayReport) -> None:
    prev = GENESIS
    for expected_seq, ev in enumerate(events, start=1):
        if ev.seq != expected_seq:
            report.fail(expected_seq, f"event {expected_seq} is missing from the chain")
            return
        if ev.prev_hash != prev or chain_hash(prev, event_body(ev)) != ev.hash:
            report.fail(ev.seq, f"event {ev.seq} ({ev.kind}) was altered: chain hash mismatch")
            return
        prev = ev.hash
    if events and contract.chain_head != prev:
        report.fail(len(events), "contract chain head does not match its last event")


def _apply(state: ContractState, main_process: str, ev: Event) -> None:
    p = ev.payload
    if ev.kind == "contract_started":
        state.start(main_process, p["data"], key=MAIN)
    elif ev.kind == "task_completed":
        state.complete(p["instance"], p["task_guid"], p["data"])
    elif ev.kind == "message_received":
        state.message(p["name"], p["payload"], p.get("instance"))
    elif ev.kind == "timers_fired":
        state.fire_timers(list(p["instances"]))
    elif ev.kind == "side_effect_recorded":
        if p.get("reply"):
            state.message(str(p["reply"]), p.get("result") or {}, p.get("instance"))
    elif ev.kind in ("task_claimed", "task_released"):
        return
    else:
        raise NotFound(f"unknown event kind {ev.kind}")
