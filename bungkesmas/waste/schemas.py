"""Waste bank schemas of the API: explicit fields, in and out. Money is whole rupiah;
weights go in as kg (a number or a numeric string, at most 2 decimals) and come out as
whole grams plus the kg as a decimal string ("2.50")."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from bungkesmas.members.schemas import _text
from bungkesmas.waste.models import WasteMaterial
from bungkesmas.waste.valuation import MAX_LINES, MAX_PRICE_PER_KG, kg_decimal

MATERIAL_VALUES = [m.value for m in WasteMaterial]
ROUNDING = ("Each line is worth weight_kg × price_per_kg rounded half up to whole rupiah; "
            "the deposit's total_value is the sum of its line values.")


# --- out -------------------------------------------------------------------------------


class PriceSchema(Schema):
    id = fields.UUID()
    price_per_kg = fields.Integer(metadata={"description": "Whole rupiah per kg."})
    effective_from = fields.Date()
    recorded_at = fields.DateTime()


class PriceHistorySchema(PriceSchema):
    state = fields.String(metadata={
        "description": "On the requested date: in_force, scheduled, past, or superseded "
                       "(replaced by a later price from the same date)."})


class CategorySchema(Schema):
    id = fields.UUID()
    name = fields.String()
    material = fields.Enum(WasteMaterial, by_value=True)
    active = fields.Boolean(metadata={"description": "False: retired, not bought any more."})


class CategoryPricesSchema(CategorySchema):
    price = fields.Nested(PriceSchema, allow_none=True, metadata={
        "description": "The price in force on the requested date (null: none yet)."})
    next_price = fields.Nested(PriceSchema, allow_none=True, metadata={
        "description": "The next scheduled change after that date, if any."})
    history = fields.List(fields.Nested(PriceHistorySchema),
                          metadata={"description": "Every price of the category, newest first."})


class PriceListSchema(Schema):
    on = fields.Date(metadata={"description": "The date the prices are given for."})
    items = fields.List(fields.Nested(CategoryPricesSchema))


class DepositLineSchema(Schema):
    line_number = fields.Integer()
    category_id = fields.UUID()
    category_name = fields.String(metadata={"description": "As the category was called then."})
    price_id = fields.UUID(metadata={"description": "The price row the line was valued with."})
    weight_grams = fields.Integer()
    weight_kg = fields.Function(lambda line: str(kg_decimal(line.weight_grams)))
    price_per_kg = fields.Integer(metadata={"description": "Whole rupiah, copied from the price."})
    value = fields.Integer(metadata={"description": "Whole rupiah, rounded half up."})


class DepositSchema(Schema):
    id = fields.UUID()
    number = fields.String()
    partner_id = fields.Integer(attribute="tenant_id")
    member_number = fields.String()
    enrollment_id = fields.UUID()
    deposited_on = fields.Date()
    officer_id = fields.Integer(allow_none=True)
    recorded_at = fields.DateTime()
    total_grams = fields.Integer()
    total_kg = fields.Function(lambda d: str(kg_decimal(d.total_grams)))
    total_value = fields.Integer(metadata={"description": ROUNDING})
    ledger_entry_id = fields.UUID(metadata={
        "description": "The contribution (ledger row, method waste) that credited it."})
    receipt_number = fields.String(allow_none=True)
    lines = fields.List(fields.Nested(DepositLineSchema))


class DepositPageSchema(Schema):
    items = fields.List(fields.Nested(DepositSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


# --- in --------------------------------------------------------------------------------


class PriceQuerySchema(Schema):
    on = fields.Date(load_default=None, metadata={
        "description": "The prices in force on this date (default: today, partner time)."})


class CategoryCreateSchema(Schema):
    name = _text(80, required=True, metadata={"description": "e.g. Plastik PET, Kardus, Besi."})
    material = fields.String(required=True, validate=validate.OneOf(MATERIAL_VALUES))


class PriceCreateSchema(Schema):
    category_id = fields.UUID(required=True)
    price_per_kg = fields.Integer(required=True, strict=True, validate=validate.Range(
        min=1, max=MAX_PRICE_PER_KG), metadata={"description": "Whole rupiah per kg."})
    effective_from = fields.Date(required=True, metadata={
        "description": "A change applies from today or later; a category's first price may "
                       "start earlier. A second price from the same date corrects the first."})


class DepositLineInSchema(Schema):
    category_id = fields.UUID(required=True)
    weight_kg = fields.Decimal(required=True, allow_nan=False, metadata={
        "description": "More than 0 and at most 500 kg, at most 2 decimals."})


class DepositCreateSchema(Schema):
    member_number = _text(30, required=True)
    deposited_on = fields.Date(required=True, metadata={
        "description": "The date the waste was weighed (not in the future)."})
    enrollment_id = fields.UUID(load_default=None, allow_none=True, metadata={
        "description": "Which enrollment the deposit pays; needed only when the member has "
                       "several."})
    lines = fields.List(fields.Nested(DepositLineInSchema), required=True,
                        validate=validate.Length(min=1, max=MAX_LINES))


class DepositQuerySchema(Schema):
    member_number = _text(30, load_default=None)
    date_from = fields.Date(load_default=None)
    date_to = fields.Date(load_default=None)
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
