"""Member, group and product schemas of the API: explicit fields, in and out.

The full NIK and KK are accepted on input and never dumped: a member shows only
`nik_masked` and `kk_masked`."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from bungkesmas.contributions.coverage import Status
from bungkesmas.members.models import Sex

SEX_VALUES = [s.value for s in Sex]
STATUS_VALUES = ["not_enrolled", *(s.value for s in Status)]


class Text(fields.String):
    """A string with surrounding spaces removed and no control characters (a NUL would
    break PostgreSQL; none belongs in a name, an address or a code)."""

    default_error_messages = {"control": "Control characters are not allowed."}

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if any((ord(ch) < 32 and ch not in "\t\n\r") or ord(ch) == 127 for ch in text):
            raise self.make_error("control")
        return text.strip()


def _text(most: int, **kwargs) -> Text:
    return Text(validate=validate.Length(max=most), **kwargs)


# --- out -------------------------------------------------------------------------------


class GroupRefSchema(Schema):
    id = fields.UUID()
    name = fields.String()


class EnrollmentSchema(Schema):
    id = fields.UUID()
    product_code = fields.Function(lambda e: e.product_version.product.code)
    product_name = fields.Function(lambda e: e.product_version.product.name)
    product_version = fields.Function(lambda e: e.product_version.version)
    status = fields.Function(lambda e: _status(e), metadata={
        "description": "Today's coverage status: pending_payment, waiting, active, grace, "
                       "lapsed or cancelled."})
    covered_until = fields.Date(allow_none=True, metadata={"description": "Exclusive."})
    balance = fields.Integer(metadata={"description": "Savings not yet used, rupiah."})
    enrolled_at = fields.DateTime()
    cancelled_at = fields.DateTime(allow_none=True)


def _status(enrollment) -> str:
    from bungkesmas.contributions.services import status_of

    return status_of(enrollment).value


def _member_status(member) -> tuple[str, str | None]:
    from bungkesmas.contributions.services import primary_enrollment

    enrollment = primary_enrollment(member)
    if enrollment is None:
        return "not_enrolled", None
    covered = enrollment.covered_until
    return _status(enrollment), covered.isoformat() if covered else None


class MemberSchema(Schema):
    id = fields.UUID()
    member_number = fields.String()
    partner_id = fields.Integer(attribute="tenant_id")
    full_name = fields.String()
    nik_masked = fields.String()
    nik_mismatch_confirmed = fields.Boolean()
    kk_masked = fields.String(allow_none=True)
    birth_date = fields.Date()
    sex = fields.Enum(Sex, by_value=True)
    phone = fields.String(allow_none=True)
    address = fields.String()
    province_code = fields.String(allow_none=True)
    regency_code = fields.String(allow_none=True)
    district_code = fields.String(allow_none=True)
    village_code = fields.String(allow_none=True)
    group_id = fields.UUID(allow_none=True)
    group = fields.Nested(GroupRefSchema, allow_none=True)
    hosted_for_id = fields.Integer(allow_none=True, metadata={
        "description": "The partner this member was registered for, on its behalf, until "
                       "that partner's MOU is in force (then the member moves to it)."})
    is_coordinator = fields.Boolean()
    beneficiary_name = fields.String()
    beneficiary_relation = fields.String()
    beneficiary_phone = fields.String(allow_none=True)
    consent_at = fields.DateTime()
    consent_version = fields.String()
    enrollments = fields.List(fields.Nested(EnrollmentSchema))
    status = fields.Function(lambda m: _member_status(m)[0], metadata={
        "description": "Today's status of the member's newest open enrollment, or "
                       "not_enrolled."})
    covered_until = fields.Function(lambda m: _member_status(m)[1], allow_none=True,
                                    metadata={"description": "Date (exclusive), or null."})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class MemberPageSchema(Schema):
    items = fields.List(fields.Nested(MemberSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class GroupSchema(Schema):
    id = fields.UUID()
    partner_id = fields.Integer(attribute="tenant_id")
    name = fields.String()
    village_code = fields.String(allow_none=True)
    meeting_day = fields.String(allow_none=True)
    created_at = fields.DateTime()
    members = fields.Integer(metadata={"description": "Members in the group."})
    enrolled = fields.Integer(metadata={"description": "Members with an enrollment."})


class GroupListSchema(Schema):
    items = fields.List(fields.Nested(GroupSchema))


class ProductVersionSchema(Schema):
    version = fields.Integer()
    annual_contribution = fields.Integer(metadata={"description": "Whole rupiah a year."})
    term_months = fields.Integer()
    waiting_days = fields.Integer()
    grace_days = fields.Integer()
    min_age = fields.Integer()
    max_age = fields.Integer()
    hospital_cash_per_night = fields.Integer(metadata={"description": "Whole rupiah."})
    hospital_nights_per_year = fields.Integer()
    surgery_benefit = fields.Integer(metadata={"description": "Whole rupiah."})
    death_benefit = fields.Integer(metadata={"description": "Whole rupiah."})
    accidental_death_benefit = fields.Integer(metadata={"description": "Whole rupiah."})
    created_at = fields.DateTime()


class ProductSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    active = fields.Boolean()
    current = fields.Nested(ProductVersionSchema,
                            metadata={"description": "The rules new enrollments get."})


class ProductListSchema(Schema):
    items = fields.List(fields.Nested(ProductSchema))


# --- in --------------------------------------------------------------------------------


class MemberQuerySchema(Schema):
    q = _text(100, load_default="", metadata={
        "description": "Member number, exact NIK, phone number, or the start of the name."})
    group_id = fields.UUID(load_default=None)
    village_code = _text(10, load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(STATUS_VALUES))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class MemberChangeSchema(Schema):
    """A partial change of a member: only the fields sent change (null clears an
    optional one)."""

    full_name = _text(200, metadata={"description": "As on the ID card."})
    nik = _text(32, metadata={"description": "16 digits; never returned."})
    kk = _text(32, allow_none=True, metadata={"description": "Family card number, 16 digits."})
    birth_date = fields.Date()
    sex = fields.String(validate=validate.OneOf(SEX_VALUES),
                        metadata={"description": "L (laki-laki) or P (perempuan)."})
    phone = _text(30, allow_none=True)
    address = _text(500)
    province_code = _text(2, allow_none=True)
    regency_code = _text(4, allow_none=True)
    district_code = _text(6, allow_none=True)
    village_code = _text(10, allow_none=True)
    group_id = fields.UUID(allow_none=True)
    beneficiary_name = _text(200)
    beneficiary_relation = _text(60)
    beneficiary_phone = _text(30, allow_none=True)
    confirm_nik = fields.Boolean(metadata={
        "description": "Confirm a NIK that disagrees with the birth date or sex."})


def _must_be_true(value) -> None:
    if value is not True:
        raise ValidationError("Record the member's consent to data processing.")


class MemberCreateSchema(MemberChangeSchema):
    id = fields.UUID(load_default=None, metadata={
        "description": "Optional client-generated id: sending the same id again returns the "
                       "member registered the first time (200) instead of a second one."})
    full_name = _text(200, required=True, metadata={"description": "As on the ID card."})
    nik = _text(32, required=True, metadata={"description": "16 digits; never returned."})
    birth_date = fields.Date(required=True)
    sex = fields.String(required=True, validate=validate.OneOf(SEX_VALUES),
                        metadata={"description": "L (laki-laki) or P (perempuan)."})
    consent = fields.Boolean(required=True, validate=_must_be_true, metadata={
        "description": "The member agreed to the processing of their data; must be true."})
    confirm_nik = fields.Boolean(load_default=False, metadata={
        "description": "Confirm a NIK that disagrees with the birth date or sex."})
    product_code = _text(20, load_default=None, allow_none=True,
                         metadata={"description": "Enroll at once in this product."})
    hosted_for_id = fields.Integer(load_default=None, allow_none=True, strict=True,
                                   validate=validate.Range(min=1, max=2**31 - 1), metadata={
        "description": "Register on behalf of this partner, which the token's partner "
                       "hosts until its MOU is in force."})


class EnrollmentCancelSchema(Schema):
    reason = _text(500, required=True, metadata={
        "description": "Why the enrollment ends (the member left, died, was enrolled by "
                       "mistake…); kept in the audit log."})


class GroupCreateSchema(Schema):
    name = _text(120, required=True)
    village_code = _text(10, load_default=None, allow_none=True)
    meeting_day = _text(60, load_default=None, allow_none=True)
