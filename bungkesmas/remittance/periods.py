"""Remittance periods: calendar months or quarters of the partner's local calendar.

Pure date arithmetic, no database. A period is half-open, [start, end): `start` is its
first day, `end` the first day of the next period. Its key is `2026-10` (a month) or
`2026-Q4` (a quarter) — what URLs, the API and statement numbers use."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date

_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
_QUARTER = re.compile(r"([0-9]{4})-[Qq]([1-4])")
FIRST_YEAR, LAST_YEAR = 2000, 2999


class Frequency(enum.StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"


def _months(frequency: Frequency) -> int:
    return 3 if frequency == Frequency.QUARTERLY else 1


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True, order=True)
class Period:
    start: date
    end: date
    frequency: Frequency

    @property
    def key(self) -> str:
        if self.frequency == Frequency.QUARTERLY:
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        return f"{self.start.year}-{self.start.month:02d}"

    @property
    def last_day(self) -> date:
        return date.fromordinal(self.end.toordinal() - 1)

    def previous(self) -> Period:
        return period_of(date.fromordinal(self.start.toordinal() - 1), self.frequency)

    def next(self) -> Period:
        return period_of(self.end, self.frequency)

    def contains(self, day: date) -> bool:
        return self.start <= day < self.end

    def due_on(self, due_day: int) -> date:
        """The day the remittance of this period is due: `due_day` of the month after
        the period."""
        return self.end.replace(day=due_day)

    def __str__(self) -> str:
        return self.key


def period_of(day: date, frequency: Frequency) -> Period:
    """The period of `frequency` that contains `day`."""
    months = _months(frequency)
    first_month = (day.month - 1) // months * months + 1
    start = date(day.year, first_month, 1)
    return Period(start, _add_months(start, months), frequency)


def parse_period(text: str | None) -> Period | None:
    """`2026-10` (a month) or `2026-Q4` (a quarter); None for anything else."""
    text = (text or "").strip()
    if len(text) > 7:
        return None
    if match := _MONTH.fullmatch(text):
        year, month = int(match.group(1)), int(match.group(2))
        if FIRST_YEAR <= year <= LAST_YEAR and 1 <= month <= 12:
            return period_of(date(year, month, 1), Frequency.MONTHLY)
        return None
    if match := _QUARTER.fullmatch(text):
        year, quarter = int(match.group(1)), int(match.group(2))
        if FIRST_YEAR <= year <= LAST_YEAR:
            return period_of(date(year, quarter * 3 - 2, 1), Frequency.QUARTERLY)
    return None
