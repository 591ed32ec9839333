"""Passwords, sign-in rules, invitations, staff management and API tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, has_request_context, url_for
from flask_babel import gettext as _
from sqlalchemy import bindparam, event, exists, func, select
from sqlalchemy.orm import aliased

from bungkesmas import tenancy
from bungkesmas.audit.services import record, snapshot
from bungkesmas.auth.models import ApiToken, Invitation, PartnerStaff, User
from bungkesmas.auth.permissions import (
    DESCENDANT_PERMISSIONS,
    PARTNER_ROLES,
    ROLE_PERMISSIONS,
    Permission,
    Role,
)
from bungkesmas.errors import Conflict, DomainError, NotAllowed
from bungkesmas.extensions import db
from bungkesmas.mail.services import mailer
from bungkesmas.partners.models import Partner, PartnerStatus
from bungkesmas.timeutil import utcnow

MIN_PASSWORD = 10
MAX_PASSWORD = 128


# --- passwords -------------------------------------------------------------------------


def _hasher() -> PasswordHasher:
    cfg = current_app.config
    return PasswordHasher(time_cost=cfg["ARGON2_TIME_COST"], memory_cost=cfg["ARGON2_MEMORY_COST"],
                          parallelism=cfg["ARGON2_PARALLELISM"])


def hash_password(password: str) -> str:
    """Return an Argon2id hash of `password`."""
    return _hasher().hash(password)


def check_password_strength(password: str, email: str = "") -> None:
    if len(password) < MIN_PASSWORD:
        raise DomainError(_("Use at least %(n)d characters.", n=MIN_PASSWORD), "password")
    if len(password) > MAX_PASSWORD:
        raise DomainError(_("Use at most %(n)d characters.", n=MAX_PASSWORD), "password")
    if email and password.lower() == email.lower():
        raise DomainError(_("The password must not be your e-mail address."), "password")


# A valid hash to verify against when the user does not exist, so that an unknown
# e-mail address takes as long to refuse as a wrong password.
_DUMMY_HASH: dict[tuple, str] = {}


def _verify(user: User | None, password: str) -> bool:
    hasher = _hasher()
    if user is None or not user.password_hash:
        key = (hasher.time_cost, hasher.memory_cost, hasher.parallelism)
        if key not in _DUMMY_HASH:
            _DUMMY_HASH[key] = hasher.hash(secrets.token_hex(8))
        try:
            hasher.verify(_DUMMY_HASH[key], password)
        except VerificationError:
            pass
        return False
    try:
        hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return True


# --- signing in ------------------------------------------------------------------------


class LoginRefused(DomainError):
    status_code = 401


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def authenticate(email: str, password: str) -> User:
    """Return the user if they may sign in now, or raise LoginRefused saying why."""
    user = user_by_email(email)
    if not _verify(user, password) or user is None:
        raise LoginRefused(_("Wrong e-mail address or password."))
    if not user.active:
        raise LoginRefused(_("This account has been deactivated. Contact your administrator."))
    if not user.is_provider:
        memberships = active_memberships(user)
        if not memberships:
            raise LoginRefused(_("This account has no active partner. Contact your administrator."))
        if not any(m.partner.status == PartnerStatus.APPROVED for m in memberships):
            partner = memberships[0].partner
            if partner.status == PartnerStatus.SUSPENDED:
                msg = _("%(name)s is suspended, so its staff cannot sign in.", name=partner.name)
            else:
                msg = _("%(name)s's partnership has ended, so its staff cannot sign in.",
                        name=partner.name)
            if partner.status_reason:
                msg = _("%(message)s Reason: %(reason)s", message=msg, reason=partner.status_reason)
            raise LoginRefused(msg)
    user.last_login_at = utcnow()
    return user


def active_memberships(user: User) -> list[PartnerStaff]:
    """All the user's active partner memberships, across partners (a sign-in lookup)."""
    with tenancy.everything():
        return list(db.session.scalars(
            select(PartnerStaff).where(PartnerStaff.user_id == user.id, PartnerStaff.active)
            .order_by(PartnerStaff.created_at)))


def provider_permissions(user) -> frozenset[Permission]:
    role = getattr(user, "provider_role", None)
    if role is None or not getattr(user, "active", False):
        return frozenset()
    return ROLE_PERMISSIONS[role]


_PERMISSIONS_KEY = "bungkesmas.workspace_permissions"


def workspace_permissions(user: User, partner: Partner,
                          role: Role | None = None) -> frozenset[Permission]:
    """What `user` may do in `partner`'s workspace: their role there, or read-only access
    as staff of an ancestor partner. Empty means no access at all. `role`: the user's
    active role in `partner`, when the caller has just read it (saves the query).

    Remembered for the rest of the database transaction (an API request asks three
    times: the token, the view, the domain function), and forgotten as soon as a
    membership, a user or a partner is written in it."""
    if user is None or not user.is_authenticated or user.is_provider:
        return frozenset()
    if partner.status != PartnerStatus.APPROVED:
        return frozenset()
    memo = db.session.info.setdefault(_PERMISSIONS_KEY, {})
    key = (user.id, partner.id)
    if key not in memo:
        memo[key] = (ROLE_PERMISSIONS[role] if role is not None
                     else _workspace_permissions(user, partner))
    return memo[key]


def _workspace_permissions(user: User, partner: Partner) -> frozenset[Permission]:
    from bungkesmas.partners.services import ancestor_ids

    # The roles only, not the membership objects with their joined user and partner.
    with tenancy.everything():
        by_partner = dict(db.session.execute(
            select(PartnerStaff.tenant_id, PartnerStaff.role)
            .where(PartnerStaff.user_id == user.id, PartnerStaff.active)).all())
    own = by_partner.get(partner.id)
    if own is not None:
        return ROLE_PERMISSIONS[own]
    if any(a in by_partner for a in ancestor_ids(partner.id)):  # partners: a global table
        return DESCENDANT_PERMISSIONS
    return frozenset()


@event.listens_for(tenancy.TenantSession, "before_flush")
def _forget_permissions_on_write(session, _flush_context, _instances) -> None:
    if _PERMISSIONS_KEY in session.info and any(
            isinstance(obj, (PartnerStaff, User, Partner))
            for obj in (*session.new, *session.dirty, *session.deleted)):
        session.info.pop(_PERMISSIONS_KEY)


@event.listens_for(tenancy.TenantSession, "after_transaction_end")
def _forget_permissions(session, transaction) -> None:
    if transaction.nested or transaction.parent is None:
        session.info.pop(_PERMISSIONS_KEY, None)


def home_partner(user: User) -> Partner | None:
    for m in active_memberships(user):
        if m.partner.status == PartnerStatus.APPROVED:
            return m.partner
    return None


# --- invitations -----------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_link(token: str) -> str:
    if has_request_context():
        return url_for("auth.accept_invitation", token=token, _external=True)
    return f"{current_app.config['BASE_URL'].rstrip('/')}/undangan/{token}"


def invite(actor, partner: Partner, email: str, role: Role, *, name: str = "",
           check_permission: bool = True) -> tuple[Invitation, str]:
    """Invite a person to join `partner` with `role`; send the link; return it too.

    The token embeds the partner id so that the lookup is by (tenant_id, hash), the key
    the table is distributed by."""
    if check_permission and Permission.STAFF_MANAGE not in workspace_permissions(actor, partner):
        raise NotAllowed(_("You are not allowed to do this."))
    if role not in PARTNER_ROLES:
        raise DomainError(_("Choose a role."), "role")
    email = normalise_email(email)
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        existing = user_by_email(email)
        if existing is not None and db.session.scalar(
                select(PartnerStaff.id).where(PartnerStaff.user_id == existing.id,
                                              PartnerStaff.tenant_id == partner.id,
                                              PartnerStaff.active)):
            raise Conflict(_("This person is already on your team."), "email")
        now = utcnow()
        for old in db.session.scalars(select(Invitation).where(
                Invitation.tenant_id == partner.id, Invitation.email == email,
                Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))):
            old.revoked_at = now  # a new invitation replaces an unused one
        token = f"{partner.id}.{secrets.token_urlsafe(32)}"
        invitation = Invitation(
            tenant_id=partner.id, email=email, name=name.strip(), role=role,
            token_hash=_token_hash(token), expires_at=now + current_app.config["INVITATION_TTL"],
            invited_by_id=getattr(actor, "id", None))
        db.session.add(invitation)
        db.session.flush()
        record(actor, "invitation.create", invitation, partner_id=partner.id,
               after={"role": str(role)})
    link = invitation_link(token)
    mailer().send(
        email,
        _("Invitation to %(partner)s on Bungkesmas", partner=partner.name),
        _("You have been invited to join %(partner)s on the Bungkesmas Partner Platform as "
          "%(role)s.\n\nOpen this link to set your password (valid for 7 days):\n%(link)s\n",
          partner=partner.name, role=role_label(role), link=link),
        partner_id=partner.id)
    return invitation, link


def find_invitation(token: str) -> Invitation | None:
    """Return the open invitation for `token`, or None (unknown, used, revoked, expired)."""
    tenant, _sep, _rest = (token or "").partition(".")
    if not tenant.isdigit() or len(token) > 200:
        return None
    with tenancy.scoped(tenancy.Scope.tenants(int(tenant))):
        invitation = db.session.scalar(select(Invitation).where(
            Invitation.tenant_id == int(tenant), Invitation.token_hash == _token_hash(token)))
    if invitation is None or not invitation.is_open(utcnow()):
        return None
    if invitation.partner.status != PartnerStatus.APPROVED:
        return None
    return invitation


def accept_invitation(token: str, *, name: str, password: str) -> User:
    """Join the invitation's partner: create the account, or confirm an existing one."""
    invitation = find_invitation(token)
    if invitation is None:
        raise DomainError(_("This invitation link is invalid, used or expired."))
    user = user_by_email(invitation.email)
    if user is None:
        check_password_strength(password, invitation.email)
        if not name.strip():
            raise DomainError(_("Enter your name."), "name")
        user = User(email=invitation.email, name=name.strip(), password_hash=hash_password(password))
        db.session.add(user)
        db.session.flush()
        record(user, "user.create", user, partner_id=invitation.tenant_id,
               after={"via": "invitation"})
    elif not _verify(user, password):
        raise DomainError(_("This e-mail address already has an account: enter its password."),
                          "password")
    with tenancy.scoped(tenancy.Scope.tenants(invitation.tenant_id)):
        staff = db.session.scalar(select(PartnerStaff).where(
            PartnerStaff.tenant_id == invitation.tenant_id, PartnerStaff.user_id == user.id))
        if staff is None:
            staff = PartnerStaff(tenant_id=invitation.tenant_id, user_id=user.id,
                                 role=invitation.role, invited_by_id=invitation.invited_by_id)
            db.session.add(staff)
        else:
            staff.active, staff.role = True, invitation.role
        invitation.accepted_at = utcnow()
        invitation.accepted_by_id = user.id
        db.session.flush()
        record(user, "staff.join", staff, partner_id=invitation.tenant_id,
               after={"role": str(invitation.role), "user_id": user.id})
    return user


# --- staff -----------------------------------------------------------------------------


def staff_list(partner: Partner) -> list[PartnerStaff]:
    """The partner's staff, admins first (the session scope already limits the rows)."""
    return list(db.session.scalars(
        select(PartnerStaff).where(PartnerStaff.tenant_id == partner.id)
        .order_by(PartnerStaff.active.desc(), PartnerStaff.role, PartnerStaff.created_at)))


def open_invitations(partner: Partner) -> list[Invitation]:
    return list(db.session.scalars(
        select(Invitation).where(Invitation.tenant_id == partner.id,
                                 Invitation.accepted_at.is_(None),
                                 Invitation.revoked_at.is_(None),
                                 Invitation.expires_at > utcnow())
        .order_by(Invitation.created_at.desc())))


def set_staff_active(actor: User, partner: Partner, staff_id: uuid.UUID, active: bool) -> PartnerStaff:
    """Deactivate or reactivate a staff member of `partner`."""
    if Permission.STAFF_MANAGE not in workspace_permissions(actor, partner):
        raise NotAllowed(_("You are not allowed to do this."))
    staff = db.session.scalar(select(PartnerStaff).where(
        PartnerStaff.id == staff_id, PartnerStaff.tenant_id == partner.id))
    if staff is None:
        raise LookupError(staff_id)
    if not active:
        if staff.user_id == actor.id:
            raise DomainError(_("You cannot deactivate yourself."))
        if staff.role == Role.PARTNER_ADMIN and _active_admins(partner) <= 1:
            raise DomainError(_("A partner needs at least one active admin."))
    before = snapshot(staff, "active")
    staff.active = active
    db.session.flush()
    record(actor, "staff.activate" if active else "staff.deactivate", staff,
           partner_id=partner.id, before=before, after=snapshot(staff, "active"))
    return staff


def _active_admins(partner: Partner) -> int:
    return db.session.scalar(select(func.count()).select_from(PartnerStaff).where(
        PartnerStaff.tenant_id == partner.id, PartnerStaff.active,
        PartnerStaff.role == Role.PARTNER_ADMIN)) or 0


def create_provider_user(email: str, name: str, password: str, role: Role, actor=None) -> User:
    """Create a provider admin or staff account (operator command and demo data)."""
    email = normalise_email(email)
    if role not in (Role.PROVIDER_ADMIN, Role.PROVIDER_STAFF):
        raise DomainError(_("Choose a role."), "role")
    if user_by_email(email) is not None:
        raise Conflict(_("An account with this e-mail address exists."), "email")
    check_password_strength(password, email)
    user = User(email=email, name=name, password_hash=hash_password(password), provider_role=role)
    db.session.add(user)
    db.session.flush()
    record(actor, "user.create", user, partner_id=None, actor_label=None if actor else "cli",
           after={"provider_role": str(role)})
    return user


# --- API tokens ------------------------------------------------------------------------

TOKEN_PREFIX = "bkm_"  # noqa: S105 — a public prefix, not a secret


# `last_used_at` is written when it is older than this: at most one write (and commit)
# per token and minute, instead of one on every request.
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class TokenIdentity:
    user: User
    partner: Partner | None
    token: ApiToken
    permissions: frozenset[Permission] = frozenset()  # in the partner (partner tokens)
    touched: bool = False  # last_used_at was updated: the caller commits it
    # The partner has child partners (whose data its workspace sees): False saves the
    # workspace the descendants query.
    partner_has_children: bool = True


def create_token(actor: User, partner: Partner | None, name: str) -> tuple[ApiToken, str]:
    """Create an API token for `actor`, bound to `partner` (or to the provider side)."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise DomainError(_("Give the token a name of at most 100 characters."), "name")
    if partner is None:
        if not actor.is_provider:
            raise NotAllowed(_("You are not allowed to do this."))
    elif not workspace_permissions(actor, partner):  # the view checks TOKENS_MANAGE
        raise NotAllowed(_("You are not allowed to do this."))
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(token_hash=_token_hash(secret), prefix=secret[:10], name=name,
                     user_id=actor.id, partner_id=partner.id if partner else None)
    db.session.add(token)
    db.session.flush()
    record(actor, "token.create", token, partner_id=token.partner_id, after={"name": name})
    return token, secret


def user_tokens(user: User, partner: Partner | None) -> list[ApiToken]:
    return list(db.session.scalars(select(ApiToken).where(
        ApiToken.user_id == user.id,
        ApiToken.partner_id == (partner.id if partner else None),
        ApiToken.revoked_at.is_(None)).order_by(ApiToken.created_at.desc())))


def revoke_token(actor: User, token_id: uuid.UUID, partner: Partner | None) -> ApiToken:
    """Revoke one of the actor's own tokens."""
    token = db.session.scalar(select(ApiToken).where(
        ApiToken.id == token_id, ApiToken.user_id == actor.id,
        ApiToken.partner_id == (partner.id if partner else None)))
    if token is None:
        raise LookupError(token_id)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.flush()
        record(actor, "token.revoke", token, partner_id=token.partner_id)
    return token


# Built once (building a statement costs more than running it).
_CHILD = aliased(Partner)
_TOKEN_QUERY = (select(ApiToken, Partner, PartnerStaff.role,
                       exists().where(_CHILD.parent_id == ApiToken.partner_id))
                .outerjoin(Partner, Partner.id == ApiToken.partner_id)
                .outerjoin(PartnerStaff, (PartnerStaff.tenant_id == ApiToken.partner_id)
                           & (PartnerStaff.user_id == ApiToken.user_id) & PartnerStaff.active)
                .where(ApiToken.token_hash == bindparam("digest")))


def identify_token(secret: str) -> TokenIdentity | None:
    """Return who a bearer token speaks for, or None if it is not valid now."""
    if not secret or not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
        return None
    digest = _token_hash(secret)
    # One query: the token with its user (joined), its partner, the user's role held in
    # that partner and whether the partner has children. (Run in the everything scope:
    # partner_staff is tenant-owned.)
    found = db.session.execute(_TOKEN_QUERY, {"digest": digest}).first()
    token, partner, role, has_children = found if found is not None else (None,) * 4
    if token is None or token.revoked_at is not None or not hmac.compare_digest(
            token.token_hash, digest):
        return None
    user = token.user
    if not user.active:
        return None
    permissions = frozenset()
    if token.partner_id is not None:
        if partner is None:
            return None
        # No role here: maybe read-only access as staff of an ancestor (looked up).
        permissions = workspace_permissions(user, partner, role)
        if not permissions:
            return None
    elif not user.is_provider:
        return None
    now = utcnow()
    touched = token.last_used_at is None or now - token.last_used_at >= TOKEN_TOUCH_INTERVAL
    if touched:
        token.last_used_at = now
    return TokenIdentity(user, partner, token, permissions, touched,
                         partner_has_children=bool(has_children))


def role_label(role: Role) -> str:
    return str(ROLE_LABELS[role]())


ROLE_LABELS = {
    Role.PROVIDER_ADMIN: lambda: _("provider admin"),
    Role.PROVIDER_STAFF: lambda: _("provider staff"),
    Role.PARTNER_ADMIN: lambda: _("partner admin"),
    Role.PARTNER_OFFICER: lambda: _("field officer"),
}
