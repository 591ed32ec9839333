"""Remittance schemas of the API: statements (with reconciliation) out, receipts in/out."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from bungkesmas.members.schemas import Text
from bungkesmas.remittance.periods import FIRST_YEAR, LAST_YEAR
from bungkesmas.remittance.services import MAX_RECEIPT_AMOUNT, REFERENCE_MAX

PARTNER_ID = validate.Range(min=1, max=2**31 - 1)


class MethodTotalSchema(Schema):
    method = fields.String()
    amount = fields.Integer()
    count = fields.Integer()


class KindTotalSchema(Schema):
    kind = fields.String()
    amount = fields.Integer()
    count = fields.Integer()


class ProductTotalSchema(Schema):
    product_id = fields.Integer(allow_none=True)
    product_code = fields.String()
    product_name = fields.String()
    amount = fields.Integer()
    count = fields.Integer()


class AdjustmentSchema(Schema):
    received_on = fields.Date()
    receipt_number = fields.String(allow_none=True)
    kind = fields.String()
    method = fields.String()
    product_code = fields.String()
    amount = fields.Integer()


class ReceiptSchema(Schema):
    id = fields.UUID()
    partner_id = fields.Integer(attribute="tenant_id")
    statement_id = fields.UUID()
    kind = fields.String()
    amount = fields.Integer()
    received_on = fields.Date()
    bank_reference = fields.String()
    reverses_id = fields.UUID(allow_none=True)
    reason = fields.String()
    recorded_at = fields.DateTime()


class FeePartSchema(Schema):
    fee_share_bp = fields.Integer()
    collected = fields.Integer()
    fee = fields.Integer()
    source = fields.String(allow_none=True, metadata={
        "description": "mou, settings or default (null on statements issued before fee "
                       "parts were recorded)"})
    mou_number = fields.String(allow_none=True)
    mou_version = fields.Integer(allow_none=True)


class StatementSchema(Schema):
    """A statement of one partner and period, with what the provider received for it.
    Money in whole rupiah; `difference` = received − due_to_provider."""

    partner_id = fields.Integer()
    period = fields.String(attribute="key", metadata={"example": "2026-10"})
    period_start = fields.Function(lambda s: s.period.start.isoformat())
    period_end = fields.Function(lambda s: s.period.last_day.isoformat(),
                                 metadata={"description": "The last day of the period."})
    frequency = fields.Function(lambda s: str(s.period.frequency))
    state = fields.String(metadata={"description": "issued (closed, frozen), open (computed "
                                                   "now) or skipped (never closed)"})
    number = fields.String(allow_none=True)
    issued_at = fields.Function(lambda s: s.issued.issued_at.isoformat() + "Z"
                                if s.issued else None)
    collected_in_period = fields.Integer(attribute="period_collected")
    adjustments = fields.Integer()
    collected = fields.Integer()
    fee_share_bp = fields.Integer(metadata={
        "description": "The fee share in force on the period's last day."})
    fee = fields.Integer(metadata={"description": "The sum of the fee parts."})
    fee_parts = fields.List(fields.Nested(FeePartSchema), metadata={
        "description": "The fee per fee share in force on the days the money was received: "
                       "one part unless the period spans a change of MOU."})
    due_to_provider = fields.Integer()
    due_on = fields.Date()
    received = fields.Integer()
    difference = fields.Integer()
    status = fields.String(metadata={"description": "settled, short, over, not_yet_due, "
                                                    "overdue"})
    line_count = fields.Integer()
    by_method = fields.List(fields.Nested(MethodTotalSchema))
    by_kind = fields.List(fields.Nested(KindTotalSchema))
    by_product = fields.List(fields.Nested(ProductTotalSchema))


class StatementDetailSchema(StatementSchema):
    adjustment_lines = fields.List(fields.Nested(AdjustmentSchema))
    receipts = fields.List(fields.Nested(ReceiptSchema))


class StatementListSchema(Schema):
    items = fields.List(fields.Nested(StatementSchema))


class StatementQuerySchema(Schema):
    year = fields.Integer(load_default=None,
                          validate=validate.Range(min=FIRST_YEAR, max=LAST_YEAR),
                          metadata={"description": "The periods of this year; default: the "
                                                   "recent ones."})
    partner_id = fields.Integer(load_default=None, validate=PARTNER_ID,
                                metadata={"description": "Provider tokens: whose statements "
                                                         "(required)."})


class PartnerQuerySchema(Schema):
    partner_id = fields.Integer(load_default=None, validate=PARTNER_ID,
                                metadata={"description": "Provider tokens: whose statement "
                                                         "(required)."})


class ReceiptCreateSchema(Schema):
    partner_id = fields.Integer(required=True, strict=True, validate=PARTNER_ID)
    statement = Text(required=True, validate=validate.Length(min=1, max=40),
                     metadata={"description": "The statement's number (or its period)."})
    amount = fields.Integer(required=True, strict=True,
                            validate=validate.Range(min=1, max=MAX_RECEIPT_AMOUNT))
    received_on = fields.Date(required=True)
    bank_reference = Text(required=True, validate=validate.Length(min=1, max=REFERENCE_MAX))
