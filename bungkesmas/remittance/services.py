"""Remittance: statements of what a partner collected per period, the partner's fee
share, the amount due to the provider, the provider's receipts, and reconciliation.

**What a statement counts.** The money a partner collected is every ledger row whose
`collected_by_partner_id` is the partner and whose method is not `savings` or `online` —
payments, withdrawals of savings (negative) and the reversals of both — by the row's
`received_on` (the partner's local date). Premium rows only move money inside a member's
account, and online payments (Stripe) reach the provider's account directly: neither is
counted. The member may have been transferred to another partner
since: the money stays with the partner that collected it, so these rows are read across
tenants (`tenancy.everything()`), restricted to `collected_by_partner_id`.

**Open and issued statements.** The statement of an open period is computed on demand.
When the provider or the partner closes a period, the statement is *issued*: its figures
are frozen in a `RemittanceStatement` row with a stable number (`SET-0012-2026-10`), and
every ledger row it counts gets a `RemittanceStatementLine` whose primary key is
(partner, ledger row) — so a row is counted by at most one statement, ever, even when two
statements are issued concurrently (the second one fails and is retried by the user).

**Late rows.** An issued statement counts every not-yet-counted row of the partner dated
before the end of its period: the rows dated inside the period, and *adjustments* —
rows dated in an earlier, already closed period but recorded after its statement was
issued (a backdated paper receipt). A reversal is dated the day it is recorded, so it
falls into the period in which it was made. Hence nothing is lost (a row not yet counted
is picked up by the next statement issued) and nothing is counted twice (the line's
primary key). Periods are closed in order: a period cannot be closed while an earlier
period after the last statement still holds uncounted money, nor once a later period has
been closed (its rows then go to the next statement as adjustments). The open statement
of the period that follows the last issued one shows the adjustments it will carry.

**Fee share.** fee = collected × fee_share_bp / 10 000, rounded half up to whole rupiah
(for a negative total, half away from zero, so that −x gets −fee(x)); due to the
provider = collected − fee. The terms come from the MOU in force (`TermsBook`), or
where none is, from the provider's per-partner settings: each row's fee share is that of
the day it was received (a period spanning two MOUs has two fee parts, each rounded on
its own); the schedule is decided per quarter by the terms on its first day.
"""

from __future__ import annotations

import enum
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from flask_babel import gettext as _
from sqlalchemy import and_, exists, func, insert, select
from sqlalchemy.exc import IntegrityError

from bungkesmas import tenancy
from bungkesmas.audit.services import record
from bungkesmas.auth.permissions import Permission
from bungkesmas.contributions.models import EntryMethod, LedgerEntry
from bungkesmas.contributions.terbilang import format_rupiah
from bungkesmas.errors import Conflict, DomainError, NotAllowed
from bungkesmas.extensions import db
from bungkesmas.members.models import Enrollment
from bungkesmas.partners.models import Partner
from bungkesmas.products.models import Product, ProductVersion
from bungkesmas.remittance.models import (
    ReceiptKind,
    RemittanceReceipt,
    RemittanceSettings,
    RemittanceStatement,
    RemittanceStatementLine,
    StatementSide,
)
from bungkesmas.remittance.periods import Frequency, Period, parse_period, period_of
from bungkesmas.timeutil import local_today

BASIS_POINTS = 10_000
# Ledger rows that are not money the partner collected: premiums funded from the member's
# balance move nothing, and online payments went straight to the provider's Stripe account.
NOT_COLLECTED = (EntryMethod.SAVINGS.value, EntryMethod.ONLINE.value)
# Above this one receipt is a typing error (an extra zero), not a remittance: Rp100 billion.
MAX_RECEIPT_AMOUNT = 100_000_000_000
REASON_MIN, REASON_MAX = 3, 500
REFERENCE_MAX = 100
KEY_MAX = 100
# Periods listed on a partner's remittance page when no year is chosen.
RECENT_PERIODS = 12
NUMBER_PREFIX = "SET-"


@dataclass(frozen=True)
class Terms:
    fee_share_bp: int
    frequency: Frequency
    due_day: int
    source: str  # "mou", "settings" or "default"
    mou_number: str | None = None  # the MOU's number and version when source is "mou"
    mou_version: int | None = None


DEFAULT_TERMS = Terms(fee_share_bp=0, frequency=Frequency.MONTHLY, due_day=10, source="default")


class ReconciliationStatus(enum.StrEnum):
    SETTLED = "settled"          # received exactly what is due
    SHORT = "short"              # after the due day, less than due received
    OVER = "over"                # more than due received
    NOT_YET_DUE = "not_yet_due"  # the due day has not passed (or the period still runs)
    OVERDUE = "overdue"          # after the due day, nothing received


class PeriodState(enum.StrEnum):
    ISSUED = "issued"    # closed: a frozen statement exists
    OPEN = "open"        # computed on demand; can still be closed
    SKIPPED = "skipped"  # before the last statement, never closed: its money is carried
    #                      into the next statement as adjustments


# --- terms --------------------------------------------------------------------------------


_READ = object()  # TermsBook: read the settings (None means the partner has none)


def settings_of(partner_id: int) -> RemittanceSettings | None:
    return db.session.get(RemittanceSettings, partner_id)


class TermsBook:
    """A partner's remittance terms through time, read once: on each day, those of the
    MOU in force that day (`mous.services.terms_history`); on days without one, the
    provider's per-partner settings, or `DEFAULT_TERMS`.

    **Which terms apply to what.** The fee share is that of the day each row of money
    was received, so a statement whose period spans two MOUs splits its fee
    (`Statement.fee_parts`). The schedule is decided per calendar quarter, by the terms
    in force on the quarter's first day: a quarterly schedule makes the quarter one
    period, a monthly one three. Periods so always tile the calendar without overlaps or
    gaps, however MOUs start and end (a quarterly MOU that starts inside a quarter makes
    its first quarterly period the next quarter). The due day is that of the terms in
    force on the period's last day."""

    def __init__(self, partner_id: int, *, history: list | None = None,
                 settings: RemittanceSettings | None | object = _READ):
        """The partner's MOU terms and settings are read here unless given (`terms_books`
        reads those of many partners at once)."""
        from bungkesmas.mous import services as mous

        self._history = mous.terms_history(partner_id) if history is None else history
        self._in_force = mous.terms_in_force
        if settings is _READ:
            settings = settings_of(partner_id)
        self.fallback = DEFAULT_TERMS if settings is None else Terms(
            settings.fee_share_bp, Frequency(settings.frequency), settings.due_day, "settings")

    def on(self, day: date) -> Terms:
        mou = self._in_force(self._history, day)
        if mou is None:
            return self.fallback
        return Terms(mou.fee_share_bp, Frequency(str(mou.remittance_frequency)),
                     mou.remittance_due_day, "mou", mou.number, mou.version)

    def period(self, day: date) -> Period:
        """The remittance period that contains `day`."""
        quarter = period_of(day, Frequency.QUARTERLY)
        return period_of(day, self.on(quarter.start).frequency)


def terms_books(partner_ids: list[int]) -> dict[int, TermsBook]:
    """The `TermsBook` of each partner, with two queries for all of them."""
    from bungkesmas.mous import services as mous

    if not partner_ids:
        return {}
    histories = mous.terms_histories(partner_ids)
    settings = {row.partner_id: row for row in db.session.scalars(select(
        RemittanceSettings).where(RemittanceSettings.partner_id.in_(partner_ids)))}
    return {partner_id: TermsBook(partner_id, history=histories[partner_id],
                                  settings=settings.get(partner_id))
            for partner_id in partner_ids}


def terms_on(partner_id: int, day: date) -> Terms:
    """The remittance terms of a partner on a day (see `TermsBook`)."""
    return TermsBook(partner_id).on(day)


def schedule_conflict(partner_id: int, start: date, last_day: date, frequency
                      ) -> RemittanceStatement | None:
    """An issued statement whose period would no longer be a period of the schedule if
    terms with `frequency` were in force from `start` to `last_day` (an MOU about to be
    countersigned), or None. Issued statements never change, so such an MOU is refused."""
    frequency = Frequency(str(frequency))
    with tenancy.everything():
        issued = db.session.scalars(select(RemittanceStatement).where(
            RemittanceStatement.tenant_id == partner_id,
            RemittanceStatement.period_end > start,
            RemittanceStatement.period_start <= last_day)
            .order_by(RemittanceStatement.period_start))
        for statement in issued:
            quarter = period_of(statement.period_start, Frequency.QUARTERLY)
            if start <= quarter.start <= last_day and statement.period != period_of(
                    statement.period_start, frequency):
                return statement
    return None


def fee_share(collected: int, fee_share_bp: int) -> int:
    """collected × fee_share_bp / 10 000, rounded half up to whole rupiah (half away from
    zero for a negative total). Integer arithmetic only."""
    whole, rest = divmod(abs(collected) * fee_share_bp, BASIS_POINTS)
    if 2 * rest >= BASIS_POINTS:
        whole += 1
    return whole if collected >= 0 else -whole


def update_settings(actor, partner: Partner, fee_share_bp, frequency, due_day
                    ) -> RemittanceSettings:
    """Set a partner's fee share (basis points), remittance frequency and due day.

    Issued statements keep the terms they were issued with. A change of frequency is
    refused if the new schedule's periods would overlap the last issued statement
    (e.g. quarterly after a statement that ends inside a quarter)."""
    _require_provider(actor, Permission.REMITTANCE_MANAGE)
    if isinstance(fee_share_bp, bool) or not isinstance(fee_share_bp, int) or not (
            0 <= fee_share_bp <= BASIS_POINTS):
        raise DomainError(_("Enter the fee share in basis points, from 0 to %(max)d "
                            "(1000 = 10 %%).", max=BASIS_POINTS), "fee_share_bp")
    try:
        frequency = Frequency(frequency)
    except ValueError:
        raise DomainError(_("Choose how often the partner remits."), "frequency") from None
    if isinstance(due_day, bool) or not isinstance(due_day, int) or not 1 <= due_day <= 28:
        raise DomainError(_("Enter a day of the month from 1 to 28."), "due_day")
    last = last_statement(partner.id)
    if last is not None and period_of(last.period_end, frequency).start != last.period_end:
        raise DomainError(_("The last statement ends on %(date)s, inside a period of the new "
                            "schedule. Change the schedule after closing the periods up to "
                            "the start of one of its periods.",
                            date=_day(last.period_end)), "frequency")
    settings = settings_of(partner.id)
    before = _settings_view(settings)
    if settings is None:
        settings = RemittanceSettings(partner_id=partner.id)
        db.session.add(settings)
    settings.fee_share_bp = fee_share_bp
    settings.frequency = frequency
    settings.due_day = due_day
    settings.updated_by_id = getattr(actor, "id", None)
    db.session.flush()
    record(actor, "remittance.settings", settings, partner_id=partner.id, before=before,
           after=_settings_view(settings))
    return settings


def _settings_view(settings: RemittanceSettings | None) -> dict | None:
    if settings is None:
        return None
    return {"fee_share_bp": settings.fee_share_bp, "frequency": str(settings.frequency),
            "due_day": settings.due_day}


# --- the money a partner collected ----------------------------------------------------------


def _uncounted_rows(partner_ids: int | list[int], before: date, since: date | None = None):
    """SELECT of the money rows the partner (or each of the partners) collected, dated
    before `before` (and on or after `since`), that no issued statement counts yet, with
    their product and the collecting partner (`partner_id`). Run it inside
    `tenancy.everything()`: the rows of transferred members belong to another tenant now,
    but were collected by this partner."""
    entry = LedgerEntry
    if isinstance(partner_ids, int):
        line_tenant = partner_ids
        by_collector = entry.collected_by_partner_id == partner_ids
    else:  # a line belongs to the partner that collected its row
        line_tenant = entry.collected_by_partner_id
        by_collector = entry.collected_by_partner_id.in_(partner_ids)
    stmt = (
        select(entry.collected_by_partner_id.label("partner_id"), entry.id,
               entry.received_on, entry.kind, entry.method, entry.amount,
               ProductVersion.product_id, entry.receipt_number)
        .join(Enrollment, and_(Enrollment.tenant_id == entry.tenant_id,
                               Enrollment.id == entry.enrollment_id))
        .join(ProductVersion, ProductVersion.id == Enrollment.product_version_id)
        .where(by_collector,
               entry.method.not_in(NOT_COLLECTED),
               entry.received_on < before,
               ~exists().where(RemittanceStatementLine.tenant_id == line_tenant,
                               RemittanceStatementLine.id == entry.id)))
    if since is not None:
        stmt = stmt.where(entry.received_on >= since)
    return stmt


def first_uncounted_on(partner_id: int, since: date | None, before: date) -> date | None:
    """The date of the oldest money row of the partner in [since, before) not yet on a
    statement (cross-tenant read restricted to the collecting partner)."""
    with tenancy.everything():
        sub = _uncounted_rows(partner_id, before, since).subquery()
        return db.session.scalar(select(func.min(sub.c.received_on)))


def first_money_on(partner_id: int) -> date | None:
    """The date of the oldest money row the partner collected (cross-tenant read
    restricted to the collecting partner)."""
    with tenancy.everything():
        return db.session.scalar(select(func.min(LedgerEntry.received_on)).where(
            LedgerEntry.collected_by_partner_id == partner_id,
            LedgerEntry.method.not_in(NOT_COLLECTED)))


# --- statements ---------------------------------------------------------------------------


@dataclass
class Statement:
    """A statement of one partner and period — issued (frozen) or computed on demand —
    with its reconciliation."""

    partner_id: int
    period: Period
    state: PeriodState
    number: str | None
    period_collected: int
    adjustments: int
    fee_share_bp: int
    fee: int
    due_to_provider: int
    due_on: date
    line_count: int
    by_method: list[dict]
    by_product: list[dict]
    by_kind: list[dict]
    adjustment_lines: list[dict]
    # The fee per fee share in force on the rows' dates (one part unless the period
    # spans a change of terms): {"fee_share_bp", "collected", "fee", "source",
    # "mou_number", "mou_version"}.
    fee_parts: list[dict] = field(default_factory=list)
    issued: RemittanceStatement | None = None
    receipts: list[RemittanceReceipt] = field(default_factory=list)
    received: int = 0
    status: ReconciliationStatus = ReconciliationStatus.NOT_YET_DUE
    skipped_total: int = 0  # a skipped period: the money dated in it (carried forward)

    @property
    def collected(self) -> int:
        return self.period_collected + self.adjustments

    @property
    def difference(self) -> int:
        """Received minus due: negative when the partner still owes money."""
        return self.received - self.due_to_provider

    @property
    def key(self) -> str:
        return self.period.key

    @property
    def ref(self) -> str:
        """How URLs name it: the number once issued, else the period."""
        return self.number or self.period.key


def statement_number(partner_id: int, period: Period) -> str:
    return f"{NUMBER_PREFIX}{partner_id:04d}-{period.key}"


def last_statement(partner_id: int) -> RemittanceStatement | None:
    with tenancy.everything():
        return db.session.scalar(
            select(RemittanceStatement).where(RemittanceStatement.tenant_id == partner_id)
            .order_by(RemittanceStatement.period_end.desc()).limit(1))


def issued_statements(partner_id: int, year: int | None = None) -> list[RemittanceStatement]:
    """The partner's issued statements, newest first — as the caller's scope sees them."""
    stmt = select(RemittanceStatement).where(RemittanceStatement.tenant_id == partner_id)
    if year is not None:
        stmt = stmt.where(RemittanceStatement.period_start >= date(year, 1, 1),
                          RemittanceStatement.period_start < date(year + 1, 1, 1))
    return list(db.session.scalars(stmt.order_by(RemittanceStatement.period_start.desc())))


def _statement_covering(partner_id: int, day: date) -> RemittanceStatement | None:
    return db.session.scalar(select(RemittanceStatement).where(
        RemittanceStatement.tenant_id == partner_id,
        RemittanceStatement.period_start <= day, RemittanceStatement.period_end > day))


def find(partner_id: int, ref: str) -> Statement:
    """The partner's statement named by `ref`: an issued statement's number or id, or a
    period key (`2026-10`, `2026-Q4`) — issued, open or skipped. LookupError if there is
    none (also for another partner's number or id: the caller's scope hides them)."""
    ref = (ref or "").strip()
    if len(ref) > 40:
        raise LookupError(ref)
    issued = None
    if ref.upper().startswith(NUMBER_PREFIX):
        issued = db.session.scalar(select(RemittanceStatement).where(
            RemittanceStatement.tenant_id == partner_id,
            RemittanceStatement.number == ref.upper()))
    elif (period := parse_period(ref)) is not None:
        issued = _statement_covering(partner_id, period.start)
        if issued is None:
            if period != TermsBook(partner_id).period(period.start):
                raise LookupError(ref)
            return compute(partner_id, period)
        if issued.period != period:  # e.g. 2026-11 inside an issued quarter
            raise LookupError(ref)
    else:
        try:
            statement_id = uuid.UUID(ref)
        except ValueError:
            raise LookupError(ref) from None
        issued = db.session.scalar(select(RemittanceStatement).where(
            RemittanceStatement.tenant_id == partner_id,
            RemittanceStatement.id == statement_id))
    if issued is None:
        raise LookupError(ref)
    return from_issued(issued)


def compute(partner_id: int, period: Period) -> Statement:
    """The statement of a period that has none issued, computed now: open (the rows
    dated in the period, plus the adjustments if it follows the last statement) or
    skipped (a period before the last statement that was never closed: its money is
    carried into the next statement as adjustments, so it is shown but owes nothing)."""
    return computed({partner_id: period}, {partner_id: TermsBook(partner_id)},
                    {partner_id: last_statement(partner_id)})[partner_id]


def computed(periods: dict[int, Period], books: dict[int, TermsBook],
             lasts: dict[int, RemittanceStatement | None],
             catalog: dict | None = None) -> dict[int, Statement]:
    """`compute` for many partners (partner → its period; their `TermsBook`s and last
    statements given): one or two queries per kind of period, not per partner."""
    batches: dict[tuple, list[int]] = defaultdict(list)
    for partner_id, period in periods.items():
        last = lasts.get(partner_id)
        if last is not None and period.start < last.period_end:
            batches[(PeriodState.SKIPPED, period, False)].append(partner_id)
        else:
            with_adjustments = last is not None and period.start == last.period_end
            batches[(PeriodState.OPEN, period, with_adjustments)].append(partner_id)
    out = {}
    for (state, period, with_adjustments), partner_ids in batches.items():
        if state == PeriodState.SKIPPED:
            out.update(_skipped(partner_ids, period, books, catalog))
        else:
            out.update(_open(partner_ids, period, with_adjustments, books, catalog))
    return out


def _open(partner_ids: list[int], period: Period, with_adjustments: bool,
          books: dict[int, TermsBook], catalog: dict | None) -> dict[int, Statement]:
    groups: dict[int, list[tuple]] = defaultdict(list)
    adjustment_rows: dict[int, list] = defaultdict(list)
    with tenancy.everything():
        # One partner (its own page): the single-partner form, whose plan the partner's
        # indexes serve as before.
        rows = _uncounted_rows(partner_ids if len(partner_ids) > 1 else partner_ids[0],
                               period.end, None if with_adjustments else period.start
                               ).subquery()
        is_adjustment = rows.c.received_on < period.start
        for partner_id, a, m, k, p, d, total, count in db.session.execute(
                select(rows.c.partner_id, is_adjustment, rows.c.method, rows.c.kind,
                       rows.c.product_id, rows.c.received_on, func.sum(rows.c.amount),
                       func.count())
                .group_by(rows.c.partner_id, is_adjustment, rows.c.method, rows.c.kind,
                          rows.c.product_id, rows.c.received_on)):
            groups[partner_id].append((bool(a), m, k, p, d, int(total), int(count)))
        if with_adjustments:
            for row in db.session.execute(
                    select(rows).where(rows.c.received_on < period.start)
                    .order_by(rows.c.partner_id, rows.c.received_on, rows.c.receipt_number)):
                adjustment_rows[row.partner_id].append(row)
    return {partner_id: _statement(partner_id, period, PeriodState.OPEN, None,
                                   books[partner_id], groups[partner_id],
                                   adjustment_rows[partner_id], catalog)
            for partner_id in partner_ids}


def _skipped(partner_ids: list[int], period: Period, books: dict[int, TermsBook],
             catalog: dict | None) -> dict[int, Statement]:
    with tenancy.everything():
        totals = {partner_id: (int(total), int(count)) for partner_id, total, count in
                  db.session.execute(
                      select(LedgerEntry.collected_by_partner_id,
                             func.coalesce(func.sum(LedgerEntry.amount), 0), func.count())
                      .where(LedgerEntry.collected_by_partner_id.in_(partner_ids),
                             LedgerEntry.method.not_in(NOT_COLLECTED),
                             LedgerEntry.received_on >= period.start,
                             LedgerEntry.received_on < period.end)
                      .group_by(LedgerEntry.collected_by_partner_id))}
    out = {}
    for partner_id in partner_ids:
        total, count = totals.get(partner_id, (0, 0))
        statement = _statement(partner_id, period, PeriodState.SKIPPED, None,
                               books[partner_id], [], [], catalog)
        statement.line_count = count
        statement.status = ReconciliationStatus.SETTLED
        statement.skipped_total = total
        out[partner_id] = statement
    return out


def from_issued(issued: RemittanceStatement) -> Statement:
    """The frozen figures of an issued statement, its adjustment lines and receipts."""
    return from_issued_many([issued])[issued.id]


def from_issued_many(issued_statements: list[RemittanceStatement],
                     catalog: dict | None = None) -> dict[uuid.UUID, Statement]:
    """`from_issued` of many statements (by id), with one query for all their
    adjustment lines."""
    if not issued_statements:
        return {}
    line = RemittanceStatementLine
    adjustments: dict[uuid.UUID, list] = defaultdict(list)
    for row in db.session.execute(
            select(line.statement_id, line.id, line.received_on, line.kind, line.method,
                   line.amount, line.product_id, line.receipt_number)
            .where(line.tenant_id.in_({s.tenant_id for s in issued_statements}),
                   line.statement_id.in_([s.id for s in issued_statements]),
                   line.is_adjustment.is_(True))
            .order_by(line.received_on, line.receipt_number)):
        adjustments[row.statement_id].append(row)
    return {issued.id: _frozen(issued, adjustments[issued.id], catalog)
            for issued in issued_statements}


def _frozen(issued: RemittanceStatement, adjustment_rows, catalog: dict | None) -> Statement:
    breakdown = issued.breakdown or {}
    return Statement(
        partner_id=issued.tenant_id, period=issued.period, state=PeriodState.ISSUED,
        number=issued.number, period_collected=issued.period_collected,
        adjustments=issued.adjustments, fee_share_bp=issued.fee_share_bp, fee=issued.fee,
        due_to_provider=issued.due_to_provider, due_on=issued.due_on,
        line_count=issued.line_count, by_method=breakdown.get("by_method", []),
        by_product=breakdown.get("by_product", []), by_kind=breakdown.get("by_kind", []),
        fee_parts=breakdown.get("fee_parts") or [
            {"fee_share_bp": issued.fee_share_bp, "collected": issued.collected,
             "fee": issued.fee, "source": None, "mou_number": None, "mou_version": None}],
        adjustment_lines=_adjustment_lines(adjustment_rows, issued.period, catalog),
        issued=issued)


def _statement(partner_id, period, state, number, book: TermsBook,
               groups: Iterable[tuple], adjustment_rows, catalog: dict | None = None
               ) -> Statement:
    """Figures from grouped rows: (is_adjustment, method, kind, product_id, received_on,
    sum, count). The fee is computed per fee share in force on the rows' dates."""
    groups = sorted(groups, key=lambda group: group[4])
    terms = book.on(period.last_day)
    by_terms: dict[Terms, int] = defaultdict(int)
    by_method: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_product: dict[int | None, list[int]] = defaultdict(lambda: [0, 0])
    period_collected = adjustments = count = 0
    for is_adjustment, method, kind, product_id, received_on, total, rows in groups:
        count += rows
        by_terms[book.on(received_on)] += total
        if is_adjustment:
            adjustments += total
            continue
        period_collected += total
        for bucket, key in ((by_method, str(method)), (by_kind, str(kind)),
                            (by_product, product_id)):
            bucket[key][0] += total
            bucket[key][1] += rows
    products = _products({p for p in by_product if p is not None}, catalog)
    collected = period_collected + adjustments
    fee_parts = _fee_parts(by_terms) or [_fee_part(terms, 0)]
    fee = sum(part["fee"] for part in fee_parts)
    return Statement(
        partner_id=partner_id, period=period, state=state, number=number,
        period_collected=period_collected, adjustments=adjustments,
        fee_share_bp=terms.fee_share_bp, fee=fee, due_to_provider=collected - fee,
        due_on=period.due_on(terms.due_day), line_count=count, fee_parts=fee_parts,
        by_method=[{"method": m, "amount": a, "count": c}
                   for m, (a, c) in sorted(by_method.items())],
        by_kind=[{"kind": k, "amount": a, "count": c} for k, (a, c) in sorted(by_kind.items())],
        by_product=[{"product_id": p, "product_code": products.get(p, ("", ""))[0],
                     "product_name": products.get(p, ("", ""))[1], "amount": a, "count": c}
                    for p, (a, c) in sorted(by_product.items(),
                                            key=lambda item: products.get(item[0], ("",))[0])],
        adjustment_lines=_adjustment_lines(adjustment_rows, period, catalog))


def _fee_parts(by_terms: dict[Terms, int]) -> list[dict]:
    """One part per fee share (and the MOU or setting it comes from), in the order of
    `by_terms`: the money collected under it and its fee, each rounded on its own."""
    merged: dict[tuple, int] = defaultdict(int)
    for terms, total in by_terms.items():
        merged[(terms.fee_share_bp, terms.source, terms.mou_number, terms.mou_version)] += total
    return [{"fee_share_bp": bp, "collected": total, "fee": fee_share(total, bp),
             "source": source, "mou_number": number, "mou_version": version}
            for (bp, source, number, version), total in merged.items()]


def _fee_part(terms: Terms, collected: int) -> dict:
    return _fee_parts({terms: collected})[0]


def _adjustment_lines(rows, period: Period, catalog: dict | None = None) -> list[dict]:
    products = _products({r.product_id for r in rows if r.product_id is not None}, catalog)
    return [{"entry_id": str(r.id), "received_on": r.received_on, "kind": str(r.kind),
             "method": str(r.method), "amount": r.amount, "receipt_number": r.receipt_number,
             "product_code": products.get(r.product_id, ("", ""))[0]} for r in rows]


def _products(ids: set[int], catalog: dict | None = None) -> dict[int, tuple[str, str]]:
    """(code, name) of the products `ids`: from `catalog` (`product_catalog()`, read once
    for many statements) or read now."""
    if not ids:
        return {}
    if catalog is not None:
        return catalog
    return {pid: (code, name) for pid, code, name in db.session.execute(
        select(Product.id, Product.code, Product.name).where(Product.id.in_(ids)))}


def product_catalog() -> dict[int, tuple[str, str]]:
    """(code, name) of every product (a short table): for building many statements."""
    return {pid: (code, name) for pid, code, name in db.session.execute(
        select(Product.id, Product.code, Product.name))}


# --- closing a period ---------------------------------------------------------------------


def closable(statement: Statement, today: date | None = None) -> bool:
    """Whether the period can be closed now (the checks of `issue`, without raising)."""
    try:
        _check_closable(statement.partner_id, statement.period, today)
    except DomainError:
        return False
    return True


def _check_closable(partner_id: int, period: Period, today: date | None) -> TermsBook:
    partner = _partner(partner_id)
    today = today or local_today(partner)
    book = TermsBook(partner_id)
    if period != book.period(period.start):
        raise DomainError(_("This is not a period of the partner's remittance schedule."))
    with tenancy.everything():
        if _statement_covering(partner_id, period.start) is not None:
            raise Conflict(_("This period is closed already."))
    if today < period.end:
        raise DomainError(_("The period is not over yet: it can be closed from %(date)s.",
                            date=_day(period.end)))
    last = last_statement(partner_id)
    if last is not None and period.start < last.period_end:
        raise DomainError(_("Periods are closed in order, and a later period (%(period)s) is "
                            "closed already. Money dated in this period is carried into the "
                            "next statement as an adjustment.", period=last.period.key))
    earliest = first_uncounted_on(partner_id, last.period_end if last else None, period.start)
    if earliest is not None:
        raise DomainError(_("Close the period %(period)s first: it holds money not yet on a "
                            "statement.", period=book.period(earliest).key))
    return book


def issue(actor, partner: Partner, period: Period, today: date | None = None) -> Statement:
    """Close a period: freeze the partner's statement for it (figures, number, the lines
    it counts), audited. By the provider (`remittance.manage`) or by the partner's admin
    (`remittance.close`). The period must be over and the earlier ones closed."""
    side = _require_closer(actor, partner)
    _lock_partner(partner.id)
    book = _check_closable(partner.id, period, today)
    with tenancy.everything():
        rows = db.session.execute(_uncounted_rows(partner.id, period.end).order_by(
            LedgerEntry.received_on, LedgerEntry.id)).all()
        groups: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
        for r in rows:
            key = (r.received_on < period.start, r.method, r.kind, r.product_id, r.received_on)
            groups[key][0] += r.amount
            groups[key][1] += 1
        adjustment_rows = [r for r in rows if r.received_on < period.start]
        figures = _statement(partner.id, period, PeriodState.ISSUED,
                             statement_number(partner.id, period), book,
                             [(*k, s, c) for k, (s, c) in groups.items()], adjustment_rows)
        issued = RemittanceStatement(
            id=tenancy.new_id(), tenant_id=partner.id, number=figures.number,
            frequency=period.frequency, period_start=period.start, period_end=period.end,
            period_collected=figures.period_collected, adjustments=figures.adjustments,
            collected=figures.collected, fee_share_bp=figures.fee_share_bp, fee=figures.fee,
            due_to_provider=figures.due_to_provider, due_on=figures.due_on,
            line_count=figures.line_count,
            breakdown={"by_method": figures.by_method, "by_product": figures.by_product,
                       "by_kind": figures.by_kind, "fee_parts": figures.fee_parts},
            issued_by_id=getattr(actor, "id", None), issued_by_side=side)
        lines = [{"tenant_id": partner.id, "id": r.id, "statement_id": issued.id,
                  "received_on": r.received_on, "kind": r.kind, "method": r.method,
                  "amount": r.amount, "product_id": r.product_id,
                  "receipt_number": r.receipt_number,
                  "is_adjustment": r.received_on < period.start} for r in rows]
        try:
            with db.session.begin_nested():
                db.session.add(issued)
                db.session.flush()
                if lines:
                    db.session.execute(insert(RemittanceStatementLine), lines)
        except IntegrityError:
            raise Conflict(_("The period was closed at the same moment by someone else. "
                             "Reload the page.")) from None
        record(actor, "remittance.statement.issue", issued, partner_id=partner.id, after={
            "number": issued.number, "period": period.key, "side": str(side),
            "period_collected": issued.period_collected, "adjustments": issued.adjustments,
            "collected": issued.collected, "fee_share_bp": issued.fee_share_bp,
            "fee_parts": figures.fee_parts, "fee": issued.fee, "due_to_provider": issued.due_to_provider,
            "due_on": issued.due_on.isoformat(), "lines": issued.line_count})
    return from_issued(issued)


# --- receipts -----------------------------------------------------------------------------


def receipts_of(partner_id: int, statement_id: uuid.UUID | None = None
                ) -> list[RemittanceReceipt]:
    stmt = select(RemittanceReceipt).where(RemittanceReceipt.tenant_id == partner_id)
    if statement_id is not None:
        stmt = stmt.where(RemittanceReceipt.statement_id == statement_id)
    return list(db.session.scalars(stmt.order_by(RemittanceReceipt.received_on.desc(),
                                                 RemittanceReceipt.recorded_at.desc())))


def record_receipt(actor, partner: Partner, statement_ref: str, amount, received_on,
                   bank_reference, key: str | None = None) -> RemittanceReceipt:
    """Record money the provider received from a partner for one issued statement.

    `key` (the API's Idempotency-Key, or the web form's one-time submission key) makes
    it idempotent, as in the ledger: the same key with the same request returns the row
    recorded the first time; the same key with a different request is refused."""
    _require_provider(actor, Permission.REMITTANCE_MANAGE)
    with tenancy.everything():
        return _record_receipt(actor, partner, statement_ref, amount, received_on,
                               bank_reference, key)


def _record_receipt(actor, partner, statement_ref, amount, received_on, bank_reference,
                    key) -> RemittanceReceipt:
    key = _check_key(key)
    statement = _issued_for_receipt(partner.id, statement_ref)
    amount = _check_receipt_amount(amount)
    received_on = _check_receipt_date(received_on, statement)
    bank_reference = _check_reference(bank_reference)
    request = (statement.id, amount, received_on, bank_reference)
    existing = _receipt_with_key(partner.id, key)
    if existing is not None:
        return _same_request(existing, request)
    receipt = RemittanceReceipt(
        id=tenancy.new_id(), tenant_id=partner.id, statement_id=statement.id,
        kind=ReceiptKind.RECEIPT, amount=amount, received_on=received_on,
        bank_reference=bank_reference, recorded_by_id=getattr(actor, "id", None),
        idempotency_key=key)
    try:
        with db.session.begin_nested():
            db.session.add(receipt)
            db.session.flush()
    except IntegrityError:  # the same key, recorded at the same moment
        existing = _receipt_with_key(partner.id, key)
        if existing is None:
            raise Conflict(_("This was recorded already. Reload the page.")) from None
        return _same_request(existing, request)
    record(actor, "remittance.receipt", receipt, partner_id=partner.id, after={
        "statement": statement.number, "amount": amount, "received_on": received_on.isoformat(),
        "bank_reference": bank_reference})
    return receipt


def reverse_receipt(actor, partner: Partner, receipt_id: uuid.UUID, reason
                    ) -> RemittanceReceipt:
    """Correct a mistaken receipt with a reversal row (the opposite amount, a reason)."""
    _require_provider(actor, Permission.REMITTANCE_MANAGE)
    with tenancy.everything():
        receipt = db.session.scalar(select(RemittanceReceipt).where(
            RemittanceReceipt.tenant_id == partner.id, RemittanceReceipt.id == receipt_id))
        if receipt is None:
            raise LookupError(receipt_id)
        if receipt.kind == ReceiptKind.REVERSAL:
            raise DomainError(_("A reversal cannot be reversed. Record the receipt again "
                                "instead."))
        if db.session.scalar(select(RemittanceReceipt.id).where(
                RemittanceReceipt.tenant_id == partner.id,
                RemittanceReceipt.reverses_id == receipt.id)) is not None:
            raise Conflict(_("This row has been reversed already."))
        reason = (reason or "").strip() if isinstance(reason, str) else ""
        if not REASON_MIN <= len(reason) <= REASON_MAX or not reason.isprintable():
            raise DomainError(_("Give the reason in %(min)d to %(max)d characters.",
                                min=REASON_MIN, max=REASON_MAX), "reason")
        reversal = RemittanceReceipt(
            id=tenancy.new_id(), tenant_id=partner.id, statement_id=receipt.statement_id,
            kind=ReceiptKind.REVERSAL, amount=-receipt.amount,
            received_on=local_today(partner), bank_reference=receipt.bank_reference,
            recorded_by_id=getattr(actor, "id", None), reverses_id=receipt.id, reason=reason)
        try:
            with db.session.begin_nested():
                db.session.add(reversal)
                db.session.flush()
        except IntegrityError:
            raise Conflict(_("This row has been reversed already.")) from None
        record(actor, "remittance.receipt.reversal", reversal, partner_id=partner.id, after={
            "reverses": str(receipt.id), "amount": reversal.amount, "reason": reason})
    return reversal


def _issued_for_receipt(partner_id: int, ref) -> RemittanceStatement:
    with tenancy.everything():
        try:
            statement = find(partner_id, ref if isinstance(ref, str) else "")
        except LookupError:
            statement = None
    if statement is None or statement.issued is None:
        raise DomainError(_("Choose an issued statement of this partner. Close the period "
                            "first if its statement is not issued yet."), "statement")
    return statement.issued


def _receipt_with_key(partner_id: int, key: str | None) -> RemittanceReceipt | None:
    if key is None:
        return None
    with tenancy.everything():
        return db.session.scalar(select(RemittanceReceipt).where(
            RemittanceReceipt.tenant_id == partner_id, RemittanceReceipt.idempotency_key == key))


def _same_request(existing: RemittanceReceipt, request: tuple) -> RemittanceReceipt:
    if (existing.statement_id, existing.amount, existing.received_on,
            existing.bank_reference) != request:
        raise DomainError(_("This Idempotency-Key was used for a different request."),
                          "Idempotency-Key")
    return existing


def _check_key(key) -> str | None:
    if key is None or key == "":
        return None
    if not isinstance(key, str) or len(key) > KEY_MAX or not key.isprintable():
        raise DomainError(_("Use a key of at most %(max)d printable characters.", max=KEY_MAX),
                          "Idempotency-Key")
    return key


def _check_receipt_amount(amount) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise DomainError(_("Enter the amount in whole rupiah."), "amount")
    if amount <= 0:
        raise DomainError(_("The amount must be more than zero."), "amount")
    if amount > MAX_RECEIPT_AMOUNT:
        raise DomainError(_("At most %(max)s in one record. Check the amount.",
                            max=format_rupiah(MAX_RECEIPT_AMOUNT)), "amount")
    return amount


def _check_receipt_date(received_on, statement: RemittanceStatement) -> date:
    if not isinstance(received_on, date):
        raise DomainError(_("Enter the date the money was received."), "received_on")
    if received_on > local_today():
        raise DomainError(_("The date cannot be in the future."), "received_on")
    if received_on < statement.period_start:
        raise DomainError(_("The date cannot be before the period of the statement "
                            "(%(date)s).", date=_day(statement.period_start)), "received_on")
    return received_on


def _check_reference(reference) -> str:
    reference = reference.strip() if isinstance(reference, str) else ""
    if not reference:
        raise DomainError(_("Enter the bank's reference of the transfer."), "bank_reference")
    if len(reference) > REFERENCE_MAX or not reference.isprintable():
        raise DomainError(_("Use at most %(max)d characters.", max=REFERENCE_MAX),
                          "bank_reference")
    return reference


# --- reconciliation -----------------------------------------------------------------------


def reconciliation_status(due: int, received: int, due_on: date, today: date,
                          issued: bool) -> ReconciliationStatus:
    """Over if more than due was received; not yet due until the due day has passed
    (unless an issued statement is settled); then settled, overdue (nothing received)
    or short (less than due received)."""
    if received > due:
        return ReconciliationStatus.OVER
    if today <= due_on and not (issued and received == due):
        return ReconciliationStatus.NOT_YET_DUE
    if received == due:
        return ReconciliationStatus.SETTLED
    if received <= 0:
        return ReconciliationStatus.OVERDUE
    return ReconciliationStatus.SHORT


def reconcile(statement: Statement, today: date | None = None,
              receipts: list[RemittanceReceipt] | None = None) -> Statement:
    """Add what the provider received for the statement (its `receipts`, read here unless
    given), the difference and the status."""
    if statement.state == PeriodState.SKIPPED:
        return statement
    today = today or local_today()
    if statement.issued is not None:
        if receipts is None:
            with tenancy.everything():
                receipts = receipts_of(statement.partner_id, statement.issued.id)
        statement.receipts = receipts
        statement.received = sum(r.amount for r in statement.receipts)
    statement.status = reconciliation_status(statement.due_to_provider, statement.received,
                                             statement.due_on, today,
                                             statement.issued is not None)
    return statement


def periods(partner_id: int, today: date | None = None, year: int | None = None
            ) -> list[Statement]:
    """The partner's statements, newest first, reconciled: the open periods from the
    last statement (or the partner's first money) up to the current period, and the
    issued statements — the last `RECENT_PERIODS`, or those of `year`."""
    partner = _partner(partner_id)
    today = today or local_today(partner)
    book = TermsBook(partner_id)
    last = last_statement(partner_id)
    start = last.period_end if last is not None else first_money_on(partner_id)
    out: list[Statement] = []
    candidate = book.period(today)
    start = start or candidate.start
    while candidate.end > start:
        if year is None or candidate.start.year == year:
            out.append(compute(partner_id, candidate))
        if (year is None and len(out) >= RECENT_PERIODS) or (
                year is not None and candidate.start.year < year):
            break
        candidate = book.period(candidate.start - timedelta(days=1))
    out.extend(from_issued(s) for s in issued_statements(partner_id, year))
    if year is None:
        out = out[:RECENT_PERIODS]
    return [reconcile(s, today) for s in out]


@dataclass
class PartnerRow:
    partner: Partner
    statement: Statement


def across_partners(month: Period, today: date | None = None,
                    only_differences: bool = False) -> list[PartnerRow]:
    """Provider view: for each partner, the statement of its period that contains the
    first day of `month` (issued, or computed if open), reconciled. Partners whose
    period was skipped are left out. Run in the provider's (cross-tenant) scope.

    Read in a fixed number of queries whatever the number of partners (about ten, plus
    one or two per kind of period): at 7,000 partners, reading each partner's statement
    on its own would be some 50,000 queries."""
    today = today or local_today()
    partners = list(db.session.scalars(select(Partner).where(Partner.slug.is_not(None))
                                       .order_by(Partner.name)))
    ids = [partner.id for partner in partners]
    if not ids:
        return []
    catalog = product_catalog()
    books = terms_books(ids)
    covering = {issued.tenant_id: issued for issued in db.session.scalars(
        select(RemittanceStatement).where(RemittanceStatement.tenant_id.in_(ids),
                                          RemittanceStatement.period_start <= month.start,
                                          RemittanceStatement.period_end > month.start))}
    frozen = from_issued_many(list(covering.values()), catalog)
    statements = {partner_id: frozen[issued.id] for partner_id, issued in covering.items()}
    rest = [partner_id for partner_id in ids if partner_id not in covering]
    statements.update(computed({partner_id: books[partner_id].period(month.start)
                                for partner_id in rest}, books, last_statements(rest),
                               catalog))
    receipts: dict[uuid.UUID, list[RemittanceReceipt]] = defaultdict(list)
    if covering:
        for receipt in db.session.scalars(
                select(RemittanceReceipt).where(
                    RemittanceReceipt.tenant_id.in_(list(covering)),
                    RemittanceReceipt.statement_id.in_([s.id for s in covering.values()]))
                .order_by(RemittanceReceipt.received_on.desc(),
                          RemittanceReceipt.recorded_at.desc())):
            receipts[receipt.statement_id].append(receipt)
    rows = []
    for partner in partners:
        statement = statements[partner.id]
        if statement.state == PeriodState.SKIPPED:
            continue
        issued = statement.issued
        reconcile(statement, today, receipts[issued.id] if issued is not None else None)
        if only_differences and statement.difference == 0:
            continue
        rows.append(PartnerRow(partner, statement))
    return rows


def last_statements(partner_ids: list[int]) -> dict[int, RemittanceStatement]:
    """`last_statement` of many partners (those that have one), in one query."""
    if not partner_ids:
        return {}
    with tenancy.everything():
        latest = (select(RemittanceStatement.tenant_id,
                         func.max(RemittanceStatement.period_end).label("period_end"))
                  .where(RemittanceStatement.tenant_id.in_(partner_ids))
                  .group_by(RemittanceStatement.tenant_id).subquery())
        return {statement.tenant_id: statement for statement in db.session.scalars(
            select(RemittanceStatement).join(latest, and_(
                RemittanceStatement.tenant_id == latest.c.tenant_id,
                RemittanceStatement.period_end == latest.c.period_end)))}


# --- checks -------------------------------------------------------------------------------


def _partner(partner_id: int) -> Partner:
    with tenancy.everything():
        partner = db.session.get(Partner, partner_id)
    if partner is None:
        raise LookupError(partner_id)
    return partner


def _lock_partner(partner_id: int) -> None:
    """Serialise closing periods of one partner (SELECT … FOR UPDATE on its row)."""
    with tenancy.everything():
        db.session.execute(select(Partner.id).where(Partner.id == partner_id)
                           .with_for_update())


def _require_provider(actor, permission: Permission) -> None:
    if actor is None:  # the system (demo data, operator commands)
        return
    from bungkesmas.auth.services import provider_permissions

    if permission not in provider_permissions(actor):
        raise NotAllowed(_("You are not allowed to do this."))


def _require_closer(actor, partner: Partner) -> StatementSide:
    if actor is None:
        return StatementSide.PROVIDER
    from bungkesmas.auth.services import provider_permissions, workspace_permissions

    if getattr(actor, "is_provider", False):
        if Permission.REMITTANCE_MANAGE in provider_permissions(actor):
            return StatementSide.PROVIDER
    elif Permission.REMITTANCE_CLOSE in workspace_permissions(actor, partner):
        return StatementSide.PARTNER
    raise NotAllowed(_("You are not allowed to do this."))


def _day(day: date) -> str:
    return day.strftime("%d-%m-%Y")
