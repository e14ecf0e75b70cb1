"""Who may read the analytics, and over what: a :class:`Scope` (programme, office, period) and
the rule that office staff see their own office only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import (
    select,
)
from sqlalchemy.orm import Session

from engine.access.accounts import Principal
from engine.dates import parse_month
from engine.errors import NotPermitted
from engine.models import (
    Office,
)

PARTY_LANES = frozenset({"employer", "beneficiary"})


@dataclass(frozen=True)
class Scope:
    programme: str | None = None
    office: str | None = None
    since: date | None = None
    until: date | None = None


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..1) of a non-empty sequence."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = q * (len(ordered) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _hours(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds() / 3600)


def month_scope(month: str, programme: str | None = None, office: str | None = None) -> Scope:
    """The scope of one calendar month (``YYYY-MM``, 1900-01 to 2100-12; InvalidInput naming
    ``month`` otherwise: issue 18's ``9999-12`` overflowed the month after)."""
    first, last = parse_month(month)
    return Scope(programme, office, first, last)


ANALYSTS = frozenset({"programme_manager", "auditor", "admin"})


def scope_for(principal: Principal, programme: str | None, office: str | None) -> Scope:
    """Analysts see every office; an office head sees their own office only."""
    if principal.roles & ANALYSTS:
        return Scope(programme=programme or None, office=office or None)
    if principal.has("office_head") and principal.office_id is not None:
        return Scope(programme=programme or None, office=f"#{principal.office_id}")
    raise NotPermitted("processing-time reports are for office heads and analysts")


def resolve_scope(session: Session, scope: Scope) -> Scope:
    """Turn an office id placeholder (``#<id>``) into its code."""
    if scope.office and scope.office.startswith("#"):
        code = session.scalar(select(Office.code).where(Office.id == int(scope.office[1:])))
        return Scope(scope.programme, code, scope.since, scope.until)
    return scope


def require_analyst(principal: Principal, *, write: bool = False) -> None:
    allowed = {"programme_manager", "admin"} if write else ANALYSTS
    if not principal.roles & allowed:
        raise NotPermitted("this report is for programme managers, auditors and admins")


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
