"""Lead times: from a contract's request to each milestone (agreement, validation, signatures,
activation), rolled up per programme, office and month, with their percentiles.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.orm import Session, aliased

from engine.analytics.histograms import (
    _EPOCH,
    ROLLUP_MARGIN,
    _flat,
    _merge_flat,
    _merged,
    bucket_of,
    flat_percentiles,
    rollup_periods,
)
from engine.analytics.scope import Scope, _utc, percentile
from engine.models import (
    Contract,
    Office,
    PaymentOrder,
    StepTiming,
)
from engine.models.analytics import LeadTimeRollup, LeadTimeRollupState

#: The BPMN id of every programme's script task that activates a contract once all its parties
#: have signed (``contract_status = "active"``): its first step timing is when the contract
#: was signed.
ACTIVATION_STEP = "activate"


#: ``signed``: request → all parties signed and the contract activated (the first
#: ``activate`` step timing); ``first_payment``: request → the contract's first payment order
#: **paid** (``payment_order.settled_at`` of the first order the bank's result file reported
#: paid; an order only issued, batched, sent or rejected is not a payment yet, and a
#: rejected-then-reissued order counts when its reissue is paid). The request is the
#: contract's start (``contract.started_at``: the employer's request started it).
MILESTONES = ("signed", "first_payment")


@dataclass
class _Lead:
    count: int = 0
    total_s: float = 0.0
    hist: dict[int, int] = field(default_factory=dict)


@dataclass
class _LeadGroup:
    values: list[float] = field(default_factory=list)  # seconds, raw
    rolled: int = 0
    rolled_total_s: float = 0.0
    flats: list[list[int]] = field(default_factory=list)


def _milestone_rows(
    session: Session,
    milestone: str,
    scope: Scope,
    lo: datetime | None,
    hi: datetime | None,
    stream: bool = False,
) -> Any:
    """``(programme, office, reached_at, requested_at)`` of every contract that reached
    ``milestone`` for the first time in ``[lo, hi)`` (and in ``scope``'s programme and
    office); ``stream`` reads them in batches (a server-side cursor: in a transaction)."""
    # Literal constants, not parameters, so PostgreSQL matches the partial indexes.
    m: Any
    e: Any
    if milestone == "signed":
        m, e = aliased(StepTiming), aliased(StepTiming)
        at, other_at = m.started_at, e.started_at
        mine = m.bpmn_id == literal_column(f"'{ACTIVATION_STEP}'")
        theirs = e.bpmn_id == literal_column(f"'{ACTIVATION_STEP}'")
    else:
        m, e = aliased(PaymentOrder), aliased(PaymentOrder)
        at, other_at = m.settled_at, e.settled_at
        mine = m.status == literal_column("'paid'")
        theirs = e.status == literal_column("'paid'")
    # The contract's first milestone row, as a correlated subquery: PostgreSQL runs it per
    # row found (an index lookup by contract), where NOT EXISTS became a hash anti-join over
    # every milestone ever reached (0.5 s per query at a million contracts).
    first = (
        select(e.id)
        .where(e.contract_id == m.contract_id, theirs)
        .order_by(other_at, e.id)
        .limit(1)
        .scalar_subquery()
    )
    stmt = (
        select(Contract.programme, func.coalesce(Office.code, ""), at, Contract.started_at)
        .select_from(m)
        .join(Contract, Contract.id == m.contract_id)
        .outerjoin(Office, Office.id == Contract.office_id)
        .where(mine, m.id == first)
    )
    if lo is not None:
        stmt = stmt.where(at >= lo)
    if hi is not None:
        stmt = stmt.where(at < hi)
    if scope.programme:
        stmt = stmt.where(Contract.programme == scope.programme)
    if scope.office:
        stmt = stmt.where(Office.code == scope.office)
    return session.execute(stmt.execution_options(yield_per=20_000) if stream else stmt)


def milestone_hours(
    session: Session,
    milestone: str,
    scope: Scope,
    lo: datetime | None = None,
    hi: datetime | None = None,
) -> list[tuple[str, date, float]]:
    """``(office, day of the request, hours from the request)`` of every contract in
    ``scope`` that reached ``milestone`` for the first time in ``[lo, hi)``: the Aqd side of
    an end-to-end baseline (a baseline row whose step is a milestone)."""
    return [
        (office, _utc(requested).date(), _lead_seconds(reached, requested) / 3600)
        for _programme, office, reached, requested in _milestone_rows(
            session, milestone, scope, lo, hi
        )
    ]


def _step_order(step: str) -> tuple[int, str]:
    """End-to-end milestones first (in ``MILESTONES`` order), then the steps by name."""
    return (MILESTONES.index(step), "") if step in MILESTONES else (len(MILESTONES), step)


def _lead_seconds(reached: datetime, requested: datetime) -> float:
    return max(0.0, (_utc(reached) - _utc(requested)).total_seconds())


def _scope_window(scope: Scope) -> tuple[datetime | None, datetime | None]:
    """``[since 00:00, the day after until 00:00)`` in UTC."""
    lo = datetime.combine(scope.since, datetime.min.time(), UTC) if scope.since else None
    end = scope.until + timedelta(days=1) if scope.until else None
    return lo, datetime.combine(end, datetime.min.time(), UTC) if end else None


def refresh_lead_times(session: Session, now: datetime) -> dict[str, Any]:
    """Add the milestones reached since the last refresh (up to ``now - ROLLUP_MARGIN``) to
    the lead-time rollup; one refresh at a time (the state row is locked), the caller commits."""
    state = session.get(LeadTimeRollupState, 1, with_for_update=True)
    if state is None:
        state = LeadTimeRollupState(id=1, rolled_up_to=_EPOCH, refreshed_at=now)
        session.add(state)
        session.flush()
    start, upto = state.rolled_up_to, now - ROLLUP_MARGIN
    if upto <= start:
        return {"contracts": 0, "rows": 0, "rolled_up_to": start.isoformat()}
    rolls: dict[tuple[str, str, str, str], _Lead] = {}
    reached_count = 0
    for milestone in MILESTONES:
        for programme, office, reached, requested in _milestone_rows(
            session, milestone, Scope(), start, upto, stream=True
        ):
            reached_count += 1
            seconds = _lead_seconds(reached, requested)
            b = bucket_of(seconds)
            for period in (_utc(reached).strftime("%Y-%m"), "all"):
                key = (period, programme, office, milestone)
                roll = rolls.get(key)
                if roll is None:
                    roll = rolls[key] = _Lead()
                roll.count += 1
                roll.total_s += seconds
                roll.hist[b] = roll.hist.get(b, 0) + 1
    existing: dict[tuple[str, str, str, str], LeadTimeRollup] = {}
    touched = sorted({k[0] for k in rolls})
    for i in range(0, len(touched), 500):
        for row in session.scalars(
            select(LeadTimeRollup).where(LeadTimeRollup.period.in_(touched[i : i + 500]))
        ):
            existing[(row.period, row.programme, row.office_code, row.milestone)] = row
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for key, roll in rolls.items():
        old = existing.get(key)
        if old is None:
            period, programme, office, milestone = key
            inserts.append(
                {
                    "period": period,
                    "programme": programme,
                    "office_code": office,
                    "milestone": milestone,
                    "count": roll.count,
                    "total_s": roll.total_s,
                    "hist": _flat(roll.hist),
                }
            )
        else:
            _merge_flat(roll.hist, old.hist)
            updates.append(
                {
                    "id": old.id,
                    "count": old.count + roll.count,
                    "total_s": old.total_s + roll.total_s,
                    "hist": _flat(roll.hist),
                }
            )
    session.expunge_all()
    for i in range(0, len(inserts), 2000):
        session.execute(insert(LeadTimeRollup), inserts[i : i + 2000])
    for i in range(0, len(updates), 2000):
        session.execute(update(LeadTimeRollup), updates[i : i + 2000])
    session.execute(
        update(LeadTimeRollupState)
        .where(LeadTimeRollupState.id == 1)
        .values(rolled_up_to=upto, refreshed_at=now)
    )
    return {"contracts": reached_count, "rows": len(rolls), "rolled_up_to": upto.isoformat()}


def lead_time_report(
    session: Session,
    scope: Scope,
    *,
    exact: bool = False,
    by_month: bool = False,
    by_office: bool = True,
) -> list[dict[str, Any]]:
    """Lead times per programme (and office, and month the milestone was reached, as asked):
    count, median, 90th percentile and mean days from request to ``signed`` and to
    ``first_payment`` (``MILESTONES``), counting the contracts that reached the milestone in
    ``scope``'s period.

    Like ``step_report``: all time or whole months read the rollup plus the milestones
    reached since its last refresh (counts and means exact, percentiles within 2 %); other
    periods, or ``exact=True``, read every contract's milestones."""
    groups: dict[tuple[str, str, str, str], _LeadGroup] = {}

    def group(programme: str, office: str, milestone: str, period: str) -> _LeadGroup:
        key = (programme, office if by_office else "", period if by_month else "", milestone)
        found = groups.get(key)
        if found is None:
            found = groups[key] = _LeadGroup()
        return found

    def add_raw(lo: datetime | None, hi: datetime | None) -> None:
        for milestone in MILESTONES:
            for programme, office, reached, requested in _milestone_rows(
                session, milestone, scope, lo, hi
            ):
                month = _utc(reached).strftime("%Y-%m")
                group(programme, office, milestone, month).values.append(
                    _lead_seconds(reached, requested)
                )

    periods = None if exact else rollup_periods(scope)
    state = session.get(LeadTimeRollupState, 1) if periods is not None else None
    if periods is None or state is None:
        add_raw(*_scope_window(scope))
    else:
        stmt = select(
            LeadTimeRollup.programme,
            LeadTimeRollup.office_code,
            LeadTimeRollup.milestone,
            LeadTimeRollup.period,
            LeadTimeRollup.count,
            LeadTimeRollup.total_s,
            LeadTimeRollup.hist,
        )
        if by_month and periods == ["all"]:
            stmt = stmt.where(LeadTimeRollup.period != "all")
        else:
            stmt = stmt.where(LeadTimeRollup.period.in_(periods))
        if scope.programme:
            stmt = stmt.where(LeadTimeRollup.programme == scope.programme)
        if scope.office:
            stmt = stmt.where(LeadTimeRollup.office_code == scope.office)
        for programme, office, milestone, period, count, total_s, hist in session.execute(stmt):
            g = group(programme, office, milestone, period)
            g.rolled += count
            g.rolled_total_s += total_s
            g.flats.append(hist)
        lo, hi = _scope_window(scope)
        add_raw(max(lo, state.rolled_up_to) if lo else state.rolled_up_to, hi)
    rows = []
    for (programme, office, period, milestone), g in groups.items():
        if not g.flats:
            count = len(g.values)
            median, p90 = percentile(g.values, 0.5), percentile(g.values, 0.9)
            total = sum(g.values)
        else:
            count = g.rolled + len(g.values)
            flat = _merged(g.flats, [v / 3600 for v in g.values])
            median, p90 = flat_percentiles(flat, (0.5, 0.9))
            total = g.rolled_total_s + sum(g.values)
        if not count:
            continue
        rows.append(
            {
                "programme": programme,
                "office": office if by_office else None,
                "period": period if by_month else None,
                "milestone": milestone,
                "count": count,
                "median_days": round(median / 86400, 2),
                "p90_days": round(p90 / 86400, 2),
                "mean_days": round(total / count / 86400, 2),
            }
        )
    order = {m: i for i, m in enumerate(MILESTONES)}
    rows.sort(
        key=lambda r: (
            str(r["programme"]),
            str(r["office"] or ""),
            str(r["period"] or ""),
            order[str(r["milestone"])],
        )
    )
    return rows


def lead_time_table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The report's rows side by side: one line per programme, office and period with its
    ``signed`` and ``first_payment`` figures (None where no contract reached one)."""
    lines: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in rows:
        key = (r["programme"], r["office"] or "", r["period"] or "")
        line = lines.setdefault(
            key,
            {
                "programme": r["programme"],
                "office": r["office"],
                "period": r["period"],
                **dict.fromkeys(MILESTONES),
            },
        )
        line[r["milestone"]] = r
    return list(lines.values())


def lead_times_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(
        out,
        fieldnames=[
            "programme",
            "office",
            "period",
            "milestone",
            "count",
            "median_days",
            "p90_days",
            "mean_days",
        ],
    )
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
