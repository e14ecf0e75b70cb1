"""Loads a contract's process instances for one command: the hot cache first, the stored state
otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from engine.kernel.contract_state import ContractState, LiveInstance
from engine.kernel.store import Locked, Store
from engine.runtime.workflow import ReadyTask

if TYPE_CHECKING:
    pass


if TYPE_CHECKING:
    from engine.kernel.engine import Kernel


class RunningRow(NamedTuple):
    """A running process instance as the loader needs it (also cached per contract)."""

    id: int
    key: str
    process_id: str
    waiting_messages: list[str]
    next_due_at: datetime | None
    revision: int


class Loader:
    """Loads a contract's instances for one command: cache first, stored state otherwise.

    The list of running instances is cached per contract and validated by the contract's
    revision (every instance write bumps it), so a hot contract skips that query too."""

    def __init__(self, aqd: Kernel, store: Store, contract: Locked) -> None:
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


class NoLoader:
    rows: dict[str, Any] = {}
    ready_before: dict[str, dict[str, ReadyTask]] = {}

    def load(self, key: str) -> LiveInstance | None:
        return None

    def waiting_for(self, message: str) -> list[str]:
        return []


Action = Callable[[ContractState], None]
