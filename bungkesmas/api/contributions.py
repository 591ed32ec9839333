"""Contributions and coverage in the API. The token fixes the partner; another partner's
member or ledger row answers 404 like one that does not exist. Both POSTs honour an
`Idempotency-Key` (bungkesmas.api.idempotency)."""

from __future__ import annotations

import uuid
from functools import wraps

from flask import abort, g
from flask_babel import gettext as _
from sqlalchemy import func, select

from bungkesmas.api.idempotency import DOC, idempotent
from bungkesmas.api.members import _member_or_404, _own, _partner
from bungkesmas.api.views import blp
from bungkesmas.auth.permissions import Permission
from bungkesmas.contributions import services as ledger
from bungkesmas.contributions.models import LedgerEntry
from bungkesmas.contributions.schemas import (
    ContributionCreatedSchema,
    ContributionCreateSchema,
    ContributionPageSchema,
    ContributionQuerySchema,
    ContributionSchema,
    CoverageSchema,
    ReversalCreateSchema,
)
from bungkesmas.errors import DomainError
from bungkesmas.extensions import db
from bungkesmas.members import numbers
from bungkesmas.members.models import Enrollment, EnrollmentStatus, Member
from bungkesmas.timeutil import local_today


def _row(entry: LedgerEntry, member_number: str) -> dict:
    out = {c: getattr(entry, c) for c in (
        "id", "receipt_number", "enrollment_id", "kind", "method", "amount", "received_on",
        "recorded_at", "recorded_by_id", "collected_by_partner_id", "external_reference",
        "reverses_id", "reason", "period_number")}
    out["member_number"] = member_number
    return out


def enrollment_coverage(enrollment: Enrollment, today=None) -> dict:
    cover = ledger.current_coverage(enrollment)
    return {
        "enrollment_id": enrollment.id, "product_code": enrollment.product_version.product.code,
        "status": ledger.status_of(enrollment, today), "covered_until": cover.covered_until,
        "waiting_until": cover.waiting_until, "grace_until": cover.grace_until,
        "balance": cover.balance, "amount_due": cover.amount_due,
        "next_due_on": cover.next_due_on if enrollment.status != EnrollmentStatus.CANCELLED
        else None, "periods": list(cover.periods),
    }


def _enrollment_for(member: Member, enrollment_id: uuid.UUID | None) -> Enrollment:
    open_ = [e for e in member.enrollments if e.status != EnrollmentStatus.CANCELLED]
    if enrollment_id is not None:
        chosen = next((e for e in member.enrollments if e.id == enrollment_id), None)
        if chosen is None:
            raise DomainError(_("This member has no such enrollment."), "enrollment_id")
        return chosen
    if len(open_) == 1:
        return open_[0]
    if not open_:
        raise DomainError(_("This member is not enrolled in a product (or the enrollment is "
                            "cancelled)."), "member_number")
    raise DomainError(_("This member has several enrollments: send enrollment_id."),
                      "enrollment_id")


def _found_first(view):
    """404 for a ledger row outside the token's scope, before the body is read."""

    @wraps(view)
    def wrapped(*args, entry_id: uuid.UUID, **kwargs):
        g.entry = ledger.entry_by_id(entry_id)
        if g.entry is None:
            abort(404)
        return view(*args, entry_id=entry_id, **kwargs)

    return wrapped


@blp.route("/contributions", methods=["POST"])
@blp.doc(**DOC)
@idempotent
@blp.arguments(ContributionCreateSchema)
@blp.response(201, ContributionCreatedSchema)
def create_contribution(args, idempotency_key=None):
    """Record a contribution (cash or bank transfer) for a member's enrollment; the
    response carries the receipt number and the member's coverage after it."""
    partner = _partner(Permission.CONTRIBUTIONS_RECORD)
    member = _member_or_404(args["member_number"], with_enrollments=True)
    _own(partner, member)
    enrollment = _enrollment_for(member, args["enrollment_id"])
    entry = ledger.record_payment(g.api.user, enrollment, args["method"], args["amount"],
                                  args["received_on"], args["reference"], key=idempotency_key,
                                  key_is_new=True)
    return {**_row(entry, member.member_number),
            "coverage": enrollment_coverage(enrollment)}


@blp.route("/contributions")
@blp.arguments(ContributionQuerySchema, location="query")
@blp.response(200, ContributionPageSchema)
def list_contributions(args):
    """The ledger rows of the partner's members (a parent also sees its children's), newest
    first; filter by member number, date received (from, to: inclusive) and kind."""
    _partner(Permission.MEMBERS_VIEW)
    stmt = select(LedgerEntry, Member.member_number).join(
        Member, (Member.tenant_id == LedgerEntry.tenant_id) & (Member.id == LedgerEntry.member_id))
    if args["member_number"]:
        stmt = stmt.where(Member.member_number == (numbers.normalise(args["member_number"])
                                                   or args["member_number"]))
    if args["received_from"]:
        stmt = stmt.where(LedgerEntry.received_on >= args["received_from"])
    if args["received_to"]:
        stmt = stmt.where(LedgerEntry.received_on <= args["received_to"])
    if args["kind"]:
        stmt = stmt.where(LedgerEntry.kind == args["kind"])
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    page, per_page = args["page"], args["per_page"]
    rows = db.session.execute(stmt.order_by(LedgerEntry.received_on.desc(),
                                            LedgerEntry.id.desc())
                              .limit(per_page).offset((page - 1) * per_page)).all()
    return {"items": [_row(entry, number) for entry, number in rows], "page": page,
            "per_page": per_page, "total": total}


@blp.route("/contributions/<uuid:entry_id>/reversal", methods=["POST"])
@_found_first
@blp.doc(**DOC)
@idempotent
@blp.arguments(ReversalCreateSchema)
@blp.response(201, ContributionSchema)
def reverse_contribution(args, entry_id: uuid.UUID, idempotency_key=None):
    """Reverse a payment or withdrawal with a reason (partner admins): a reversal row with
    the opposite amount and its own receipt number; the original stays."""
    partner = _partner(Permission.CONTRIBUTIONS_REVERSE)
    entry = g.entry
    if entry.tenant_id != partner.id:
        abort(403)
    reversal = ledger.reverse(g.api.user, entry, args["reason"], key=idempotency_key)
    number = db.session.scalar(select(Member.member_number).where(
        Member.tenant_id == reversal.tenant_id, Member.id == reversal.member_id))
    return _row(reversal, number)


@blp.route("/members/<member_number>/coverage")
@blp.response(200, CoverageSchema)
def member_coverage(member_number: str):
    """A member's cover: today's status, covered until, balance, amount due and the funded
    periods — of the newest open enrollment, and of each enrollment."""
    _partner(Permission.MEMBERS_VIEW)
    member = _member_or_404(member_number)
    today = local_today()
    each = [enrollment_coverage(e, today) for e in member.enrollments]
    primary = ledger.primary_enrollment(member)
    main = next((c for c in each if primary is not None and c["enrollment_id"] == primary.id),
                None)
    if main is None:
        main = {"status": "not_enrolled", "balance": 0, "amount_due": 0, "periods": []}
    return {**main, "status": str(main["status"]), "member_number": member.member_number,
            "enrollments": each}
