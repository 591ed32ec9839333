"""Members, groups and products in the API. The token fixes the partner: every query is
scoped to it (and its child partners, read-only); another partner's member or group
answers 404 like one that does not exist. Provider tokens may read the product list only."""

from __future__ import annotations

import uuid
from functools import wraps

from flask import abort, g
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bungkesmas import tenancy
from bungkesmas.api.views import blp, require
from bungkesmas.auth.permissions import Permission
from bungkesmas.errors import Conflict, DomainError
from bungkesmas.extensions import db
from bungkesmas.members import services as members
from bungkesmas.members.models import Group, Member, MemberRegistry
from bungkesmas.members.schemas import (
    EnrollmentCancelSchema,
    EnrollmentSchema,
    GroupCreateSchema,
    GroupListSchema,
    GroupSchema,
    MemberChangeSchema,
    MemberCreateSchema,
    MemberPageSchema,
    MemberQuerySchema,
    MemberSchema,
    ProductListSchema,
)
from bungkesmas.partners.models import Partner
from bungkesmas.products import services as products


def _partner(permission: Permission) -> Partner:
    """The token's partner, if the token is a partner's and holds `permission`."""
    if g.api.partner is None:
        abort(403)  # provider tokens work across partners through provider endpoints only
    require(permission)
    return g.api.partner


def _own(partner: Partner, member: Member) -> None:
    """A parent partner sees its children's members but changes only its own."""
    if member.tenant_id != partner.id:
        abort(403)


def _member_or_404(member_number: str, *, with_enrollments: bool = False) -> Member:
    member = members.by_number(member_number, with_enrollments=with_enrollments)
    if member is None:
        abort(404)
    return member


def _found_first(view):
    """Answer 404 for a member outside the token's scope before reading the body, so a
    request about another partner's member learns nothing, not even which fields fail.
    (Placed between @blp.route and @blp.arguments.)"""

    @wraps(view)
    def wrapped(*args, member_number: str, **kwargs):
        g.member = _member_or_404(member_number)
        return view(*args, member_number=member_number, **kwargs)

    return wrapped


def _nik_needs_confirmation(err: members.NikNeedsConfirmation) -> DomainError:
    return DomainError(_("%(warning)s To register it anyway, send the request again with "
                         "confirm_nik=true.", warning=err.message), "nik")


def _registered_with_id(partner: Partner, member_id: uuid.UUID) -> Member | None:
    """The member a client already registered with this id, or None if the id is new.
    An id another partner's member carries is a conflict (without saying whose)."""
    with tenancy.everything():
        known = db.session.scalar(select(MemberRegistry.partner_id).where(
            MemberRegistry.member_id == member_id))
    if known is None:
        return None
    member = db.session.scalar(select(Member).where(Member.id == member_id))
    if member is None or member.tenant_id != partner.id:
        raise Conflict(_("This id is already used by another member."), "id")
    return member


def _enroll(partner: Partner, member: Member, product_code: str) -> None:
    code = product_code.strip().upper()
    product = next((p for p in members.offered_products(partner) if p.code == code), None)
    if product is None:
        raise DomainError(_("Choose a product your organisation offers."), "product_code")
    try:
        members.enroll(g.api.user, partner, member, product.id)
    except DomainError as err:
        if err.field == "product_id":
            err.field = "product_code"
        raise


# --- members ---------------------------------------------------------------------------


@blp.route("/members")
@blp.arguments(MemberQuerySchema, location="query")
@blp.response(200, MemberPageSchema)
def list_members(args):
    """Find members: by member number, exact NIK, phone, or the start of the name; by
    group, village or enrollment status. A parent partner also sees its children's."""
    partner = _partner(Permission.MEMBERS_VIEW)
    stmt = members.search(partner, members.MemberFilter(
        q=args["q"], group_id=args["group_id"], village_code=args["village_code"],
        status=args["status"])).options(selectinload(Member.enrollments))
    page = db.paginate(stmt, page=args["page"], per_page=args["per_page"], error_out=False)
    return {"items": page.items, "page": page.page, "per_page": page.per_page,
            "total": page.total}


@blp.route("/members", methods=["POST"])
@blp.arguments(MemberCreateSchema)
@blp.response(201, MemberSchema)
@blp.alt_response(200, schema=MemberSchema, success=True,
                  description="A member with this `id` was registered before: that member.")
def create_member(args):
    """Register a member (and optionally enroll them in a product). Send a
    client-generated `id` to make the request safe to repeat (offline sync)."""
    partner = _partner(Permission.MEMBERS_MANAGE)
    client_id = args.pop("id", None)
    product_code = args.pop("product_code", None)
    if client_id is not None:
        existing = _registered_with_id(partner, client_id)
        if existing is not None:
            return existing, 200
    try:
        member = members.register(g.api.user, partner, args, member_id=client_id)
        if product_code:
            _enroll(partner, member, product_code)
        db.session.commit()
    except members.NikNeedsConfirmation as err:
        db.session.rollback()
        raise _nik_needs_confirmation(err) from None
    except Conflict:
        db.session.rollback()
        if client_id is not None:  # the same request, sent twice at once, won elsewhere
            existing = _registered_with_id(partner, client_id)
            if existing is not None:
                return existing, 200
        raise
    return member, 201


@blp.route("/members/<member_number>")
@blp.response(200, MemberSchema)
def get_member(member_number: str):
    """A member by member number (dashes optional)."""
    _partner(Permission.MEMBERS_VIEW)
    return _member_or_404(member_number)


@blp.route("/members/<member_number>", methods=["PATCH"])
@_found_first
@blp.arguments(MemberChangeSchema)
@blp.response(200, MemberSchema)
def update_member(args, member_number: str):
    """Change some of a member's details: only the fields sent change."""
    partner = _partner(Permission.MEMBERS_MANAGE)
    member = g.member
    _own(partner, member)
    try:
        members.update_member(g.api.user, partner, member, args)
        db.session.commit()
    except members.NikNeedsConfirmation as err:
        db.session.rollback()
        raise _nik_needs_confirmation(err) from None
    return member


@blp.route("/members/<member_number>/enrollments/<uuid:enrollment_id>/cancel",
           methods=["POST"])
@_found_first
@blp.arguments(EnrollmentCancelSchema)
@blp.response(200, EnrollmentSchema)
@blp.alt_response(409, description="The enrollment is already cancelled.")
def cancel_enrollment(args, member_number: str, enrollment_id: uuid.UUID):
    """End one of the member's enrollments, with a reason: cancelled from now, no
    contribution can be recorded for it any more, the money already recorded stays. When
    it was the member's last open enrollment, the member's printed cards stop working."""
    partner = _partner(Permission.ENROLLMENTS_CANCEL)
    member = g.member
    _own(partner, member)
    # An enrollment that is not this member's: LookupError, answered 404 (bungkesmas.web).
    enrollment = members.cancel_enrollment(g.api.user, partner, member, enrollment_id,
                                           args["reason"])
    db.session.commit()
    return enrollment


# --- groups ----------------------------------------------------------------------------


def _group_row(group: Group, count: int, enrolled: int) -> dict:
    return {"id": group.id, "tenant_id": group.tenant_id, "name": group.name,
            "village_code": group.village_code, "meeting_day": group.meeting_day,
            "created_at": group.created_at, "members": count, "enrolled": enrolled}


@blp.route("/groups")
@blp.response(200, GroupListSchema)
def list_groups():
    """The partner's groups (and its children's), with member counts."""
    partner = _partner(Permission.MEMBERS_VIEW)
    return {"items": [_group_row(*row) for row in members.groups_with_counts(partner)]}


@blp.route("/groups/<uuid:group_id>")
@blp.response(200, GroupSchema)
def get_group(group_id: uuid.UUID):
    """One group, with member counts."""
    partner = _partner(Permission.MEMBERS_VIEW)
    row = next((r for r in members.groups_with_counts(partner) if r[0].id == group_id), None)
    if row is None:
        abort(404)
    return _group_row(*row)


@blp.route("/groups", methods=["POST"])
@blp.arguments(GroupCreateSchema)
@blp.response(201, GroupSchema)
def create_group(args):
    """Create a group (kelompok), usually one per village."""
    partner = _partner(Permission.GROUPS_MANAGE)
    group = members.create_group(g.api.user, partner, args["name"], args["village_code"],
                                 args["meeting_day"])
    db.session.commit()
    return _group_row(group, 0, 0)


# --- products --------------------------------------------------------------------------


@blp.route("/products")
@blp.response(200, ProductListSchema)
def list_products():
    """The products the token's partner offers, with the rules of their current version
    (a provider token: every product)."""
    if g.api.partner is None:
        return {"items": products.all_products()}
    return {"items": members.offered_products(g.api.partner)}
