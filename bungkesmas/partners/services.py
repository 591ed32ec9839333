"""Partner onboarding and lifecycle: plain functions that validate, write, audit and flush."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask_babel import gettext as _
from slugify import slugify
from sqlalchemy import bindparam, func, or_, select

from bungkesmas.audit.services import record, snapshot
from bungkesmas.auth.permissions import Permission, Role
from bungkesmas.errors import Conflict, DomainError, NotAllowed
from bungkesmas.extensions import db
from bungkesmas.partners.models import Partner, PartnerStatus, PartnerType
from bungkesmas.timeutil import utcnow

S = PartnerStatus
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,48}[a-z0-9])$")

PROFILE_FIELDS = (
    "name", "org_type", "province_code", "regency_code", "address",
    "contact_name", "contact_phone", "contact_email", "expected_members", "expected_groups",
)


@dataclass(frozen=True)
class Transition:
    sources: frozenset[PartnerStatus]
    target: PartnerStatus
    permission: Permission
    needs_reason: bool


TRANSITIONS: dict[str, Transition] = {
    "request_info": Transition(frozenset({S.APPLIED, S.INFO_REQUESTED}), S.INFO_REQUESTED,
                               Permission.PARTNERS_REVIEW, True),
    "approve": Transition(frozenset({S.APPLIED, S.INFO_REQUESTED}), S.APPROVED,
                          Permission.PARTNERS_REVIEW, False),
    "reject": Transition(frozenset({S.APPLIED, S.INFO_REQUESTED}), S.REJECTED,
                         Permission.PARTNERS_REVIEW, True),
    "suspend": Transition(frozenset({S.APPROVED}), S.SUSPENDED, Permission.PARTNERS_MANAGE, True),
    "reinstate": Transition(frozenset({S.SUSPENDED}), S.APPROVED, Permission.PARTNERS_MANAGE, False),
    "terminate": Transition(frozenset({S.APPROVED, S.SUSPENDED}), S.TERMINATED,
                            Permission.PARTNERS_MANAGE, True),
}


def require(actor, permission: Permission) -> None:
    """Refuse unless `actor` is provider staff holding `permission`."""
    from bungkesmas.auth.services import provider_permissions

    if permission not in provider_permissions(actor):
        raise NotAllowed(_("You are not allowed to do this."))


# --- applying --------------------------------------------------------------------------


def apply(data: dict) -> Partner:
    """Record a public application to become a partner."""
    referrer_id = data.get("referrer_id")
    if referrer_id is not None:
        referrer = db.session.get(Partner, referrer_id)
        if referrer is None or referrer.status != S.APPROVED:
            raise DomainError(_("Choose a referring partner from the list."), "referrer_id")
    partner = Partner(**{k: data[k] for k in PROFILE_FIELDS}, referrer_id=referrer_id)
    db.session.add(partner)
    db.session.flush()
    record(None, "partner.applied", partner, partner_id=partner.id, actor_label="public",
           after=snapshot(partner, "name", "org_type", "status", "regency_code"))
    return partner


# --- reviewing and the lifecycle -------------------------------------------------------


def transition(actor, partner: Partner, action: str, reason: str = "") -> Partner:
    """Move a partner through its lifecycle (all actions but approve, which needs a slug)."""
    step = _check_step(actor, partner, action, reason)
    before = snapshot(partner, "status", "status_reason")
    partner.status = step.target
    partner.status_reason = reason.strip()
    partner.status_changed_at = utcnow()
    db.session.flush()
    record(actor, f"partner.{action}", partner, partner_id=partner.id,
           before=before, after=snapshot(partner, "status", "status_reason"))
    _tell_contact(partner, action)
    return partner


def _tell_contact(partner: Partner, action: str) -> None:
    """Tell the partner's contact person about a decision, with the provider's message."""
    from bungkesmas.mail.services import mailer

    subjects = {
        "request_info": _("Bungkesmas: more information needed about %(name)s", name=partner.name),
        "reject": _("Bungkesmas: the application of %(name)s was not approved", name=partner.name),
        "suspend": _("Bungkesmas: %(name)s is suspended", name=partner.name),
        "reinstate": _("Bungkesmas: %(name)s is active again", name=partner.name),
        "terminate": _("Bungkesmas: the partnership with %(name)s has ended", name=partner.name),
    }
    body = _("Dear %(contact)s,\n\n%(subject)s.\n\n%(message)s\n\nBungkesmas team\n",
             contact=partner.contact_name, subject=subjects[action],
             message=partner.status_reason or "")
    mailer().send(partner.contact_email, subjects[action], body, partner_id=partner.id)


def approve(actor, partner: Partner, slug: str, parent_id: int | None = None):
    """Approve an application: the workspace gets its slug and the contact person an
    invitation as partner admin. Returns (partner, invitation link)."""
    from bungkesmas.auth.services import invite

    _check_step(actor, partner, "approve", "")
    slug = validate_slug(slug)
    if parent_id is not None:
        _check_parent(partner, parent_id)
    before = snapshot(partner, "status", "slug", "parent_id")
    partner.slug = slug
    partner.parent_id = parent_id
    partner.status = S.APPROVED
    partner.status_reason = ""
    partner.status_changed_at = utcnow()
    db.session.flush()
    record(actor, "partner.approve", partner, partner_id=partner.id,
           before=before, after=snapshot(partner, "status", "slug", "parent_id"))
    _, link = invite(actor, partner, partner.contact_email, Role.PARTNER_ADMIN,
                     name=partner.contact_name, check_permission=False)
    return partner, link


def set_parent(actor, partner: Partner, parent_id: int | None) -> Partner:
    """Place an approved partner under a parent partner, or make it top-level."""
    require(actor, Permission.PARTNERS_MANAGE)
    if parent_id is not None:
        _check_parent(partner, parent_id)
    before = snapshot(partner, "parent_id")
    partner.parent_id = parent_id
    db.session.flush()
    record(actor, "partner.set_parent", partner, partner_id=partner.id,
           before=before, after=snapshot(partner, "parent_id"))
    return partner


def update_profile(actor, partner: Partner, data: dict) -> Partner:
    """Change a partner's own profile (by its admin, or by provider staff)."""
    before = snapshot(partner, *PROFILE_FIELDS)
    for key in PROFILE_FIELDS:
        if key in data and key != "org_type":
            setattr(partner, key, data[key])
    if "org_type" in data:
        partner.org_type = PartnerType(data["org_type"])
    after = snapshot(partner, *PROFILE_FIELDS)
    if after != before:
        db.session.flush()
        changed = {k for k in after if after[k] != before[k]}
        record(actor, "partner.update_profile", partner, partner_id=partner.id,
               before={k: before[k] for k in changed}, after={k: after[k] for k in changed})
    return partner


def _check_step(actor, partner: Partner, action: str, reason: str) -> Transition:
    step = TRANSITIONS.get(action)
    if step is None:
        raise DomainError(_("Unknown action."))
    require(actor, step.permission)
    if partner.status not in step.sources:
        raise Conflict(_("This partner is %(status)s; that step is not possible now.",
                         status=status_label(partner.status)))
    if step.needs_reason and not reason.strip():
        raise DomainError(_("Give a reason."), "reason")
    return step


def validate_slug(slug: str) -> str:
    slug = (slug or "").strip().lower()
    if not SLUG_RE.match(slug):
        raise DomainError(
            _("Use 3 to 50 lowercase letters, digits and hyphens, not starting or ending "
              "with a hyphen."), "slug")
    if db.session.scalar(select(Partner.id).where(Partner.slug == slug)) is not None:
        raise DomainError(_("This address is already taken."), "slug")
    return slug


def suggest_slug(partner: Partner) -> str:
    base = slugify(partner.name, max_length=40, word_boundary=True) or "mitra"
    slug, n = base, 2
    while db.session.scalar(select(Partner.id).where(Partner.slug == slug)) is not None:
        slug, n = f"{base}-{n}", n + 1
    return slug


def _check_parent(partner: Partner, parent_id: int) -> None:
    parent = db.session.get(Partner, parent_id)
    if parent is None or parent.status not in (S.APPROVED, S.SUSPENDED):
        raise DomainError(_("Choose an approved partner as the parent."), "parent_id")
    if parent.id == partner.id or partner.id in ancestor_ids(parent.id):
        raise DomainError(_("A partner cannot be placed under itself or its own child."),
                          "parent_id")


# --- the hierarchy ---------------------------------------------------------------------


# Built once: every partner request asks (tenancy.enter_workspace).
_TREE = (select(Partner.id).where(Partner.parent_id == bindparam("partner_id"))
         .cte("tree", recursive=True))
_DESCENDANTS = select(_TREE.union_all(
    select(Partner.id).where(Partner.parent_id == _TREE.c.id)).c.id)


def descendant_ids(partner_id: int) -> list[int]:
    """Return the ids of a partner's descendants (not including itself)."""
    return list(db.session.scalars(_DESCENDANTS, {"partner_id": partner_id}))


def ancestor_ids(partner_id: int) -> list[int]:
    """Return the ids of a partner's ancestors, nearest first."""
    out: list[int] = []
    current = db.session.get(Partner, partner_id)
    while current is not None and current.parent_id is not None and current.parent_id not in out:
        out.append(current.parent_id)
        current = db.session.get(Partner, current.parent_id)
    return out


# --- finding ---------------------------------------------------------------------------


def search(status: str | None = None, q: str | None = None, regency: str | None = None):
    """Return a select of partners for the provider's list, newest first."""
    stmt = select(Partner).order_by(Partner.created_at.desc(), Partner.id.desc())
    if status:
        stmt = stmt.where(Partner.status == status)
    if regency:
        stmt = stmt.where(Partner.regency_code.startswith(regency))
    if q:
        term = q.strip().lower()  # "%" and "_" are searched for, not wildcards
        stmt = stmt.where(or_(func.lower(Partner.name).contains(term, autoescape=True),
                              func.lower(Partner.slug).contains(term, autoescape=True)))
    return stmt


def by_slug(slug: str) -> Partner | None:
    return db.session.scalar(select(Partner).where(Partner.slug == slug))


def approved_partners() -> list[Partner]:
    return list(db.session.scalars(
        select(Partner).where(Partner.status == S.APPROVED).order_by(Partner.name)))


def status_label(status: PartnerStatus) -> str:
    return str(STATUS_LABELS[status]())


def type_label(org_type: PartnerType) -> str:
    return str(TYPE_LABELS[org_type]())


STATUS_LABELS = {
    S.APPLIED: lambda: _("applied"),
    S.INFO_REQUESTED: lambda: _("information requested"),
    S.APPROVED: lambda: _("approved"),
    S.REJECTED: lambda: _("rejected"),
    S.SUSPENDED: lambda: _("suspended"),
    S.TERMINATED: lambda: _("terminated"),
}
TYPE_LABELS = {
    PartnerType.NGO: lambda: _("NGO"),
    PartnerType.COOPERATIVE: lambda: _("Cooperative / BMT"),
    PartnerType.WASTE_BANK: lambda: _("Waste bank"),
    PartnerType.ASSOCIATION: lambda: _("Association"),
    PartnerType.OTHER: lambda: _("Other"),
}
