# size: one replay: reading histories, following the definition versions a history moved
# through, re-running it and checking documents and anchors share their row types and helpers.
"""Replay: re-execute a contract's events against its pinned definition and check every hash.

Invariants 3 and 4: every input is in the event log (data, messages, timer firings, side-effect
results and the clock value), task ids derive from the contract and event sequence, so the
re-executed workflows must reproduce each event's state hash, the hash chain, and the stored
state of every instance. The first divergence is reported with its event sequence number.

Replay works on a plain-data *history* (events, pinned specs, final state hashes), so the same
code checks a contract in the database, a golden history committed with the tests, or an
exported audit package.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.audit.anchors import anchored_heads, check_contract
from engine.commands.aqd import Aqd
from engine.errors import EngineError, IntegrityError, NotFound
from engine.kernel.contract_state import ContractState, LiveInstance, chain_hash
from engine.kernel.planning import GENESIS, MAIN
from engine.kernel.signature_events import SIGNATURE_EVENT_KINDS
from engine.models import Contract, Document, Event, ProcessDefinition, ProcessInstance
from engine.runtime import context
from engine.runtime.sandbox import Sandbox
from engine.runtime.serializer import SERIALIZER_VERSION, dump, state_hash
from engine.runtime.workflow import Runner, Specs

HISTORY_FORMAT = "aqd-history/1"


#: Events that move a contract to another definition version (engine/commands/version_migration.py).
VERSION_EVENTS = ("contract_migrated", "contract_migration_rolled_back")


@dataclass
class ReplayReport:
    contract_id: int
    number: str
    events: int = 0
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    first_divergent_seq: int | None = None
    #: Stored documents whose signatures were validated (not only their hashes).
    signatures_validated: int = 0
    #: The latest anchored head the history still reaches: ``seq``, ``anchor``, ``anchored_at``.
    anchored: dict[str, Any] | None = None

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
            "signatures_validated": self.signatures_validated,
            "anchored": self.anchored,
        }


class _ReplayState(ContractState):
    """``ContractState`` that can recompute its hashes with ``dump``: ``finish`` hashes
    ``fast_dump`` bytes (the same bytes, faster) and replay calls ``canonical_finish`` before
    it reports a difference, so the fast path cannot turn a pass into a failure."""

    def canonical_finish(self) -> Any:
        self.result.changed = []
        return self.finish(dump)

    def canonical_hash(self, key: str) -> str:
        return state_hash(dump(self.instances[key].wf))


class _MemoryLoader:
    def load(self, key: str) -> LiveInstance | None:
        return None

    def waiting_for(self, message: str) -> list[str]:
        return []


def event_body(ev: Event | dict[str, Any]) -> dict[str, Any]:
    """The canonical part of an event that its chain hash covers."""
    if isinstance(ev, dict):
        return {k: ev[k] for k in ("seq", "kind", "actor", "at", "payload", "state_hash")}
    return {
        "seq": ev.seq,
        "kind": ev.kind,
        "actor": ev.actor,
        "at": _aware(ev.at).isoformat(),
        "payload": ev.payload,
        "state_hash": ev.state_hash,
    }


def history_of(
    session: Session, contract_id: int, definition: ProcessDefinition | None = None
) -> dict[str, Any]:
    """A contract's full history as plain data (what replay needs, nothing more).

    ``definition`` may be the contract's definition already loaded (``Aqd.definition`` caches
    them), so a batch does not read and parse the same specs for every contract."""
    contract = session.get(Contract, contract_id)
    if contract is None:
        raise NotFound(f"contract {contract_id} not found")
    if definition is None or definition.id != contract.definition_id:
        definition = session.get(ProcessDefinition, contract.definition_id)
    if definition is None:
        raise IntegrityError(f"the definition of contract {contract.number} is missing")
    events = list(
        session.execute(
            select(*_EVENT_COLUMNS).where(Event.contract_id == contract_id).order_by(Event.seq)
        )
    )
    instances = list(
        session.execute(
            select(*_INSTANCE_COLUMNS).where(ProcessInstance.contract_id == contract_id)
        )
    )
    return _history(session, contract, definition, events, instances)


#: What replay reads of each event and stored instance (columns, not ORM objects: a batch
#: reads thousands of rows and needs no identity map).
_EVENT_COLUMNS = (
    Event.contract_id,
    Event.seq,
    Event.kind,
    Event.actor,
    Event.at,
    Event.payload,
    Event.state_hash,
    Event.prev_hash,
    Event.hash,
)


_INSTANCE_COLUMNS = (
    ProcessInstance.contract_id,
    ProcessInstance.key,
    ProcessInstance.state,
    ProcessInstance.state_hash,
)


def _definition_dict(d: ProcessDefinition) -> dict[str, Any]:
    return {
        "programme": d.programme,
        "version": d.version,
        "content_hash": d.content_hash,
        "main_process": d.main_process,
        "meta": d.meta,
        "specs": d.specs,
    }


def _history(
    session: Session,
    contract: Any,
    definition: ProcessDefinition,
    events: list[Any],
    instances: list[Any],
) -> dict[str, Any]:
    history: dict[str, Any] = {
        "format": HISTORY_FORMAT,
        "contract": {
            "id": contract.id,
            "number": contract.number,
            "chain_head": contract.chain_head,
        },
        "definition": _definition_dict(definition),
        "events": [{**event_body(e), "prev_hash": e.prev_hash, "hash": e.hash} for e in events],
        "instances": {
            i.key: {"state_hash": i.state_hash, "bytes_hash": state_hash(bytes(i.state))}
            for i in instances
        },
    }
    earlier = _earlier_definitions(session, definition, events)
    if earlier:
        history["definitions"] = earlier
    return history


def load_histories(
    aqd: Aqd, session: Session, contract_ids: list[int]
) -> dict[int, tuple[int, dict[str, Any]]]:
    """The histories of many contracts in three queries (contracts, their events, their
    stored instances), with each definition from the engine's cache; a missing contract is
    absent from the result. Each history comes with its definition's id (for the engine's
    cached specs); it is the same plain data as ``history_of``, so the same checks."""
    if not contract_ids:
        return {}
    ids = sorted(set(contract_ids))
    contracts = session.execute(
        select(Contract.id, Contract.number, Contract.chain_head, Contract.definition_id).where(
            Contract.id.in_(ids)
        )
    ).all()
    events: dict[int, list[Any]] = {c.id: [] for c in contracts}
    for row in session.execute(
        select(*_EVENT_COLUMNS)
        .where(Event.contract_id.in_(ids))
        .order_by(Event.contract_id, Event.seq)
    ):
        events[row.contract_id].append(row)
    instances: dict[int, list[Any]] = {c.id: [] for c in contracts}
    for row in session.execute(
        select(*_INSTANCE_COLUMNS).where(ProcessInstance.contract_id.in_(ids))
    ):
        instances[row.contract_id].append(row)
    return {
        c.id: (
            c.definition_id,
            _history(
                session,
                c,
                aqd.definition(session, c.definition_id),
                events[c.id],
                instances[c.id],
            ),
        )
        for c in contracts
    }


def _earlier_definitions(
    session: Session, current: ProcessDefinition, events: list[Any]
) -> dict[str, Any]:
    """The other versions a migrated contract ran on, by content hash (replay needs them)."""
    hashes: set[str] = set()
    for ev in events:
        if ev.kind in VERSION_EVENTS:
            hashes.update(str(ev.payload[side]["content_hash"]) for side in ("from", "to"))
    hashes.discard(current.content_hash)
    if not hashes:
        return {}
    found = session.scalars(
        select(ProcessDefinition).where(
            ProcessDefinition.programme == current.programme,
            ProcessDefinition.content_hash.in_(sorted(hashes)),
        )
    )
    return {d.content_hash: _definition_dict(d) for d in sorted(found, key=lambda d: d.version)}


_SPECS: dict[str, Specs] = {}


def _restored_specs(spec_dicts: dict[str, Any]) -> Specs:
    """Restored specs, shared by every replay in the process and keyed by the digest of their
    own bytes (not by a name a history could reuse for other content)."""
    digest = hashlib.sha256(orjson.dumps(spec_dicts)).hexdigest()
    found = _SPECS.get(digest)
    if found is None:
        if len(_SPECS) > 64:
            _SPECS.clear()
        found = _SPECS[digest] = Specs(spec_dicts)
    return found


class _Versions:
    """The definition a replay runs on, which a migration (or its rollback) switches."""

    def __init__(
        self, history: dict[str, Any], specs_of: Callable[[str], Specs] | None = None
    ) -> None:
        pinned = history["definition"]
        self.pinned_hash = str(pinned["content_hash"])
        self.specs_of = specs_of
        self.by_hash: dict[str, dict[str, Any]] = {
            **history.get("definitions", {}),
            self.pinned_hash: pinned,
        }
        first = next((e for e in history["events"] if e["kind"] in VERSION_EVENTS), None)
        self.current = self.by_hash[first["payload"]["from"]["content_hash"]] if first else pinned
        self._specs: dict[tuple[str, str], Specs] = {}
        #: Before each migration event, the states of the instances it moved.
        self.snapshots: dict[int, dict[str, bytes]] = {}

    def spec(self, process_id: str) -> Specs:
        content_hash = str(self.current["content_hash"])
        if self.specs_of is not None and content_hash == self.pinned_hash:
            return self.specs_of(process_id)
        key = (content_hash, process_id)
        if key not in self._specs:
            self._specs[key] = _restored_specs(self.current["specs"][process_id])
        return self._specs[key]

    def switch(self, state: ContractState, content_hash: str) -> None:
        self.current = self.by_hash[content_hash]
        state.switch(self.spec, self.current["meta"])

    def apply(self, state: ContractState, seq: int, kind: str, p: dict[str, Any]) -> None:
        if kind == "contract_migrated":
            keys = sorted(p["instances"])
            self.snapshots[seq] = {k: dump(state.get(k).wf) for k in keys}
            old = {k: self.spec(state.get(k).process_id) for k in keys}
            self.switch(state, str(p["to"]["content_hash"]))
            for key in keys:
                state.migrate(key, old[key], self.spec(state.get(key).process_id))
        else:
            saved = self.snapshots[int(p["migration_seq"])]
            self.switch(state, str(p["to"]["content_hash"]))
            for key in p["instances"]:
                inst = state.get(key)
                state.restore(key, saved[key], SERIALIZER_VERSION, self.spec(inst.process_id))


def replay_history(
    history: dict[str, Any],
    runner: Runner | None = None,
    specs_of: Callable[[str], Specs] | None = None,
) -> ReplayReport:
    """Check the chain, re-execute every event and compare every state hash.

    ``specs_of`` may supply the definition's restored specs (the engine caches them per
    definition); by default they are restored from the history itself."""
    contract = history["contract"]
    events: list[dict[str, Any]] = history["events"]
    report = ReplayReport(contract_id=int(contract["id"]), number=str(contract["number"]))
    report.events = len(events)
    _check_chain(contract.get("chain_head", ""), events, report)

    runner = runner or Runner(Sandbox())
    try:
        versions = _Versions(history, specs_of)
    except KeyError as exc:
        report.fail(None, f"history lacks the definition {exc.args[0]} a migration names")
        return report
    state = _ReplayState(
        number=report.number,
        specs=versions.spec,
        meta=versions.current["meta"],
        runner=runner,
        loader=_MemoryLoader(),
        instance_count=0,
    )
    for ev in events:
        state.begin()
        seq = int(ev["seq"])
        try:
            at = _aware(datetime.fromisoformat(ev["at"]))
            with context.command_context(at, f"{report.number}:{seq}"):
                if ev["kind"] in VERSION_EVENTS:
                    versions.apply(state, seq, ev["kind"], ev["payload"])
                else:
                    _apply(state, versions.current["main_process"], ev["kind"], ev["payload"])
                result = state.finish()
                if result.state_hash != ev["state_hash"]:
                    result = state.canonical_finish()
        except EngineError as exc:
            report.fail(seq, f"event {seq} ({ev['kind']}) cannot be re-executed: {exc}")
            return report
        except (KeyError, TypeError, ValueError) as exc:
            report.fail(seq, f"event {seq} ({ev['kind']}) is malformed: {exc}")
            return report
        if result.state_hash != ev["state_hash"]:
            report.fail(seq, f"event {seq} ({ev['kind']}): state hash differs on replay")
            return report

    stored: dict[str, dict[str, str]] = history["instances"]
    for key, hashes in sorted(stored.items()):
        if hashes["bytes_hash"] != hashes["state_hash"]:
            report.fail(None, f"stored state of instance {key} does not match its hash")
        replayed = state.instances.get(key)
        if replayed is None:
            report.fail(None, f"instance {key} is stored but replay never created it")
        elif replayed.hash != hashes["state_hash"] and (
            state.canonical_hash(key) != hashes["state_hash"]
        ):
            report.fail(None, f"stored state of instance {key} differs from the replayed one")
    for key in sorted(set(state.instances) - set(stored)):
        report.fail(None, f"replay created instance {key}, which is not stored")
    return report


def replay_contract(aqd: Aqd, session: Session, contract_id: int) -> ReplayReport:
    """Replay a contract stored in the database (``aqd replay``, the contract's **Verify**),
    with the engine's cached definition and restored specs (a definition version never
    changes), then check its stored documents, signatures included."""
    contract = session.get(Contract, contract_id)
    if contract is None:
        raise NotFound(f"contract {contract_id} not found")
    definition_id = contract.definition_id
    history = history_of(session, contract_id, aqd.definition(session, definition_id))
    report = replay_history(history, aqd.runner, lambda pid: aqd.specs(session, definition_id, pid))
    rows = document_rows(session, [contract_id], with_content=True).get(contract_id, [])
    check_documents(rows, history["events"], report, validate_with=aqd)
    check_contract(
        anchored_heads(session, [contract_id]).get(contract_id, []), history["events"], report
    )
    return report


_SHA256 = re.compile("[0-9a-f]{64}")


def hashes_in(value: Any) -> set[str]:
    """Every SHA-256 (64 hex digits) mentioned anywhere in a JSON value."""
    found: set[str] = set()
    if isinstance(value, dict):
        for item in value.values():
            found |= hashes_in(item)
    elif isinstance(value, list):
        for item in value:
            found |= hashes_in(item)
    elif isinstance(value, str) and _SHA256.fullmatch(value):
        found.add(value)
    return found


@dataclass
class DocumentRow:
    id: int
    kind: str
    sha256: str  # as stored beside the bytes
    actual: str  # of the bytes as they are now
    content: bytes | None


def document_rows(
    session: Session, contract_ids: list[int], with_content: bool
) -> dict[int, list[DocumentRow]]:
    """The stored documents of these contracts with the SHA-256 of their bytes as they are now
    (PostgreSQL hashes them itself when the bytes are not needed here). Pending uploads are
    no part of a contract (no event records them until their task completes, or ever: they
    expire) and are left out."""
    out: dict[int, list[DocumentRow]] = {}
    if not contract_ids:
        return out
    in_db = not with_content and session.get_bind().dialect.name == "postgresql"
    digest = func.encode(func.sha256(Document.content), "hex") if in_db else Document.content
    rows = session.execute(
        select(Document.contract_id, Document.id, Document.kind, Document.sha256, digest)
        .where(Document.contract_id.in_(contract_ids), Document.status == "recorded")
        .order_by(Document.contract_id, Document.id)
    ).all()
    for contract_id, doc_id, kind, sha, value in rows:
        content = None if in_db else bytes(value)
        actual = str(value) if in_db else hashlib.sha256(content or b"").hexdigest()
        keep = content if with_content else None
        out.setdefault(contract_id, []).append(DocumentRow(doc_id, kind, sha, actual, keep))
    return out


def check_documents(
    rows: list[DocumentRow],
    events: list[dict[str, Any]],
    report: ReplayReport,
    validate_with: Aqd | None = None,
) -> None:
    """Each stored document must be bytes an event recorded (its SHA-256 in the hash-chained
    log) — an altered one fails at that event — and, given the engine (``validate_with``), its
    signatures must hold (the document validators of its plug-ins)."""
    first: dict[str, int] = {}
    for ev in events:
        for sha in hashes_in(ev["payload"]):
            first.setdefault(sha, int(ev["seq"]))
    for doc in rows:
        seq = first.get(doc.sha256)
        if seq is None:
            report.fail(None, f"document {doc.id} ({doc.kind}) is recorded by no event")
        elif doc.actual != doc.sha256:
            report.fail(
                seq,
                f"document {doc.id} ({doc.kind}) was altered: its bytes no longer match the "
                f"SHA-256 recorded by event {seq}",
            )
        elif validate_with is not None and doc.content is not None:
            validator = validate_with.plugins.validator_for(doc.kind)
            if validator is None:
                continue
            problem = validator(validate_with, doc.content)
            report.signatures_validated += 1
            if problem:
                report.fail(seq, f"document {doc.id} ({doc.kind}): {problem}")


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _check_chain(chain_head: str, events: list[dict[str, Any]], report: ReplayReport) -> None:
    prev = GENESIS
    for expected_seq, ev in enumerate(events, start=1):
        if ev["seq"] != expected_seq:
            report.fail(expected_seq, f"event {expected_seq} is missing from the chain")
            return
        if ev["prev_hash"] != prev or chain_hash(prev, event_body(ev)) != ev["hash"]:
            report.fail(
                ev["seq"], f"event {ev['seq']} ({ev['kind']}) was altered: chain hash mismatch"
            )
            return
        prev = ev["hash"]
    if events and chain_head != prev:
        report.fail(len(events), "contract chain head does not match its last event")


def _apply(state: ContractState, main_process: str, kind: str, p: dict[str, Any]) -> None:
    if kind == "contract_started":
        state.start(main_process, p["data"], key=MAIN)
    elif kind == "task_completed":
        state.complete(p["instance"], p["task_guid"], p["data"])
    elif kind == "message_received":
        state.message(p["name"], p["payload"], p.get("instance"))
    elif kind == "timers_fired":
        state.fire_timers(list(p["instances"]))
    elif kind == "side_effect_recorded":
        if p.get("reply"):
            state.message(str(p["reply"]), p.get("result") or {}, p.get("instance"))
    elif kind in SIGNATURE_EVENT_KINDS:
        return
    elif kind in (
        "task_claimed",
        "task_released",
        "task_reassigned",
        "incident_retried",
        "incident_skipped",
    ):
        return
    else:
        raise NotFound(f"unknown event kind {kind}")


def _snapshot(state: ContractState, runner: Runner) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key, live in sorted(state.instances.items()):
        seen = runner.inspect(live.wf)
        out[key] = {
            "process": live.process_id,
            "completed": seen.completed,
            "ready": [t.bpmn_id for t in seen.ready],
            "waiting_for": list(seen.waiting_messages),
            "next_due_at": seen.next_due.isoformat() if seen.next_due else None,
            "data": _plain(runner.current_data(live.wf)),
            "elements": runner.element_states(live.wf),
        }
    return out


def _plain(value: Any) -> Any:
    """Workflow data as JSON-safe values (dates and decimals as strings)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    added = {k: after[k] for k in after.keys() - before.keys()}
    removed = sorted(before.keys() - after.keys())
    changed = {
        k: {"before": before[k], "after": after[k]}
        for k in after.keys() & before.keys()
        if before[k] != after[k]
    }
    return {
        "added": dict(sorted(added.items())),
        "changed": dict(sorted(changed.items())),
        "removed": removed,
    }


def state_at(history: dict[str, Any], seq: int, runner: Runner | None = None) -> dict[str, Any]:
    """The contract as it stood right after event ``seq``: every instance's data, ready steps
    and waits, and what that event changed (a data diff per instance)."""
    events: list[dict[str, Any]] = [e for e in history["events"] if int(e["seq"]) <= seq]
    if not events or int(events[-1]["seq"]) != seq:
        raise NotFound(f"event {seq} not found")
    # A private runner that records the DMN decisions of the chosen event (the shared one
    # serves other requests).
    runner = Runner(runner.sandbox if runner is not None else Sandbox(), record_decisions=True)
    decisions: list[dict[str, Any]] = runner.decisions if runner.decisions is not None else []
    versions = _Versions(history)
    number = str(history["contract"]["number"])
    state = ContractState(
        number=number,
        specs=versions.spec,
        meta=versions.current["meta"],
        runner=runner,
        loader=_MemoryLoader(),
        instance_count=0,
    )
    before: dict[str, dict[str, Any]] = {}
    for ev in events:
        if int(ev["seq"]) == seq:
            before = _snapshot(state, runner)
        decisions.clear()  # keep only the chosen (last) event's decisions
        state.begin()
        at = _aware(datetime.fromisoformat(ev["at"]))
        with context.command_context(at, f"{number}:{ev['seq']}"):
            if ev["kind"] in VERSION_EVENTS:
                versions.apply(state, int(ev["seq"]), ev["kind"], ev["payload"])
            else:
                _apply(state, versions.current["main_process"], ev["kind"], ev["payload"])
            state.finish()
    after = _snapshot(state, runner)
    changes = {
        key: _diff(before.get(key, {}).get("data", {}), inst["data"])
        for key, inst in after.items()
        if before.get(key, {}).get("data") != inst["data"]
    }
    event = events[-1]
    return {
        "seq": seq,
        "kind": event["kind"],
        "at": event["at"],
        "actor": event["actor"],
        "payload": event["payload"],
        "instances": after,
        "changes": changes,
        "decisions": list(decisions),
    }
