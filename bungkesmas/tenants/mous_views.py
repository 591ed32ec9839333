"""The partner's MOU in its workspace: read it, comment, ask for changes, sign (upload of
the signed copy or acceptance in the application), download its documents.

Registered on the workspace blueprint (`tenants.views.bp`), whose gate has resolved the
partner and scoped the session. Only the partner's admins see its MOUs, and only its own:
a parent partner's staff do not see a child's, and another partner's MOU answers 404."""

from __future__ import annotations

import uuid

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from bungkesmas.auth.permissions import Permission
from bungkesmas.mous import documents
from bungkesmas.mous import services as mous
from bungkesmas.mous.forms import ChangesForm, CommentForm, SignForm, UploadForm
from bungkesmas.products.services import products_named
from bungkesmas.tenants.views import bp, requires
from bungkesmas.web import run

UPLOAD_ENDPOINTS = ("tenants.mou_sign", "tenants.mou_upload")


@bp.url_value_preprocessor
def _allow_large_uploads(endpoint, values):
    if endpoint in UPLOAD_ENDPOINTS:
        documents.allow_large_upload()


def _mou(mou_id: uuid.UUID):
    try:
        return mous.get(mou_id, g.tenant)
    except LookupError:
        abort(404)


@bp.route("/mou")
@requires(Permission.PARTNER_MOU_VIEW)
def mou_list():
    return render_template("tenants/mous/list.html", mous=mous.mous_of(g.tenant),
                           in_force=mous.in_force(g.tenant.id),
                           expiring=mous.expiring(partner_id=g.tenant.id),
                           mou_status_label=mous.status_label)


@bp.route("/mou/<uuid:mou_id>")
@requires(Permission.PARTNER_MOU_VIEW)
def mou_detail(mou_id: uuid.UUID):
    return _detail(_mou(mou_id))


def _detail(mou, status=200, **forms):
    forms.setdefault("comment_form", CommentForm(formdata=None))
    forms.setdefault("changes_form", ChangesForm(formdata=None))
    forms.setdefault("sign_form", SignForm(formdata=None, method="accept",
                                           signatory_name=current_user.name))
    forms.setdefault("upload_form", UploadForm(formdata=None))
    comments = mous.comments_of(mou)
    return render_template(
        "tenants/mous/detail.html", mou=mou, documents=documents.documents_of(mou),
        comments=comments, authors=mous.people_named(mou, comments),
        covered=products_named(mou.product_ids),
        can_sign=Permission.PARTNER_MOU_SIGN in g.permissions,
        document_endpoint="tenants.mou_document", mou_status_label=mous.status_label,
        frequency_label=mous.frequency_label, kind_label=mous.kind_label, **forms), status


def _done(mou, message: str):
    flash(message, "success")
    return redirect(url_for("tenants.mou_detail", mou_id=mou.id))


@bp.route("/mou/<uuid:mou_id>/komentar", methods=["POST"])
@requires(Permission.PARTNER_MOU_SIGN)
def mou_comment(mou_id: uuid.UUID):
    mou = _mou(mou_id)
    form = CommentForm()
    if form.validate_on_submit() and run(
            lambda: mous.comment(current_user, mou, form.body.data, partner=g.tenant), form):
        return _done(mou, _("Comment sent to the Bungkesmas provider."))
    return _detail(mou, 422, comment_form=form)


@bp.route("/mou/<uuid:mou_id>/minta-perubahan", methods=["POST"])
@requires(Permission.PARTNER_MOU_SIGN)
def mou_request_changes(mou_id: uuid.UUID):
    mou = _mou(mou_id)
    form = ChangesForm()
    if form.validate_on_submit() and run(
            lambda: mous.request_changes(current_user, g.tenant, mou, form.changes.data), form):
        return _done(mou, _("Your request for changes was sent to the Bungkesmas provider."))
    return _detail(mou, 422, changes_form=form)


@bp.route("/mou/<uuid:mou_id>/tandatangani", methods=["POST"])
@requires(Permission.PARTNER_MOU_SIGN)
def mou_sign(mou_id: uuid.UUID):
    mou = _mou(mou_id)
    form = SignForm()
    upload = request.files.get("file")
    stream = upload.stream if upload is not None and upload.filename else None
    if form.validate_on_submit() and run(lambda: mous.sign(
            current_user, g.tenant, mou, signatory_name=form.signatory_name.data,
            signatory_title=form.signatory_title.data, method=form.method.data,
            accepted=bool(form.accepted.data), upload=stream,
            file_name=upload.filename if stream else None), form):
        return _done(mou, _("Signed. The Bungkesmas provider countersigns next."))
    return _detail(mou, 422, sign_form=form)


@bp.route("/mou/<uuid:mou_id>/unggah", methods=["POST"])
@requires(Permission.PARTNER_MOU_SIGN)
def mou_upload(mou_id: uuid.UUID):
    mou = _mou(mou_id)
    form = UploadForm()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        form.form_errors.append(_("Choose a file to upload."))
        return _detail(mou, 422, upload_form=form)
    if form.validate_on_submit() and run(lambda: mous.upload_document(
            current_user, mou, upload.stream, upload.filename, partner=g.tenant), form):
        return _done(mou, _("Uploaded."))
    return _detail(mou, 422, upload_form=form)


@bp.route("/mou/<uuid:mou_id>/dokumen/<uuid:document_id>")
@requires(Permission.PARTNER_MOU_VIEW)
def mou_document(mou_id: uuid.UUID, document_id: uuid.UUID):
    from bungkesmas.platform.mous_views import send_document

    return send_document(_mou(mou_id), document_id)
