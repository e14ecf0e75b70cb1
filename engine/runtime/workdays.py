"""Working days for administrative deadlines ("dans un délai de 3 jours ouvrables").

A user task's ``dueInWorkingDays`` (a whole number N) makes it due at the end of the N-th
working day after it became ready, in Tunis time: Monday to Friday, public holidays excluded.
The holidays come from ``engine/data/holidays_tn.json`` (or ``AQD_HOLIDAYS_FILE``): fixed-date
holidays every year, plus dated ones (the Islamic holidays, which move and are announced each
year). A task ready on a Friday evening with 3 working days is due on Wednesday at midnight, not
on Monday; one ready on the eve of Eid waits for the holiday to pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

TUNIS = ZoneInfo("Africa/Tunis")
DEFAULT_FILE = Path(__file__).resolve().parent.parent / "data" / "holidays_tn.json"
MAX_WORKING_DAYS = 90


@dataclass(frozen=True)
class WorkingCalendar:
    weekend: frozenset[int]  # date.weekday(): Monday 0 … Sunday 6
    fixed: frozenset[tuple[int, int]]  # (month, day) every year
    dated: frozenset[date]

    @classmethod
    def from_file(cls, path: Path) -> WorkingCalendar:
        doc = json.loads(path.read_text(encoding="utf-8"))
        fixed = set()
        for key in doc.get("fixed", {}):
            month, day = (int(x) for x in key.split("-"))
            date(2024, month, day)  # a real day (2024 is a leap year)
            fixed.add((month, day))
        return cls(
            weekend=frozenset(int(d) for d in doc.get("weekend", [5, 6])),
            fixed=frozenset(fixed),
            dated=frozenset(date.fromisoformat(d) for d in doc.get("dated", {})),
        )

    def is_working_day(self, day: date) -> bool:
        return (
            day.weekday() not in self.weekend
            and (day.month, day.day) not in self.fixed
            and day not in self.dated
        )

    def due_after(self, start: datetime, working_days: int) -> datetime:
        """The end (midnight, Tunis time) of the ``working_days``-th working day after the day
        ``start`` falls on."""
        if not 1 <= working_days <= MAX_WORKING_DAYS:
            raise ValueError(f"working days must be 1 to {MAX_WORKING_DAYS}: {working_days}")
        day = start.astimezone(TUNIS).date()
        left = working_days
        while left:
            day += timedelta(days=1)
            if self.is_working_day(day):
                left -= 1
        end = datetime.combine(day + timedelta(days=1), time(), tzinfo=TUNIS)
        return end.astimezone(UTC)


@lru_cache(maxsize=4)
def calendar(path: Path | None = None) -> WorkingCalendar:
    return WorkingCalendar.from_file(path or DEFAULT_FILE)
