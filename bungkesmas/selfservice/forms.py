"""The status check form and the API's request and answer schemas."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validates_schema
from wtforms import DateField, StringField
from wtforms import ValidationError as FieldError
from wtforms.validators import InputRequired

from bungkesmas.errors import DomainError
from bungkesmas.forms import Form, length, required, strip
from bungkesmas.selfservice import services


class StatusForm(Form):
    identifier = StringField(_l("Member number or NIK"), [required(), length(40)],
                             filters=[strip])
    birth_date = DateField(_l("Birth date"), [InputRequired(message=_l("Enter the birth date."))])
    parsed: services.Identifier | None = None

    class Meta:
        csrf = False

    def validate_identifier(self, field) -> None:
        try:
            self.parsed = services.parse_identifier(field.data)
        except DomainError as err:
            raise FieldError(str(err.message)) from None


def _checked(parse):
    """A marshmallow validator from one of the services' parse functions."""

    def validate(value: str) -> None:
        try:
            parse(value)
        except DomainError as err:
            raise ValidationError(str(err.message)) from None

    return validate


class StatusRequestSchema(Schema):
    """A member number or a NIK (exactly one), and the birth date."""

    member_number = fields.String(load_default=None,
                                  validate=_checked(services.parse_member_number), metadata={
        "description": "The member number, e.g. 0012-000345-7 (or give `nik`)."})
    nik = fields.String(load_default=None, validate=_checked(services.parse_nik), metadata={
        "description": "The 16-digit NIK (or give `member_number`)."})
    birth_date = fields.Date(required=True)

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def one_identifier(self, data, original_data, **kwargs):
        # What was sent, valid or not: a malformed NIK is still "the NIK was given".
        sent = original_data if isinstance(original_data, dict) else {}
        given = [name for name in ("member_number", "nik") if sent.get(name)]
        if len(given) != 1:
            message = str(_l("Give either the member number or the NIK."))
            raise ValidationError({"member_number": [message], "nik": [message]})


class PartnerContactSchema(Schema):
    name = fields.String()
    phone = fields.String()
    email = fields.String()


class StatusAnswerSchema(Schema):
    status = fields.String(allow_none=True, metadata={
        "description": "pending_payment, waiting, active, grace, lapsed, cancelled; null "
                       "when the member is not enrolled in a product"})
    status_text = fields.String(metadata={"description": "The status in plain words, in "
                                                          "the request's language."})
    until = fields.Date(allow_none=True, metadata={
        "description": "Last day of cover (active) or of grace; first day of cover "
                       "(waiting period)."})
    product = fields.String(allow_none=True)
    partner = fields.Nested(PartnerContactSchema)
    last_payment_on = fields.Date(allow_none=True)
    amount_due = fields.Integer(allow_none=True, metadata={
        "description": "Whole rupiah still needed for the next term."})
    due_on = fields.Date(allow_none=True)
    pay_url = fields.String(allow_none=True, metadata={
        "description": "Where to pay online, when online payment is offered."})
