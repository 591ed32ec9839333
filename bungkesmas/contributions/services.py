"""The contribution ledger: recording payments, withdrawals of savings and reversals;
allocating the balance to terms of cover; receipt numbers; coverage and status.

Plain functions: they take the actor, validate, write, audit and flush; the request
commits. Each money row is followed, in the same transaction and with the enrollment
row locked, by `_allocate`: the coverage engine (`coverage.compute`) is run over the
enrollment's money rows, `premium` rows are appended for terms newly funded from the
balance (and reversed for terms no longer funded, e.g. after a payment was reversed),
and the enrollment's coverage snapshot is refreshed. So the ledger itself records
"this period is paid from the balance", and the sum of an enrollment's rows is always
its free balance."""

from __future__ import annotations

import uuid
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import and_, bindparam, case, event, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import ObjectDeletedError

from bungkesmas import tenancy
from bungkesmas.audit.services import record
from bungkesmas.auth.permissions import Permission
from bungkesmas.contributions import coverage
from bungkesmas.contributions.coverage import Coverage, Money, Rules, Status, add_months
from bungkesmas.contributions.models import EntryKind, EntryMethod, LedgerEntry
from bungkesmas.contributions.terbilang import format_rupiah
from bungkesmas.errors import Conflict, DomainError, NotAllowed
from bungkesmas.extensions import db
from bungkesmas.members import numbers
from bungkesmas.members.models import Enrollment, EnrollmentStatus, Member
from bungkesmas.partners.models import Partner, PartnerStatus
from bungkesmas.tenancy import TenantSession
from bungkesmas.timeutil import local_date, local_today

# One row may not move more than this many times the product's contribution per term:
# a bigger amount is a typing error (an extra zero), not a prepayment.
MAX_CONTRIBUTIONS_PER_ROW = 10
PAYMENT_METHODS = (EntryMethod.CASH, EntryMethod.BANK_TRANSFER)
WITHDRAWAL_METHODS = (EntryMethod.CASH, EntryMethod.BANK_TRANSFER)
REASON_MAX = 500
REFERENCE_MAX = 100
KEY_MAX = 100
# The reason written on the premium reversals `_allocate` makes (stored data, English).
UNFUNDED_REASON = "The balance no longer funds this period (a money row was reversed)."


# --- coverage -----------------------------------------------------------------------------


def rules_of(enrollment: Enrollment) -> Rules:
    v = enrollment.product_version
    return Rules(contribution=v.annual_contribution, term_months=v.term_months,
                 waiting_days=v.waiting_days, grace_days=v.grace_days)


def enrolled_on(enrollment: Enrollment) -> date:
    return local_date(enrollment.enrolled_at)


def cancelled_on(enrollment: Enrollment) -> date | None:
    if enrollment.status != EnrollmentStatus.CANCELLED:
        return None
    return local_date(enrollment.cancelled_at) if enrollment.cancelled_at else enrolled_on(
        enrollment)


def entries_of(enrollment: Enrollment) -> list[LedgerEntry]:
    """The enrollment's ledger rows, oldest first."""
    return list(db.session.scalars(select(LedgerEntry).where(
        LedgerEntry.tenant_id == enrollment.tenant_id,
        LedgerEntry.enrollment_id == enrollment.id)
        .order_by(LedgerEntry.received_on, LedgerEntry.id)))


# The columns `_allocate` and the engine read: loaded as plain rows (no ORM objects),
# since every money row of an enrollment is read again each time one is added.
_ALLOCATE_COLUMNS = (LedgerEntry.id, LedgerEntry.kind, LedgerEntry.method, LedgerEntry.amount,
                     LedgerEntry.received_on, LedgerEntry.reverses_id, LedgerEntry.period_number)


_ENTRY_ROWS = (select(*_ALLOCATE_COLUMNS).where(
    LedgerEntry.tenant_id == bindparam("tenant_id"),
    LedgerEntry.enrollment_id == bindparam("enrollment_id"))
    .order_by(LedgerEntry.received_on, LedgerEntry.id))


def _entry_rows(enrollment: Enrollment) -> list:
    """The enrollment's ledger rows as rows of `_ALLOCATE_COLUMNS`, oldest first."""
    return list(db.session.execute(_ENTRY_ROWS, {"tenant_id": enrollment.tenant_id,
                                                 "enrollment_id": enrollment.id}))


def _money(entries: list[LedgerEntry]) -> list[Money]:
    """The rows that move the member's money (everything but the premium bookkeeping,
    whose method is `savings`), for the engine."""
    return [Money(id=str(e.id), on=e.received_on, amount=e.amount,
                  reverses=str(e.reverses_id) if e.reverses_id else None)
            for e in entries if e.method != EntryMethod.SAVINGS]


def coverage_of(enrollment: Enrollment, entries: list[LedgerEntry] | None = None) -> Coverage:
    """The enrollment's cover periods, balance and status on any date, from the ledger."""
    entries = entries_of(enrollment) if entries is None else entries
    return coverage.compute(rules_of(enrollment), enrolled_on(enrollment), _money(entries),
                            cancelled_on(enrollment))


_COVERAGE_KEY = "bungkesmas.coverage_after_allocate"


def current_coverage(enrollment: Enrollment) -> Coverage:
    """The enrollment's coverage now: the one `_allocate` computed when a row was recorded
    for it in this transaction (after its flush, so the same as reading the ledger again),
    or else computed from the ledger. Saves a second read of the ledger for the response
    to a payment."""
    cached = db.session.info.get(_COVERAGE_KEY, {}).get((enrollment.tenant_id, enrollment.id))
    if cached is not None and cached[1:] == (enrollment.status, enrollment.cancelled_at):
        return cached[0]
    return coverage_of(enrollment)


@event.listens_for(TenantSession, "after_transaction_end")
def _forget_coverage(session, transaction) -> None:
    """The kept coverage lives as long as the transaction (or savepoint) it was computed
    in: a rollback may have undone the row it counts. (A flush's internal
    subtransaction does not count.)"""
    if transaction.nested or transaction.parent is None:
        session.info.pop(_COVERAGE_KEY, None)


def status_of(enrollment: Enrollment, today: date | None = None) -> Status:
    """Today's status from the enrollment's snapshot (no ledger read); the same rule as
    `status_expression`. Valid for dates on or after the last money row — i.e. today."""
    today = today or local_today()
    if enrollment.status == EnrollmentStatus.CANCELLED:
        return Status.CANCELLED
    if enrollment.covered_until is None:
        return Status.PENDING_PAYMENT
    if enrollment.waiting_until is not None and today < enrollment.waiting_until:
        return Status.WAITING
    if today < enrollment.covered_until:
        return Status.ACTIVE
    if enrollment.grace_until is not None and today < enrollment.grace_until:
        return Status.GRACE
    return Status.LAPSED


def primary_enrollment(member: Member) -> Enrollment | None:
    """The member's newest open enrollment (or newest of all): the one whose status and
    covered-until date stand for the member's."""
    return primary_of(list(member.enrollments))


def primary_of(enrollments: list):
    """`primary_enrollment` among enrollments (or rows with their `status`) in the order
    they were enrolled."""
    open_ = [e for e in enrollments if e.status != EnrollmentStatus.CANCELLED]
    return (open_ or enrollments or [None])[-1]


def status_expression(today: date):
    """Today's status of an enrollment as a SQL expression over its snapshot columns,
    for lists, filters and counts. The same rule as `status_of`."""
    return case(
        (Enrollment.status == EnrollmentStatus.CANCELLED.value, literal(Status.CANCELLED.value)),
        (Enrollment.covered_until.is_(None), literal(Status.PENDING_PAYMENT.value)),
        (and_(Enrollment.waiting_until.is_not(None), Enrollment.waiting_until > today),
         literal(Status.WAITING.value)),
        (Enrollment.covered_until > today, literal(Status.ACTIVE.value)),
        (and_(Enrollment.grace_until.is_not(None), Enrollment.grace_until > today),
         literal(Status.GRACE.value)),
        else_=literal(Status.LAPSED.value))


def status_counts(today: date | None = None, partner_id: int | None = None) -> dict[Status, int]:
    """How many enrollments are in each status today — of every partner in the provider's
    scope (`tenancy.everything()`), of the visible partners in a workspace, or of one
    partner (`partner_id`, within the scope) — from `enrollment_counts`: a few thousand
    rows however many enrollments there are. The same answer as counting `status_of`
    (or `status_expression`) over every enrollment.

    Per funded enrollment the table holds W (waiting until), W' = max(W, covered until)
    and G' = max(W', grace until), so W <= W' <= G' and today's status is: waiting
    before W, active from W to W', grace from W' to G', lapsed after. Counting the days
    after today of each kind therefore gives: waiting = #W, active = #W' - #W,
    grace = #G' - #W', lapsed = funded - #G'."""
    from sqlalchemy import func, union_all

    from bungkesmas.contributions.models import EnrollmentCount

    today = today or local_today()
    scope = tenancy.current_scope()
    counts = dict.fromkeys(Status, 0)
    if scope.kind == "nobody" or (partner_id is not None and not scope.allows(partner_id)):
        return counts
    def summed(*where):
        stmt = (select(EnrollmentCount.kind, func.sum(EnrollmentCount.enrollments))
                .where(*where).group_by(EnrollmentCount.kind))
        if partner_id is not None:
            stmt = stmt.where(EnrollmentCount.partner_id == partner_id)
        elif scope.kind == "tenants":  # a global table: the scope is applied here
            stmt = stmt.where(EnrollmentCount.partner_id.in_(scope.visible))
        return stmt

    # Ranges of the (kind, day, …) key: the undated kinds whole; the dated ones by day
    # for the rest of this month, by month after it.
    next_month = add_months(today.replace(day=1), 1)
    rows = db.session.execute(union_all(
        summed(EnrollmentCount.kind.in_(("pending", "cancelled", "funded"))),
        summed(EnrollmentCount.kind.in_(("waiting", "covered", "grace")),
               EnrollmentCount.day > today, EnrollmentCount.day < next_month),
        summed(EnrollmentCount.kind.in_(("waiting_m", "covered_m", "grace_m")),
               EnrollmentCount.day >= next_month))).all()
    n: dict[str, int] = {}
    for kind, value in rows:
        n[kind.removesuffix("_m")] = n.get(kind.removesuffix("_m"), 0) + int(value or 0)

    def get(kind):
        return n.get(kind, 0)

    counts.update({
        Status.PENDING_PAYMENT: get("pending"),
        Status.WAITING: get("waiting"),
        Status.ACTIVE: get("covered") - get("waiting"),
        Status.GRACE: get("grace") - get("covered"),
        Status.LAPSED: get("funded") - get("grace"),
        Status.CANCELLED: get("cancelled"),
    })
    return counts


# --- receipts -----------------------------------------------------------------------------


def receipt_number(partner_id: int, year: int, sequence: int) -> str:
    return f"KW-{partner_id:04d}-{year}-{sequence:06d}"


def next_receipt_number(partner_id: int, on: date) -> str:
    """The partner's next receipt number of the year: KW-<partner>-<year>-<sequence>.

    Taken from the partner's counter with a row-locking UPDATE in the caller's
    transaction: concurrent payments take turns, and a transaction that fails gives its
    number back with its rollback — the sequence has no gaps and no duplicates."""
    return receipt_number(partner_id, on.year,
                          numbers.next_value(partner_id, f"receipt_{on.year}"))


# --- recording ----------------------------------------------------------------------------


def record_payment(actor, enrollment: Enrollment, method, amount, received_on,
                   reference: str | None = None, key: str | None = None, *,
                   methods: tuple[EntryMethod, ...] = PAYMENT_METHODS,
                   key_is_new: bool = False) -> LedgerEntry:
    """Record money received for an enrollment (cash or bank transfer) with a receipt
    number; fund terms from the balance. `key` makes the call idempotent: a second call
    with the same key returns the first row instead of recording again. `key_is_new`:
    the caller has just found the key unused (the API's `Idempotency-Key` check), so it
    is not looked up again; a row recorded with it meanwhile is still refused by the
    ledger's unique key, as a conflict."""
    partner = _home_partner(enrollment)
    key = _check_key(key)
    existing = None if key_is_new else _recorded_with(key, EntryKind.PAYMENT, enrollment)
    if existing is not None:
        return existing
    _require(actor, partner, Permission.CONTRIBUTIONS_RECORD)
    enrollment = _lock(enrollment)
    _require_open(partner, enrollment)
    # `methods`: what this caller may record. Pages and the API record cash and bank
    # transfers; a `waste` row is made only by waste.services.record_deposit, with its
    # deposit, so it passes methods=(EntryMethod.WASTE,).
    method = _check_method(method, methods)
    amount = _check_amount(amount, enrollment)
    received_on = _check_date(received_on, enrollment, partner)
    reference = _check_reference(reference, method)
    entry = LedgerEntry(
        id=tenancy.new_id(), tenant_id=partner.id, member_id=enrollment.member_id,
        enrollment_id=enrollment.id, kind=EntryKind.PAYMENT, method=method, amount=amount,
        received_on=received_on,
        recorded_by_id=getattr(actor, "id", None), collected_by_partner_id=partner.id,
        receipt_number=next_receipt_number(partner.id, local_today(partner)),
        external_reference=reference, idempotency_key=key)
    cover = _insert_and_allocate(entry, enrollment)
    record(actor, "contribution.payment", entry, partner_id=partner.id,
           after=_audit_view(entry, enrollment, cover))
    return entry


def withdraw_savings(actor, enrollment: Enrollment, amount, received_on,
                     key: str | None = None, method=EntryMethod.CASH) -> LedgerEntry:
    """Pay savings back to the member: only what is not funding a term (the free
    balance), so the member's periods of cover stay exactly as they were."""
    partner = _home_partner(enrollment)
    key = _check_key(key)
    existing = _recorded_with(key, EntryKind.WITHDRAWAL, enrollment)
    if existing is not None:
        return existing
    _require(actor, partner, Permission.SAVINGS_WITHDRAW)
    enrollment = _lock(enrollment)
    _require_active(partner)
    method = _check_method(method, WITHDRAWAL_METHODS)
    amount = _check_amount(amount, enrollment)
    received_on = _check_date(received_on, enrollment, partner)
    entries = entries_of(enrollment)
    before = coverage_of(enrollment, entries)
    trial = LedgerEntry(id=tenancy.new_id(), received_on=received_on, amount=-amount,
                        method=method)
    after = coverage_of(enrollment, [*entries, trial])
    if after.periods != before.periods or after.balance < 0:
        raise DomainError(_("At most %(free)s can be withdrawn on this date: the rest of the "
                            "balance pays for cover.", free=format_rupiah(
                                _free_on(enrollment, entries, received_on))), "amount")
    entry = LedgerEntry(
        id=tenancy.new_id(), tenant_id=partner.id, member_id=enrollment.member_id,
        enrollment_id=enrollment.id, kind=EntryKind.WITHDRAWAL, method=method, amount=-amount,
        received_on=received_on,
        recorded_by_id=getattr(actor, "id", None), collected_by_partner_id=partner.id,
        receipt_number=next_receipt_number(partner.id, local_today(partner)),
        idempotency_key=key)
    cover = _insert_and_allocate(entry, enrollment)
    record(actor, "contribution.withdrawal", entry, partner_id=partner.id,
           after=_audit_view(entry, enrollment, cover))
    return entry


def _free_on(enrollment: Enrollment, entries: list[LedgerEntry], on: date) -> int:
    """The most that can be withdrawn on `on` without changing any period (found by
    bisection over the engine, which is cheap)."""
    before = coverage_of(enrollment, entries)
    low, high = 0, max(0, before.balance)
    while low < high:
        mid = (low + high + 1) // 2
        trial = LedgerEntry(id=tenancy.new_id(), received_on=on, amount=-mid,
                            method=EntryMethod.CASH)
        after = coverage_of(enrollment, [*entries, trial])
        if after.periods == before.periods and after.balance >= 0:
            low = mid
        else:
            high = mid - 1
    return low


def reverse(actor, entry: LedgerEntry, reason: str, key: str | None = None) -> LedgerEntry:
    """Correct a mistaken payment or withdrawal with a reversal row (the opposite amount,
    a reason, its own receipt number) that points at it. The original stays as it was."""
    enrollment = db.session.scalar(select(Enrollment).where(
        Enrollment.tenant_id == entry.tenant_id, Enrollment.id == entry.enrollment_id))
    if enrollment is None:
        raise LookupError(entry.id)
    partner = _home_partner(enrollment)
    key = _check_key(key)
    existing = _recorded_with(key, EntryKind.REVERSAL, enrollment)
    if existing is not None:
        return existing
    _require(actor, partner, Permission.CONTRIBUTIONS_REVERSE)
    enrollment = _lock(enrollment)
    _require_active(partner)
    entry = db.session.scalar(select(LedgerEntry).where(
        LedgerEntry.tenant_id == partner.id, LedgerEntry.id == entry.id))
    if entry is None:
        raise LookupError("entry")
    if entry.kind == EntryKind.REVERSAL:
        raise DomainError(_("A reversal cannot be reversed. Record the payment again instead."))
    if entry.kind == EntryKind.PREMIUM:
        raise DomainError(_("A period paid from the balance follows the payments: reverse "
                            "the payment instead."))
    if reversal_of(entry) is not None:
        raise Conflict(_("This row has been reversed already."))
    if entry.collected_by_partner_id != partner.id:
        raise DomainError(_("Only the partner that received this money can reverse it."))
    reason = (reason or "").strip()
    if not 3 <= len(reason) <= REASON_MAX:
        raise DomainError(_("Give the reason in %(min)d to %(max)d characters.", min=3,
                            max=REASON_MAX), "reason")
    today = local_today(partner)
    reversal = LedgerEntry(
        id=tenancy.new_id(), tenant_id=partner.id, member_id=entry.member_id,
        enrollment_id=entry.enrollment_id,
        kind=EntryKind.REVERSAL, method=entry.method, amount=-entry.amount, received_on=today,
        recorded_by_id=getattr(actor, "id", None),
        collected_by_partner_id=entry.collected_by_partner_id,
        receipt_number=next_receipt_number(partner.id, today), reverses_id=entry.id,
        reason=reason, idempotency_key=key)
    entries = entries_of(enrollment)
    if coverage_of(enrollment, [*entries, reversal]).balance < 0:
        raise DomainError(_("The money of this payment has been withdrawn since: reverse the "
                            "withdrawal first."))
    cover = _insert_and_allocate(reversal, enrollment)
    record(actor, "contribution.reversal", reversal, partner_id=partner.id,
           after={**_audit_view(reversal, enrollment, cover), "reverses": str(entry.id),
                  "reverses_receipt": entry.receipt_number, "reason": reason})
    return reversal


def reversal_of(entry: LedgerEntry) -> LedgerEntry | None:
    return db.session.scalar(select(LedgerEntry).where(
        LedgerEntry.tenant_id == entry.tenant_id, LedgerEntry.reverses_id == entry.id))


def _insert_and_allocate(entry: LedgerEntry, enrollment: Enrollment) -> Coverage:
    """Add a money row of the (locked) enrollment and bring its premium rows and coverage
    snapshot in line, in one flush: the enrollment's rows are read before the new one is
    added, which joins them in memory. A concurrent duplicate (same idempotency key, or a
    second reversal of one row) is a conflict. The failed flush leaves the transaction
    unusable: every caller rolls back on a DomainError (web.run, the API's `idempotent`,
    the waste deposit page), so no savepoint is spent on keeping it usable (two round
    trips on PostgreSQL for every row)."""
    rows = _entry_rows(enrollment)
    db.session.add(entry)
    cover = _allocate(enrollment, sorted([*rows, entry], key=lambda e: (e.received_on, e.id)))
    try:
        db.session.flush()
    except IntegrityError:
        raise Conflict(_("This was recorded already. Reload the page.")) from None
    db.session.info.setdefault(_COVERAGE_KEY, {})[(enrollment.tenant_id, enrollment.id)] = (
        cover, enrollment.status, enrollment.cancelled_at)
    return cover


def _allocate(enrollment: Enrollment, entries: list) -> Coverage:
    """Bring the premium rows and the coverage snapshot in line with the money rows
    (`entries`: all the enrollment's rows, oldest first), without flushing."""
    cover = coverage_of(enrollment, entries)
    contribution = rules_of(enrollment).contribution
    reversed_ids = {e.reverses_id for e in entries if e.reverses_id is not None}
    live = {e.period_number: e for e in entries
            if e.kind == EntryKind.PREMIUM and e.id not in reversed_ids}
    wanted = {p.number: p for p in cover.periods}
    today = local_today()
    for number, row in sorted(live.items()):
        period = wanted.get(number)
        if period is None or period.funded_on != row.received_on or -row.amount != contribution:
            db.session.add(LedgerEntry(
                tenant_id=enrollment.tenant_id, member_id=enrollment.member_id,
                enrollment_id=enrollment.id, kind=EntryKind.REVERSAL,
                method=EntryMethod.SAVINGS, amount=-row.amount, received_on=today,
                collected_by_partner_id=enrollment.tenant_id, reverses_id=row.id,
                reason=UNFUNDED_REASON))
            del live[number]
    for number, period in sorted(wanted.items()):
        if number not in live:
            db.session.add(LedgerEntry(
                tenant_id=enrollment.tenant_id, member_id=enrollment.member_id,
                enrollment_id=enrollment.id, kind=EntryKind.PREMIUM,
                method=EntryMethod.SAVINGS, amount=-contribution,
                received_on=period.funded_on, collected_by_partner_id=enrollment.tenant_id,
                period_number=number))
    enrollment.first_funded_on = cover.first_funded_on
    enrollment.waiting_until = cover.waiting_until
    enrollment.covered_until = cover.covered_until
    enrollment.grace_until = cover.grace_until
    enrollment.balance = cover.balance
    enrollment.terms_funded = len(cover.periods)
    enrollment.last_paid_on = max((e.received_on for e in entries
                                   if e.kind == EntryKind.PAYMENT and e.id not in reversed_ids),
                                  default=None)
    return cover


# --- checks -------------------------------------------------------------------------------


def _home_partner(enrollment: Enrollment) -> Partner:
    """The workspace's own partner, which must hold the enrollment: a parent partner
    looks at its children's members but records nothing for them, and an enrollment
    transferred away is not found."""
    scope = tenancy.current_scope()
    try:
        tenant_id = enrollment.tenant_id
    except ObjectDeletedError:  # moved away (or gone) since it was loaded
        raise LookupError("enrollment") from None
    if scope.home is None or tenant_id != scope.home:
        raise LookupError("enrollment")
    return db.session.get(Partner, scope.home)  # a global table: no scope needed


def _require(actor, partner: Partner, permission: Permission) -> None:
    if actor is None:  # the system (demo data, operator commands)
        return
    from bungkesmas.auth.services import workspace_permissions

    if permission not in workspace_permissions(actor, partner):
        raise NotAllowed(_("You are not allowed to do this."))


def _require_active(partner: Partner) -> None:
    if partner.status != PartnerStatus.APPROVED:
        raise DomainError(_("%(name)s is not active; its data is read-only.", name=partner.name))


def _require_open(partner: Partner, enrollment: Enrollment) -> None:
    _require_active(partner)
    if enrollment.status == EnrollmentStatus.CANCELLED:
        raise DomainError(_("This enrollment is cancelled: no contribution can be recorded "
                            "for it."))


def _lock(enrollment: Enrollment) -> Enrollment:
    """The enrollment again, read with a row lock (SELECT … FOR UPDATE) so that the
    contributions of one enrollment are recorded one after the other."""
    if db.session.get_bind().dialect.name == "sqlite":
        # No row locks: SQLite has one writer at a time, and the rows `_allocate` reads
        # are read after this transaction took the write lock (the receipt number's
        # UPDATE). A re-read here would see what the caller has already read.
        return enrollment
    locked = db.session.execute(_LOCK, {"tenant_id": enrollment.tenant_id,
                                        "enrollment_id": enrollment.id}).scalar_one_or_none()
    if locked is None:
        raise LookupError(enrollment.id)
    return locked


_LOCK = (select(Enrollment).where(Enrollment.tenant_id == bindparam("tenant_id"),
                                  Enrollment.id == bindparam("enrollment_id"))
         .with_for_update(of=Enrollment).execution_options(populate_existing=True))


def _check_key(key) -> str | None:
    if key is None or key == "":
        return None
    if not isinstance(key, str) or len(key) > KEY_MAX or not key.isprintable():
        raise DomainError(_("Use a key of at most %(max)d printable characters.", max=KEY_MAX),
                          "idempotency_key")
    return key


def _recorded_with(key: str | None, kind: EntryKind, enrollment: Enrollment):
    """The row recorded before with this idempotency key, if any (same kind and
    enrollment; the key used for anything else is a conflict)."""
    if key is None:
        return None
    row = db.session.scalar(_BY_KEY, {"key": key})
    if row is None:
        return None
    if row.kind != kind or row.enrollment_id != enrollment.id:
        raise Conflict(_("This key was used for another record."), "idempotency_key")
    return row


_BY_KEY = select(LedgerEntry).where(LedgerEntry.idempotency_key == bindparam("key"))


def _check_method(method, allowed) -> EntryMethod:
    try:
        method = EntryMethod(method)
    except ValueError:
        method = None
    if method not in allowed:
        raise DomainError(_("Choose how the money was paid."), "method")
    return method


def max_amount(enrollment: Enrollment) -> int:
    return MAX_CONTRIBUTIONS_PER_ROW * enrollment.product_version.annual_contribution


def _check_amount(amount, enrollment: Enrollment) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise DomainError(_("Enter the amount in whole rupiah."), "amount")
    if amount <= 0:
        raise DomainError(_("The amount must be more than zero."), "amount")
    most = max_amount(enrollment)
    if amount > most:
        raise DomainError(_("At most %(max)s in one record (%(times)d times the "
                            "contribution). Check the amount.", max=format_rupiah(most),
                            times=MAX_CONTRIBUTIONS_PER_ROW), "amount")
    return amount


def _check_date(received_on, enrollment: Enrollment, partner: Partner) -> date:
    if not isinstance(received_on, date):
        raise DomainError(_("Enter the date the money was received."), "received_on")
    if received_on > local_today(partner):
        raise DomainError(_("The date cannot be in the future."), "received_on")
    if received_on < enrolled_on(enrollment):
        raise DomainError(_("The date cannot be before the enrollment (%(date)s).",
                            date=enrolled_on(enrollment).strftime("%d-%m-%Y")), "received_on")
    return received_on


def _check_reference(reference, method: EntryMethod) -> str | None:
    reference = (reference or "").strip() if isinstance(reference, str) else ""
    if len(reference) > REFERENCE_MAX or not reference.isprintable():
        raise DomainError(_("Use at most %(max)d characters.", max=REFERENCE_MAX), "reference")
    if method == EntryMethod.BANK_TRANSFER and not reference:
        raise DomainError(_("Enter the bank's reference of the transfer."), "reference")
    return reference or None


def _audit_view(entry: LedgerEntry, enrollment: Enrollment, cover: Coverage) -> dict:
    # The member is usually in the session already (the caller found the enrollment
    # through it): then no query.
    member = db.session.get(Member, (enrollment.tenant_id, enrollment.member_id))
    member_number = member.member_number if member is not None else None
    return {"member": member_number, "enrollment": str(enrollment.id), "kind": str(entry.kind),
            "method": str(entry.method), "amount": entry.amount,
            "received_on": entry.received_on.isoformat(), "receipt": entry.receipt_number,
            "reference": entry.external_reference, "balance": cover.balance,
            "covered_until": cover.covered_until.isoformat() if cover.covered_until else None}


# --- reading ------------------------------------------------------------------------------


def entry_by_id(entry_id: uuid.UUID) -> LedgerEntry | None:
    return db.session.scalar(select(LedgerEntry).where(LedgerEntry.id == entry_id))


def entry_by_receipt(number: str) -> LedgerEntry | None:
    """A money row of the current scope by its receipt number (None if not visible)."""
    number = (number or "").strip().upper()
    if not number.startswith("KW-") or len(number) > 40:
        return None
    return db.session.scalar(select(LedgerEntry).where(LedgerEntry.receipt_number == number))
