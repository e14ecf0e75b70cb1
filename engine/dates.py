"""Dates and months a request may name: the years forms accept (``forms.registry``), so a query
for ``9999-12`` is refused with the field named instead of overflowing what is computed from it
(the month after, the day after)."""

from __future__ import annotations

from datetime import date

from engine.errors import InvalidInput
from forms.registry import DATE_OUT_OF_RANGE, EARLIEST, LATEST, NOT_A_DATE

__all__ = ["EARLIEST", "LATEST", "check_date", "parse_date", "parse_month"]

#: the messages a refused month or date carries (Arabic and French in api/locales)
NOT_A_MONTH = "not a month between 1900-01 and 2100-12 (YYYY-MM)"


def check_date(value: date, field: str) -> date:
    """``value`` if it lies between ``EARLIEST`` and ``LATEST``; InvalidInput naming
    ``field`` otherwise."""
    if not EARLIEST <= value <= LATEST:
        raise InvalidInput(DATE_OUT_OF_RANGE, fields={field: DATE_OUT_OF_RANGE})
    return value


def parse_date(value: str | None, field: str) -> date | None:
    """A ``YYYY-MM-DD`` query value (None when absent or empty), checked by ``check_date``."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise InvalidInput(NOT_A_DATE, fields={field: NOT_A_DATE})
    return check_date(day, field)


def parse_month(value: str, field: str = "month") -> tuple[date, date]:
    """The first and last days of the month ``YYYY-MM``, between 1900-01 and 2100-12."""
    try:
        first = date.fromisoformat(f"{value}-01") if len(value) == 7 else None
    except ValueError:
        first = None
    if first is None or not EARLIEST <= first <= LATEST:
        raise InvalidInput(NOT_A_MONTH, fields={field: NOT_A_MONTH})
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, date.fromordinal(following.toordinal() - 1)
