"""Importing members from a spreadsheet in the partner workspace: the templates, the
upload, the preview of every row and the confirmation — and, while a background job
checks or imports a large file, its progress on the same page (`import_preview`).

Registered on the workspace blueprint (`tenants.views.bp`), whose gate has resolved the
partner and scoped the session. Imports are the partner's own: a parent partner does not
see or confirm its children's."""

from __future__ import annotations

import uuid

from flask import Response, flash, g, redirect, render_template, request, url_for
from flask_babel import format_decimal, ngettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from bungkesmas.auth.permissions import Permission
from bungkesmas.forms import Form
from bungkesmas.members import import_jobs, imports
from bungkesmas.members.import_models import ImportStatus
from bungkesmas.tenants.views import bp, requires
from bungkesmas.web import run

STATUS_LABELS = {
    ImportStatus.UPLOADED: _l("Uploaded"),
    ImportStatus.CHECKING: _l("Being checked"),
    ImportStatus.PREVIEWED: _l("Checked, not imported yet"),
    ImportStatus.IMPORTING: _l("Being imported"),
    ImportStatus.COMMITTED: _l("Imported"),
    ImportStatus.FAILED: _l("Not imported: check again"),
    ImportStatus.REJECTED: _l("File refused"),
}
# Seconds between two loads of the page of a running import (<meta http-equiv=refresh>).
REFRESH_SECONDS = 2


class ImportForm(Form):
    """The upload form: only its CSRF token is a form field; the file is read from
    `request.files` (the base Form ignores files on purpose)."""


@bp.url_value_preprocessor
def _allow_large_uploads(endpoint, values):
    # URL value preprocessors run before every before_request function — also before
    # CSRF protection, which parses the form and with it the uploaded file.
    if endpoint == "tenants.import_upload":
        imports.allow_large_upload()


@bp.route("/impor")
@requires(Permission.MEMBERS_MANAGE)
def import_page():
    return _import_page(ImportForm())


def _import_page(form, status=200):
    return render_template("tenants/imports/index.html", form=form,
                           imports=imports.recent(g.tenant), status_labels=STATUS_LABELS,
                           max_mb=imports.max_bytes() // (1024 * 1024),
                           max_rows=imports.max_rows(), columns=imports.column_help()), status


@bp.route("/impor", methods=["POST"])
@requires(Permission.MEMBERS_MANAGE)
def import_upload():
    form = ImportForm()
    upload = request.files.get("file")
    if not form.validate_on_submit():
        return _import_page(form, 422)
    if upload is None or not (upload.filename or "").strip():
        form.form_errors.append(str(_l("Choose a CSV or Excel (.xlsx) file to upload.")))
        return _import_page(form, 422)
    imp = run(lambda: imports.upload(current_user, g.tenant, upload.stream, upload.filename),
              form)
    if not imp:
        return _import_page(form, 422)
    return redirect(url_for("tenants.import_preview", import_id=imp.id), 303)


@bp.route("/impor/template.csv")
@requires(Permission.MEMBERS_MANAGE)
def import_template_csv():
    return _download(imports.template_csv(), "text/csv; charset=utf-8",
                     "template-peserta.csv")


@bp.route("/impor/template.xlsx")
@requires(Permission.MEMBERS_MANAGE)
def import_template_xlsx():
    return _download(imports.template_xlsx(g.tenant),
                     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                     "template-peserta.xlsx")


def _download(body: bytes, mimetype: str, name: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.route("/impor/<uuid:import_id>")
@requires(Permission.MEMBERS_MANAGE)
def import_preview(import_id: uuid.UUID):
    """The import's page: while a job checks or imports it, its progress (reloading
    itself every REFRESH_SECONDS, no JavaScript needed); then the preview or the result."""
    imp = imports.get(g.tenant, import_id)
    progress = imports.progress(imp)
    if progress["running"]:
        return render_template("tenants/imports/progress.html", imp=imp, progress=progress,
                               status_labels=STATUS_LABELS, refresh=REFRESH_SECONDS,
                               number=format_decimal)
    page = imports.error_page(imp, request.args.get("page", 1, type=int) or 1)
    stopped_import = imp.status == ImportStatus.IMPORTING  # its job stalled
    return render_template(
        "tenants/imports/preview.html", imp=imp, page=page, status_labels=STATUS_LABELS,
        members_url=url_for("tenants.members_list"), progress=progress,
        checked=import_jobs.phase(imp) != import_jobs.CHECK
        and imp.status != ImportStatus.REJECTED,
        stopped_check=import_jobs.phase(imp) == import_jobs.CHECK,
        stopped_import=stopped_import,
        can_confirm=(imp.status in (ImportStatus.PREVIEWED, ImportStatus.FAILED)
                     or stopped_import) and imp.good_rows > 0 and g.tenant.is_active)


@bp.route("/impor/<uuid:import_id>/konfirmasi", methods=["POST"])
@requires(Permission.MEMBERS_MANAGE)
def import_confirm(import_id: uuid.UUID):
    # CSRFProtect has already checked the token of every POST.
    imp = imports.get(g.tenant, import_id)
    result = run(lambda: imports.confirm(current_user, g.tenant, imp))
    if result and result.changed:
        flash(result.message, "error")
    elif result and not result.queued:  # queued: the page shows the job's progress
        flash(ngettext("%(num)d member imported.", "%(num)d members imported.",
                       result.imported), "success")
    return redirect(url_for("tenants.import_preview", import_id=import_id), 303)


@bp.route("/impor/<uuid:import_id>/periksa", methods=["POST"])
@requires(Permission.MEMBERS_MANAGE)
def import_recheck(import_id: uuid.UUID):
    """Check the stored file again after its check stopped."""
    imp = imports.get(g.tenant, import_id)
    run(lambda: imports.recheck(current_user, g.tenant, imp))
    return redirect(url_for("tenants.import_preview", import_id=import_id), 303)
