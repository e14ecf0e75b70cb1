"""Side-effect handlers, registered by outbox kind.

The engine never knows what a side effect does: packages register a handler for the kinds they
own (``signing`` registers ``signing.apply``, the payments adapter ``payment_order``, …), and the
outbox runner calls it after commit. A handler must be idempotent on ``item.idempotency_key``
(the runner delivers at least once) and must not touch the database the engine owns: its result
comes back to the contract as a command.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
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
    """What a handler did; ``result`` is stored and delivered with the reply message."""

    result: dict[str, Any] = field(default_factory=dict)


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
