"""Contribution and coverage schemas of the API: explicit fields, in and out. Money in
whole rupiah, signed as in the ledger (+ in, - out)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from bungkesmas.contributions.coverage import Status
from bungkesmas.contributions.models import EntryKind, EntryMethod
from bungkesmas.contributions.services import REASON_MAX, REFERENCE_MAX
from bungkesmas.members.schemas import Text

PAYMENT_METHODS = [EntryMethod.CASH.value, EntryMethod.BANK_TRANSFER.value]
# A bound for the schema only; the ledger refuses more than 10 contributions in one row.
MAX_AMOUNT = 10**12

# --- out -------------------------------------------------------------------------------


class ContributionSchema(Schema):
    id = fields.UUID()
    receipt_number = fields.String(allow_none=True)
    member_number = fields.String()
    enrollment_id = fields.UUID()
    kind = fields.Enum(EntryKind, by_value=True)
    method = fields.Enum(EntryMethod, by_value=True)
    amount = fields.Integer(metadata={
        "description": "Whole rupiah, signed: + money in, - money out; premium rows (-) move "
                       "the balance into a funded period."})
    received_on = fields.Date(metadata={"description": "Local date (WITA) received."})
    recorded_at = fields.DateTime()
    recorded_by_id = fields.Integer(allow_none=True)
    collected_by_partner_id = fields.Integer()
    reference = fields.String(attribute="external_reference", allow_none=True)
    reverses_id = fields.UUID(allow_none=True)
    reason = fields.String()
    period_number = fields.Integer(allow_none=True)


class PeriodSchema(Schema):
    number = fields.Integer()
    funded_on = fields.Date()
    start = fields.Date()
    end = fields.Date(metadata={"description": "Exclusive."})
    waiting_until = fields.Date(metadata={"description": "Exclusive; = start if none."})


class EnrollmentCoverageSchema(Schema):
    enrollment_id = fields.UUID()
    product_code = fields.String()
    status = fields.Enum(Status, by_value=True)
    covered_until = fields.Date(allow_none=True, metadata={"description": "Exclusive."})
    waiting_until = fields.Date(allow_none=True)
    grace_until = fields.Date(allow_none=True)
    balance = fields.Integer(metadata={"description": "Savings not yet used, rupiah."})
    amount_due = fields.Integer(metadata={"description": "Needed for the next period."})
    next_due_on = fields.Date(allow_none=True)
    periods = fields.List(fields.Nested(PeriodSchema))


class CoverageSchema(EnrollmentCoverageSchema):
    member_number = fields.String()
    enrollment_id = fields.UUID(allow_none=True)
    product_code = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "Today's status of the member's newest "
                                                    "open enrollment, or not_enrolled."})
    enrollments = fields.List(fields.Nested(EnrollmentCoverageSchema))


class ContributionCreatedSchema(ContributionSchema):
    coverage = fields.Nested(EnrollmentCoverageSchema)


class ContributionPageSchema(Schema):
    items = fields.List(fields.Nested(ContributionSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


# --- in --------------------------------------------------------------------------------


class ContributionCreateSchema(Schema):
    member_number = Text(required=True, validate=validate.Length(min=1, max=20))
    enrollment_id = fields.UUID(load_default=None, metadata={
        "description": "Needed only when the member has several open enrollments."})
    method = fields.String(required=True, validate=validate.OneOf(PAYMENT_METHODS))
    amount = fields.Integer(required=True, strict=True,
                            validate=validate.Range(min=1, max=MAX_AMOUNT),
                            metadata={"description": "Whole rupiah, more than zero."})
    received_on = fields.Date(required=True, metadata={
        "description": "The local date the money was received; not in the future."})
    reference = Text(load_default=None, allow_none=True,
                     validate=validate.Length(max=REFERENCE_MAX),
                     metadata={"description": "The bank's reference; required for "
                                              "bank_transfer."})


class ReversalCreateSchema(Schema):
    reason = Text(required=True, validate=validate.Length(min=3, max=REASON_MAX))


class ContributionQuerySchema(Schema):
    member_number = Text(load_default=None, validate=validate.Length(max=20))
    received_from = fields.Date(load_default=None, data_key="from")
    received_to = fields.Date(load_default=None, data_key="to")
    kind = fields.String(load_default=None, validate=validate.OneOf([k.value for k in EntryKind]))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
