"""Side-effect handlers, registered by outbox kind.

The engine never knows what a side effect does: packages register a handler for the kinds they
own (``signing`` registers ``signing.apply``, the payments adapter ``payment_order``, …), and the
outbox runner calls it after commit. A handler must be idempotent on ``item.idempotency_key``
(the runner delivers at least once) and must not touch the database the engine owns: its result
comes back to the contract as a command. An adapter that owns its own tables (the payments
adapter's ``payment_order``) reaches the database through :func:`current_engine`.

Some effects have a late outcome (a bank transfer is known only when the bank's result file is
reconciled): such a handler returns ``HandlerResult(awaiting=True)``; the outbox row then waits
in status ``awaiting`` until the outcome is recorded with ``Aqd.record_side_effect``.

**Batch handlers** (optional, per kind): when the runner claims many rows of one kind at once
(``outbox.run_once``; the Celery task ``aqd.outbox.execute_many``), a kind whose handler has a
batch form registered with :func:`register_batch_handler` runs them together: the runner opens
**one transaction**, calls ``batch(session, items)`` (inside :func:`engine_context`), which
writes the adapter's own tables for all of them in that session (never committing it) and
returns a :class:`BatchOutcome` naming the items it handed over (``awaiting``, with each item's
result); the runner marks those outbox rows ``awaiting`` in the same transaction and commits, so
the effects and the marks commit together or not at all. Every item the batch did not take
(``awaiting`` has no entry for it: the cases the batch leaves to the per-item handler, such as a
rejection) is then run through the per-item handler, one by one. If the batch raises, its
transaction rolls back and every item goes through the per-item handler: a batch is only a
faster path, never a different outcome. A batch handler is the batch form of one per-item
handler (``handler=`` when registering): replacing the kind's per-item handler turns the batch
form off (:func:`batch_handler_for` returns None).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


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


Handler = Callable[[OutboxItem], HandlerResult]
BatchHandler = Callable[["Session", list[OutboxItem]], BatchOutcome]

_handlers: dict[str, Handler] = {}
_batch_handlers: dict[str, tuple[BatchHandler, Handler]] = {}
_lock = threading.Lock()


def register_handler(kind: str, handler: Handler) -> None:
    with _lock:
        _handlers[kind] = handler


def unregister_handler(kind: str) -> None:
    with _lock:
        _handlers.pop(kind, None)


def handler_for(kind: str) -> Handler | None:
    return _handlers.get(kind)


def register_batch_handler(kind: str, batch: BatchHandler, *, handler: Handler) -> None:
    """Register ``batch`` as the batch form of ``handler`` (the per-item handler of ``kind``)."""
    with _lock:
        _batch_handlers[kind] = (batch, handler)


def unregister_batch_handler(kind: str) -> None:
    with _lock:
        _batch_handlers.pop(kind, None)


def batch_handler_for(kind: str) -> BatchHandler | None:
    """The batch handler of ``kind``, if one is registered for its current per-item handler."""
    entry = _batch_handlers.get(kind)
    if entry is None or _handlers.get(kind) is not entry[1]:
        return None
    return entry[0]


def handled_kinds() -> list[str]:
    with _lock:
        return sorted(_handlers)


_engine: ContextVar[Any] = ContextVar("aqd_handler_engine", default=None)


@contextmanager
def engine_context(aqd: Any) -> Iterator[None]:
    """Make ``aqd`` the engine :func:`current_engine` returns while a handler runs."""
    token = _engine.set(aqd)
    try:
        yield
    finally:
        _engine.reset(token)


def current_engine() -> Any:
    """The engine (``engine.Aqd``) running the current handler."""
    aqd = _engine.get()
    if aqd is None:
        raise RuntimeError("no engine: handlers run inside outbox.execute")
    return aqd
