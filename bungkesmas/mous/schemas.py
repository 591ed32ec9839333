"""MOU schemas of the API: explicit fields, in and out."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from bungkesmas.members.schemas import _text
from bungkesmas.mous.models import (
    DocumentKind,
    MouStatus,
    RemittanceFrequency,
    SignMethod,
)

FREQUENCIES = [f.value for f in RemittanceFrequency]


class StrictInteger(fields.Integer):
    """An integer sent as a JSON number: not a string, not true/false, not 1.5."""

    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


def _int(least: int, most: int, **kwargs) -> StrictInteger:
    return StrictInteger(validate=validate.Range(min=least, max=most), **kwargs)


# --- out -------------------------------------------------------------------------------------


class MouDocumentSchema(Schema):
    id = fields.UUID()
    version = fields.Integer()
    kind = fields.Enum(DocumentKind, by_value=True)
    file_name = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    uploaded_at = fields.DateTime()


class MouCommentSchema(Schema):
    id = fields.UUID()
    side = fields.String(metadata={"description": "provider or partner"})
    changes_requested = fields.Boolean()
    body = fields.String()
    created_at = fields.DateTime()


class MouSummarySchema(Schema):
    id = fields.UUID()
    number = fields.String(metadata={"description": "e.g. MOU/BKM/2026/0007; kept by renewals"})
    version = fields.Integer()
    previous_id = fields.UUID(allow_none=True, metadata={"description": "The MOU this renews"})
    partner_id = fields.Integer(attribute="tenant_id")
    status = fields.Enum(MouStatus, by_value=True)
    start_date = fields.Date()
    end_date = fields.Date()
    ended_on = fields.Date(allow_none=True, metadata={
        "description": "Last day in force when it ended early (terminated or superseded)"})
    fee_share_bp = fields.Integer(metadata={
        "description": "The partner's fee share in basis points: 1250 is 12.5 %"})
    remittance_frequency = fields.Enum(RemittanceFrequency, by_value=True)
    remittance_due_day = fields.Integer()
    territory = fields.List(fields.String(), metadata={"description": "Region codes"})
    product_ids = fields.List(fields.Integer(), metadata={
        "description": "Products covered; empty: every product enabled for the partner"})
    member_quota = fields.Integer(allow_none=True)
    clauses = fields.String()
    provider_signatory_name = fields.String()
    provider_signatory_title = fields.String()
    provider_signed_on = fields.Date(allow_none=True)
    partner_signatory_name = fields.String()
    partner_signatory_title = fields.String()
    partner_signed_on = fields.Date(allow_none=True)
    partner_signed_at = fields.DateTime(allow_none=True)
    partner_sign_method = fields.Enum(SignMethod, by_value=True, allow_none=True)
    sent_at = fields.DateTime(allow_none=True)
    countersigned_at = fields.DateTime(allow_none=True)
    termination_reason = fields.String()
    created_at = fields.DateTime()


class MouSchema(MouSummarySchema):
    documents = fields.List(fields.Nested(MouDocumentSchema))
    comments = fields.List(fields.Nested(MouCommentSchema))


class MouListSchema(Schema):
    items = fields.List(fields.Nested(MouSummarySchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


# --- in ----------------------------------------------------------------------------------------


class MouQuerySchema(Schema):
    status = fields.Enum(MouStatus, by_value=True, load_default=None)
    partner_id = _int(1, 2**31 - 1, load_default=None, metadata={
        "description": "Provider tokens: one partner's MOUs"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class MouTermsSchema(Schema):
    start_date = fields.Date()
    end_date = fields.Date()
    fee_share_bp = _int(0, 10_000, metadata={"description": "Basis points: 1250 is 12.5 %"})
    remittance_frequency = fields.String(validate=validate.OneOf(FREQUENCIES))
    remittance_due_day = _int(1, 28)
    territory = fields.List(_text(10), validate=validate.Length(max=50),
                            metadata={"description": "Region codes, e.g. 7372"})
    product_ids = fields.List(_int(1, 2**31 - 1), validate=validate.Length(max=100))
    member_quota = _int(1, 10_000_000, allow_none=True)
    clauses = _text(20_000)
    provider_signatory_name = _text(200)
    provider_signatory_title = _text(120)


class MouCreateSchema(MouTermsSchema):
    partner_id = _int(1, 2**31 - 1, required=True)
    start_date = fields.Date(required=True)
    end_date = fields.Date(required=True)
    fee_share_bp = _int(0, 10_000, required=True,
                        metadata={"description": "Basis points: 1250 is 12.5 %"})
    remittance_frequency = fields.String(required=True, validate=validate.OneOf(FREQUENCIES))
    remittance_due_day = _int(1, 28, required=True)
    provider_signatory_name = _text(200, required=True)
    provider_signatory_title = _text(120, required=True)


class MouActionSchema(MouTermsSchema):
    """The fields the actions take: `terminate` a reason; `comment` and `request_changes`
    a body; `sign` the signatory and accepted=true; `renew` the new terms (start_date and
    end_date required; the rest default to the renewed MOU's)."""

    reason = _text(2000)
    body = _text(5000)
    signatory_name = _text(200)
    signatory_title = _text(120)
    accepted = fields.Boolean()
