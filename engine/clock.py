"""The only place the engine reads wall-clock time (DESIGN.md invariant 3)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Real UTC time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock tests and demos move by hand; thread-safe."""

    def __init__(self, start: datetime | str = "2025-01-06T08:00:00+00:00") -> None:
        if isinstance(start, str):
            start = datetime.fromisoformat(start)
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        with self._lock:
            self._now += delta if delta is not None else timedelta(**kwargs)
            return self._now


def clock_from_setting(value: str) -> Clock:
    """``system`` for real time, or an ISO timestamp to start a frozen clock there."""
    if value in ("", "system"):
        return SystemClock()
    return FrozenClock(value)
