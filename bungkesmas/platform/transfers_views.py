"""Provider admin: transfer members — chosen ones, or a whole group — from one partner to
another (e.g. from LSM Pattiro Jeka, which registered them on YLP2EM's behalf, to YLP2EM
once its MOU is signed). Member numbers, enrollments and history go along."""

from __future__ import annotations

import re
import uuid

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select
from wtforms import (
    HiddenField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)

from bungkesmas import tenancy
from bungkesmas.audit.models import AuditEvent
from bungkesmas.extensions import db
from bungkesmas.forms import Form, length, optional, required, strip
from bungkesmas.members import services as members
from bungkesmas.members.models import Group, Member
from bungkesmas.partners import services as partners
from bungkesmas.partners.models import Partner
from bungkesmas.platform.views import Permission, _permissions, bp, requires
from bungkesmas.web import run

PER_PAGE = 50


class TransferFilterForm(Form):
    """The GET form: whose members, and which of them to list."""

    class Meta:
        csrf = False

    sumber = SelectField(_l("Move members of"), [optional()], coerce=str, filters=[strip])
    q = StringField(_l("Search"), [optional(), length(100)], filters=[strip])
    kelompok = SelectField(_l("Group"), [optional()], coerce=str, filters=[strip])


class TransferForm(Form):
    source = HiddenField()
    mode = RadioField(choices=[SelectChoice("members", _l("Chosen members")),
                               SelectChoice("group", _l("A whole group"))])
    member_ids = SelectMultipleField(_l("Members"), coerce=str, validate_choice=False)
    group_id = SelectField(_l("Group"), [optional()], coerce=str, filters=[strip])
    target = SelectField(_l("Move to"), [required()], coerce=str, filters=[strip])
    reason = TextAreaField(_l("Reason"), [required(), length(500)], filters=[strip])


@bp.context_processor
def transfer_context():
    return {"can_transfer": Permission.MEMBERS_TRANSFER in _permissions()}


def _partners_with_workspace() -> list[Partner]:
    return list(db.session.scalars(select(Partner).where(Partner.slug.is_not(None))
                                   .order_by(Partner.name)))


def _member_counts() -> dict[int, int]:
    return dict(db.session.execute(
        select(Member.tenant_id, func.count()).group_by(Member.tenant_id)).all())


def _source(value) -> Partner | None:
    if not value or not re.fullmatch(r"[0-9]{1,10}", str(value)) or int(value) > 2**31 - 1:
        return None
    partner = db.session.get(Partner, int(value))
    return partner if partner is not None and partner.slug is not None else None


def _groups(source: Partner):
    """The source's own groups (not its children's), with member counts."""
    with tenancy.scoped(tenancy.Scope.tenants(source.id)):
        rows = members.groups_with_counts(source)
    return [(group, count) for group, count, _enrolled in rows]


def _target_choices(source: Partner):
    return [("", _l("— choose —"))] + [
        (str(p.id), p.name) for p in partners.approved_partners() if p.id != source.id]


def _prepare(form: TransferForm, source: Partner, groups) -> None:
    form.source.data = str(source.id)
    form.group_id.choices = [("", _l("— choose —"))] + [
        (str(group.id), _("%(name)s (%(count)d members)", name=group.name, count=count))
        for group, count in groups]
    form.target.choices = _target_choices(source)


@bp.route("/pindah")
@requires(Permission.MEMBERS_TRANSFER)
def transfer():
    """Choose the source partner; then its members (or a group), the target and a reason."""
    return _page(TransferFilterForm(request.args), TransferForm(mode="members"))


def _page(filters: TransferFilterForm, form: TransferForm | None, status: int = 200):
    counts = _member_counts()
    workspaces = _partners_with_workspace()
    filters.sumber.choices = [("", _l("— choose —"))] + [
        (str(p.id), _("%(name)s (%(count)d members)", name=p.name, count=counts.get(p.id, 0)))
        for p in workspaces]
    source = _source(filters.sumber.data)
    if source is None:
        return render_template("platform/transfers/transfer.html", filters=filters,
                               source=None, form=None), status
    groups = _groups(source)
    filters.kelompok.choices = [("", _l("all"))] + [(str(g.id), g.name) for g, _c in groups]
    filters.validate()
    group_filter = _uuid(filters.kelompok.data) if not filters.kelompok.errors else None
    q = filters.q.data if not filters.q.errors else ""
    stmt = members.search(source, members.MemberFilter(q=q or "", group_id=group_filter)).where(
        Member.tenant_id == source.id)
    page = db.paginate(stmt, per_page=PER_PAGE, error_out=False)
    _prepare(form, source, groups)
    chosen = set(form.member_ids.data or ())
    return render_template("platform/transfers/transfer.html", filters=filters, source=source,
                           form=form, page=page, groups=groups, chosen=chosen,
                           total=counts.get(source.id, 0)), status


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


@bp.route("/pindah", methods=["POST"])
@requires(Permission.MEMBERS_TRANSFER)
def transfer_post():
    form = TransferForm()
    source = _source(form.source.data)
    if source is None:
        abort(404)
    filters = TransferFilterForm(formdata=None, sumber=str(source.id))
    _prepare(form, source, _groups(source))
    if not form.validate_on_submit():
        return _page(filters, form, 422)
    target = _source(form.target.data)
    group_id, member_ids = None, []
    if form.mode.data == "group":
        group_id = _uuid(form.group_id.data)
        if group_id is None:
            form.group_id.errors.append(_("Choose the group to move."))
            return _page(filters, form, 422)
    else:
        member_ids = [_uuid(v) for v in form.member_ids.data or ()]
        if not member_ids:
            form.member_ids.errors.append(_("Tick the members to move."))
            return _page(filters, form, 422)
        found = set(db.session.scalars(select(Member.id).where(
            Member.tenant_id == source.id, Member.id.in_([m for m in member_ids if m]))))
        if None in member_ids or found != set(member_ids):
            form.member_ids.errors.append(_("Choose members of %(partner)s.", partner=source.name))
            return _page(filters, form, 422)
    count = run(lambda: members.transfer(current_user, member_ids, target, group_id=group_id,
                                         reason=form.reason.data), form)
    if count is None:
        return _page(filters, form, 422)
    event_id = db.session.scalar(
        select(AuditEvent.id).where(AuditEvent.action == "member.transfer",
                                    AuditEvent.actor_id == current_user.id,
                                    AuditEvent.partner_id == target.id)
        .order_by(AuditEvent.id.desc()).limit(1))
    flash(_("%(count)d members moved to %(partner)s.", count=count, partner=target.name),
          "success")
    return redirect(url_for("platform.transfer_done", event_id=event_id))


@bp.route("/pindah/<int:event_id>")
@requires(Permission.MEMBERS_TRANSFER)
def transfer_done(event_id: int):
    """A transfer, as recorded in the audit log of the partner that received the members."""
    event = db.session.get(AuditEvent, event_id)
    after = (event.after or {}) if event is not None else {}
    if event is None or event.action != "member.transfer" or event.partner_id != after.get("to"):
        abort(404)
    names = {p.id: p for p in db.session.scalars(
        select(Partner).where(Partner.id.in_([after["to"], *after.get("from", [])])))}
    group = None
    if after.get("group"):
        group = db.session.scalar(select(Group).where(Group.id == _uuid(after["group"])))
    return render_template("platform/transfers/done.html", event=event, after=after,
                           target=names.get(after["to"]),
                           sources=[names[i] for i in after.get("from", []) if i in names],
                           numbers=after.get("members", []), group=group)
