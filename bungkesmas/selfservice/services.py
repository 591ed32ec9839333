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
from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    literal_column,
    select,
    true,
    update,
)

from bungkesmas import tenancy
from bungkesmas.audit.services import record
from bungkesmas.auth.permissions import Permission
from bungkesmas.contributions import services as ledger
from bungkesmas.contributions.coverage import Status
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
    once per process with bound parameters. Each is the whole lookup in one statement:
    the registry routes the identifier (`key`) to the member's partner, and the member —
    only if its birth date (or card version) matches — comes with its enrollments (one
    row with NULLs when there is none), each with what the answer shows: the coverage
    snapshot, the product and the last payment not reversed. No row: no such member, or
    not that birth date — the same statement either way.

    They run on a connection of the lookup's own (`_reading`), compiled once
    (`_precompiled`), not through the ORM: the ORM's tenant wall
    (`tenancy._filter_queries`) adds its criteria as a new statement on every execution,
    whose cache key SQLAlchemy must then compute again — ~1 ms of the status check's CPU,
    against ~0.1 ms as Core and ~0.03 ms precompiled. So each statement carries the wall
    itself: every partner-owned table it reads is restricted to the partner the registry
    routed to.

    On PostgreSQL, Row-Level Security is the second wall, and the statement scopes itself
    to that partner: a LATERAL subquery after the registry sets the transaction's scope
    (`tenancy.scope_columns`) and passes the partner on (`scope.tenant`), and the
    partner-owned tables are read in a second LATERAL subquery that takes the partner
    from there — so it can only run after the first. Both are kept from being merged
    into the outer query (OFFSET 0: a subquery with an OFFSET is not flattened; a LATERAL
    one that is not runs per row of what it refers to, after it). The policies read the
    setting when they first need it, inside the second subquery. (The partner is passed
    as the registry's integer, not read back from the setting: a cast of it would be an
    expression Row-Level Security keeps out of index conditions, and members would be
    searched by id alone.) A statement run without a transaction (`_reading`:
    autocommit) is its own transaction, and the scope ends with it: one round trip for
    the lookup instead of four (BEGIN, route and scope, answer, COMMIT). Were the order
    ever different, the policies would let nothing through: "not found", never another
    partner's rows (tests check both the answers and the wall on PostgreSQL)."""
    # The enrollment's columns the answer shows: its coverage snapshot, which
    # `contributions.services` keeps with every money row (the last payment not reversed
    # included), and the product.
    answer_columns = (
        Enrollment.id, Enrollment.status, Enrollment.enrolled_at, Enrollment.covered_until,
        Enrollment.waiting_until, Enrollment.grace_until, Enrollment.balance,
        Enrollment.last_paid_on.label("last_payment_on"), ProductVersion.annual_contribution,
        Product.name.label("product"))

    def with_enrollments(left, tenant):
        return (left.outerjoin(Enrollment, and_(Enrollment.tenant_id == tenant,
                                                Enrollment.member_id == Member.id))
                .outerjoin(ProductVersion, ProductVersion.id == Enrollment.product_version_id)
                .outerjoin(Product, Product.id == ProductVersion.product_id))

    registry, members = MemberRegistry.__table__, Member.__table__
    route = registry.join(Partner.__table__, Partner.id == MemberRegistry.partner_id)
    route_columns = (MemberRegistry.partner_id, MemberRegistry.member_id, Partner.name,
                     Partner.contact_phone, Partner.contact_email)

    def lookup(key, member_condition):
        if dialect == "postgresql":
            # Nothing reads the settings' columns: PostgreSQL still computes them (it
            # drops unread outputs of a subquery, but not volatile ones like set_config).
            scope = (select(MemberRegistry.partner_id.label("tenant"),
                            *tenancy.scope_columns(MemberRegistry.partner_id))
                     .offset(literal_column("0")).correlate(registry).lateral("scope"))
            tenant = scope.c.tenant
            answer = (select(*answer_columns)
                      .select_from(with_enrollments(members, tenant))
                      .where(Member.tenant_id == tenant,
                             Member.id == MemberRegistry.member_id, member_condition)
                      .offset(literal_column("0"))
                      .correlate(registry, scope)
                      .lateral("answer"))
            return (select(*route_columns, *answer.c)
                    .select_from(route.join(scope, true()).join(answer, true()))
                    .where(key).order_by(answer.c.enrolled_at))
        tenant = MemberRegistry.partner_id
        return (select(*route_columns, *answer_columns)
                .select_from(with_enrollments(
                    route.join(members, and_(Member.tenant_id == tenant,
                                             Member.id == MemberRegistry.member_id,
                                             member_condition)), tenant))
                .where(key).order_by(Enrollment.enrolled_at))

    # The birth date is matched by the database: a wrong one returns no row, as an
    # unknown identifier does.
    born = Member.birth_date == bindparam("born")
    return SimpleNamespace(
        by_number=lookup(MemberRegistry.member_number == bindparam("key"), born),
        by_digest=lookup(MemberRegistry.nik_digest == bindparam("key"), born),
        by_card=lookup(MemberRegistry.member_id == bindparam("key"),
                       Member.card_version == bindparam("version")),
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
    """A pooled connection for the lookup's statement (see `_statements`), outside the
    request's session. On PostgreSQL without a transaction (autocommit): the statement
    is its own, so no BEGIN and COMMIT round trips, and the scope it sets ends with it.
    (SQLite's driver begins no transaction for a SELECT anyway.)"""
    with db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        yield connection


def _lookup(name: str, params: dict) -> list:
    """The rows of the lookup statement `name` (see `_statements`)."""
    with _reading() as connection:
        return getattr(_precompiled(connection.dialect), name).rows(connection, params)


def check_status(identifier: Identifier, birth_date: date, today: date | None = None
                 ) -> StatusAnswer | None:
    """The member's status if the identifier and the birth date belong to one member;
    None otherwise — the same None, after the same statement, whichever of them was
    wrong."""
    by_number = identifier.kind == IdentifierKind.MEMBER_NUMBER
    rows = _lookup("by_number" if by_number else "by_digest",
                   {"key": identifier.key, "born": birth_date})
    if not rows:
        # Logged without the identifier or the birth date.
        log.info("status check: no match (%s)", identifier.kind)
        return None
    return _answer(rows, today)


def _answer(rows: list, today: date | None) -> StatusAnswer:
    """The answer from the lookup's rows (the partner's columns, then one enrollment's
    each): the coverage snapshot that `contributions.services` keeps up to date with
    every money row for exactly this (reading the status without the ledger), and the
    last payment."""
    partner_id, _member_id, partner_name, phone, email = rows[0][:5]
    today = today or local_today()
    enrollment = ledger.primary_of([e for e in rows if e.id is not None])
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
    rows = _lookup("by_card", {"key": member_id, "version": version})
    if not rows:  # a card printed before the latest transfer or revocation
        return None
    return _answer(rows, today)


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
