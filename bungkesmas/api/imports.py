"""API: importing members from a spreadsheet (preview, then confirm).

A large file is checked, and once confirmed imported, by a background job: those calls
answer 202 at once, and `GET /members/imports/<id>` shows the job's `progress` until the
status is final (poll it every few seconds)."""

from __future__ import annotations

import uuid

from flask import abort, g, request, url_for
from flask_babel import gettext as _
from flask_smorest.fields import Upload
from marshmallow import EXCLUDE, Schema, fields

from bungkesmas.api.views import blp, require
from bungkesmas.auth.permissions import Permission
from bungkesmas.errors import Conflict, DomainError
from bungkesmas.extensions import db
from bungkesmas.members import import_jobs, imports
from bungkesmas.members.import_models import ImportStatus


class ImportUploadSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    file = Upload(metadata={"description": "The sheet: CSV (UTF-8, comma or semicolon) or "
                                           "Excel .xlsx, in the layout of the template at "
                                           "/p/<slug>/impor/template.xlsx. At most 20 MB."})
    confirm = fields.Boolean(load_default=False, metadata={
        "description": "Import at once if no row has an error (answer 201). A file with "
                       "errors is never imported this way: the preview is returned (200)."})


class RowErrorSchema(Schema):
    row = fields.Integer(metadata={"description": "Row number as in Excel (the header is 1)"})
    column = fields.String()
    message = fields.String()


class ProgressSchema(Schema):
    phase = fields.String(allow_none=True, metadata={
        "description": "While a background job is due: `check` (reading and checking every "
                       "row) or `import` (writing the members); else null"})
    done = fields.Integer(metadata={"description": "Rows checked, or members written"})
    total = fields.Integer(allow_none=True, metadata={
        "description": "Rows to check (an estimate) or members to write; null if unknown"})
    running = fields.Boolean(metadata={"description": "A job is queued or at work"})
    stalled = fields.Boolean(metadata={
        "description": "The job stopped without finishing (its server process ended): "
                       "nothing of it was saved; confirm again, or POST …/check again"})
    started_at = fields.DateTime(allow_none=True)
    updated_at = fields.DateTime(allow_none=True, metadata={
        "description": "The job's last progress report"})
    finished_at = fields.DateTime(allow_none=True)


class ImportSchema(Schema):
    import_id = fields.UUID()
    status = fields.Enum(ImportStatus, by_value=True)
    file_name = fields.String()
    total_rows = fields.Integer()
    good_rows = fields.Integer(metadata={"description": "Rows that will be imported"})
    error_rows = fields.Integer()
    imported_rows = fields.Integer()
    failure = fields.String(allow_none=True)
    created_at = fields.DateTime()
    errors = fields.List(fields.Nested(RowErrorSchema),
                         metadata={"description": "Every problem of every bad row"})
    progress = fields.Nested(ProgressSchema, metadata={
        "description": "The background job of a large file (see the 202 answers)"})


@blp.url_value_preprocessor
def _allow_large_uploads(endpoint, values):
    # Before every before_request function: the app's body limit is raised for this
    # multipart upload only.
    if endpoint == "api.create_member_import":
        imports.allow_large_upload()


def _partner():
    require(Permission.MEMBERS_MANAGE)
    if g.api.partner is None:
        abort(403)
    return g.api.partner


@blp.route("/members/imports", methods=["POST"])
@blp.arguments(ImportUploadSchema, location="form", content_type="multipart/form-data")
@blp.response(200, ImportSchema, description="The preview: nothing was written to members.")
@blp.alt_response(201, schema=ImportSchema,
                  description="confirm=true and no row had an error: imported.")
@blp.alt_response(202, schema=ImportSchema,
                  description="A large file: stored, and checked (with confirm=true also "
                              "imported if it has no error) by a background job. Poll the "
                              "Location until `progress.running` is false.")
def create_member_import(args):
    """Upload a member sheet and check every row.

    Without `confirm`, nothing is written to members: the answer lists every problem of
    every bad row (`errors`), duplicates in the file and NIKs already registered, and the
    number of good rows; import them with `POST /members/imports/{import_id}/confirm`.
    A file that cannot be read at all (not a CSV or .xlsx, damaged, missing columns, no
    rows) answers 422 and is not kept."""
    partner = _partner()
    upload = request.files.get("file")
    if upload is None or not (upload.filename or "").strip():
        raise DomainError(_("Choose a CSV or Excel (.xlsx) file to upload."), "file")
    imp = imports.upload(g.api.user, partner, upload.stream, upload.filename,
                         confirm_when_clean=args["confirm"])
    queued = import_jobs.phase(imp) is not None
    db.session.commit()
    if queued:
        return _accepted(imp)
    if args["confirm"] and imp.error_rows == 0:
        result = imports.confirm(g.api.user, partner, imp)
        db.session.commit()
        if result.queued:
            return _accepted(imp)
        if not result.changed:
            return imports.summary(imp), 201
    return imports.summary(imp)


def _accepted(imp):
    """202: a background job works on the import; where to follow it."""
    location = url_for("api.get_member_import", import_id=imp.id)
    return imports.summary(imp), 202, {"Location": location}


@blp.route("/members/imports/<uuid:import_id>")
@blp.response(200, ImportSchema)
def get_member_import(import_id: uuid.UUID):
    """An import of the token's partner: its status, counts and every row problem."""
    partner = _partner()
    return imports.summary(imports.get(partner, import_id))


@blp.route("/members/imports/<uuid:import_id>/confirm", methods=["POST"])
@blp.response(200, ImportSchema, description="Imported: the good rows, in one transaction.")
@blp.alt_response(202, schema=ImportSchema,
                  description="Many rows: a background job writes them (all or none). Poll "
                              "the Location until `progress.running` is false.")
@blp.alt_response(409, description="Already imported; or a row of the preview can no longer "
                                   "be imported (nothing was written, the preview is "
                                   "updated: GET it and confirm again).")
def confirm_member_import(import_id: uuid.UUID):
    """Import the rows the preview counted as good — all of them or none.

    The file is checked again; if a row without errors in the preview can no longer be
    imported (e.g. its NIK was registered meanwhile), nothing is written, the preview is
    updated and the answer is 409."""
    partner = _partner()
    imp = imports.get(partner, import_id)
    result = imports.confirm(g.api.user, partner, imp)
    db.session.commit()
    if result.changed:
        raise Conflict(result.message)
    if result.queued:
        return _accepted(imp)
    return imports.summary(imp)


@blp.route("/members/imports/<uuid:import_id>/check", methods=["POST"])
@blp.response(202, ImportSchema, description="The file is checked again by a background job.")
@blp.alt_response(409, description="The file is being checked, or was checked already.")
def check_member_import(import_id: uuid.UUID):
    """Check a stored file again after its check stopped (`progress.stalled`, or a
    failure on our side)."""
    partner = _partner()
    imp = imports.recheck(g.api.user, partner, imports.get(partner, import_id))
    db.session.commit()
    return _accepted(imp)
