"""Who is due and overdue: lists and counts over the enrollments' coverage snapshot.

Everything here is SQL over the snapshot columns of `enrollments` (covered_until,
grace_until, balance, …) and `contributions.services.status_expression(today)` — never
coverage computed per member in Python — so that a page of a partner with tens of
thousands of members is two queries: the counts per list and one page of rows. The
session's tenant scope decides whose enrollments are seen (a parent partner sees its
children's); nothing here filters by tenant by hand except the explicit partner filter.

The lists (`Tab`), on the partner's local date `today`:

* due — the cover ends (covered_until, the next due date) in today's calendar month and
  the balance does not pay the next term; whatever today's status is (a member whose
  cover ended on the 3rd is still due this month, and in grace);
* grace — the cover has ended and the grace period runs;
* lapsed — the grace period has ended (since grace_until) and no new term is paid;
* pending — enrolled, never paid a full contribution yet (pending payment).

Cancelled enrollments are in none of them. The amount due is what funds the next term:
the contribution of the enrollment's product version minus the savings balance."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, case, func, literal, or_, select

from bungkesmas.contributions.coverage import Status, add_months
from bungkesmas.contributions.services import status_expression
from bungkesmas.extensions import db
from bungkesmas.members.models import Enrollment, EnrollmentStatus, Group, Member
from bungkesmas.paging import Page
from bungkesmas.partners.models import Partner
from bungkesmas.products.models import Product, ProductVersion

PER_PAGE = 50
MAX_PAGE = 100_000


class Tab(enum.StrEnum):
    DUE = "due"
    GRACE = "grace"
    LAPSED = "lapsed"
    PENDING = "pending"


@dataclass(frozen=True)
class DueFilter:
    today: date
    tab: Tab = Tab.DUE
    group_id: uuid.UUID | None = None
    partner_id: int | None = None  # one partner of the scope (a parent's child), or all


@dataclass(frozen=True)
class DueRow:
    tenant_id: int
    partner_name: str
    member_number: str
    full_name: str
    phone: str | None
    group_name: str | None
    product_name: str
    status: Status
    due_on: date | None       # covered_until: when the next term is due
    grace_until: date | None  # end of the grace period; the lapse date
    amount_due: int
    enrolled_at: object


def month_of(today: date) -> tuple[date, date]:
    """The first day of today's month and of the next month."""
    start = today.replace(day=1)
    return start, add_months(start, 1)


def amount_due_expression():
    """What funds the next term: the contribution minus the savings balance (>= 0)."""
    contribution = ProductVersion.annual_contribution
    return case((contribution > Enrollment.balance, contribution - Enrollment.balance),
                else_=literal(0))


def conditions(today: date) -> dict[Tab, object]:
    """The SQL condition of each list. The date ranges next to the status are implied by
    it; they are there for the (tenant_id, covered_until / grace_until) indexes."""
    status = status_expression(today)
    start, end = month_of(today)
    open_ = Enrollment.status != EnrollmentStatus.CANCELLED.value
    return {
        Tab.DUE: and_(open_, Enrollment.covered_until >= start, Enrollment.covered_until < end,
                      Enrollment.balance < ProductVersion.annual_contribution),
        Tab.GRACE: and_(Enrollment.grace_until > today, status == Status.GRACE.value),
        Tab.LAPSED: and_(Enrollment.covered_until <= today, status == Status.LAPSED.value),
        Tab.PENDING: and_(Enrollment.covered_until.is_(None),
                          status == Status.PENDING_PAYMENT.value),
    }


def _narrow(stmt, f: DueFilter):
    """The group and partner filters (the member is joined only for a group)."""
    if f.group_id is not None:
        stmt = stmt.join(Member, and_(Member.tenant_id == Enrollment.tenant_id,
                                      Member.id == Enrollment.member_id)).where(
            Member.group_id == f.group_id)
    if f.partner_id is not None:
        stmt = stmt.where(Enrollment.tenant_id == f.partner_id)
    return stmt


def counts(f: DueFilter) -> dict[Tab, int]:
    """How many enrollments each list holds (with the group and partner filters; the
    tab is ignored): one query over the enrollments whose cover ends before the end of
    the month or never started — no other enrollment is in any list."""
    conds = conditions(f.today)
    end = month_of(f.today)[1]
    stmt = (select(*(func.coalesce(func.sum(case((cond, 1), else_=0)), 0).label(tab.value)
                     for tab, cond in conds.items()))
            .select_from(Enrollment)
            .join(ProductVersion, ProductVersion.id == Enrollment.product_version_id)
            .where(or_(Enrollment.covered_until.is_(None), Enrollment.covered_until < end)))
    row = db.session.execute(_narrow(stmt, f)).one()
    return {tab: int(row[i]) for i, tab in enumerate(conds)}


# The order of each list, on enrollment columns only: a page is picked from the
# enrollments alone (an index range and a top-N sort) before anything is joined.
ORDER = {
    Tab.DUE: (Enrollment.covered_until, Enrollment.id),
    Tab.GRACE: (Enrollment.grace_until, Enrollment.id),            # the next to lapse first
    Tab.LAPSED: (Enrollment.grace_until.desc(), Enrollment.id),    # the latest lapse first
    Tab.PENDING: (Enrollment.enrolled_at, Enrollment.id),          # waiting longest first
}


def rows_statement(f: DueFilter, limit: int | None = None, offset: int = 0):
    """The rows of the filter's list, in the list's order (a page, or all for an
    export): the enrollments are chosen first, then joined with their members."""
    picked = (select(Enrollment.tenant_id, Enrollment.id)
              .join(ProductVersion, ProductVersion.id == Enrollment.product_version_id)
              .where(conditions(f.today)[f.tab]))
    picked = _narrow(picked, f).order_by(*ORDER[f.tab])
    if limit is not None:
        picked = picked.limit(limit).offset(offset)
    picked = picked.subquery("picked")
    status = status_expression(f.today)
    return (select(
        Enrollment.tenant_id, Partner.name, Member.member_number, Member.full_name,
        Member.phone, Group.name, Product.name, status, Enrollment.covered_until,
        Enrollment.grace_until, amount_due_expression(), Enrollment.enrolled_at)
        .select_from(picked)
        .join(Enrollment, and_(Enrollment.tenant_id == picked.c.tenant_id,
                               Enrollment.id == picked.c.id))
        .join(Member, and_(Member.tenant_id == Enrollment.tenant_id,
                           Member.id == Enrollment.member_id))
        .join(ProductVersion, ProductVersion.id == Enrollment.product_version_id)
        .join(Product, Product.id == ProductVersion.product_id)
        .join(Partner, Partner.id == Enrollment.tenant_id)
        .outerjoin(Group, and_(Group.tenant_id == Member.tenant_id, Group.id == Member.group_id))
        .order_by(*ORDER[f.tab]))


def _row(values) -> DueRow:
    (tenant_id, partner_name, number, name, phone, group_name, product, status, due_on,
     grace_until, amount, enrolled_at) = values
    return DueRow(tenant_id, partner_name, number, name, phone, group_name, product,
                  Status(status), due_on, grace_until, int(amount), enrolled_at)


def page(f: DueFilter, number: int = 1, total: int | None = None,
         per_page: int = PER_PAGE) -> Page:
    """One page of the filter's list: one query (`total` from `counts`, or counted)."""
    number = min(max(1, number), MAX_PAGE)
    if total is None:
        total = counts(f)[f.tab]
    result = db.session.execute(rows_statement(f, per_page, (number - 1) * per_page))
    return Page([_row(r) for r in result], number, per_page, total)


def iter_rows(f: DueFilter, chunk: int = 1000):
    """Every row of the filter's list, streamed (for the CSV export)."""
    result = db.session.execute(rows_statement(f).execution_options(yield_per=chunk))
    for values in result:
        yield _row(values)


# --- export -------------------------------------------------------------------------------

CSV_HEADERS = ("No. Peserta", "Nama Lengkap", "Telepon", "Kelompok", "Mitra", "Produk",
               "Status", "Jatuh Tempo", "Batas Masa Tenggang", "Kekurangan Iuran (Rp)")


def csv_stream(f: DueFilter, chunk: int = 1000):
    """The list as CSV text in pieces (UTF-8 with a byte order mark for Excel; Indonesian
    headers and statuses like the member export; cells safe from formula injection)."""
    import csv
    import io

    from bungkesmas.members.export import STATUS, safe_cell
    from bungkesmas.reminders.services import national_phone

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_HEADERS)
    yield "\ufeff" + _drain(buffer)
    for n, row in enumerate(iter_rows(f, chunk), start=1):
        writer.writerow([safe_cell(v) for v in (
            row.member_number, row.full_name, national_phone(row.phone), row.group_name or "",
            row.partner_name, row.product_name, STATUS.get(row.status.value, row.status.value),
            row.due_on.isoformat() if row.due_on else "",
            row.grace_until.isoformat() if row.grace_until else "", row.amount_due)])
        if n % chunk == 0:
            yield _drain(buffer)
    yield _drain(buffer)


def _drain(buffer) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
