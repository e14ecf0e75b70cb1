"""The outbox's extension point: what a side-effect handler receives, returns and raises.

The engine never knows what a side effect does: a plug-in registers a handler for the kinds it
owns into the engine's :class:`engine.plugins.Plugins` (``signing`` registers
``signing.apply``, the payments adapter ``payment_order``, delivery ``notification.send``), and
the outbox runner (:mod:`engine.outbox.runner`) calls it after commit with the engine that runs
it. A handler must be idempotent on ``item.idempotency_key`` (the runner delivers at least
once) and must not touch the tables the engine owns: its result comes back to the contract as a
command. An adapter that owns its own tables (the payments adapter's ``payment_order``) reaches
the database through the engine it is handed.

Some effects have a late outcome (a bank transfer is known only when the bank's result file is
reconciled): such a handler returns ``HandlerResult(awaiting=True)``; the outbox row then waits
in status ``awaiting`` until the outcome is recorded with ``Aqd.record_side_effect``.

**Batch handlers** (optional, per kind): when the runner claims many rows of one kind at once
(``runner.run_once``; the Celery task ``aqd.outbox.execute_many``), a kind whose handler has a
batch form (``Plugins.register_batch_handler``) runs them together: the runner opens **one
transaction**, calls ``batch(aqd, session, items)``, which writes the adapter's own tables for
all of them in that session (never committing it) and returns a :class:`BatchOutcome` naming the
items it handed over (``awaiting``, with each item's result); the runner marks those outbox rows
``awaiting`` in the same transaction and commits, so the effects and the marks commit together
or not at all. Every item the batch did not take (``awaiting`` has no entry for it: the cases
the batch leaves to the per-item handler, such as a rejection) is then run through the per-item
handler, one by one. If the batch raises, its transaction rolls back and every item goes through
the per-item handler: a batch is only a faster path, never a different outcome. A batch handler
is the batch form of one per-item handler: replacing the kind's per-item handler turns the batch
form off (``Plugins.batch_handler_for`` returns None).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.commands.aqd import Aqd


@dataclass(frozen=True)
class OutboxItem:
    """One side effect as its handler sees it."""

    id: int
    contract_id: int | None
    kind: str
    idempotency_key: str
    payload: dict[str, Any]
    attempts: int


@dataclass
class HandlerResult:
    """What a handler did; ``result`` is stored and delivered with the reply message.

    ``awaiting``: the effect was handed over and its outcome arrives later (recorded by another
    command, e.g. the payments reconciliation); no reply is delivered now."""

    result: dict[str, Any] = field(default_factory=dict)
    awaiting: bool = False


class SideEffectError(Exception):
    """A handler failed. ``retryable`` failures are retried with backoff; others are final."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass
class BatchOutcome:
    """What a batch handler did: ``awaiting`` maps the outbox id of each item it handed over in
    the runner's transaction to its result (stored on the row, as ``HandlerResult.result`` with
    ``awaiting=True``). Items without an entry go to the per-item handler after the commit."""

    awaiting: dict[int, dict[str, Any]] = field(default_factory=dict)


class Handler(Protocol):
    """Runs one claimed side effect with the engine that claimed it (no transaction open)."""

    def __call__(self, aqd: Aqd, item: OutboxItem, /) -> HandlerResult: ...


class BatchHandler(Protocol):
    """Runs claimed side effects of one kind in the runner's transaction (``session``)."""

    def __call__(self, aqd: Aqd, session: Session, items: list[OutboxItem], /) -> BatchOutcome: ...
