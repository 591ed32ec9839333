"""Members and groups in the partner workspace: list, search, export, register, edit,
enroll, show the NIK; groups and their coordinators.

Registered on the workspace blueprint (`tenants.views.bp`), whose gate has resolved the
partner (`g.tenant`), the user's permissions there (`g.permissions`) and scoped the
session to the partner and its descendants. A parent partner sees its children's members
and groups, but changes only its own: `_own` answers 403 for the others."""

from __future__ import annotations

import tempfile
import uuid

from flask import (
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from bungkesmas import tenancy
from bungkesmas.audit.models import AuditEvent
from bungkesmas.audit.services import record
from bungkesmas.auth.models import User
from bungkesmas.auth.permissions import Permission
from bungkesmas.contributions.models import LedgerEntry
from bungkesmas.extensions import db
from bungkesmas.members import export
from bungkesmas.members import nik as nik_rules
from bungkesmas.members import services as members
from bungkesmas.members.forms import (
    CONSENT_TEXT,
    CancelEnrollmentForm,
    CoordinatorForm,
    EnrollForm,
    GroupForm,
    MemberEditForm,
    MemberFilterForm,
    MemberForm,
    status_label,
)
from bungkesmas.members.models import EnrollmentStatus, Group, Member
from bungkesmas.partners.models import Partner
from bungkesmas.tenants.views import bp, requires
from bungkesmas.web import run

PER_PAGE = 50
AUDIT_ROWS = 100

ACTION_LABELS = {
    "member.register": _l("Registered"),
    "member.update": _l("Details changed"),
    "member.reveal_nik": _l("Full NIK shown"),
    "member.import": _l("Registered from a spreadsheet import"),
    "member.transfer": _l("Moved to another partner"),
    "enrollment.create": _l("Enrolled in a product"),
    "enrollment.cancel": _l("Enrollment cancelled"),
    "member.cards_revoke": _l("Printed cards revoked"),
    "contribution.payment": _l("Contribution recorded"),
    "contribution.withdrawal": _l("Savings paid out"),
    "contribution.reversal": _l("Ledger row reversed"),
}
FIELD_LABELS = {
    "full_name": _l("Full name"), "nik": _l("NIK"), "kk": _l("Family card number (KK)"),
    "birth_date": _l("Birth date"), "sex": _l("Sex"), "phone": _l("Phone"),
    "address": _l("Address"), "province_code": _l("Province"),
    "regency_code": _l("Regency or city"), "district_code": _l("District (kecamatan)"),
    "village_code": _l("Village (kelurahan/desa)"), "group_id": _l("Group"),
    "beneficiary_name": _l("Beneficiary name"),
    "beneficiary_relation": _l("Relation to the member"),
    "beneficiary_phone": _l("Beneficiary phone"),
}


def _member_or_404(member_number: str) -> Member:
    member = members.by_number(member_number)
    if member is None:  # unknown, or another partner's: the scope hides it
        abort(404)
    return member


def _group_or_404(group_id: uuid.UUID) -> Group:
    group = db.session.scalar(select(Group).where(Group.id == group_id))
    if group is None:
        abort(404)
    return group


def _own(obj) -> None:
    """Only the partner's own members and groups change here; a parent only looks at
    its children's."""
    if obj.tenant_id != g.tenant.id:
        abort(403)


def _is_nik(q: str | None) -> bool:
    cleaned = nik_rules.clean(q)
    return cleaned.isdigit() and len(cleaned) == 16


def _filter(values: dict) -> members.MemberFilter:
    group = values.get("group")
    return members.MemberFilter(q=values.get("q", ""),
                                group_id=uuid.UUID(group) if group else None,
                                village_code=values.get("village") or None,
                                status=values.get("status") or None)


def _search(values: dict):
    if _is_nik(values.get("q")):
        # An exact NIK: looked up by its digest. (Passed to search() as q, a NIK whose
        # digits happen to carry a valid check digit would be taken for a member number.)
        digest = nik_rules.digest(nik_rules.clean(values["q"]))
        return members.search(g.tenant, _filter({**values, "q": ""})).where(
            Member.nik_digest == digest)
    return members.search(g.tenant, _filter(values))


# --- the list, search and export ---------------------------------------------------------


@bp.route("/peserta", methods=["GET", "POST"])
@requires(Permission.MEMBERS_VIEW)
def members_list():
    if request.method == "POST":
        # The search box posts, so that a NIK typed into it never lands in a URL, a
        # browser history or a server log. Anything else becomes a bookmarkable address.
        form = MemberFilterForm(g.tenant)
        values = form.values()
        if not _is_nik(values.get("q")):
            return redirect(url_for("tenants.members_list", **values))
        found = list(db.session.scalars(_search(values).limit(2)))
        if len(found) == 1:
            return redirect(url_for("tenants.member_detail",
                                    member_number=found[0].member_number))
        form.q.data = ""
        return _list_page(form, found, None, {}, nik_searched=True)
    form = MemberFilterForm(g.tenant, request.args)
    values = form.values()
    page = db.paginate(_search(values), per_page=PER_PAGE, error_out=False)
    return _list_page(form, page.items, page, values)


def _list_page(form, items, page, values, nik_searched=False):
    return render_template(
        "tenants/members/list.html", form=form, items=items, page=page, values=values,
        enrollments=export.enrollments_of(items) if items else {},
        status_label=status_label, nik_searched=nik_searched)


def _export_source(kind: str):
    form = MemberFilterForm(g.tenant, request.args)
    values = form.values()
    scope = tenancy.current_scope()
    names = dict(db.session.execute(select(Partner.id, Partner.name).where(
        Partner.id.in_(scope.visible))).all())
    # Who took personal data out of the platform, and which part of it.
    record(current_user, "member.export", g.tenant, partner_id=g.tenant.id,
           after={"format": kind, "search": bool(values.get("q")),
                  **{k: v for k, v in values.items() if k != "q"}})
    db.session.commit()
    return _search(values), names, current_app.config["BABEL_DEFAULT_TIMEZONE"], scope


@bp.route("/peserta/ekspor.csv")
@requires(Permission.MEMBERS_EXPORT)
def members_export_csv():
    stmt, names, timezone, scope = _export_source("csv")

    def chunks():
        # The response is read after the request's own session has been closed: the
        # streaming context gets a fresh session, scoped again to this workspace.
        tenancy.activate(scope)
        yield from export.csv_stream(stmt, names, timezone)

    response = Response(stream_with_context(chunks()), mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{export.filename(g.tenant.slug, "csv")}"')
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/peserta/ekspor.xlsx")
@requires(Permission.MEMBERS_EXPORT)
def members_export_xlsx():
    stmt, names, timezone, _scope = _export_source("xlsx")
    # A temporary file, not memory; deleted when the response has been sent.
    workbook = tempfile.TemporaryFile()
    try:
        export.write_xlsx(stmt, names, timezone, workbook)
        workbook.seek(0)
    except BaseException:
        workbook.close()
        raise
    response = send_file(
        workbook, as_attachment=True, download_name=export.filename(g.tenant.slug, "xlsx"),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response.headers["Cache-Control"] = "no-store"
    return response


# --- registering and editing ------------------------------------------------------------


@bp.route("/peserta/baru", methods=["GET", "POST"])
@requires(Permission.MEMBERS_MANAGE)
def member_new():
    products = members.offered_products(g.tenant)
    if request.method == "POST":
        form = MemberForm(g.tenant, products)
    else:
        # A new member most likely lives where the partner works.
        form = MemberForm(g.tenant, products, province_code=g.tenant.province_code,
                          regency_code=g.tenant.regency_code)
    state = {"confirm": bool(form.confirm_nik.data), "held_elsewhere": False}
    if form.validate_on_submit():
        def register():
            try:
                member = members.register(current_user, g.tenant, form.data_for_domain())
            except members.NikNeedsConfirmation:
                state["confirm"] = True
                raise
            except members.NikHeldElsewhere:
                # The way forward is a transfer request (an admin's action).
                state["held_elsewhere"] = True
                raise
            product_id = form.chosen_product()
            if product_id is not None:
                # Same transaction: an enrollment the product refuses undoes the registration.
                members.enroll(current_user, g.tenant, member, product_id)
            return member.member_number

        number = run(register, form)
        if number:
            flash(_("Member registered with number %(number)s.", number=number), "success")
            return redirect(url_for("tenants.member_detail", member_number=number))
    return render_template("tenants/members/form.html", form=form, member=None,
                           confirm_nik=state["confirm"], consent_text=CONSENT_TEXT,
                           held_elsewhere=state["held_elsewhere"]), (
        422 if form.errors else 200)


@bp.route("/peserta/<member_number>/ubah", methods=["GET", "POST"])
@requires(Permission.MEMBERS_MANAGE)
def member_edit(member_number: str):
    member = _member_or_404(member_number)
    _own(member)
    if request.method == "POST":
        form = MemberEditForm(g.tenant)
    else:
        form = MemberEditForm(g.tenant, obj=member)
    state = {"confirm": bool(form.confirm_nik.data)}
    if form.validate_on_submit():
        def update():
            try:
                members.update_member(current_user, g.tenant, member, form.data_for_domain())
            except members.NikNeedsConfirmation:
                state["confirm"] = True
                raise
            return member.member_number

        number = run(update, form)
        if number:
            flash(_("Saved."), "success")
            return redirect(url_for("tenants.member_detail", member_number=number))
    return render_template("tenants/members/form.html", form=form, member=member,
                           confirm_nik=state["confirm"], consent_text=None), (
        422 if form.errors else 200)


# --- one member -------------------------------------------------------------------------


@bp.route("/peserta/<member_number>")
@requires(Permission.MEMBERS_VIEW)
def member_detail(member_number: str):
    return _member_page(_member_or_404(member_number))


def _member_page(member: Member, *, enroll_form=None, revealed_nik=None, status=200,
                 cancel_form=None, **contribution_forms):
    from bungkesmas.payments.views import member_panel
    from bungkesmas.tenants.contributions_views import panel

    own = member.tenant_id == g.tenant.id
    can_manage = own and Permission.MEMBERS_MANAGE in g.permissions
    enrollments = list(member.enrollments)
    if enroll_form is None and can_manage:
        # Offer only the products the member is not already enrolled in.
        held = {e.product_version.product_id for e in enrollments
                if e.status != EnrollmentStatus.CANCELLED}
        enroll_form = EnrollForm([p for p in members.offered_products(g.tenant)
                                  if p.id not in held], formdata=None)
    cancel_forms = {}
    if own and Permission.ENROLLMENTS_CANCEL in g.permissions:
        cancel_forms = {e.id: CancelEnrollmentForm(e.id, formdata=None) for e in enrollments
                        if e.status != EnrollmentStatus.CANCELLED}
        if cancel_form is not None:  # the one sent back with its errors
            cancel_forms[cancel_form[0]] = cancel_form[1]
    entity_ids = [str(member.id)] + [str(e.id) for e in enrollments] + [
        str(i) for i in db.session.scalars(select(LedgerEntry.id).where(
            LedgerEntry.tenant_id == member.tenant_id, LedgerEntry.member_id == member.id,
            LedgerEntry.receipt_number.is_not(None)))]
    # The member's own partner's events only: what another partner did before a transfer
    # stays with that partner.
    events = db.session.execute(
        select(AuditEvent, User.name).outerjoin(User, User.id == AuditEvent.actor_id)
        .where(AuditEvent.entity_type.in_(("Member", "Enrollment", "LedgerEntry")),
               AuditEvent.entity_id.in_(entity_ids),
               AuditEvent.partner_id == member.tenant_id)
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()).limit(AUDIT_ROWS)).all()
    owner = g.tenant if own else db.session.get(Partner, member.tenant_id)
    return render_template(
        "tenants/members/detail.html", member=member, enrollments=enrollments, own=own,
        owner=owner, can_manage=can_manage,
        can_reveal=own and Permission.NIK_REVEAL in g.permissions,
        can_offer=own and Permission.MEMBERS_TRANSFER_REQUEST in g.permissions,
        enroll_form=enroll_form, cancel_forms=cancel_forms,
        cancel_open=cancel_form[0] if cancel_form is not None else None,
        revealed_nik=revealed_nik, events=events,
        action_labels=ACTION_LABELS, field_labels=FIELD_LABELS,
        status_label=status_label, **panel(member, own, **contribution_forms),
        **member_panel(member, own)), status


@bp.route("/peserta/<member_number>/nik", methods=["POST"])
@requires(Permission.NIK_REVEAL)
def member_reveal_nik(member_number: str):
    member = _member_or_404(member_number)
    _own(member)
    # Shown on this response only (never stored, redirected with or flashed); audited.
    nik = run(lambda: members.reveal_nik(current_user, g.tenant, member))
    return _member_page(member, revealed_nik=nik if isinstance(nik, str) else None)


@bp.route("/peserta/<member_number>/daftar-produk", methods=["POST"])
@requires(Permission.MEMBERS_MANAGE)
def member_enroll(member_number: str):
    member = _member_or_404(member_number)
    _own(member)
    form = EnrollForm(members.offered_products(g.tenant))
    if form.validate_on_submit() and run(lambda: members.enroll(
            current_user, g.tenant, member, int(form.product_id.data)), form):
        flash(_("Enrolled. The cover starts when the contribution is paid."), "success")
        return redirect(url_for("tenants.member_detail", member_number=member.member_number))
    return _member_page(member, enroll_form=form, status=422)


@bp.route("/peserta/<member_number>/kepesertaan/<uuid:enrollment_id>/batal", methods=["POST"])
@requires(Permission.ENROLLMENTS_CANCEL)
def enrollment_cancel(member_number: str, enrollment_id: uuid.UUID):
    member = _member_or_404(member_number)
    _own(member)
    if not any(e.id == enrollment_id for e in member.enrollments):
        abort(404)
    form = CancelEnrollmentForm(enrollment_id)
    if form.validate_on_submit() and run(lambda: members.cancel_enrollment(
            current_user, g.tenant, member, enrollment_id, form.reason.data), form):
        flash(_("The enrollment is cancelled."), "success")
        return redirect(url_for("tenants.member_detail", member_number=member.member_number))
    return _member_page(member, cancel_form=(enrollment_id, form), status=422)


# --- groups -----------------------------------------------------------------------------


@bp.route("/kelompok")
@requires(Permission.MEMBERS_VIEW)
def groups():
    return _groups_page(GroupForm(g.tenant))


def _groups_page(form, status=200):
    return render_template("tenants/groups/list.html", rows=members.groups_with_counts(g.tenant),
                           form=form), status


@bp.route("/kelompok", methods=["POST"])
@requires(Permission.GROUPS_MANAGE)
def group_create():
    form = GroupForm(g.tenant)
    if form.validate_on_submit():
        group_id = run(lambda: members.create_group(
            current_user, g.tenant, form.name.data, form.village_code.data or None,
            form.meeting_day.data).id, form)
        if group_id:
            flash(_("Group created."), "success")
            return redirect(url_for("tenants.group_detail", group_id=group_id))
    return _groups_page(form, 422)


def _group_members(group: Group) -> list[Member]:
    return list(db.session.scalars(select(Member).where(
        Member.tenant_id == group.tenant_id, Member.group_id == group.id)
        .order_by(Member.name_key, Member.id)))


@bp.route("/kelompok/<uuid:group_id>")
@requires(Permission.MEMBERS_VIEW)
def group_detail(group_id: uuid.UUID):
    group = _group_or_404(group_id)
    group_members = _group_members(group)
    coordinator = next((m for m in group_members if m.is_coordinator), None)
    form = CoordinatorForm(group_members, formdata=None,
                           coordinator=str(coordinator.id) if coordinator else "")
    return _group_page(group, group_members, form)


def _group_page(group, group_members, form, status=200):
    from bungkesmas.tenants.due_views import group_summary

    own = group.tenant_id == g.tenant.id
    return render_template(
        "tenants/groups/detail.html", group=group, group_members=group_members, form=form,
        can_manage=own and Permission.GROUPS_MANAGE in g.permissions,
        can_offer=own and Permission.MEMBERS_TRANSFER_REQUEST in g.permissions,
        owner=g.tenant if own else db.session.get(Partner, group.tenant_id),
        enrollments=export.enrollments_of(group_members) if group_members else {},
        status_label=status_label, **group_summary(group)), status


@bp.route("/kelompok/<uuid:group_id>/koordinator", methods=["POST"])
@requires(Permission.GROUPS_MANAGE)
def group_coordinator(group_id: uuid.UUID):
    group = _group_or_404(group_id)
    _own(group)
    group_members = _group_members(group)
    form = CoordinatorForm(group_members)
    if form.validate_on_submit():
        chosen = next((m for m in group_members if str(m.id) == form.coordinator.data), None)
        if run(lambda: members.set_coordinator(current_user, g.tenant, group, chosen), form):
            flash(_("Coordinator saved."), "success")
            return redirect(url_for("tenants.group_detail", group_id=group_id))
    return _group_page(group, group_members, form, 422)
