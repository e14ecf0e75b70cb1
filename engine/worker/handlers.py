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
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


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


Handler = Callable[[OutboxItem], HandlerResult]

_handlers: dict[str, Handler] = {}
_lock = threading.Lock()


def register_handler(kind: str, handler: Handler) -> None:
    with _lock:
        _handlers[kind] = handler


def unregister_handler(kind: str) -> None:
    with _lock:
        _handlers.pop(kind, None)


def handler_for(kind: str) -> Handler | None:
    return _handlers.get(kind)


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
