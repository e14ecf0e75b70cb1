"""Deterministic time and identifiers for SpiffWorkflow, per command (DESIGN.md invariant 3).

SpiffWorkflow 3.2 reads the wall clock in three places (``Task.__init__``/``_set_state`` through
``time.time()``, timer events through ``datetime.now``) and names tasks with ``uuid4()``. While a
command runs, those calls are redirected to the command's recorded clock value and to UUIDs
derived from the contract and event sequence, so replaying the event log rebuilds the very same
state, byte for byte, and its hash matches. Outside a command the library behaves as shipped.
"""

from __future__ import annotations

import contextlib
import logging
import time as _time
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

import SpiffWorkflow.bpmn.specs.event_definitions.timer as _spiff_timer
import SpiffWorkflow.task as _spiff_task

_NAMESPACE = uuid.UUID("6f1c1c0e-4a7b-4d8e-9a51-0a9d5e7a1c2b")


@dataclass
class CommandContext:
    """The clock value and id seed one command (or its replay) runs with."""

    at: datetime
    seed: str
    counter: int = field(default=0)

    def next_uuid(self) -> uuid.UUID:
        self.counter += 1
        return uuid.uuid5(_NAMESPACE, f"{self.seed}:{self.counter}")


_current: ContextVar[CommandContext | None] = ContextVar("aqd_command", default=None)


@contextlib.contextmanager
def command_context(at: datetime, seed: str) -> Iterator[CommandContext]:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    ctx = CommandContext(at=at, seed=seed)
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def now() -> datetime:
    ctx = _current.get()
    return ctx.at if ctx is not None else datetime.now(UTC)


def _uuid4() -> uuid.UUID:
    ctx = _current.get()
    return ctx.next_uuid() if ctx is not None else uuid.uuid4()


class _TimeModule:
    """Stands in for the ``time`` module inside ``SpiffWorkflow.task``."""

    @staticmethod
    def time() -> float:
        ctx = _current.get()
        return ctx.at.timestamp() if ctx is not None else _time.time()


class _Datetime(datetime):
    """Stands in for ``datetime`` inside SpiffWorkflow's timer module."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
        ctx = _current.get()
        if ctx is None:
            return datetime.now(tz)
        return ctx.at.astimezone(tz) if tz is not None else ctx.at.replace(tzinfo=None)


_original_log_extras = _spiff_task.Task.collect_log_extras


def _log_extras(task: _spiff_task.Task, dct: dict[str, object] | None = None) -> dict[str, object]:
    # SpiffWorkflow builds this dict for every state change, before the logger decides whether
    # to log; skip the work when its logger would drop the record anyway.
    if not _spiff_task.logger.isEnabledFor(logging.INFO):
        return {}
    extras: dict[str, object] = _original_log_extras(task, dct)
    return extras


def install() -> None:
    """Redirect SpiffWorkflow's clock and id reads (idempotent)."""
    _spiff_task.uuid4 = _uuid4
    _spiff_task.time = _TimeModule
    _spiff_timer.datetime = _Datetime
    _spiff_task.Task.collect_log_extras = _log_extras


install()
