"""The partner workspace at /p/<slug>/: one gate resolves the tenant and scopes the session."""

from __future__ import annotations

import uuid

from flask import Blueprint, abort, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from bungkesmas import tenancy
from bungkesmas.auth import services as auth
from bungkesmas.auth.forms import InviteForm, TokenForm
from bungkesmas.auth.permissions import Permission, Role
from bungkesmas.extensions import db, login_manager
from bungkesmas.partners import services as partners
from bungkesmas.partners.forms import ProfileForm
from bungkesmas.partners.models import Partner
from bungkesmas.web import requires_permission, run

bp = Blueprint("tenants", __name__, url_prefix="/p/<slug>", template_folder="templates")


@bp.url_value_preprocessor
def pull_slug(endpoint, values):
    g.slug = values.pop("slug", None) if values else None


@bp.url_defaults
def add_slug(endpoint, values):
    if "slug" not in values and getattr(g, "tenant", None) is not None:
        values["slug"] = g.tenant.slug


@bp.before_request
def gate():
    """Resolve the partner from the URL; answer 404 unless the user may see it (an
    existing partner the user has no access to is indistinguishable from none)."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    partner = partners.by_slug(g.slug or "")
    permissions = auth.workspace_permissions(current_user, partner) if partner else frozenset()
    if not permissions:
        abort(404)
    g.tenant = partner
    g.permissions = permissions
    tenancy.enter_workspace(partner.id)


def requires(permission: Permission):
    return requires_permission(permission, lambda: g.permissions)


@bp.app_context_processor
def workspace_context():
    return {"tenant": getattr(g, "tenant", None), "permissions": getattr(g, "permissions", frozenset())}


@bp.route("/")
@requires(Permission.WORKSPACE_VIEW)
def dashboard():
    children = list(db.session.scalars(
        select(Partner).where(Partner.parent_id == g.tenant.id).order_by(Partner.name)))
    staff = auth.staff_list(g.tenant)
    from bungkesmas.members.services import count_members
    from bungkesmas.mous import services as mous
    from bungkesmas.transfers.services import pending_incoming_count

    waiting = (pending_incoming_count(g.tenant)
               if Permission.MEMBERS_TRANSFER_REQUEST in g.permissions else 0)
    return render_template("tenants/dashboard.html", children=children,
                           staff_count=sum(1 for s in staff if s.active),
                           member_count=count_members(), transfers_waiting=waiting,
                           mou_in_force=mous.in_force(g.tenant.id),
                           mou_waiting=[m for m in mous.mous_of(g.tenant) if m.status == "sent"],
                           mou_expiring=mous.expiring(partner_id=g.tenant.id),
                           hosting_for=mous.hosted_partners(g.tenant))


@bp.route("/staf")
@requires(Permission.STAFF_VIEW)
def staff():
    return _staff_page(InviteForm(role=Role.PARTNER_OFFICER.value))


def _staff_page(form, status=200):
    return render_template("tenants/staff.html", staff=auth.staff_list(g.tenant),
                           invitations=auth.open_invitations(g.tenant)
                           if Permission.STAFF_MANAGE in g.permissions else [],
                           form=form), status


@bp.route("/staf/undang", methods=["POST"])
@requires(Permission.STAFF_MANAGE)
def invite():
    form = InviteForm()
    if form.validate_on_submit() and run(lambda: auth.invite(
            current_user, g.tenant, form.email.data, Role(form.role.data), name=form.name.data),
            form):
        flash(_("Invitation sent to %(email)s.", email=form.email.data), "success")
        return redirect(url_for("tenants.staff"))
    return _staff_page(form, 422)


@bp.route("/staf/<uuid:staff_id>/nonaktifkan", methods=["POST"])
@requires(Permission.STAFF_MANAGE)
def deactivate(staff_id: uuid.UUID):
    return _set_active(staff_id, False)


@bp.route("/staf/<uuid:staff_id>/aktifkan", methods=["POST"])
@requires(Permission.STAFF_MANAGE)
def activate(staff_id: uuid.UUID):
    return _set_active(staff_id, True)


def _set_active(staff_id: uuid.UUID, active: bool):
    # CSRFProtect has already checked the token of every POST.
    if run(lambda: auth.set_staff_active(current_user, g.tenant, staff_id, active)):
        flash(_("Saved."), "success")
    return redirect(url_for("tenants.staff"))


@bp.route("/profil", methods=["GET", "POST"])
@requires(Permission.WORKSPACE_VIEW)
def profile():
    can_edit = Permission.PROFILE_EDIT in g.permissions
    form = ProfileForm(obj=g.tenant)
    if form.is_submitted():
        if not can_edit:
            abort(403)
        if form.validate() and run(lambda: partners.update_profile(
                current_user, g.tenant, form.data_for_domain()), form):
            flash(_("Profile saved."), "success")
            return redirect(url_for("tenants.profile"))
    return render_template("tenants/profile.html", form=form, can_edit=can_edit), (
        422 if form.errors else 200)


@bp.route("/token")
@requires(Permission.TOKENS_MANAGE)
def tokens():
    return _tokens_page(TokenForm())


def _tokens_page(form, secret=None, status=200):
    return render_template("tenants/tokens.html", form=form, secret=secret,
                           tokens=auth.user_tokens(current_user, g.tenant)), status


@bp.route("/token", methods=["POST"])
@requires(Permission.TOKENS_MANAGE)
def create_token():
    form = TokenForm()
    if form.validate_on_submit():
        result = run(lambda: auth.create_token(current_user, g.tenant, form.name.data), form)
        if result:
            _token, secret = result
            # Shown once, on this response only; never stored or logged in clear.
            return _tokens_page(TokenForm(formdata=None), secret=secret)
    return _tokens_page(form, status=422)


@bp.route("/token/<uuid:token_id>/cabut", methods=["POST"])
@requires(Permission.TOKENS_MANAGE)
def revoke_token(token_id: uuid.UUID):
    run(lambda: auth.revoke_token(current_user, token_id, g.tenant))
    flash(_("Token revoked."), "success")
    return redirect(url_for("tenants.tokens"))


# Route modules of the workspace, registered on this blueprint.
from bungkesmas.tenants import (  # noqa: E402, F401
    audit_views,
    cards_views,
    contributions_views,
    due_views,
    imports_views,
    members_views,
    mous_views,
    remittance_views,
    transfers_views,
    waste_views,
)
