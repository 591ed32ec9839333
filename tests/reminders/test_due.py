"""Who is due and overdue: the four lists, their counts, month boundaries, groups, the
amount due, paging and the partner scope (a parent sees its children's; nobody else's)."""

from __future__ import annotations

from datetime import date

from bungkesmas import tenancy
from bungkesmas.contributions.coverage import Status
from bungkesmas.extensions import db
from bungkesmas.members.models import EnrollmentStatus, Member
from bungkesmas.reminders import due
from bungkesmas.reminders.due import DueFilter, Tab
from tests.reminders.conftest import TODAY, Book, C


def numbers(rows) -> list[str]:
    return [r.member_number for r in rows]


def number_of(enrollment) -> str:
    return db.session.get(Member, (enrollment.tenant_id, enrollment.member_id)).member_number


def listed(tab: Tab, today: date = TODAY, **filters) -> list[str]:
    return numbers(due.page(DueFilter(today, tab, **filters)).items)


def test_each_list_holds_the_members_in_that_state_on_the_given_date(book):
    due_later_this_month = book.paid_on(date(2024, 3, 31))   # cover ends 31 March 2025
    due_and_in_grace = book.paid_on(date(2024, 3, 1))        # ended 1 March: grace
    due_next_month = book.paid_on(date(2024, 4, 1))
    in_grace_since_february = book.paid_on(date(2024, 2, 28))  # grace until 30 March
    lapsed = book.paid_on(date(2024, 1, 15))                 # grace ended 14 February
    never_paid = book.member()
    saving = book.member((date(2024, 5, 1), 50_000))
    prepaid = book.member((date(2024, 3, 10), 2 * C))        # covered until March 2026
    cancelled = book.paid_on(date(2024, 3, 20))
    cancelled.status = EnrollmentStatus.CANCELLED
    db.session.commit()
    tenancy.enter_workspace(book.partner.id)

    f = DueFilter(TODAY)
    assert due.counts(f) == {Tab.DUE: 2, Tab.GRACE: 2, Tab.LAPSED: 1, Tab.PENDING: 2}
    # Due this month: by due date; a member whose cover already ended is still due.
    assert listed(Tab.DUE) == [number_of(due_and_in_grace), number_of(due_later_this_month)]
    # In grace: the next to lapse first.
    assert listed(Tab.GRACE) == [number_of(in_grace_since_february), number_of(due_and_in_grace)]
    assert listed(Tab.LAPSED) == [number_of(lapsed)]
    assert sorted(listed(Tab.PENDING)) == sorted([number_of(never_paid), number_of(saving)])
    everyone = {n for tab in Tab for n in listed(tab)}
    for absent in (due_next_month, prepaid, cancelled):
        assert number_of(absent) not in everyone


def test_a_row_carries_the_status_the_dates_and_the_amount_that_pays_the_next_term(book):
    lapsed = book.paid_on(date(2024, 1, 15))
    saving = book.member((date(2024, 5, 1), 50_000))
    topped_up = book.member((date(2024, 3, 25), C + 20_000))  # 20,000 saved toward the next
    tenancy.enter_workspace(book.partner.id)

    (row,) = due.page(DueFilter(TODAY, Tab.LAPSED)).items
    assert row.member_number == number_of(lapsed)
    assert row.status == Status.LAPSED
    assert row.due_on == date(2025, 1, 15) and row.grace_until == date(2025, 2, 14)  # since
    assert row.amount_due == C and row.product_name == "Bungkesmas"
    assert row.partner_name == book.partner.name
    (row,) = due.page(DueFilter(TODAY, Tab.PENDING)).items
    assert (row.member_number, row.status, row.amount_due, row.due_on) == (
        number_of(saving), Status.PENDING_PAYMENT, 100_000, None)
    (row,) = due.page(DueFilter(TODAY, Tab.DUE)).items
    assert (row.member_number, row.status, row.amount_due) == (
        number_of(topped_up), Status.ACTIVE, C - 20_000)


def test_due_this_month_runs_from_the_first_to_the_last_day_of_the_partners_month(book):
    first_of_march = book.paid_on(date(2024, 3, 1))
    last_of_march = book.paid_on(date(2024, 3, 31))
    first_of_april = book.paid_on(date(2024, 4, 1))
    last_of_february = book.paid_on(date(2024, 2, 29))  # + 12 months: 28 February 2025
    tenancy.enter_workspace(book.partner.id)
    march = [number_of(first_of_march), number_of(last_of_march)]

    assert listed(Tab.DUE, date(2025, 3, 1)) == march
    assert listed(Tab.DUE, date(2025, 3, 31)) == march
    assert listed(Tab.DUE, date(2025, 4, 1)) == [number_of(first_of_april)]
    assert listed(Tab.DUE, date(2025, 2, 28)) == [number_of(last_of_february)]
    # On its due date the cover has ended: the member is in grace from that day.
    assert number_of(last_of_march) in listed(Tab.GRACE, date(2025, 3, 31))
    assert number_of(last_of_march) not in listed(Tab.GRACE, date(2025, 3, 30))


def test_the_lists_and_counts_narrow_to_one_group(book):
    pasar = book.group("Kelompok Pasar Senggol")
    nelayan = book.group("Kelompok Nelayan Cempae")
    at_market = book.paid_on(date(2024, 3, 20), group_id=pasar)
    fisher_due = book.paid_on(date(2024, 3, 5), group_id=nelayan)
    fisher_lapsed = book.paid_on(date(2024, 1, 3), group_id=nelayan)
    book.paid_on(date(2024, 3, 7))  # no group
    tenancy.enter_workspace(book.partner.id)

    assert due.counts(DueFilter(TODAY, group_id=pasar)) == {
        Tab.DUE: 1, Tab.GRACE: 0, Tab.LAPSED: 0, Tab.PENDING: 0}
    assert due.counts(DueFilter(TODAY, group_id=nelayan)) == {
        Tab.DUE: 1, Tab.GRACE: 1, Tab.LAPSED: 1, Tab.PENDING: 0}
    assert listed(Tab.DUE, group_id=pasar) == [number_of(at_market)]
    assert listed(Tab.DUE, group_id=nelayan) == [number_of(fisher_due)]
    assert listed(Tab.LAPSED, group_id=nelayan) == [number_of(fisher_lapsed)]
    assert len(listed(Tab.DUE)) == 3
    (row,) = due.page(DueFilter(TODAY, Tab.DUE, group_id=pasar)).items
    assert row.group_name == "Kelompok Pasar Senggol"


def test_pages_follow_the_lists_order_and_the_counts(book):
    enrollments = [book.paid_on(date(2024, 3, day)) for day in (9, 3, 27, 14, 20)]
    tenancy.enter_workspace(book.partner.id)
    f = DueFilter(TODAY, Tab.DUE)
    by_date = [number_of(e) for e in sorted(enrollments, key=lambda e: e.covered_until)]

    first, last = due.page(f, 1, per_page=2), due.page(f, 3, per_page=2)
    assert numbers(first.items) == by_date[:2] and numbers(last.items) == by_date[4:]
    assert (first.total, first.pages, first.has_prev, first.has_next) == (5, 3, False, True)
    assert (last.has_prev, last.has_next, last.prev_num) == (True, False, 2)
    assert due.page(f, 99, per_page=2).items == []
    assert numbers(due.page(f, -4, per_page=2).items) == by_date[:2]
    assert [r.member_number for r in due.iter_rows(f)] == by_date


def test_a_parent_sees_its_childrens_members_and_a_child_only_its_own(make):
    parent = Book(make, make.partner())
    child = Book(make, make.partner(parent=parent.partner))
    stranger = Book(make, make.partner())
    of_parent = parent.paid_on(date(2024, 3, 10))
    of_child = child.paid_on(date(2024, 3, 11))
    stranger.paid_on(date(2024, 3, 12))

    tenancy.enter_workspace(parent.partner.id)
    assert listed(Tab.DUE) == [number_of(of_parent), number_of(of_child)]
    assert listed(Tab.DUE, partner_id=child.partner.id) == [number_of(of_child)]
    assert due.counts(DueFilter(TODAY, partner_id=parent.partner.id))[Tab.DUE] == 1
    rows = due.page(DueFilter(TODAY, Tab.DUE)).items
    assert [r.partner_name for r in rows] == [parent.partner.name, child.partner.name]

    tenancy.enter_workspace(child.partner.id)
    assert listed(Tab.DUE) == [number_of(of_child)]
    assert due.counts(DueFilter(TODAY))[Tab.DUE] == 1
    # Naming another partner does not widen the scope.
    assert listed(Tab.DUE, partner_id=parent.partner.id) == []
