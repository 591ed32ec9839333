"""Members' own side: the status check (member number or NIK plus birth date), the member
card's QR token, and revoking printed cards.

The status check runs outside any partner workspace. The platform-wide member registry
(a global table: member number, NIK digest, partner) routes the identifier to the
member's partner; only then is the session scoped — to that one partner — to read the
member's birth date and, if it matches, what the answer shows. Nothing else of the
member is read, and the answer holds no personal data beyond the member's own status.

"Not found" and "birth date does not match" must not be told apart, by the answer or by
its timing: both paths run the same two statements — the registry, then the member's
answer with the birth date as a condition (a registry miss asks for a member that cannot
exist) — and both end with one primary-key probe that returns no row. Only a match goes
on to the member's enrollments, product and last payment, in that same statement.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from types import SimpleNamespace

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, Signer
from sqlalchemy import Connection, and_, bindparam, exists, func, select, update
from sqlalchemy.orm import aliased

from bungkesmas import tenancy
from bungkesmas.audit.services import record
from bungkesmas.auth.permissions import Permission
from bungkesmas.contributions import services as ledger
from bungkesmas.contributions.coverage import Status
from bungkesmas.contributions.models import EntryKind, LedgerEntry
from bungkesmas.errors import DomainError, NotAllowed
from bungkesmas.extensions import db
from bungkesmas.i18n import long_date
from bungkesmas.members import nik as nik_rules
from bungkesmas.members import numbers
from bungkesmas.members.models import Enrollment, EnrollmentStatus, Member, MemberRegistry
from bungkesmas.partners.models import Partner, PartnerStatus
from bungkesmas.precompiled import Precompiled
from bungkesmas.products.models import Product, ProductVersion
from bungkesmas.timeutil import local_today

log = logging.getLogger(__name__)

CARD_SALT = "bungkesmas.member-card"
# A partner and a member that cannot exist: a registry miss still runs the birth-date read.
_NO_PARTNER = 0
_NO_MEMBER = uuid.UUID(int=0)


class NotFound(DomainError):
    """No member with this identifier and birth date (whichever of them is wrong)."""

    status_code = 404


def not_found_message() -> str:
    return _("No member was found with this number or NIK and this birth date. Check "
             "both, or ask your partner organisation.")


class IdentifierKind(StrEnum):
    MEMBER_NUMBER = "member_number"
    NIK = "nik"


@dataclass(frozen=True)
class Identifier:
    """What the member typed, checked and reduced to its lookup key: the canonical
    member number, or the NIK's keyed digest (the NIK itself is not kept)."""

    kind: IdentifierKind
    key: str

    def rate_key(self) -> str:
        """A key for the per-identifier rate limit that does not reveal the identifier
        (rate-limit storage such as Redis is not a place for NIKs or member numbers)."""
        secret = current_app.config["SECRET_KEY"].encode()
        return hmac.new(secret, f"{self.kind}:{self.key}".encode(), hashlib.sha256).hexdigest()[:32]


def parse_member_number(value: str | None, field_name: str = "member_number") -> Identifier:
    canonical = numbers.normalise((value or "").strip())
    if not canonical:
        raise DomainError(_("This is not a valid member number: check the digits "
                            "(e.g. 0012-000345-7)."), field_name)
    return Identifier(IdentifierKind.MEMBER_NUMBER, canonical)


def parse_nik(value: str | None, field_name: str = "nik") -> Identifier:
    check = nik_rules.check(value)
    if check.error:
        raise DomainError(check.error, field_name)
    return Identifier(IdentifierKind.NIK, nik_rules.digest(check.nik))


def parse_identifier(value: str | None, field_name: str = "identifier") -> Identifier:
    """A member number or a NIK typed into one field: 16 digits are a NIK (member numbers
    have 11 or 12)."""
    cleaned = nik_rules.clean(value)
    if len(cleaned) == 16 and cleaned.isascii() and cleaned.isdigit():
        return parse_nik(cleaned, field_name)
    if numbers.normalise((value or "").strip()):
        return parse_member_number(value, field_name)
    raise DomainError(_("Enter your member number (e.g. 0012-000345-7) or your 16-digit NIK."),
                      field_name)


@dataclass(frozen=True)
class StatusAnswer:
    """What a member learns about themselves — and nothing else."""

    status: Status | None         # None: registered, not (yet) enrolled in a product
    until: date | None            # last day of cover, of grace; first day of cover (waiting)
    product: str | None
    partner_name: str
    partner_phone: str
    partner_email: str
    last_payment_on: date | None
    amount_due: int | None        # None when nothing can be paid (cancelled, not enrolled)
    due_on: date | None
    # Internal, for the "pay online" link the page offers (payments.pay_link_for): never
    # rendered, never in the API's answer.
    enrollment_id: uuid.UUID | None = field(default=None, repr=False)
    tenant_id: int | None = field(default=None, repr=False)

    @property
    def text(self) -> str:
        """The status in plain words, e.g. "Aktif sampai 14 Januari 2027"."""
        return status_text(self.status, self.until)


def status_text(status: Status | None, until: date | None) -> str:
    day = long_date(until) if until else ""
    if status == Status.ACTIVE:
        return _("Active until %(date)s", date=day)
    if status == Status.GRACE:
        return _("Grace period until %(date)s", date=day)
    if status == Status.WAITING:
        return _("Waiting period: cover starts on %(date)s", date=day)
    if status == Status.PENDING_PAYMENT:
        return _("Waiting for payment")
    if status == Status.CANCELLED:
        return _("Membership cancelled")
    if status == Status.LAPSED:
        return _("Not active")
    return _("Registered, not yet enrolled in a product")


# --- the lookup -------------------------------------------------------------------------


@functools.cache
def _statements(dialect: str) -> SimpleNamespace:
    """The lookup's statements for a database dialect ("sqlite", "postgresql"), built
    once per process with bound parameters: building a statement (above all the
    correlated subquery) costs more than running it.

    The registry's statements route the identifier to the member's partner; on
    PostgreSQL the same statement also scopes the transaction to that partner for
    Row-Level Security (`tenancy.scope_columns`: one round trip for both), and only when
    it finds the member — a miss leaves nobody in scope, and the lookup then reads
    nothing.

    They run on a connection of the lookup's own (`_reading`), compiled once
    (`_precompiled`), not through the ORM: the ORM's tenant wall
    (`tenancy._filter_queries`) adds its criteria as a new statement on every execution,
    whose cache key SQLAlchemy must then compute again — ~1 ms of the status check's CPU
    for two statements, against ~0.15 ms as Core and ~0.04 ms precompiled — and the
    session's transaction bookkeeping cost as much again. So each statement
    carries the wall itself: every partner-owned table it reads is restricted to the
    `tenant` parameter (the one partner the connection is scoped to), and on PostgreSQL
    Row-Level Security still applies to them."""
    route = (select(MemberRegistry.partner_id, MemberRegistry.member_id, Partner.name,
                    Partner.contact_phone, Partner.contact_email)
             .join(Partner, Partner.id == MemberRegistry.partner_id))
    if dialect == "postgresql":
        route = route.add_columns(*tenancy.scope_columns(MemberRegistry.partner_id))
    reversal = aliased(LedgerEntry, name="reversal")
    tenant = bindparam("tenant")
    last_payment = (
        select(func.max(LedgerEntry.received_on))
        .where(LedgerEntry.tenant_id == tenant,
               LedgerEntry.enrollment_id == Enrollment.id,
               LedgerEntry.kind == EntryKind.PAYMENT,
               ~exists().where(reversal.tenant_id == tenant,
                               reversal.reverses_id == LedgerEntry.id))
        .scalar_subquery())
    # The member's enrollments (one row with NULLs when there is none), each with what the
    # answer shows: the coverage snapshot, the product and the last payment not reversed.
    enrollments = (
        select(Enrollment.id, Enrollment.status, Enrollment.enrolled_at,
               Enrollment.covered_until, Enrollment.waiting_until, Enrollment.grace_until,
               Enrollment.balance, ProductVersion.annual_contribution,
               Product.name.label("product"), last_payment.label("last_payment_on"))
        .select_from(Member)
        .outerjoin(Enrollment, and_(Enrollment.tenant_id == tenant,
                                    Enrollment.member_id == Member.id))
        .outerjoin(ProductVersion, ProductVersion.id == Enrollment.product_version_id)
        .outerjoin(Product, Product.id == ProductVersion.product_id)
        .where(Member.tenant_id == tenant, Member.id == bindparam("member"))
        .order_by(Enrollment.enrolled_at))
    return SimpleNamespace(
        by_number=route.where(MemberRegistry.member_number == bindparam("key")),
        by_digest=route.where(MemberRegistry.nik_digest == bindparam("key")),
        by_member=route.where(MemberRegistry.member_id == bindparam("key")),
        # The birth date is matched by the database: a wrong one and an unknown member
        # both read one primary-key entry and return no row.
        by_birth_date=enrollments.where(Member.birth_date == bindparam("born")),
        by_card_version=enrollments.where(Member.card_version == bindparam("version")),
    )


_PRECOMPILED: dict[tuple[str, str], SimpleNamespace] = {}


def _precompiled(dialect) -> SimpleNamespace:
    """`_statements` compiled for `dialect` once per process, run on the driver's cursor
    (`bungkesmas.precompiled`: SQLAlchemy's work per execution was a sixth of the status
    check's CPU)."""
    key = (dialect.name, dialect.driver)
    found = _PRECOMPILED.get(key)
    if found is None:
        found = _PRECOMPILED[key] = SimpleNamespace(**{
            name: Precompiled(statement, dialect)
            for name, statement in vars(_statements(dialect.name)).items()})
    return found


@contextmanager
def _reading() -> Iterator[Connection]:
    """A pooled connection for the lookup's statements (see `_statements`), outside the
    request's session: it starts with no tenant in scope (`tenancy`: a transaction
    begins as `nobody`) and is given back after a COMMIT — it only read, and on
    PostgreSQL a COMMIT keeps the statements psycopg prepared (`bungkesmas.transactions`)."""
    with db.engine.connect() as connection:
        yield connection
        connection.commit()


def _route(connection: Connection, statement: Precompiled, key):
    """The registry row of `key` — (partner_id, member_id, partner name, phone, e-mail)
    — or None. When found, the connection is scoped to its partner: Row-Level Security
    on PostgreSQL, done by the statement itself (see `_statements`)."""
    row = statement.first(connection, {"key": key})
    if row is not None:
        tenancy.scoped_by_statement(connection, tenancy.Scope.tenants(row[0]))
    return row


def check_status(identifier: Identifier, birth_date: date, today: date | None = None
                 ) -> StatusAnswer | None:
    """The member's status if the identifier and the birth date belong to one member;
    None otherwise — the same None, after the same statements, whichever of them was
    wrong (an unknown identifier looks up a member that cannot exist)."""
    with _reading() as connection:
        q = _precompiled(connection.dialect)
        by_number = identifier.kind == IdentifierKind.MEMBER_NUMBER
        row = _route(connection, q.by_number if by_number else q.by_digest, identifier.key)
        partner_id, member_id = (row[0], row[1]) if row is not None else (_NO_PARTNER,
                                                                          _NO_MEMBER)
        enrollments = q.by_birth_date.rows(
            connection, {"tenant": partner_id, "member": member_id, "born": birth_date})
    if row is None or not enrollments:
        # Logged without the identifier or the birth date.
        log.info("status check: no match (%s)", identifier.kind)
        return None
    return _answer(row, enrollments, today)


def _answer(row, enrollments: list, today: date | None) -> StatusAnswer:
    """The answer for the member of a registry row from its enrollment rows: the
    coverage snapshot that `contributions.services` keeps up to date with every money row
    for exactly this (reading the status without the ledger), and the last payment."""
    partner_id, _member_id, partner_name, phone, email = row[:5]
    today = today or local_today()
    enrollment = ledger.primary_of([e for e in enrollments if e.id is not None])
    base = {"partner_name": partner_name, "partner_phone": phone or "",
            "partner_email": email or ""}
    if enrollment is None:
        return StatusAnswer(status=None, until=None, product=None, last_payment_on=None,
                            amount_due=None, due_on=None, **base)
    status = ledger.status_of(enrollment, today)
    until = None
    if status == Status.ACTIVE:
        until = enrollment.covered_until - timedelta(days=1)
    elif status == Status.GRACE:
        until = enrollment.grace_until - timedelta(days=1)
    elif status == Status.WAITING:
        until = enrollment.waiting_until
    open_ = enrollment.status != EnrollmentStatus.CANCELLED
    return StatusAnswer(
        status=status, until=until, product=enrollment.product,
        last_payment_on=enrollment.last_payment_on,
        # `Coverage.amount_due` from the snapshot: the term's contribution less the balance.
        amount_due=max(0, enrollment.annual_contribution - enrollment.balance) if open_ else None,
        due_on=(enrollment.covered_until or ledger.enrolled_on(enrollment)) if open_ else None,
        enrollment_id=enrollment.id, tenant_id=partner_id, **base)


# --- member cards -----------------------------------------------------------------------


def _signer() -> Signer:
    return Signer(current_app.config["SECRET_KEY"], salt=CARD_SALT,
                  digest_method=hashlib.sha256)


def card_token(member: Member) -> str:
    """The token in a member card's QR code: the member's id and card version, signed
    with the app's secret. No personal data (the id is a random UUID)."""
    payload = base64.urlsafe_b64encode(member.id.bytes).rstrip(b"=").decode()
    return _signer().sign(f"{payload}.{member.card_version}").decode()


def _read_token(token: str) -> tuple[uuid.UUID, int] | None:
    try:
        value = _signer().unsign(token or "").decode()
    except (BadSignature, UnicodeError):
        return None
    payload, _sep, version = value.partition(".")
    try:
        member_id = uuid.UUID(bytes=base64.urlsafe_b64decode(payload + "=="))
        return member_id, int(version)
    except ValueError:
        return None


def check_card(token: str, today: date | None = None) -> StatusAnswer | None:
    """The status of the card's member, or None if the token is not ours or the card was
    revoked since (transfer, revocation)."""
    read = _read_token(token)
    if read is None:
        return None
    member_id, version = read
    with _reading() as connection:
        q = _precompiled(connection.dialect)
        row = _route(connection, q.by_member, member_id)
        if row is None:
            return None
        enrollments = q.by_card_version.rows(
            connection, {"tenant": row[0], "member": member_id, "version": version})
    if not enrollments:  # a card printed before the latest transfer or revocation
        return None
    return _answer(row, enrollments, today)


def card_url(member: Member) -> str:
    """The absolute address the card's QR code opens (BUNGKESMAS_BASE_URL + /cek/…)."""
    base = current_app.config["BASE_URL"].rstrip("/")
    return f"{base}/cek/{card_token(member)}"


def record_printing(actor, partner: Partner, members: list[Member], group=None) -> None:
    """Audit that cards were printed (a card lets whoever holds it see the status)."""
    if actor is not None and Permission.CARDS_PRINT not in _permissions(actor, partner):
        raise NotAllowed(_("You are not allowed to do this."))
    entity = group if group is not None else members[0]
    record(actor, "member.cards_print", entity, partner_id=partner.id,
           after={"members": [m.member_number for m in members]})
    db.session.flush()


def revoke_cards(actor, partner: Partner, member: Member) -> Member:
    """Make every card printed for the member so far invalid (a lost or stolen card);
    new cards printed afterwards work. Audited."""
    if actor is not None and Permission.CARDS_REVOKE not in _permissions(actor, partner):
        raise NotAllowed(_("You are not allowed to do this."))
    if partner.status != PartnerStatus.APPROVED:
        raise DomainError(_("%(name)s is not active; its data is read-only.", name=partner.name))
    if member.tenant_id != partner.id:
        raise LookupError(member.id)
    return invalidate_cards(actor, member)


def invalidate_cards(actor, member: Member) -> Member:
    """Make every card printed for the member so far stop working (its version goes up);
    audited. The caller has checked who may: `revoke_cards`, or the cancellation of the
    member's last open enrollment (`members.services.cancel_enrollment`)."""
    before = member.card_version
    db.session.execute(update(Member).where(Member.tenant_id == member.tenant_id,
                                            Member.id == member.id)
                       .values(card_version=Member.card_version + 1),
                       execution_options={"synchronize_session": False})
    db.session.refresh(member, ["card_version"])
    record(actor, "member.cards_revoke", member, partner_id=member.tenant_id,
           before={"card_version": before}, after={"card_version": member.card_version})
    db.session.flush()
    return member


def _permissions(actor, partner: Partner):
    from bungkesmas.auth.services import workspace_permissions

    return workspace_permissions(actor, partner)
