"""The status check form and the API's request and answer schemas."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validates_schema

from bungkesmas.errors import DomainError
from bungkesmas.selfservice import services


@dataclass
class StatusEntry:
    """The status check's form as a member sent it: what was typed (written back into
    the page only when it is refused), what it means, and the errors by field."""

    typed: dict[str, str]
    errors: dict[str, list[str]] = field(default_factory=dict)
    identifier: services.Identifier | None = None
    birth_date: date | None = None


IDENTIFIER_MAX = 40


def read_status_form(formdata) -> StatusEntry:
    """Check the status form's two fields (`formdata`: the request's form): the member
    number or NIK (`services.parse_identifier`) and the birth date (YYYY-MM-DD, as a
    date input sends it), each error in the member's language.

    Two fields and no session (the form has no CSRF token: see the template) do not need
    a form class: this is the page members' phones load most, and WTForms' form and field
    machinery cost more than the lookup itself."""
    # Phone keyboards add spaces around what was typed.
    typed = {name: _text(formdata.get(name)).strip() for name in ("identifier", "birth_date")}
    entry = StatusEntry(typed)
    value = typed["identifier"]
    if not value:
        entry.errors["identifier"] = [_("This field is required.")]
    elif len(value) > IDENTIFIER_MAX:
        entry.errors["identifier"] = [_("Use at most %(max)d characters.", max=IDENTIFIER_MAX)]
    else:
        try:
            entry.identifier = services.parse_identifier(value)
        except DomainError as err:
            entry.errors["identifier"] = [str(err.message)]
    born = typed["birth_date"]
    if not born:
        entry.errors["birth_date"] = [_("Enter the birth date.")]
    else:
        try:
            entry.birth_date = datetime.strptime(born, "%Y-%m-%d").date()
        except ValueError:
            entry.errors["birth_date"] = [_("Not a valid date value.")]
    return entry


def _text(value) -> str:
    # NUL characters are dropped, as every form of the app does (bungkesmas.forms.Form).
    return value.replace("\x00", "") if isinstance(value, str) else ""


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
