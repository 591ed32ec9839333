"""MOUs in the API. A partner token sees its own partner's MOUs only (not its children's)
and takes the partner's steps (comment, request_changes, sign); a provider token sees
every MOU and takes the provider's (create, send, countersign, terminate, renew). Another
partner's MOU answers 404 like one that does not exist."""

from __future__ import annotations

import uuid
from functools import wraps

from flask import abort, g, request
from flask_babel import gettext as _
from flask_smorest.fields import Upload
from marshmallow import EXCLUDE, Schema

from bungkesmas.api.views import blp, require
from bungkesmas.auth.permissions import Permission
from bungkesmas.errors import DomainError
from bungkesmas.extensions import db
from bungkesmas.mous import documents
from bungkesmas.mous import services as mous
from bungkesmas.mous.schemas import (
    MouActionSchema,
    MouCreateSchema,
    MouDocumentSchema,
    MouListSchema,
    MouQuerySchema,
    MouSchema,
    MouSummarySchema,
)
from bungkesmas.partners.models import Partner

ACTIONS = ("send", "countersign", "terminate", "renew", "comment", "request_changes", "sign")


class MouUploadSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    file = Upload(metadata={"description": "A PDF, JPEG or PNG (checked by its content): the "
                                           "partner's signed copy, or the copy signed by both "
                                           "sides. At most 10 MB."})


@blp.url_value_preprocessor
def _allow_large_uploads(endpoint, values):
    if endpoint == "api.upload_mou_document":
        documents.allow_large_upload()


def _view_permission() -> None:
    require(Permission.MOUS_VIEW if g.api.partner is None else Permission.PARTNER_MOU_VIEW)


def _mou_or_404(mou_id: uuid.UUID):
    try:
        return mous.get(mou_id, g.api.partner)
    except LookupError:
        abort(404)


def _found_first(view):
    """404 for an MOU outside the token's reach before the body is read."""

    @wraps(view)
    def wrapped(*args, mou_id: uuid.UUID, **kwargs):
        _view_permission()
        g.mou = _mou_or_404(mou_id)
        return view(*args, mou_id=mou_id, **kwargs)

    return wrapped


def _full(mou) -> dict:
    """The MOU with its documents and comments, for MouSchema to dump."""
    data = {f.attribute or name: getattr(mou, f.attribute or name)
            for name, f in MouSummarySchema().fields.items()}
    data["documents"] = documents.documents_of(mou)
    data["comments"] = mous.comments_of(mou)
    return data


@blp.route("/mous")
@blp.arguments(MouQuerySchema, location="query")
@blp.response(200, MouListSchema)
def list_mous(args):
    """MOUs, newest first: a partner token's own; a provider token's, every partner's."""
    _view_permission()
    partner_id = g.api.partner.id if g.api.partner is not None else args["partner_id"]
    stmt = mous.search(status=args["status"], partner_id=partner_id)
    page = db.paginate(stmt, page=args["page"], per_page=args["per_page"], error_out=False)
    return {"items": page.items, "page": page.page,
            "per_page": page.per_page, "total": page.total}


@blp.route("/mous", methods=["POST"])
@blp.arguments(MouCreateSchema)
@blp.response(201, MouSchema)
def create_mou(args):
    """Draft an MOU for an approved partner (provider tokens)."""
    if g.api.partner is not None:
        abort(403)
    require(Permission.MOUS_MANAGE)
    partner = db.session.get(Partner, args.pop("partner_id"))
    if partner is None:
        raise DomainError(_("Choose an approved partner."), "partner_id")
    mou = mous.create_draft(g.api.user, partner, args)
    db.session.commit()
    return _full(mou), 201


@blp.route("/mous/<uuid:mou_id>")
@blp.response(200, MouSchema)
def get_mou(mou_id: uuid.UUID):
    """One MOU with its documents and review thread."""
    _view_permission()
    return _full(_mou_or_404(mou_id))


@blp.route("/mous/<uuid:mou_id>/<action>", methods=["POST"])
@_found_first
@blp.arguments(MouActionSchema)
@blp.response(200, MouSchema)
def mou_action(args, mou_id: uuid.UUID, action: str):
    """Take a step: `send`, `countersign`, `terminate` (reason), `renew` (new terms; answers
    the new draft) — provider tokens; `comment` (body) — both sides; `request_changes`
    (body), `sign` (signatory_name, signatory_title, accepted=true: an acceptance
    recorded with who, when and from which address) — partner tokens. A step out of order
    answers 409."""
    if action not in ACTIONS:
        abort(404)
    mou, user, partner = g.mou, g.api.user, g.api.partner
    if action in mous.PROVIDER_ACTIONS and partner is not None:
        abort(403)
    if action in mous.PARTNER_ACTIONS and partner is None:
        abort(403)
    if action == "send":
        mous.send(user, mou)
    elif action == "countersign":
        mous.countersign(user, mou)
    elif action == "terminate":
        mous.terminate(user, mou, args.get("reason") or "")
    elif action == "renew":
        for field in ("start_date", "end_date"):
            if field not in args:
                raise DomainError(_("Enter the start date.") if field == "start_date"
                                  else _("Enter the end date."), field)
        terms = {k: v for k, v in args.items() if k in mous.TERM_FIELDS}
        mou = mous.renew(user, mou, terms)
    elif action == "comment":
        mous.comment(user, mou, args.get("body") or "", partner=partner)
    elif action == "request_changes":
        mous.request_changes(user, partner, mou, args.get("body") or "")
    elif action == "sign":
        mous.sign(user, partner, mou, signatory_name=args.get("signatory_name") or "",
                  signatory_title=args.get("signatory_title") or "", method="accept",
                  accepted=args.get("accepted") is True)
    db.session.commit()
    return _full(mou)


@blp.route("/mous/<uuid:mou_id>/documents", methods=["POST"])
@_found_first
@blp.arguments(MouUploadSchema, location="form", content_type="multipart/form-data")
@blp.response(201, MouDocumentSchema)
def upload_mou_document(args, mou_id: uuid.UUID):
    """Upload a scan as a new document version (never replacing one): a partner token the
    signed copy (after signing), a provider token the copy signed by both sides."""
    upload = request.files.get("file")
    if upload is None or not (upload.filename or "").strip():
        raise DomainError(_("Choose a file to upload."), "file")
    doc = mous.upload_document(g.api.user, g.mou, upload.stream, upload.filename,
                               partner=g.api.partner)
    db.session.commit()
    return doc, 201


@blp.route("/mous/<uuid:mou_id>/documents/<uuid:document_id>")
@blp.response(200, description="The file, as an attachment with its stored content type.")
def download_mou_document(mou_id: uuid.UUID, document_id: uuid.UUID):
    """Download a document of an MOU."""
    _view_permission()
    from bungkesmas.platform.mous_views import send_document

    return send_document(_mou_or_404(mou_id), document_id)
