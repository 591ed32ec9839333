"""The coverage engine: a pure function from a product version's rules and an enrollment's
money rows to its cover periods and its status on any date.

No database and no Flask here: the ledger service loads the rows and calls `compute`;
tests call it directly. The rules are the product owner's decisions:

Reversals
    A row with ``reverses=X`` and row X are both ignored, as if neither existed. A reversal
    of a reversal is refused by the ledger service; the engine raises ValueError if it
    ever sees one (and on duplicate row ids).

Order
    Rows are taken in (on, id) order and the balance is looked at at the end of each day,
    so the result never depends on the order the rows are given in, not even for several
    rows on one day.

Funding (savings toward the contribution)
    A running balance. Term k is funded on the first date the balance, net of the k-1
    terms already funded, is >= the contribution; funding takes the contribution out of
    the balance. One big payment can fund several terms on one date (prepaying). A
    withdrawal lowers the balance; the service only lets a member withdraw what is not
    yet funded, and if the engine ever sees a negative balance it simply funds nothing
    until the balance is back to a full contribution. Money dated before the enrollment
    counts from its own date.

Periods
    Term 1 starts on its funded date and has a waiting period [start, start +
    waiting_days). Term k > 1 funded before the previous period's end, or within its
    grace [prev_end, prev_end + grace_days), starts at prev_end: cover stays unbroken and
    there is no new waiting period. Funded later (lapsed), it starts afresh on its funded
    date with a new waiting period. Each period lasts term_months calendar months with the
    end-of-month clamp (31 Jan + 1 month = 28/29 Feb). The months of an unbroken run are
    counted from the run's first start, so a continuation after a clamped end takes the
    day back: 31 Jan, 28 Feb, 31 Mar, 30 Apr for monthly terms — twelve paid monthly terms
    end on the same day as one paid twelve-month term. For a period that starts a run this
    is exactly start + term_months.

Status on a date d
    PENDING_PAYMENT before the enrollment date and before the first funded date;
    CANCELLED from the cancellation date (if it is before the enrollment date, from the
    enrollment date); WAITING inside a period's waiting range; ACTIVE inside a period
    after its waiting range; GRACE in [end, end + grace_days) after a period that no
    period follows immediately; LAPSED after that until a fresh start. The result is the
    picture as known now: grace days later bridged by a payment within grace are ACTIVE.

What "paying more never shortens cover" means here
    Appending a payment dated on or after every existing row leaves every period as it
    was and may add periods, so covered_until is never earlier and no ACTIVE day stops
    being ACTIVE. A payment added at an earlier date may fund a term earlier: it never
    lowers the number of funded terms and never makes a term funded later, but it can
    move a later term earlier (even turn a continuation into a lapse and a fresh start),
    so covered_until and the day count are not monotone for such back-dated payments —
    moving a twelve-month period from 1 March 2023 to 28 February 2023 shortens it from
    366 to 365 days.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from functools import cached_property

__all__ = ["Coverage", "Money", "Period", "Rules", "Segment", "Status", "add_months", "compute"]


class Status(StrEnum):
    """An enrollment's coverage status; the values are stable codes used in the DB and API."""

    PENDING_PAYMENT = "pending_payment"
    WAITING = "waiting"
    ACTIVE = "active"
    GRACE = "grace"
    LAPSED = "lapsed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Rules:
    """The coverage rules of a product version."""

    contribution: int  # rupiah per term (product_version.annual_contribution)
    term_months: int
    waiting_days: int
    grace_days: int

    def __post_init__(self) -> None:
        # A zero contribution would fund terms without end.
        if self.contribution <= 0 or self.term_months <= 0:
            raise ValueError("contribution and term_months must be positive")
        if self.waiting_days < 0 or self.grace_days < 0:
            raise ValueError("waiting_days and grace_days must not be negative")


@dataclass(frozen=True)
class Money:
    """One ledger row that moves the member's balance for this enrollment."""

    id: str  # unique, sortable tiebreak (uuid7 string)
    on: date  # date received (local date)
    amount: int  # + money in, - withdrawal of savings
    reverses: str | None = None  # a reversal row cancels row `reverses` (amount = -original)


@dataclass(frozen=True)
class Period:
    """One funded term of cover; `end` is exclusive."""

    number: int  # 1, 2, ... (k-th funded term)
    funded_on: date  # the date the balance first covered this term
    start: date
    end: date
    waiting_until: date  # == start when no waiting applies (a continuation)


@dataclass(frozen=True)
class Segment:
    """A stretch of days with one status; `end` is exclusive, None for open-ended."""

    status: Status
    start: date
    end: date | None


_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_in_month(year: int, month: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _DAYS_IN_MONTH[month - 1]


def add_months(d: date, months: int) -> date:
    """Return d plus `months` calendar months, clamped to the end of the month."""
    index = d.month - 1 + months
    year, month = d.year + index // 12, index % 12 + 1
    return date(year, month, min(d.day, _days_in_month(year, month)))


@dataclass(frozen=True)
class Coverage:
    """An enrollment's cover periods and unused balance, with its status on any date."""

    rules: Rules
    enrolled_on: date
    cancelled_on: date | None
    periods: tuple[Period, ...]
    balance: int  # money not (yet) used for a term: savings
    _starts: tuple[date, ...] = field(default=(), repr=False, compare=False)

    @property
    def covered_until(self) -> date | None:
        """The end (exclusive) of the last funded period, None before any is funded."""
        return self.periods[-1].end if self.periods else None

    @property
    def first_funded_on(self) -> date | None:
        return self.periods[0].funded_on if self.periods else None

    @property
    def waiting_until(self) -> date | None:
        """The end of the latest waiting period (the latest fresh start), None if none."""
        for period in reversed(self.periods):
            if period.waiting_until > period.start:
                return period.waiting_until
        return None

    @property
    def grace_until(self) -> date | None:
        """The day cover lapses (exclusive end of grace after the last period) unless paid."""
        if not self.periods:
            return None
        return self.periods[-1].end + timedelta(days=self.rules.grace_days)

    @property
    def amount_due(self) -> int:
        """What is still needed to fund the next term."""
        return max(0, self.rules.contribution - self.balance)

    @property
    def next_due_on(self) -> date:
        """When the next term is due: the end of cover, or the enrollment date if none yet."""
        return self.periods[-1].end if self.periods else self.enrolled_on

    @property
    def funded_terms(self) -> int:
        return len(self.periods)

    def status_on(self, d: date) -> Status:
        """The status on date d, as known from the rows given."""
        if d < self.enrolled_on:
            return Status.PENDING_PAYMENT
        if self.cancelled_on is not None and d >= self.cancelled_on:
            return Status.CANCELLED
        i = bisect_right(self._starts, d) - 1
        if i < 0:
            return Status.PENDING_PAYMENT
        period = self.periods[i]
        if d < period.end:
            return Status.WAITING if d < period.waiting_until else Status.ACTIVE
        # The next period, if any, starts after d, so this one is not followed immediately.
        if (d - period.end).days < self.rules.grace_days:
            return Status.GRACE
        return Status.LAPSED

    @cached_property
    def timeline(self) -> tuple[Segment, ...]:
        """Contiguous, non-overlapping status segments from the enrollment date on."""
        begin, stop = self.enrolled_on, self.cancelled_on
        if stop is not None and stop <= begin:
            return (Segment(Status.CANCELLED, begin, None),)
        raw: list[tuple[Status, date | None, date | None]] = []  # None start: since ever
        grace = timedelta(days=self.rules.grace_days)
        periods = self.periods
        raw.append((Status.PENDING_PAYMENT, None, periods[0].start if periods else None))
        for i, p in enumerate(periods):
            if p.waiting_until > p.start:
                waiting_end = min(p.waiting_until, p.end)
                raw.append((Status.WAITING, p.start, waiting_end))
                if waiting_end < p.end:
                    raw.append((Status.ACTIVE, waiting_end, p.end))
            else:
                raw.append((Status.ACTIVE, p.start, p.end))
            following = periods[i + 1].start if i + 1 < len(periods) else None
            if following == p.end:
                continue
            if grace:
                raw.append((Status.GRACE, p.end, p.end + grace))
            raw.append((Status.LAPSED, p.end + grace, following))

        segments: list[Segment] = []
        for status, start, end in raw:
            start = begin if start is None or start < begin else start
            if stop is not None and (end is None or end > stop):
                end = stop
            if end is not None and end <= start:
                continue
            if segments and segments[-1].status == status:
                segments[-1] = Segment(status, segments[-1].start, end)
            else:
                segments.append(Segment(status, start, end))
            if end is None or (stop is not None and end >= stop):
                break
        if stop is not None:
            segments.append(Segment(Status.CANCELLED, stop, None))
        return tuple(segments)


def compute(rules: Rules, enrolled_on: date, money: Iterable[Money],
            cancelled_on: date | None = None) -> Coverage:
    """Compute an enrollment's cover periods and balance from its rules and money rows."""
    rows = list(money)
    reversed_ids = {row.reverses for row in rows if row.reverses is not None}
    if reversed_ids:
        ids = {row.id: row for row in rows}
        if len(ids) != len(rows):
            raise ValueError("duplicate ledger row id")
        for target in reversed_ids:
            original = ids.get(target)
            if original is not None and original.reverses is not None:
                raise ValueError("a reversal cannot be reversed")
        rows = [row for row in rows if row.reverses is None and row.id not in reversed_ids]
    rows.sort(key=lambda row: (row.on, row.id))

    contribution = rules.contribution
    term_months = rules.term_months
    waiting = timedelta(days=rules.waiting_days)
    grace = timedelta(days=rules.grace_days)
    periods: list[Period] = []
    run_start: date | None = None  # the start of the current unbroken run of periods
    run_months = 0
    balance = 0
    count = len(rows)
    i = 0
    while i < count:
        day = rows[i].on
        # The balance at the end of the day decides; rows of one day are taken together.
        while i < count and rows[i].on == day:
            balance += rows[i].amount
            i += 1
        if balance < contribution:
            continue
        terms, balance = divmod(balance, contribution)
        for _ in range(terms):
            if run_start is not None and day < periods[-1].end + grace:
                start = periods[-1].end
                waiting_until = start
            else:
                run_start, run_months = day, 0
                start = day
                waiting_until = day + waiting
            run_months += term_months
            periods.append(Period(len(periods) + 1, day, start, add_months(run_start, run_months),
                                  waiting_until))
    return Coverage(rules, enrolled_on, cancelled_on, tuple(periods), balance,
                    tuple(p.start for p in periods))
