"""The provider admin at /admin: walled off by one gate on the blueprint."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from bungkesmas import tenancy
from bungkesmas.audit.models import AuditEvent
from bungkesmas.auth import services as auth
from bungkesmas.auth.permissions import Permission
from bungkesmas.contributions import services as ledger
from bungkesmas.contributions.forms import status_label
from bungkesmas.extensions import db, login_manager
from bungkesmas.mail.models import OutboxMessage
from bungkesmas.partners import services as partners
from bungkesmas.partners.forms import ApproveForm, FilterForm, ParentForm, ReasonForm
from bungkesmas.partners.models import Partner, PartnerStatus
from bungkesmas.web import requires_permission, run

bp = Blueprint("platform", __name__, url_prefix="/admin", template_folder="templates")

PER_PAGE = 25


def _permissions() -> frozenset:
    return auth.provider_permissions(current_user)


def requires(permission: Permission):
    return requires_permission(permission, _permissions)


@bp.before_request
def gate():
    """Only provider staff pass; they work across tenants, explicitly."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_provider:
        abort(403)
    tenancy.activate(tenancy.Scope.everything())


def _partner(partner_id: int) -> Partner:
    return db.get_or_404(Partner, partner_id)


def _parent_choices(partner: Partner):
    return [("", _("— none —"))] + [
        (str(p.id), p.name) for p in partners.approved_partners() if p.id != partner.id]


@bp.route("/")
@requires(Permission.PARTNERS_VIEW)
def index():
    return redirect(url_for("platform.partners"))


@bp.route("/partners", endpoint="partners")
@requires(Permission.PARTNERS_VIEW)
def partners_list():
    form = FilterForm(request.args)
    form.status.choices = [("", _("all"))] + [(s.value, partners.status_label(s)) for s in PartnerStatus]
    status = form.status.data if form.validate() else None
    q = form.q.data if not form.q.errors else None
    page = db.paginate(partners.search(status=status or None, q=q), per_page=PER_PAGE,
                       error_out=False)
    return render_template("platform/partners.html", form=form, page=page,
                           status_counts=ledger.status_counts(), coverage_label=status_label)


@bp.route("/partners/<int:partner_id>")
@requires(Permission.PARTNERS_VIEW)
def partner_detail(partner_id: int):
    partner = _partner(partner_id)
    approve_form = ApproveForm(slug=partners.suggest_slug(partner)) if partner.slug is None else None
    if approve_form is not None:
        approve_form.parent_id.choices = _parent_choices(partner)
    parent_form = ParentForm(parent_id=str(partner.parent_id or ""))
    parent_form.parent_id.choices = _parent_choices(partner)
    return _detail(partner, approve_form=approve_form, parent_form=parent_form)


def _detail(partner, status=200, **forms):
    from bungkesmas.platform.mous_views import mou_panel

    forms.setdefault("reason_form", ReasonForm())
    forms.setdefault("parent_form", None)
    forms.setdefault("approve_form", None)
    forms.update(mou_panel(partner, forms.pop("host_form", None), forms.pop("transfer_form", None)))
    staff = auth.staff_list(partner)
    children = list(db.session.scalars(select(Partner).where(Partner.parent_id == partner.id)
                                       .order_by(Partner.name)))
    events = list(db.session.scalars(
        select(AuditEvent).where(AuditEvent.partner_id == partner.id)
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()).limit(50)))
    return render_template("platform/partner.html", partner=partner, staff=staff,
                           children=children, events=events,
                           actions=_available_actions(partner),
                           can_manage=Permission.PARTNERS_MANAGE in _permissions(), **forms), status


def _available_actions(partner: Partner) -> list[str]:
    perms = _permissions()
    return [name for name, step in partners.TRANSITIONS.items()
            if name != "approve" and partner.status in step.sources and step.permission in perms]


@bp.route("/partners/<int:partner_id>/approve", methods=["POST"])
@requires(Permission.PARTNERS_REVIEW)
def approve(partner_id: int):
    partner = _partner(partner_id)
    form = ApproveForm()
    form.parent_id.choices = _parent_choices(partner)
    if form.validate_on_submit():
        parent_id = int(form.parent_id.data) if form.parent_id.data else None
        result = run(lambda: partners.approve(current_user, partner, form.slug.data, parent_id), form)
        if result:
            flash(_("Approved. An invitation was sent to %(email)s.", email=partner.contact_email),
                  "success")
            return redirect(url_for("platform.partner_detail", partner_id=partner.id))
    return _detail(partner, status=422, approve_form=form)


@bp.route("/partners/<int:partner_id>/status/<action>", methods=["POST"])
@requires(Permission.PARTNERS_REVIEW)
def change_status(partner_id: int, action: str):
    partner = _partner(partner_id)
    step = partners.TRANSITIONS.get(action)
    if step is None or action == "approve":
        abort(404)
    form = ReasonForm()
    reason = form.reason.data or ""
    # The domain function decides whether a reason is required for this step.
    valid = form.validate_on_submit() or (not step.needs_reason and not form.reason.data)
    if valid and run(lambda: partners.transition(current_user, partner, action, reason), form):
        flash(_("Saved: %(status)s.", status=partners.status_label(partner.status)), "success")
        return redirect(url_for("platform.partner_detail", partner_id=partner.id))
    return _detail(partner, status=422, reason_form=form)


@bp.route("/partners/<int:partner_id>/parent", methods=["POST"])
@requires(Permission.PARTNERS_MANAGE)
def set_parent(partner_id: int):
    partner = _partner(partner_id)
    form = ParentForm()
    form.parent_id.choices = _parent_choices(partner)
    if form.validate_on_submit():
        parent_id = int(form.parent_id.data) if form.parent_id.data else None
        if run(lambda: partners.set_parent(current_user, partner, parent_id), form):
            flash(_("Saved."), "success")
            return redirect(url_for("platform.partner_detail", partner_id=partner.id))
    return _detail(partner, status=422, parent_form=form)


@bp.route("/audit")
@requires(Permission.AUDIT_VIEW)
def audit():
    page = db.paginate(select(AuditEvent).order_by(AuditEvent.id.desc()), per_page=50,
                       error_out=False)
    names = dict(db.session.execute(select(Partner.id, Partner.name)).all())
    return render_template("platform/audit.html", page=page, names=names)


@bp.route("/outbox")
@requires(Permission.OUTBOX_VIEW)
def outbox():
    page = db.paginate(select(OutboxMessage).order_by(OutboxMessage.id.desc()), per_page=25,
                       error_out=False)
    return render_template("platform/outbox.html", page=page)


# Route modules of the provider side, registered on this blueprint.
from bungkesmas.platform import (  # noqa: E402, F401
    mous_views,
    products_views,
    remittance_views,
    transfers_views,
)
