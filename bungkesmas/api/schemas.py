"""API schemas: one per resource, explicit fields."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from bungkesmas.partners.models import PartnerStatus, PartnerType


class PartnerRefSchema(Schema):
    id = fields.Integer()
    slug = fields.String(allow_none=True)
    name = fields.String()


class PartnerSchema(Schema):
    id = fields.Integer()
    slug = fields.String(allow_none=True)
    name = fields.String()
    org_type = fields.Enum(PartnerType, by_value=True)
    status = fields.Enum(PartnerStatus, by_value=True)
    province_code = fields.String()
    regency_code = fields.String()
    contact_name = fields.String()
    contact_phone = fields.String()
    contact_email = fields.String()
    expected_members = fields.Integer()
    expected_groups = fields.Integer()
    parent_id = fields.Integer(allow_none=True)
    referrer_id = fields.Integer(allow_none=True)
    status_reason = fields.String()
    created_at = fields.DateTime()


class PartnerPageSchema(Schema):
    items = fields.List(fields.Nested(PartnerSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class PartnerQuerySchema(Schema):
    status = fields.Enum(PartnerStatus, by_value=True, load_default=None)
    q = fields.String(load_default=None, validate=validate.Length(max=100))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class ApproveSchema(Schema):
    slug = fields.String(required=True, validate=validate.Length(min=3, max=50))
    parent_id = fields.Integer(load_default=None, allow_none=True, strict=True,
                               validate=validate.Range(min=1, max=2**31 - 1))


class MeSchema(Schema):
    id = fields.Integer()
    email = fields.String()
    name = fields.String()
    provider_role = fields.String(allow_none=True)
    partner = fields.Nested(PartnerRefSchema, allow_none=True)
    permissions = fields.List(fields.String())
