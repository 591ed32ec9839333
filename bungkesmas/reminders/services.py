"""Reminders: produce the messages that are due on a partner's local date, and send them.

Producing (`produce`) looks at the partner's enrollments' coverage snapshot (SQL, no
ledger reads) and adds one `Reminder` per enrollment, reason and due date:

* due_soon — the cover ends within `REMINDER_DAYS_BEFORE` days (waiting or active now)
  and the balance does not pay the next term;
* grace — the cover has ended and the grace period runs;
* lapsed — the grace period ended at most `REMINDER_LAPSED_DAYS` days ago (older
  lapses are not reminded: the first run must not message every member who ever
  lapsed).

Members without a phone number are skipped and counted. The unique key (enrollment,
reason, due date) and INSERT … ON CONFLICT DO NOTHING make producing idempotent, also
when two runs overlap.

Sending (`send_pending`) claims reminders with one UPDATE … RETURNING (PostgreSQL: of
rows picked FOR UPDATE SKIP LOCKED) and commits the claim before handing each message
to the sender, then marks it sent or failed with the time and commits again. A
reminder is therefore sent at most once, however many runs there are at the same
time. A failed one is tried again by later runs, up to `REMINDER_MAX_ATTEMPTS` in all.
Before sending, a reminder whose reason no longer holds (the member paid meanwhile) is
marked obsolete instead.

These functions commit: they are a batch job (the `flask reminders send` command), and a
claim must be durable before the message leaves."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from lokal import parse_phone
from sqlalchemy import and_, case, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bungkesmas import tenancy
from bungkesmas.audit.services import record
from bungkesmas.contributions.coverage import Status
from bungkesmas.contributions.services import status_expression
from bungkesmas.contributions.terbilang import format_rupiah
from bungkesmas.extensions import db
from bungkesmas.members.models import Enrollment, EnrollmentStatus, Member
from bungkesmas.partners.models import Partner, PartnerStatus
from bungkesmas.products.models import Product, ProductVersion
from bungkesmas.reminders.due import amount_due_expression
from bungkesmas.reminders.models import Reminder, ReminderReason, ReminderStatus
from bungkesmas.reminders.senders import Sender, SendFailed
from bungkesmas.timeutil import local_today, utcnow

log = logging.getLogger(__name__)

SMS_LENGTH = 160  # one SMS; longer texts are sent as several parts
NAME_MIN, PARTNER_MIN = 12, 16  # how far names may be shortened to fit one SMS
CLAIM_BATCH = 50

# The reason a reminder is about, by today's status of the enrollment.
REASON_BY_STATUS = {Status.WAITING: ReminderReason.DUE_SOON,
                    Status.ACTIVE: ReminderReason.DUE_SOON,
                    Status.GRACE: ReminderReason.GRACE,
                    Status.LAPSED: ReminderReason.LAPSED}


# --- the text ---------------------------------------------------------------------------


def dmy(d: date) -> str:
    return d.strftime("%d-%m-%Y")


def national_phone(phone: str | None) -> str:
    """0812-3456-7890, as people write it."""
    if not phone:
        return ""
    info = parse_phone(phone)
    return info.national if info.valid else phone


def _template(reason: ReminderReason, values: dict) -> str:
    if reason == ReminderReason.DUE_SOON:
        return _("Dear %(name)s, your %(product)s contribution of %(amount)s is due on "
                 "%(due)s. Please pay at %(partner)s %(phone)s", **values)
    if reason == ReminderReason.GRACE:
        return _("Dear %(name)s, your %(product)s contribution of %(amount)s was due on "
                 "%(due)s. Pay before %(grace)s to stay covered. %(partner)s %(phone)s",
                 **values)
    return _("Dear %(name)s, your %(product)s cover stopped on %(grace)s. Pay %(amount)s "
             "to be covered again. %(partner)s %(phone)s", **values)


def _shorten(text: str, most: int) -> str:
    text = " ".join(text.split())
    if len(text) <= most:
        return text
    cut = text[:most].rsplit(" ", 1)[0] if " " in text[:most] else text[:most]
    return cut.rstrip(" ,.")


def reminder_text(reason: ReminderReason, *, name: str, product: str, amount: int,
                  due_on: date, grace_until: date | None, partner: str,
                  partner_phone: str | None) -> str:
    """The Indonesian SMS/WhatsApp text of a reminder: the member's name, the amount due
    in rupiah, the date, and the partner's name and phone — no NIK, no member number.
    Long names are shortened (at word boundaries) to keep it within one SMS where
    possible."""
    values = {"name": " ".join(name.split()), "product": _shorten(product, 20),
              "amount": format_rupiah(amount), "due": dmy(due_on),
              "grace": dmy(grace_until or due_on), "partner": " ".join(partner.split()),
              "phone": national_phone(partner_phone)}
    with force_locale("id"):
        text = _template(reason, values)
        # Shorten the partner's name, then the member's, until the text fits one SMS.
        for key, least in (("partner", PARTNER_MIN), ("name", NAME_MIN)):
            while len(text) > SMS_LENGTH and len(values[key]) > least:
                target = max(least, len(values[key]) - (len(text) - SMS_LENGTH))
                shorter = _shorten(values[key], target)
                if not shorter or shorter == values[key]:
                    break
                values[key] = shorter
                text = _template(reason, values)
        return text.strip()


# --- producing --------------------------------------------------------------------------


@dataclass
class RunCounts:
    produced: int = 0
    skipped_no_phone: int = 0
    sent: int = 0
    failed: int = 0
    obsolete: int = 0
    by_reason: dict = field(default_factory=dict)

    def add(self, other: RunCounts) -> None:
        for name in ("produced", "skipped_no_phone", "sent", "failed", "obsolete"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for reason, n in other.by_reason.items():
            self.by_reason[reason] = self.by_reason.get(reason, 0) + n

    def as_dict(self) -> dict:
        return {"produced": self.produced, "skipped_no_phone": self.skipped_no_phone,
                "sent": self.sent, "failed": self.failed, "obsolete": self.obsolete}


def _candidates(partner: Partner, today: date):
    """Enrollments of `partner` that a reminder is due for today, with what the text
    needs — one query over the snapshot (index ranges on covered_until and
    grace_until)."""
    config = current_app.config
    soon = today + timedelta(days=config["REMINDER_DAYS_BEFORE"])
    lapsed_since = today - timedelta(days=config["REMINDER_LAPSED_DAYS"])
    status = status_expression(today)
    reason = case(*((status == s.value, literal(r.value)) for s, r in REASON_BY_STATUS.items()),
                  else_=literal(None))
    made = (select(Reminder.id).where(
        Reminder.tenant_id == Enrollment.tenant_id, Reminder.enrollment_id == Enrollment.id,
        Reminder.reason == reason, Reminder.due_on == Enrollment.covered_until)
        .correlate(Enrollment).exists())
    return db.session.execute(
        select(Enrollment.id, Enrollment.member_id, status, Enrollment.covered_until,
               Enrollment.grace_until, amount_due_expression(), Member.full_name,
               Member.phone, Product.name)
        .join(Member, and_(Member.tenant_id == Enrollment.tenant_id,
                           Member.id == Enrollment.member_id))
        .join(ProductVersion, ProductVersion.id == Enrollment.product_version_id)
        .join(Product, Product.id == ProductVersion.product_id)
        .where(Enrollment.tenant_id == partner.id,
               Enrollment.status != EnrollmentStatus.CANCELLED.value,
               Enrollment.covered_until.is_not(None),
               Enrollment.balance < ProductVersion.annual_contribution,
               or_(and_(Enrollment.covered_until >= today, Enrollment.covered_until <= soon),
                   and_(Enrollment.covered_until <= today, Enrollment.grace_until > today),
                   and_(Enrollment.grace_until <= today, Enrollment.grace_until >= lapsed_since)),
               ~made)
        .order_by(Enrollment.covered_until, Enrollment.id)).all()


def _insert_new(rows: list[dict]) -> int:
    """Insert reminders, skipping those that exist (the unique key; a concurrent run may
    have made them since they were looked for): the number added."""
    if not rows:
        return 0
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = Reminder.__table__
    stmt = (insert(table).on_conflict_do_nothing(
        index_elements=["tenant_id", "enrollment_id", "reason", "due_on"])
        .returning(table.c.id))
    return len(db.session.connection().execute(stmt, rows).all())


def produce(partner: Partner, today: date | None = None) -> RunCounts:
    """Add the reminders due today (the partner's local date) for the partner's own
    members; commit. Runs in the partner's own scope."""
    today = today or local_today(partner)
    counts = RunCounts()
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)), force_locale("id"):
        rows = []
        now = utcnow()
        for (enrollment_id, member_id, status, covered_until, grace_until, amount, name, phone,
             product) in _candidates(partner, today):
            reason = REASON_BY_STATUS.get(Status(status))
            if reason is None or amount <= 0:
                continue
            if not phone:
                counts.skipped_no_phone += 1
                continue
            rows.append({
                "tenant_id": partner.id, "id": tenancy.new_id(), "member_id": member_id,
                "enrollment_id": enrollment_id, "reason": reason, "due_on": covered_until,
                "amount_due": int(amount), "channel": "sms", "recipient": phone,
                "body": reminder_text(reason, name=name, product=product, amount=int(amount),
                                      due_on=covered_until, grace_until=grace_until,
                                      partner=partner.name, partner_phone=partner.contact_phone),
                "status": ReminderStatus.PENDING, "attempts": 0, "created_at": now,
                "error": ""})
        counts.produced = _insert_new(rows)
        db.session.commit()
    return counts


# --- sending ----------------------------------------------------------------------------


def _claim(partner: Partner, started, max_attempts: int) -> list:
    """Claim up to CLAIM_BATCH reminders of the partner for this run and commit the claim:
    pending ones, and failed ones (failed before this run began) with attempts left."""
    sendable = or_(Reminder.status == ReminderStatus.PENDING.value,
                   and_(Reminder.status == ReminderStatus.FAILED.value,
                        Reminder.attempts < max_attempts, Reminder.failed_at < started))
    picked = (select(Reminder.id).where(Reminder.tenant_id == partner.id, sendable)
              .order_by(Reminder.id).limit(CLAIM_BATCH)
              .with_for_update(skip_locked=True))
    claimed = db.session.execute(
        update(Reminder).where(Reminder.tenant_id == partner.id, Reminder.id.in_(picked),
                               sendable)
        .values(status=ReminderStatus.SENDING.value, attempts=Reminder.attempts + 1,
                claimed_at=utcnow())
        .returning(Reminder.id).execution_options(synchronize_session=False)).scalars().all()
    db.session.commit()
    return list(claimed)


def _still_due(reminder: Reminder, enrollment: Enrollment | None, today: date) -> bool:
    """Whether the reason of the reminder still holds (nothing paid since it was made)."""
    if enrollment is None or enrollment.status == EnrollmentStatus.CANCELLED:
        return False
    if enrollment.covered_until != reminder.due_on:
        return False
    from bungkesmas.contributions.services import status_of

    return REASON_BY_STATUS.get(status_of(enrollment, today)) == reminder.reason


def send_pending(partner: Partner, sender: Sender, today: date | None = None) -> RunCounts:
    """Send the partner's unsent reminders through `sender`; commit after each batch."""
    today = today or local_today(partner)
    counts = RunCounts()
    started = utcnow()
    max_attempts = current_app.config["REMINDER_MAX_ATTEMPTS"]
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        while True:
            ids = _claim(partner, started, max_attempts)
            if not ids:
                break
            reminders = db.session.scalars(select(Reminder).where(
                Reminder.tenant_id == partner.id, Reminder.id.in_(ids))
                .order_by(Reminder.id)).all()
            enrollments = {e.id: e for e in db.session.scalars(select(Enrollment).where(
                Enrollment.tenant_id == partner.id,
                Enrollment.id.in_({r.enrollment_id for r in reminders})))}
            for reminder in reminders:
                _send_one(reminder, enrollments.get(reminder.enrollment_id), sender, today,
                          counts)
            db.session.commit()
    return counts


def _send_one(reminder: Reminder, enrollment, sender: Sender, today: date,
              counts: RunCounts) -> None:
    if not _still_due(reminder, enrollment, today):
        reminder.status = ReminderStatus.OBSOLETE
        counts.obsolete += 1
        return
    try:
        sender.send(reminder.recipient, reminder.body, reference=str(reminder.id))
    except SendFailed as err:
        reminder.status, reminder.failed_at = ReminderStatus.FAILED, utcnow()
        reminder.error = str(err)[:200]
        counts.failed += 1
        return
    except Exception as err:  # noqa: BLE001 — a broken gateway must not stop the run
        log.exception("reminder sender failed on %s", reminder.id)
        reminder.status, reminder.failed_at = ReminderStatus.FAILED, utcnow()
        reminder.error = type(err).__name__
        counts.failed += 1
        return
    reminder.status, reminder.sent_at, reminder.error = ReminderStatus.SENT, utcnow(), ""
    counts.sent += 1
    counts.by_reason[reminder.reason.value] = counts.by_reason.get(reminder.reason.value, 0) + 1


def sending_partners(slug: str | None = None) -> list[Partner]:
    """The partners whose reminders are produced and sent: approved ones (a suspended or
    terminated partner's data is read-only and its members are not messaged)."""
    stmt = select(Partner).where(Partner.status == PartnerStatus.APPROVED,
                                 Partner.slug.is_not(None)).order_by(Partner.id)
    if slug is not None:
        stmt = stmt.where(Partner.slug == slug)
    return list(db.session.scalars(stmt))


def run(sender: Sender, slug: str | None = None, today: date | None = None) -> RunCounts:
    """Produce and send what is due for every sending partner (or the one with `slug`);
    one audit event per partner that had anything to do."""
    total = RunCounts()
    for partner in sending_partners(slug):
        counts = produce(partner, today)
        counts.add(send_pending(partner, sender, today))
        if counts.produced or counts.sent or counts.failed or counts.obsolete:
            with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
                record(None, "reminders.send", partner, partner_id=partner.id,
                       after=counts.as_dict())
                db.session.commit()
        total.add(counts)
    return total


# --- reading ----------------------------------------------------------------------------


def listing(status: str | None = None, reason: str | None = None):
    """A select of the scope's reminders, newest first, with the member's number and
    name and the partner's name: (Reminder, member_number, full_name, partner name)."""
    stmt = (select(Reminder, Member.member_number, Member.full_name, Partner.name)
            .join(Member, and_(Member.tenant_id == Reminder.tenant_id,
                               Member.id == Reminder.member_id))
            .join(Partner, Partner.id == Reminder.tenant_id)
            .order_by(Reminder.created_at.desc(), Reminder.id.desc()))
    if status:
        stmt = stmt.where(Reminder.status == status)
    if reason:
        stmt = stmt.where(Reminder.reason == reason)
    return stmt


def listing_page(status: str | None, reason: str | None, number: int, per_page: int):
    """One page of `listing` (a count and a page query)."""
    from sqlalchemy import func

    from bungkesmas.paging import Page

    stmt = listing(status, reason)
    total = db.session.scalar(select(func.count()).select_from(
        stmt.order_by(None).with_only_columns(Reminder.id).subquery()))
    rows = db.session.execute(stmt.limit(per_page).offset((number - 1) * per_page)).all()
    return Page(rows, number, per_page, total)


def status_counts() -> dict[str, int]:
    """How many of the scope's reminders are in each status."""
    from sqlalchemy import func

    return {str(status): n for status, n in db.session.execute(
        select(Reminder.status, func.count()).group_by(Reminder.status))}
