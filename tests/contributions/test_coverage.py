"""The coverage engine: examples for each rule, then properties (hypothesis)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bungkesmas.contributions.coverage import (
    Coverage,
    Money,
    Period,
    Rules,
    Segment,
    Status,
    add_months,
    compute,
)

RULES = Rules(contribution=150_000, term_months=12, waiting_days=30, grace_days=30)
ENROLLED = date(2025, 1, 2)


def pay(id_: str, on: date, amount: int = 150_000) -> Money:
    return Money(id_, on, amount)


def reversal(id_: str, row: Money, on: date | None = None) -> Money:
    return Money(id_, on or row.on, -row.amount, reverses=row.id)


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(n) for n in range((end - start).days)]


# --- examples, one per rule -------------------------------------------------------------

def test_without_money_the_enrollment_is_pending_payment():
    cover = compute(RULES, ENROLLED, [])
    assert cover.periods == () and cover.balance == 0
    assert cover.status_on(ENROLLED) == Status.PENDING_PAYMENT
    assert cover.status_on(date(2030, 1, 1)) == Status.PENDING_PAYMENT
    assert cover.covered_until is None and cover.first_funded_on is None
    assert cover.waiting_until is None and cover.grace_until is None
    assert cover.amount_due == 150_000 and cover.next_due_on == ENROLLED
    assert cover.timeline == (Segment(Status.PENDING_PAYMENT, ENROLLED, None),)


def test_partial_payments_accumulate_until_they_fund_a_term_with_a_waiting_period():
    rows = [pay("a", date(2025, 1, 5), 50_000), pay("b", date(2025, 2, 5), 50_000)]
    cover = compute(RULES, ENROLLED, rows)
    assert cover.periods == () and cover.balance == 100_000 and cover.amount_due == 50_000

    cover = compute(RULES, ENROLLED, [*rows, pay("c", date(2025, 3, 5), 70_000)])
    assert cover.periods == (Period(1, date(2025, 3, 5), date(2025, 3, 5), date(2026, 3, 5),
                                    date(2025, 4, 4)),)
    assert cover.balance == 20_000 and cover.amount_due == 130_000
    assert cover.first_funded_on == date(2025, 3, 5)
    assert cover.waiting_until == date(2025, 4, 4)
    assert cover.covered_until == cover.next_due_on == date(2026, 3, 5)
    assert cover.grace_until == date(2026, 4, 4)
    assert cover.status_on(date(2025, 3, 4)) == Status.PENDING_PAYMENT
    assert cover.status_on(date(2025, 3, 5)) == Status.WAITING
    assert cover.status_on(date(2025, 4, 3)) == Status.WAITING
    assert cover.status_on(date(2025, 4, 4)) == Status.ACTIVE
    assert cover.status_on(date(2026, 3, 4)) == Status.ACTIVE
    assert cover.status_on(date(2026, 3, 5)) == Status.GRACE
    assert cover.status_on(date(2026, 4, 3)) == Status.GRACE
    assert cover.status_on(date(2026, 4, 4)) == Status.LAPSED
    assert cover.timeline == (
        Segment(Status.PENDING_PAYMENT, ENROLLED, date(2025, 3, 5)),
        Segment(Status.WAITING, date(2025, 3, 5), date(2025, 4, 4)),
        Segment(Status.ACTIVE, date(2025, 4, 4), date(2026, 3, 5)),
        Segment(Status.GRACE, date(2026, 3, 5), date(2026, 4, 4)),
        Segment(Status.LAPSED, date(2026, 4, 4), None),
    )


def test_prepaying_two_years_funds_two_continuous_terms_on_one_date():
    cover = compute(RULES, ENROLLED, [pay("a", date(2025, 1, 10), 300_000)])
    assert cover.periods == (
        Period(1, date(2025, 1, 10), date(2025, 1, 10), date(2026, 1, 10), date(2025, 2, 9)),
        Period(2, date(2025, 1, 10), date(2026, 1, 10), date(2027, 1, 10), date(2026, 1, 10)),
    )
    assert cover.balance == 0 and cover.amount_due == 150_000
    assert cover.covered_until == date(2027, 1, 10)
    assert cover.status_on(date(2026, 6, 1)) == Status.ACTIVE
    assert [s.status for s in cover.timeline] == [
        Status.PENDING_PAYMENT, Status.WAITING, Status.ACTIVE, Status.GRACE, Status.LAPSED]
    assert cover.timeline[2] == Segment(Status.ACTIVE, date(2025, 2, 9), date(2027, 1, 10))


def test_paying_before_the_end_continues_cover_without_waiting():
    rows = [pay("a", date(2025, 1, 10)), pay("b", date(2025, 12, 1))]
    cover = compute(RULES, ENROLLED, rows)
    assert cover.periods[1] == Period(2, date(2025, 12, 1), date(2026, 1, 10), date(2027, 1, 10),
                                      date(2026, 1, 10))
    assert cover.waiting_until == date(2025, 2, 9)


def test_paying_within_grace_keeps_cover_unbroken_and_the_grace_days_become_active():
    first = pay("a", date(2025, 1, 10))
    before = compute(RULES, ENROLLED, [first])
    assert before.status_on(date(2026, 1, 15)) == Status.GRACE

    cover = compute(RULES, ENROLLED, [first, pay("b", date(2026, 1, 25))])
    assert cover.periods[1] == Period(2, date(2026, 1, 25), date(2026, 1, 10), date(2027, 1, 10),
                                      date(2026, 1, 10))
    assert cover.status_on(date(2026, 1, 15)) == Status.ACTIVE
    assert cover.timeline[-3] == Segment(Status.ACTIVE, date(2025, 2, 9), date(2027, 1, 10))


def test_the_last_day_of_grace_still_continues_and_the_first_lapsed_day_starts_afresh():
    first = pay("a", date(2025, 1, 10))  # ends 2026-01-10, grace until 2026-02-09 (exclusive)
    on_last_grace_day = compute(RULES, ENROLLED, [first, pay("b", date(2026, 2, 8))])
    assert on_last_grace_day.periods[1].start == date(2026, 1, 10)
    lapsed_a_day = compute(RULES, ENROLLED, [first, pay("b", date(2026, 2, 9))])
    assert lapsed_a_day.periods[1].start == date(2026, 2, 9)


def test_paying_after_lapse_starts_afresh_with_a_new_waiting_period():
    rows = [pay("a", date(2025, 1, 10)), pay("b", date(2026, 3, 1))]
    cover = compute(RULES, ENROLLED, rows)
    assert cover.periods[1] == Period(2, date(2026, 3, 1), date(2026, 3, 1), date(2027, 3, 1),
                                      date(2026, 3, 31))
    assert cover.waiting_until == date(2026, 3, 31)
    assert cover.status_on(date(2026, 1, 20)) == Status.GRACE
    assert cover.status_on(date(2026, 2, 20)) == Status.LAPSED
    assert cover.status_on(date(2026, 3, 1)) == Status.WAITING
    assert cover.status_on(date(2026, 3, 31)) == Status.ACTIVE
    assert [s.status for s in cover.timeline] == [
        Status.PENDING_PAYMENT, Status.WAITING, Status.ACTIVE, Status.GRACE, Status.LAPSED,
        Status.WAITING, Status.ACTIVE, Status.GRACE, Status.LAPSED]


def test_without_grace_days_paying_on_the_end_day_is_a_fresh_start():
    rules = Rules(150_000, 12, waiting_days=30, grace_days=0)
    first = pay("a", date(2025, 1, 10))
    cover = compute(rules, ENROLLED, [first, pay("b", date(2026, 1, 9))])
    assert cover.periods[1].start == date(2026, 1, 10)
    cover = compute(rules, ENROLLED, [first, pay("b", date(2026, 1, 10))])
    assert cover.periods[1].waiting_until == date(2026, 2, 9)
    assert cover.status_on(date(2026, 1, 10)) == Status.WAITING
    alone = compute(rules, ENROLLED, [first])
    assert alone.status_on(date(2026, 1, 10)) == Status.LAPSED
    assert Status.GRACE not in {s.status for s in alone.timeline}


def test_cancellation_overrides_every_status_from_its_date():
    cover = compute(RULES, ENROLLED, [pay("a", date(2025, 1, 10))], cancelled_on=date(2025, 6, 1))
    assert cover.status_on(date(2025, 5, 31)) == Status.ACTIVE
    assert cover.status_on(date(2025, 6, 1)) == Status.CANCELLED
    assert cover.status_on(date(2027, 1, 1)) == Status.CANCELLED
    assert cover.covered_until == date(2026, 1, 10)  # the paid cover, for the records
    assert cover.timeline == (
        Segment(Status.PENDING_PAYMENT, ENROLLED, date(2025, 1, 10)),
        Segment(Status.WAITING, date(2025, 1, 10), date(2025, 2, 9)),
        Segment(Status.ACTIVE, date(2025, 2, 9), date(2025, 6, 1)),
        Segment(Status.CANCELLED, date(2025, 6, 1), None),
    )


def test_cancelled_before_any_payment_or_before_enrollment():
    cover = compute(RULES, ENROLLED, [], cancelled_on=date(2025, 2, 1))
    assert cover.timeline == (Segment(Status.PENDING_PAYMENT, ENROLLED, date(2025, 2, 1)),
                              Segment(Status.CANCELLED, date(2025, 2, 1), None))
    cover = compute(RULES, ENROLLED, [], cancelled_on=date(2024, 12, 1))
    assert cover.timeline == (Segment(Status.CANCELLED, ENROLLED, None),)
    assert cover.status_on(date(2024, 12, 15)) == Status.PENDING_PAYMENT
    assert cover.status_on(ENROLLED) == Status.CANCELLED


def test_money_dated_before_enrollment_counts_from_its_own_date():
    cover = compute(RULES, ENROLLED, [pay("a", date(2024, 12, 20))])
    assert cover.periods[0].start == date(2024, 12, 20)
    assert cover.status_on(date(2024, 12, 25)) == Status.PENDING_PAYMENT  # before enrollment
    assert cover.status_on(ENROLLED) == Status.WAITING
    assert cover.timeline[0] == Segment(Status.WAITING, ENROLLED, date(2025, 1, 19))


def test_a_waiting_period_longer_than_the_term_covers_the_whole_period():
    rules = Rules(150_000, 1, waiting_days=90, grace_days=10)
    cover = compute(rules, ENROLLED, [pay("a", date(2025, 1, 10))])
    assert cover.status_on(date(2025, 2, 9)) == Status.WAITING
    assert [s.status for s in cover.timeline] == [
        Status.PENDING_PAYMENT, Status.WAITING, Status.GRACE, Status.LAPSED]


def test_months_clamp_to_the_end_of_the_month():
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert add_months(date(2024, 2, 29), 48) == date(2028, 2, 29)
    assert add_months(date(2025, 12, 31), 2) == date(2026, 2, 28)
    assert add_months(date(2025, 11, 30), 3) == date(2026, 2, 28)
    leap = compute(RULES, ENROLLED, [pay("a", date(2024, 2, 29))])
    assert leap.covered_until == date(2025, 2, 28)


def test_an_unbroken_run_of_monthly_terms_counts_months_from_its_first_start():
    rules = Rules(50_000, 1, waiting_days=0, grace_days=7)
    cover = compute(rules, ENROLLED, [pay("a", date(2025, 1, 31), 200_000)])
    assert [(p.start, p.end) for p in cover.periods] == [
        (date(2025, 1, 31), date(2025, 2, 28)), (date(2025, 2, 28), date(2025, 3, 31)),
        (date(2025, 3, 31), date(2025, 4, 30)), (date(2025, 4, 30), date(2025, 5, 31))]
    # Twelve monthly terms end where one twelve-month term would.
    twelve = compute(rules, ENROLLED, [pay("a", date(2025, 1, 31), 600_000)])
    assert twelve.covered_until == add_months(date(2025, 1, 31), 12) == date(2026, 1, 31)
    # Paid in grace after a clamped end, the next term still belongs to the same run.
    cover = compute(rules, ENROLLED, [pay("a", date(2025, 1, 31), 50_000),
                                      pay("b", date(2025, 3, 3), 50_000)])
    assert [(p.start, p.end) for p in cover.periods] == [
        (date(2025, 1, 31), date(2025, 2, 28)), (date(2025, 2, 28), date(2025, 3, 31))]
    assert cover.waiting_until is None


def test_a_withdrawal_lowers_the_balance_and_a_negative_balance_funds_nothing():
    rows = [pay("a", date(2025, 1, 5), 100_000), Money("b", date(2025, 1, 6), -30_000),
            pay("c", date(2025, 1, 7), 70_000)]
    cover = compute(RULES, ENROLLED, rows)
    assert cover.periods == () and cover.balance == 140_000
    cover = compute(RULES, ENROLLED, [*rows, pay("d", date(2025, 1, 8), 10_000)])
    assert cover.periods[0].funded_on == date(2025, 1, 8) and cover.balance == 0

    cover = compute(RULES, ENROLLED, [Money("a", date(2025, 1, 5), -50_000),
                                      pay("b", date(2025, 1, 6), 150_000)])
    assert cover.periods == () and cover.balance == 100_000 and cover.amount_due == 50_000


def test_rows_of_one_day_are_taken_together_whatever_their_ids():
    # Deposit and withdrawal on one day: the balance at the end of the day decides.
    rows = [pay("b", date(2025, 1, 5), 150_000), Money("a", date(2025, 1, 5), -100_000)]
    cover = compute(RULES, ENROLLED, rows)
    assert cover.periods == () and cover.balance == 50_000


def test_a_reversal_and_the_row_it_reverses_are_both_ignored():
    first = pay("a", date(2025, 1, 10))
    cover = compute(RULES, ENROLLED, [first, reversal("b", first, date(2025, 1, 11))])
    assert cover == compute(RULES, ENROLLED, [])
    assert cover.status_on(date(2025, 3, 1)) == Status.PENDING_PAYMENT
    # A reversal of a row that is not given is ignored as well.
    assert compute(RULES, ENROLLED, [reversal("b", first)]) == compute(RULES, ENROLLED, [])


def test_a_reversal_of_a_reversal_or_duplicate_ids_are_refused():
    first = pay("a", date(2025, 1, 10))
    undo = reversal("b", first)
    with pytest.raises(ValueError, match="reversal"):
        compute(RULES, ENROLLED, [first, undo, reversal("c", undo)])
    with pytest.raises(ValueError, match="duplicate"):
        compute(RULES, ENROLLED, [first, pay("a", date(2025, 2, 1)), reversal("b", first)])


@pytest.mark.parametrize("values", [(0, 12, 0, 0), (-1, 12, 0, 0), (150_000, 0, 0, 0),
                                    (150_000, 12, -1, 0), (150_000, 12, 0, -1)])
def test_rules_that_cannot_be_applied_are_refused(values):
    with pytest.raises(ValueError):
        Rules(*values)


def test_a_back_dated_payment_can_move_a_term_onto_shorter_months():
    # Why "never shortens cover" is stated in whole terms for back-dated payments: paying the
    # rest a day earlier moves the term from 1 March (366 days to 2024) to 28 February.
    base = [pay("a", date(2023, 2, 28), 100_000), pay("b", date(2023, 3, 1), 50_000)]
    later = compute(RULES, ENROLLED, base)
    earlier = compute(RULES, ENROLLED, [*base, pay("c", date(2023, 2, 28), 50_000)])
    assert len(earlier.periods) == len(later.periods) == 1
    assert covered_days(later) == 366 and covered_days(earlier) == 365


# --- properties -------------------------------------------------------------------------

BASE = date(2024, 1, 1)

rules_st = st.builds(
    Rules,
    contribution=st.sampled_from([50_000, 100_000, 150_000]),
    term_months=st.sampled_from([1, 3, 6, 12]),
    waiting_days=st.sampled_from([0, 1, 14, 30, 60]),
    grace_days=st.sampled_from([0, 1, 15, 30, 90]),
)
day_st = st.integers(0, 1200).map(lambda n: BASE + timedelta(n))
amount_st = st.one_of(
    st.integers(1, 40).map(lambda n: n * 10_000),
    st.sampled_from([50_000, 100_000, 150_000, 300_000]),
    st.integers(-10, -1).map(lambda n: n * 10_000),  # withdrawals
)


@st.composite
def ledgers(draw, max_rows=12):
    """Rows with unique ids (not in date order), some of them reversed."""
    entries = draw(st.lists(st.tuples(day_st, amount_st), max_size=max_rows))
    ids = draw(st.permutations(range(len(entries))))
    rows = [Money(f"r{i:03d}", on, amount) for i, (on, amount) in zip(ids, entries, strict=True)]
    reversed_rows = draw(st.lists(st.sampled_from(rows), unique_by=lambda r: r.id, max_size=3)
                         if rows else st.just([]))
    for n, row in enumerate(reversed_rows):
        rows.append(Money(f"v{n:03d}", row.on + timedelta(draw(st.integers(0, 60))), -row.amount,
                          reverses=row.id))
    return rows


enrolled_st = st.integers(-60, 400).map(lambda n: BASE + timedelta(n))
cancelled_st = st.one_of(st.none(), st.integers(-30, 1500).map(lambda n: BASE + timedelta(n)))


def effective(rows: list[Money]) -> list[Money]:
    gone = {r.reverses for r in rows if r.reverses}
    return [r for r in rows if r.reverses is None and r.id not in gone]


def covered_days(cover: Coverage) -> int:
    return sum((p.end - p.start).days for p in cover.periods)


def intervals(cover: Coverage, status: Status) -> list[tuple[date, date | None]]:
    return [(s.start, s.end) for s in cover.timeline if s.status == status]


def inside(interval, others) -> bool:
    start, end = interval
    return any(s <= start and (e is None or (end is not None and end <= e)) for s, e in others)


@settings(deadline=None, max_examples=150)
@given(rules_st, enrolled_st, ledgers(), cancelled_st, st.randoms(use_true_random=False))
def test_the_result_does_not_depend_on_the_order_of_the_rows(rules, enrolled, rows, cancelled,
                                                             rnd):
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    assert compute(rules, enrolled, shuffled, cancelled) == compute(rules, enrolled, rows, cancelled)


@settings(deadline=None, max_examples=150)
@given(rules_st, enrolled_st, ledgers(), cancelled_st, day_st, amount_st)
def test_a_reversal_restores_exactly_the_earlier_state(rules, enrolled, rows, cancelled, on, amount):
    before = compute(rules, enrolled, rows, cancelled)
    extra = Money("x000", on, amount)
    undone = compute(rules, enrolled, [*rows, extra, reversal("x001", extra, on)], cancelled)
    assert undone == before
    assert undone.timeline == before.timeline
    # Reversing a row already there gives the state without it.
    plain = [r for r in rows if r.reverses is None and r.id not in {x.reverses for x in rows}]
    if plain:
        target = plain[len(plain) // 2]
        without = [r for r in rows if r.id != target.id]
        assert (compute(rules, enrolled, [*rows, reversal("x002", target)], cancelled)
                == compute(rules, enrolled, without, cancelled))


@settings(deadline=None, max_examples=150)
@given(rules_st, enrolled_st, ledgers(), st.integers(0, 400),
       st.integers(1, 40).map(lambda n: n * 10_000))
def test_paying_more_at_the_end_never_shortens_cover(rules, enrolled, rows, after, amount):
    before = compute(rules, enrolled, rows)
    last = max((r.on for r in rows), default=BASE)
    after_cover = compute(rules, enrolled, [*rows, Money("x000", last + timedelta(after), amount)])
    assert after_cover.periods[:len(before.periods)] == before.periods
    if before.covered_until is not None:
        assert after_cover.covered_until >= before.covered_until
    now_active = intervals(after_cover, Status.ACTIVE)
    assert all(inside(i, now_active) for i in intervals(before, Status.ACTIVE))
    assert covered_days(after_cover) >= covered_days(before)


@settings(deadline=None, max_examples=150)
@given(rules_st, enrolled_st, ledgers(), day_st, st.integers(1, 40).map(lambda n: n * 10_000))
def test_paying_more_at_any_date_never_funds_fewer_terms_nor_any_term_later(rules, enrolled, rows,
                                                                          on, amount):
    before = compute(rules, enrolled, rows)
    after = compute(rules, enrolled, [*rows, Money("x000", on, amount)])
    assert len(after.periods) >= len(before.periods)
    assert all(new.funded_on <= old.funded_on
               for old, new in zip(before.periods, after.periods, strict=False))
    # So cover is never shorter in whole terms; in days it can be, with month lengths (see
    # test_a_back_dated_payment_can_move_a_term_onto_shorter_months).


@settings(deadline=None, max_examples=200)
@given(rules_st, enrolled_st, ledgers(), cancelled_st)
def test_funded_terms_and_balance_account_for_every_rupiah(rules, enrolled, rows, cancelled):
    cover = compute(rules, enrolled, rows, cancelled)
    assert (len(cover.periods) * rules.contribution + cover.balance
            == sum(r.amount for r in effective(rows)))
    assert cover.balance < rules.contribution
    assert cover.amount_due == max(0, rules.contribution - cover.balance) > 0
    assert [p.number for p in cover.periods] == list(range(1, len(cover.periods) + 1))
    for prev, p in zip(cover.periods, cover.periods[1:], strict=False):
        assert prev.funded_on <= p.funded_on
        if (p.funded_on - prev.end).days < rules.grace_days:  # before the end or in grace
            assert p.start == p.waiting_until == prev.end
        else:
            assert p.start == p.funded_on >= prev.end
            assert p.waiting_until == p.start + timedelta(rules.waiting_days)


@settings(deadline=None, max_examples=200)
@given(rules_st, enrolled_st, ledgers(), cancelled_st, st.lists(day_st, max_size=10))
def test_status_dates_never_overlap_and_the_timeline_is_contiguous_from_enrollment(
        rules, enrolled, rows, cancelled, probes):
    cover = compute(rules, enrolled, rows, cancelled)
    timeline = cover.timeline
    assert timeline[0].start == enrolled
    assert timeline[-1].end is None
    for seg, following in zip(timeline, timeline[1:], strict=False):
        assert seg.end is not None and seg.start < seg.end == following.start
        assert seg.status != following.status
    if cancelled is not None:
        assert timeline[-1].status == Status.CANCELLED
    # Each day's status_on is the status of the one segment holding it.
    edges = {s.start for s in timeline} | {s.end for s in timeline if s.end is not None}
    for d in {*probes, *edges, *(e - timedelta(1) for e in edges)}:
        holding = [s for s in timeline if s.start <= d and (s.end is None or d < s.end)]
        if d < enrolled:
            assert not holding and cover.status_on(d) == Status.PENDING_PAYMENT
        else:
            assert len(holding) == 1 and cover.status_on(d) == holding[0].status


@settings(deadline=None, max_examples=50)
@given(rules_st, ledgers(max_rows=6))
def test_status_on_agrees_with_the_timeline_on_every_day(rules, rows):
    cover = compute(rules, BASE, rows)
    segments = iter(cover.timeline)
    seg = next(segments)
    for d in days(BASE, BASE + timedelta(1700)):
        while seg.end is not None and d >= seg.end:
            seg = next(segments)
        assert cover.status_on(d) == seg.status
