"""The paper process's baseline: processing times imported from the offices' registers (CSV)."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import date, datetime

from sqlalchemy import (
    delete,
    select,
)
from sqlalchemy.orm import Session

from engine.errors import InvalidInput
from engine.models import (
    BaselineDuration,
    Office,
)

BASELINE_COLUMNS = ("office", "programme", "step", "date", "hours")


MAX_BASELINE_HOURS = 24 * 366


def import_baseline(session: Session, text: str, source: str, now: datetime) -> int:
    """Load a baseline CSV (header ``office,programme,step,date,hours``); an import with the
    same source name replaces the previous one. Every bad line is reported, nothing is half
    loaded."""
    reader = csv.DictReader(io.StringIO(text))
    header = tuple(reader.fieldnames or ())
    if header[: len(BASELINE_COLUMNS)] != BASELINE_COLUMNS:
        raise InvalidInput(
            "the baseline CSV must start with the header " + ",".join(BASELINE_COLUMNS),
            fields={"(header)": ",".join(header)},
        )
    offices = set(session.scalars(select(Office.code)))
    rows: list[BaselineDuration] = []
    problems: dict[str, str] = {}
    for line, rec in enumerate(reader, start=2):
        try:
            hours = float(rec["hours"])
            day = date.fromisoformat(rec["date"])
            if not 0 <= hours <= MAX_BASELINE_HOURS:
                raise ValueError(f"hours out of range: {hours}")
            if rec["office"] not in offices:
                raise ValueError(f"unknown office {rec['office']!r}")
            if not rec["programme"] or not rec["step"]:
                raise ValueError("programme and step are required")
        except (TypeError, ValueError) as exc:
            problems[f"line {line}"] = str(exc)
            if len(problems) >= 20:
                break
            continue
        rows.append(
            BaselineDuration(
                office_code=rec["office"],
                programme=rec["programme"],
                step=rec["step"],
                day=day,
                hours=hours,
                source=source[:200],
                imported_at=now,
            )
        )
    if problems:
        raise InvalidInput(f"{len(problems)} bad line(s) in the baseline", fields=problems)
    if not rows:
        raise InvalidInput("the baseline CSV has no rows")
    session.execute(delete(BaselineDuration).where(BaselineDuration.source == source[:200]))
    session.add_all(rows)
    session.flush()
    return len(rows)


def source_name(filename: str, text: str) -> str:
    return f"{filename}#{hashlib.sha256(text.encode()).hexdigest()[:12]}"
