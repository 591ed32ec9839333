"""Provider admin: MOUs — draft, send, countersign, terminate, renew; the review thread and
the documents; MOUs about to expire; hosting partners and the transfer of hosted members.

Registered on the provider blueprint (`platform.views.bp`), whose gate admits provider
staff only and scopes the session to everything; the domain functions check the
permission of each step."""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from bungkesmas.extensions import db
from bungkesmas.mous import documents
from bungkesmas.mous import services as mous
from bungkesmas.mous.forms import (
    CommentForm,
    HostForm,
    MouFilterForm,
    MouForm,
    TerminateForm,
    TransferHostedForm,
    UploadForm,
)
from bungkesmas.mous.models import MouStatus
from bungkesmas.partners import services as partners
from bungkesmas.partners.models import Partner
from bungkesmas.platform.views import Permission, _permissions, bp, requires
from bungkesmas.products import services as products
from bungkesmas.web import run

PER_PAGE = 25
UPLOAD_ENDPOINTS = ("platform.mou_countersign", "platform.mou_upload")


@bp.url_value_preprocessor
def _allow_large_uploads(endpoint, values):
    # Before every before_request function (also CSRF protection, which reads the body).
    if endpoint in UPLOAD_ENDPOINTS:
        documents.allow_large_upload()


@bp.context_processor
def mou_context():
    perms = _permissions()
    return {"can_view_mous": Permission.MOUS_VIEW in perms,
            "can_manage_mous": Permission.MOUS_MANAGE in perms,
            "mou_status_label": mous.status_label, "frequency_label": mous.frequency_label,
            "kind_label": mous.kind_label}


def _mou(mou_id: uuid.UUID):
    try:
        return mous.get(mou_id)
    except LookupError:
        abort(404)


def _partner_of(mou) -> Partner:
    return db.session.get(Partner, mou.tenant_id)


# --- the list ---------------------------------------------------------------------------------


@bp.route("/mou")
@requires(Permission.MOUS_VIEW)
def mous_list():
    form = MouFilterForm(request.args)
    form.status.choices = [("", _("all"))] + [(s.value, mous.status_label(s)) for s in MouStatus]
    status = form.status.data if form.validate() else None
    page = db.paginate(mous.search(status=status or None), per_page=PER_PAGE, error_out=False)
    return render_template("platform/mous/list.html", form=form, page=page,
                           expiring=mous.expiring(),
                           names=dict(db.session.execute(select(Partner.id, Partner.name)).all()))


# --- drafting ---------------------------------------------------------------------------------


def _products():
    return products.all_products()


@bp.route("/mou/baru", methods=["GET", "POST"])
@requires(Permission.MOUS_MANAGE)
def mou_new():
    candidates = partners.approved_partners()
    if request.method == "POST":
        form = MouForm(candidates, _products())
    else:
        chosen = request.args.get("mitra", "")
        form = MouForm(candidates, _products(), formdata=None,
                       partner_id=chosen if chosen.isdigit() else "",
                       remittance_frequency="monthly", remittance_due_day=10)
    if form.validate_on_submit():
        partner = next((p for p in candidates if p.id == form.chosen_partner()), None)
        if partner is None:
            abort(422)
        mou = run(lambda: mous.create_draft(current_user, partner, form.data_for_domain()), form)
        if mou:
            flash(_("Draft MOU %(number)s saved.", number=mou.number), "success")
            return redirect(url_for("platform.mou_detail", mou_id=mou.id))
    return render_template("platform/mous/form.html", form=form, mou=None, renewing=None), (
        422 if form.errors else 200)


@bp.route("/mou/<uuid:mou_id>/ubah", methods=["GET", "POST"])
@requires(Permission.MOUS_MANAGE)
def mou_edit(mou_id: uuid.UUID):
    mou = _mou(mou_id)
    if request.method == "POST":
        form = MouForm((), _products(), with_partner=False)
    else:
        form = MouForm.from_mou(mou, _products())
    if form.validate_on_submit() and run(
            lambda: mous.update_draft(current_user, mou, form.data_for_domain()), form):
        flash(_("Saved."), "success")
        return redirect(url_for("platform.mou_detail", mou_id=mou.id))
    return render_template("platform/mous/form.html", form=form, mou=mou, renewing=None,
                           partner=_partner_of(mou)), (422 if form.errors else 200)


@bp.route("/mou/<uuid:mou_id>/perpanjang", methods=["GET", "POST"])
@requires(Permission.MOUS_MANAGE)
def mou_renew(mou_id: uuid.UUID):
    mou = _mou(mou_id)
    if request.method == "POST":
        form = MouForm((), _products(), with_partner=False)
    else:
        # The renewal starts the day after the old one ends, for as long as it ran.
        length = mou.end_date - mou.start_date
        start = mou.end_date + timedelta(days=1)
        form = MouForm.from_mou(mou, _products())
        form.start_date.data, form.end_date.data = start, start + length
    if form.validate_on_submit():
        new = run(lambda: mous.renew(current_user, mou, form.data_for_domain()), form)
        if new:
            flash(_("Renewal drafted: MOU %(number)s version %(version)d.", number=new.number,
                    version=new.version), "success")
            return redirect(url_for("platform.mou_detail", mou_id=new.id))
    return render_template("platform/mous/form.html", form=form, mou=None, renewing=mou,
                           partner=_partner_of(mou)), (422 if form.errors else 200)


# --- one MOU -----------------------------------------------------------------------------------


@bp.route("/mou/<uuid:mou_id>")
@requires(Permission.MOUS_VIEW)
def mou_detail(mou_id: uuid.UUID):
    return _detail(_mou(mou_id))


def _detail(mou, status=200, **forms):
    partner = _partner_of(mou)
    forms.setdefault("comment_form", CommentForm(formdata=None))
    forms.setdefault("terminate_form", TerminateForm(formdata=None))
    forms.setdefault("upload_form", UploadForm(formdata=None))
    forms.setdefault("transfer_form", TransferHostedForm(formdata=None))
    hosted = mous.hosted_members(partner)
    hosts = {p.id: p for p in db.session.scalars(select(Partner).where(
        Partner.id.in_(list(hosted))))} if hosted else {}
    comments = mous.comments_of(mou)
    return render_template(
        "platform/mous/detail.html", mou=mou, partner=partner,
        documents=documents.documents_of(mou), comments=comments,
        authors=mous.people_named(mou, comments),
        previous=mous.get(mou.previous_id) if mou.previous_id else None,
        renewal=mous.successor(mou), in_force=mous.in_force(partner.id),
        hosted=hosted, hosts=hosts, covered=products.products_named(mou.product_ids),
        document_endpoint="platform.mou_document",
        can_transfer=Permission.MEMBERS_TRANSFER in _permissions(), **forms), status


def _done(mou, message: str):
    flash(message, "success")
    return redirect(url_for("platform.mou_detail", mou_id=mou.id))


@bp.route("/mou/<uuid:mou_id>/kirim", methods=["POST"])
@requires(Permission.MOUS_MANAGE)
def mou_send(mou_id: uuid.UUID):
    mou = _mou(mou_id)
    form = UploadForm()
    if form.validate_on_submit() and run(lambda: mous.send(current_user, mou), form):
        return _done(mou, _("Sent to the partner, with the MOU text as a PDF."))
    return _detail(mou, 422, upload_form=form)


@bp.route("/mou/<uuid:mou_id>/tandatangani", methods=["POST"])
@requires(Permission.MOUS_MANAGE)
def mou_countersign(mou_id: uuid.UUID):
    mou = _mou(mou_id)
    form = UploadForm()
    upload = request.files.get("file")
    stream = upload.stream if upload is not None and upload.filename else None
    if form.validate_on_submit() and run(lambda: mous.countersign(
            current_user, mou, upload=stream, file_name=upload.filename if stream else None),
            form):
        return _done(mou, _("Countersigned: the MOU is active."))
    return _detail(mou, 422, upload_form=form)


@bp.route("/mou/<uuid:mou_id>/unggah", methods=["POST"])
@requires(Permission.MOUS_MANAGE)
def mou_upload(mou_id: uuid.UUID):
    mou = _mou(mou_id)
    form = UploadForm()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        form.form_errors.append(_("Choose a file to upload."))
        return _detail(mou, 422, upload_form=form)
    if form.validate_on_submit() and run(lambda: mous.upload_document(
            current_user, mou, upload.stream, upload.filename), form):
        return _done(mou, _("Uploaded."))
    return _detail(mou, 422, upload_form=form)


@bp.route("/mou/<uuid:mou_id>/buat-pdf", methods=["POST"])
@requires(Permission.MOUS_MANAGE)
def mou_generate(mou_id: uuid.UUID):
    mou = _mou(mou_id)
    form = UploadForm()
    if form.validate_on_submit() and run(lambda: mous.generate_document(current_user, mou), form):
        return _done(mou, _("The MOU text was generated again as a new version."))
    return _detail(mou, 422, upload_form=form)


@bp.route("/mou/<uuid:mou_id>/akhiri", methods=["POST"])
@requires(Permission.MOUS_MANAGE)
def mou_terminate(mou_id: uuid.UUID):
    mou = _mou(mou_id)
    form = TerminateForm()
    if form.validate_on_submit() and run(
            lambda: mous.terminate(current_user, mou, form.reason.data), form):
        return _done(mou, _("The MOU is terminated."))
    return _detail(mou, 422, terminate_form=form)


@bp.route("/mou/<uuid:mou_id>/komentar", methods=["POST"])
@requires(Permission.MOUS_VIEW)
def mou_comment(mou_id: uuid.UUID):
    mou = _mou(mou_id)
    form = CommentForm()
    if form.validate_on_submit() and run(
            lambda: mous.comment(current_user, mou, form.body.data), form):
        return _done(mou, _("Comment sent to the partner."))
    return _detail(mou, 422, comment_form=form)


@bp.route("/mou/<uuid:mou_id>/dokumen/<uuid:document_id>")
@requires(Permission.MOUS_VIEW)
def mou_document(mou_id: uuid.UUID, document_id: uuid.UUID):
    return send_document(_mou(mou_id), document_id)


def send_document(mou, document_id):
    """The stored file as an attachment, with the content type detected at upload."""
    try:
        doc = mous.document(mou, document_id)
    except LookupError:
        abort(404)
    path = documents.path_of(doc)
    if not path.is_file():
        abort(404)
    response = send_file(path, mimetype=doc.content_type, as_attachment=True,
                         download_name=doc.file_name, max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- hosting ------------------------------------------------------------------------------------


@bp.route("/partners/<int:partner_id>/tuan-rumah", methods=["POST"])
@requires(Permission.MOUS_MANAGE)
def set_host(partner_id: int):
    partner = db.get_or_404(Partner, partner_id)
    form = HostForm()
    form.host_id.choices = host_choices(partner)
    if form.validate_on_submit():
        host = db.session.get(Partner, int(form.host_id.data)) if form.host_id.data else None
        if run(lambda: mous.set_host(current_user, partner, host), form):
            flash(_("Saved."), "success")
            return redirect(url_for("platform.partner_detail", partner_id=partner.id))
    return _partner_page(partner, status=422, host_form=form)


def _partner_page(partner, status, **forms):
    from bungkesmas.platform.views import _detail as partner_detail_page

    return partner_detail_page(partner, status=status, **forms)


def host_choices(partner: Partner):
    return [("", _("— none —"))] + [(str(p.id), p.name) for p in mous.possible_hosts(partner)]


def mou_panel(partner: Partner, host_form=None, transfer_form=None) -> dict:
    """What the provider's partner page shows about MOUs and hosting."""
    if host_form is None:
        host_form = HostForm(formdata=None, host_id=str(partner.hosting_partner_id or ""))
        host_form.host_id.choices = host_choices(partner)
        if partner.hosting_partner_id and not any(
                c[0] == str(partner.hosting_partner_id) for c in host_form.host_id.choices):
            host_form.host_id.choices.append((str(partner.hosting_partner_id),
                                              partner.hosting_partner.name))
    hosted = mous.hosted_members(partner)
    return {
        "partner_mous": mous.mous_of(partner) if partner.slug else [],
        "mou_in_force": mous.in_force(partner.id) if partner.slug else None,
        "host_form": host_form,
        "transfer_form": transfer_form or TransferHostedForm(formdata=None),
        "hosted_count": sum(hosted.values()),
        "hosting_for": mous.hosted_partners(partner) if partner.slug else [],
    }


@bp.route("/partners/<int:partner_id>/pindah-titipan", methods=["POST"])
@requires(Permission.MEMBERS_TRANSFER)
def transfer_hosted(partner_id: int):
    partner = db.get_or_404(Partner, partner_id)
    form = TransferHostedForm()
    if form.validate_on_submit():
        count = run(lambda: mous.transfer_hosted(current_user, partner, form.note.data or ""),
                    form)
        if count:
            flash(_("%(count)d hosted members moved to %(partner)s.", count=count,
                    partner=partner.name), "success")
            return redirect(url_for("platform.partner_detail", partner_id=partner.id))
    return _partner_page(partner, status=422, transfer_form=form)
