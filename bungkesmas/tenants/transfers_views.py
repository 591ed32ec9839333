"""Transfers agreed by two partner admins, in the workspace at /p/<slug>/pindah: the list
of incoming and outgoing requests, the offer form, the request by NIK (reached from the
registration form when the NIK is held elsewhere; the NIK travels in POST bodies only)
and the request page with accept, decline and withdraw.

Registered on the workspace blueprint; every view needs MEMBERS_TRANSFER_REQUEST, which
only the partner's own admins hold (a parent partner's staff look, they do not act)."""

from __future__ import annotations

import uuid

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select

from bungkesmas.auth.permissions import Permission
from bungkesmas.extensions import db
from bungkesmas.forms import Form
from bungkesmas.members import numbers
from bungkesmas.members import services as members
from bungkesmas.members.models import Member
from bungkesmas.partners import services as partners
from bungkesmas.tenants.views import bp, requires
from bungkesmas.transfers import services as transfers
from bungkesmas.transfers.forms import DeclineForm, NikRequestForm, OfferFilterForm, OfferForm
from bungkesmas.transfers.models import TransferStatus
from bungkesmas.web import run

PER_PAGE = 50

STATUS_LABELS = {
    TransferStatus.PENDING: _l("waiting for an answer"),
    TransferStatus.ACCEPTED: _l("accepted"),
    TransferStatus.DECLINED: _l("declined"),
    TransferStatus.CANCELLED: _l("withdrawn"),
}


@bp.app_context_processor
def transfer_helpers():
    return {"transfer_status_label": lambda status: str(STATUS_LABELS[TransferStatus(status)])}


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


# --- the list ------------------------------------------------------------------------------


@bp.route("/pindah")
@requires(Permission.MEMBERS_TRANSFER_REQUEST)
def transfers_list():
    def rows(requests):
        return [(r, transfers.counterpart(g.tenant, r)) for r in requests]

    return render_template("tenants/transfers/list.html",
                           incoming=rows(transfers.incoming(g.tenant)),
                           outgoing=rows(transfers.outgoing(g.tenant)))


# --- offering members or a group -----------------------------------------------------------


def _own_groups():
    """The partner's own groups (not its children's), with member counts."""
    return [(group, count) for group, count, _enrolled in members.groups_with_counts(g.tenant)
            if group.tenant_id == g.tenant.id]


def _prepare(form: OfferForm, groups) -> None:
    form.group_id.choices = [("", _l("— choose —"))] + [
        (str(group.id), _("%(name)s (%(count)d members)", name=group.name, count=count))
        for group, count in groups]
    form.target.choices = [("", _l("— choose —"))] + [
        (str(p.id), p.name) for p in partners.approved_partners()
        if p.id != g.tenant.id and p.slug is not None]


@bp.route("/pindah/tawarkan")
@requires(Permission.MEMBERS_TRANSFER_REQUEST)
def transfer_offer():
    """Offer members or a group: pick them from the partner's own members."""
    filters = OfferFilterForm(request.args)
    form = OfferForm(formdata=None, mode="members")
    return _offer_page(filters, form)


def _offer_page(filters: OfferFilterForm, form: OfferForm, status: int = 200):
    groups = _own_groups()
    _prepare(form, groups)
    filters.kelompok.choices = [("", _l("all"))] + [(str(gr.id), gr.name) for gr, _c in groups]
    filters.validate()
    group_filter = _uuid(filters.kelompok.data) if not filters.kelompok.errors else None
    q = (filters.q.data if not filters.q.errors else "") or ""
    stmt = members.search(g.tenant, members.MemberFilter(q=q, group_id=group_filter)).where(
        Member.tenant_id == g.tenant.id)
    page = db.paginate(stmt, per_page=PER_PAGE, error_out=False)
    if request.method == "GET" and group_filter is not None and not form.group_id.data:
        form.group_id.data = str(group_filter)
    chosen = set(form.member_ids.data or ())
    number = numbers.normalise(q) if q else None
    if request.method == "GET" and number:
        # Arriving from a member's page: that member is ticked.
        chosen |= {str(m.id) for m in page.items if m.member_number == number}
    total = db.session.scalar(select(func.count()).select_from(Member).where(
        Member.tenant_id == g.tenant.id)) or 0
    return render_template("tenants/transfers/offer.html", filters=filters, form=form,
                           page=page, groups=groups, chosen=chosen, total=total), status


@bp.route("/pindah/tawarkan", methods=["POST"])
@requires(Permission.MEMBERS_TRANSFER_REQUEST)
def transfer_offer_post():
    form = OfferForm()
    filters = OfferFilterForm(formdata=None)
    _prepare(form, _own_groups())
    if not form.validate_on_submit():
        return _offer_page(filters, form, 422)
    group_id, member_ids = None, []
    if form.mode.data == "group":
        group_id = _uuid(form.group_id.data)
        if group_id is None:
            form.group_id.errors.append(_("Choose the group to offer."))
            return _offer_page(filters, form, 422)
    else:
        member_ids = [_uuid(v) for v in form.member_ids.data or ()]
        if not member_ids:
            form.member_ids.errors.append(_("Tick the members to offer."))
            return _offer_page(filters, form, 422)
        if None in member_ids:
            form.member_ids.errors.append(_("Choose members of %(partner)s.", partner=g.tenant.name))
            return _offer_page(filters, form, 422)
    target_id = int(form.target.data) if form.target.data.isdigit() else None
    made = run(lambda: transfers.offer(current_user, g.tenant, target_id, member_ids=member_ids,
                                       group_id=group_id, reason=form.reason.data).id, form)
    if not made:
        return _offer_page(filters, form, 422)
    flash(_("Offer sent. The other partner's admins have been told."), "success")
    return redirect(url_for("tenants.transfer_detail", transfer_id=made))


# --- asking for a member by NIK ------------------------------------------------------------


@bp.route("/pindah/minta", methods=["GET", "POST"])
@requires(Permission.MEMBERS_TRANSFER_REQUEST)
def transfer_nik_form():
    """The request form. Reached by POST from the registration form (which carries the
    NIK in its body, never in the URL); checks the NIK but writes nothing."""
    if request.method == "GET":
        return _nik_page(NikRequestForm(formdata=None))
    typed = (request.form.get("nik") or "").replace("\x00", "").strip()[:40]
    form = NikRequestForm(formdata=None, nik=typed)
    if not form.nik.data:
        return _nik_page(form)
    checked = run(lambda: transfers.check_nik(current_user, g.tenant, form.nik.data), form)
    return _nik_page(form, masked=checked.masked if checked else None,
                     status=200 if checked else 422)


def _nik_page(form: NikRequestForm, masked: str | None = None, status: int = 200):
    return render_template("tenants/transfers/nik.html", form=form, masked=masked), status


@bp.route("/pindah/minta/kirim", methods=["POST"])
@requires(Permission.MEMBERS_TRANSFER_REQUEST)
def transfer_nik_send():
    form = NikRequestForm()
    if form.validate_on_submit():
        made = run(lambda: transfers.request_by_nik(current_user, g.tenant, form.nik.data,
                                                    form.reason.data).id, form)
        if made:
            flash(_("Request sent. The partner that holds this member will accept or decline "
                    "it; your admins get an e-mail either way."), "success")
            return redirect(url_for("tenants.transfer_detail", transfer_id=made))
    return _nik_page(form, status=422)


# --- one request ---------------------------------------------------------------------------


@bp.route("/pindah/<uuid:transfer_id>")
@requires(Permission.MEMBERS_TRANSFER_REQUEST)
def transfer_detail(transfer_id: uuid.UUID):
    return _detail_page(transfer_id)


def _detail_page(transfer_id: uuid.UUID, *, action_form=None, decline_form=None, status=200):
    req = transfers.get(g.tenant, transfer_id)  # LookupError → 404 unless a party to it
    shown = transfers.view(g.tenant, req)
    # Once accepted, the receiver holds the group: link to it.
    group_link = req.group_id if (shown.group_name and req.to_partner_id == g.tenant.id
                                  and req.status == TransferStatus.ACCEPTED) else None
    return render_template(
        "tenants/transfers/detail.html", req=req, shown=shown, group_link=group_link,
        action_form=action_form or Form(formdata=None),
        decline_form=decline_form or DeclineForm(formdata=None)), status


@bp.route("/pindah/<uuid:transfer_id>/terima", methods=["POST"])
@requires(Permission.MEMBERS_TRANSFER_REQUEST)
def transfer_accept(transfer_id: uuid.UUID):
    form = Form()
    if form.validate_on_submit() and run(
            lambda: transfers.accept(current_user, g.tenant, transfer_id), form):
        flash(_("Accepted: the members have moved."), "success")
        return redirect(url_for("tenants.transfer_detail", transfer_id=transfer_id))
    return _detail_page(transfer_id, action_form=form, status=422)


@bp.route("/pindah/<uuid:transfer_id>/tolak", methods=["POST"])
@requires(Permission.MEMBERS_TRANSFER_REQUEST)
def transfer_decline(transfer_id: uuid.UUID):
    form = DeclineForm()
    if form.validate_on_submit() and run(
            lambda: transfers.decline(current_user, g.tenant, transfer_id, form.reason.data), form):
        flash(_("Declined. The other partner has been told."), "success")
        return redirect(url_for("tenants.transfer_detail", transfer_id=transfer_id))
    return _detail_page(transfer_id, decline_form=form, status=422)


@bp.route("/pindah/<uuid:transfer_id>/batalkan", methods=["POST"])
@requires(Permission.MEMBERS_TRANSFER_REQUEST)
def transfer_cancel(transfer_id: uuid.UUID):
    form = Form()
    if form.validate_on_submit() and run(
            lambda: transfers.cancel(current_user, g.tenant, transfer_id), form):
        flash(_("Withdrawn."), "success")
        return redirect(url_for("tenants.transfer_detail", transfer_id=transfer_id))
    return _detail_page(transfer_id, action_form=form, status=422)
