"""The in-memory half of a command: a contract's workflows and the rules that move them.

Both live commands and replay go through :class:`ContractState`, so replay re-executes exactly
the code that produced the history. It knows nothing about the database: a ``Loader`` supplies
stored workflows on demand (the live path loads only the instances a command touches; replay
keeps them all in memory).

Message routing inside a contract (DESIGN.md invariant 7): a message thrown by one workflow
1. starts a new instance of the programme process whose start event catches it (e.g. one short
   instance per month, so the contract's own workflow never grows), else
2. is delivered to another live instance of the contract that waits for it, else
3. leaves the engine as an outbox row (a side effect), keyed by business identity.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from engine.errors import Conflict, InvalidInput, NotFound
from engine.runtime import state_migration as _migrate
from engine.runtime.serializer import fast_dump, state_hash
from engine.runtime.workflow import Outcome, Runner, Specs, Step

MAX_ROUTED_MESSAGES = 64


@dataclass
class LiveInstance:
    key: str
    process_id: str
    wf: Any  # a SpiffWorkflow BpmnWorkflow; only engine.runtime touches its API
    row_id: int | None = None
    revision: int = 0
    changed: bool = False
    state: bytes = b""
    hash: str = ""


@dataclass
class OutboxIntent:
    kind: str
    payload: Any
    idempotency_key: str
    source: str = ""


@dataclass
class CommandResult:
    """What a command did, for persistence and for the caller."""

    steps: list[tuple[str, Step]] = field(default_factory=list)
    outbox: list[OutboxIntent] = field(default_factory=list)
    changed: list[LiveInstance] = field(default_factory=list)
    state_hash: str = ""
    started_instances: list[str] = field(default_factory=list)
    delivered: list[str] = field(default_factory=list)


class Loader(Protocol):
    def load(self, key: str) -> LiveInstance | None: ...

    def waiting_for(self, message: str) -> list[str]: ...


class ContractState:
    """A contract's workflows during one command (or during the whole replay)."""

    def __init__(
        self,
        number: str,
        specs: Callable[[str], Specs],
        meta: dict[str, Any],
        runner: Runner,
        loader: Loader,
        instance_count: int,
    ) -> None:
        self.number = number
        self.specs = specs
        self.meta = meta
        self.runner = runner
        self.loader = loader
        self.instances: dict[str, LiveInstance] = {}
        self.instance_count = instance_count
        self.result = CommandResult()
        self._outbox_index = 0

    def begin(self) -> None:
        """Start a new command on the same in-memory contract (replay)."""
        self.result = CommandResult()
        self._outbox_index = 0
        for inst in self.instances.values():
            inst.changed = False

    # -- instances ----------------------------------------------------------------------------

    def get(self, key: str) -> LiveInstance:
        inst = self.instances.get(key)
        if inst is None:
            inst = self.loader.load(key)
            if inst is None:
                raise NotFound(f"process instance {key} of contract {self.number} not found")
            self.runner.attach(inst.wf)
            self.instances[key] = inst
        return inst

    def _absorb(self, inst: LiveInstance, outcome: Outcome) -> None:
        inst.changed = True
        self.result.steps.extend((inst.key, s) for s in outcome.steps)
        for thrown in outcome.thrown:
            self._route(inst.key, thrown.name, thrown.payload)

    def start(self, process_id: str, data: dict[str, Any], key: str = "") -> LiveInstance:
        self.instance_count += 1
        key = key or f"{process_id}#{self.instance_count}"
        wf, outcome = self.runner.new(self.specs(process_id), data)
        inst = LiveInstance(key=key, process_id=process_id, wf=wf)
        self.instances[key] = inst
        self.result.started_instances.append(key)
        self._absorb(inst, outcome)
        proc = self.meta["processes"][process_id]
        if proc["start"] == "message":
            delivered = self.runner.send_message(wf, proc["start_message"], data)
            if delivered is None:
                raise InvalidInput(f"process {process_id} did not accept its start message")
            self._absorb(inst, delivered)
        return inst

    # -- commands -----------------------------------------------------------------------------

    def complete(self, key: str, task_guid: str, data: dict[str, Any]) -> LiveInstance:
        inst = self.get(key)
        self._absorb(inst, self.runner.complete(inst.wf, task_guid, data))
        return inst

    def message(self, name: str, payload: Any, key: str | None = None) -> str:
        """Deliver an incoming message to the (first) instance waiting for it."""
        for candidate in [key] if key else self._waiting(name):
            inst = self.get(candidate)
            outcome = self.runner.send_message(inst.wf, name, payload)
            if outcome is not None:
                self.result.delivered.append(candidate)
                self._absorb(inst, outcome)
                return candidate
        raise Conflict(f"contract {self.number} is not waiting for message {name!r}")

    def _waiting(self, name: str, exclude: str = "") -> list[str]:
        keys = {k for k in self.loader.waiting_for(name) if k not in self.instances}
        keys.update(
            k for k, inst in self.instances.items() if name in self.runner.waiting_messages(inst.wf)
        )
        keys.discard(exclude)
        return sorted(keys)

    def fire_timers(self, keys: list[str]) -> None:
        for key in keys:
            inst = self.get(key)
            self._absorb(inst, self.runner.fire_timers(inst.wf))

    # -- versions -----------------------------------------------------------------------------

    def switch(self, specs: Callable[[str], Specs], meta: dict[str, Any]) -> None:
        """Run on another definition version from now on (a migration or its rollback)."""
        self.specs = specs
        self.meta = meta

    def migrate(self, key: str, old: Specs, new: Specs) -> _migrate.MigrationCheck:
        """Move one running instance from ``old`` to ``new`` (its process in each version)."""
        inst = self.get(key)
        result = _migrate.apply(inst.wf, old, new)
        if not result.ok:
            raise Conflict(f"{key}: " + "; ".join(result.problems))
        inst.changed = True
        return result

    def restore(self, key: str, state: bytes, version: str, specs: Specs) -> LiveInstance:
        """Put an instance back to a state it had (a migration's rollback)."""
        inst = self.get(key)
        inst.wf = self.runner.attach(specs.restore(state, version))
        inst.changed = True
        return inst

    # -- routing ------------------------------------------------------------------------------

    def _route(self, source: str, name: str, payload: Any) -> None:
        if len(self.result.delivered) + len(self.result.started_instances) > MAX_ROUTED_MESSAGES:
            raise InvalidInput(f"message {name!r} started more than {MAX_ROUTED_MESSAGES} hops")
        data = payload if isinstance(payload, dict) else {"payload": payload}
        for pid, proc in sorted(self.meta["processes"].items()):
            if proc["start"] == "message" and proc["start_message"] == name:
                self.start(pid, {**data, "contract_number": self.number})
                return
        waiting = self._waiting(name, exclude=source)
        for key in waiting:
            inst = self.get(key)
            outcome = self.runner.send_message(inst.wf, name, payload)
            if outcome is not None:
                self.result.delivered.append(key)
                self._absorb(inst, outcome)
                return
        self._outbox_index += 1
        key = ""
        if isinstance(payload, dict):
            key = str(payload.get("idempotency_key", ""))
        if not key:
            key = f"{self.number}:{name}:{source}:{self._outbox_index}"
        self.result.outbox.append(
            OutboxIntent(kind=name, payload=payload, idempotency_key=key, source=source)
        )

    # -- finishing ----------------------------------------------------------------------------

    def finish(self, serialize: Callable[[Any], bytes] | None = None) -> CommandResult:
        """Serialize changed workflows and compute the command's resulting state hash.

        ``fast_dump`` writes exactly ``dump``'s bytes (SpiffWorkflow's own ``to_dict``),
        about twice as fast; replay double-checks with ``dump`` before it reports a
        difference."""
        serialize = serialize or fast_dump
        digest = hashlib.sha256()
        for key in sorted(self.instances):
            inst = self.instances[key]
            if not inst.changed:
                continue
            inst.state = serialize(inst.wf)
            inst.hash = state_hash(inst.state)
            digest.update(f"{key}={inst.hash};".encode())
            self.result.changed.append(inst)
        self.result.state_hash = digest.hexdigest()
        return self.result


def canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME)


def chain_hash(prev_hash: str, event: dict[str, Any]) -> str:
    """``hash = H(prev_hash, canonical event)`` (DESIGN.md invariant 4)."""
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(event)).hexdigest()
